"""Detection post-processing without a model: anchors, decoding, NMS and output layouts, on hand-made arrays.

Expected values are worked out by hand from MediaPipe's and TFLite's documented semantics, not copied
from the code's output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgekit.errors import MetadataError
from edgekit.processing import detection as det
from edgekit.processing.detection import Detections, SsdConfig

FACE = SsdConfig(
    input_width=128, input_height=128, strides=(8, 16, 16, 16), num_layers=4, min_scale=0.1484375, max_scale=0.75,
    fixed_anchor_size=True, num_keypoints=6, box_format="xywh", x_scale=128, y_scale=128, w_scale=128, h_scale=128,
    sigmoid_score=True, score_clipping_threshold=100, nms="weighted", iou_threshold=0.3,
)  # fmt: skip


def detections(boxes, scores, classes=None, keypoints=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    count = len(boxes)
    return Detections(
        boxes,
        np.asarray(scores, np.float32),
        np.zeros(count, np.int64) if classes is None else np.asarray(classes, np.int64),
        np.zeros((count, 0, 2), np.float32) if keypoints is None else np.asarray(keypoints, np.float32),
    )


# ----------------------------------------------------------------------------- anchors
def test_face_detector_anchors_match_mediapipe_layout():
    anchors = det.generate_ssd_anchors(FACE)
    # stride 8: 16x16 cells x 2 anchors; the three stride-16 layers share one 8x8 grid with 3 x 2 anchors.
    assert anchors.shape == (16 * 16 * 2 + 8 * 8 * 6, 4) == (896, 4)
    np.testing.assert_allclose(anchors[:2], [[0.5 / 16, 0.5 / 16, 1, 1]] * 2)
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[511], [15.5 / 16, 15.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[512:518], [[0.5 / 8, 0.5 / 8, 1, 1]] * 6)
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8, 1, 1])


def test_anchor_sizes_by_hand():
    # One layer: scale (0.2 + 0.9) / 2 = 0.55; aspect ratios 1 and 2, then the interpolated anchor
    # sqrt(0.55 * 1.0) at ratio 1. A 2x2 grid (input 4, stride 2) with centres at 0.25 and 0.75.
    config = SsdConfig(
        input_width=4, input_height=4, strides=(2,), min_scale=0.2, max_scale=0.9, aspect_ratios=(1.0, 2.0)
    )
    anchors = det.generate_ssd_anchors(config)
    root2, mid = math.sqrt(2), math.sqrt(0.55)
    cell = [[0.55, 0.55], [0.55 * root2, 0.55 / root2], [mid, mid]]
    assert anchors.shape == (12, 4)
    np.testing.assert_allclose(anchors[:3, 2:], cell, rtol=1e-6)
    np.testing.assert_allclose(anchors[:3, :2], [[0.25, 0.25]] * 3)
    np.testing.assert_allclose(anchors[3:6, :2], [[0.75, 0.25]] * 3)  # x moves first (row-major)
    np.testing.assert_allclose(anchors[6:9, :2], [[0.25, 0.75]] * 3)


def test_reduced_lowest_layer_and_shared_strides():
    config = SsdConfig(input_width=32, input_height=32, strides=(8, 16, 16), min_scale=0.2, max_scale=0.8,
                       reduce_boxes_in_lowest_layer=True, interpolated_scale_aspect_ratio=0.0)  # fmt: skip
    anchors = det.generate_ssd_anchors(config)
    # Layer 0: 4x4 cells x 3 predefined anchors (scale 0.1 at ratio 1, scale 0.2 at ratios 2 and 0.5).
    np.testing.assert_allclose(anchors[0, 2:], [0.1, 0.1])
    np.testing.assert_allclose(anchors[1, 2:], [0.2 * math.sqrt(2), 0.2 / math.sqrt(2)], rtol=1e-6)
    # Layers 1 and 2 (stride 16) share a 2x2 grid: per cell, layer 1's anchor (0.5) then layer 2's (0.8).
    shared = anchors[16 * 3 :]
    assert len(shared) == 2 * 2 * 2
    np.testing.assert_allclose(shared[:2, 2:], [[0.5, 0.5], [0.8, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(shared[:2, :2], [[0.25, 0.25]] * 2)


def test_config_from_dict_rejects_typos_and_mismatches():
    with pytest.raises(MetadataError, match="unknown ssd detector field 'min_scal'") as error:
        SsdConfig.from_dict({"type": "ssd", "input_width": 8, "input_height": 8, "strides": [8], "min_scal": 0.1})
    assert "did you mean 'min_scale'" in error.value.hint
    with pytest.raises(MetadataError, match="num_layers"):
        SsdConfig(input_width=8, input_height=8, strides=(8, 16), num_layers=3)
    with pytest.raises(MetadataError, match="incomplete"):
        SsdConfig.from_dict({"type": "ssd", "strides": [8]})
    config = SsdConfig.from_dict({"type": "ssd", "input_width": 8, "input_height": 8, "strides": [8], "labels": ["a"]})
    assert config.strides == (8,) and config.labels == ("a",)


# ----------------------------------------------------------------------------- decoding
def test_decode_xywh_with_keypoints_and_clipped_sigmoid():
    scales = {"x_scale": 128, "y_scale": 128, "w_scale": 128, "h_scale": 128}
    config = SsdConfig(input_width=8, input_height=8, strides=(8,), num_keypoints=1, box_format="xywh", **scales,
                       sigmoid_score=True, score_clipping_threshold=100, interpolated_scale_aspect_ratio=0.0,
                       fixed_anchor_size=True)  # fmt: skip
    anchors = det.generate_ssd_anchors(config)
    np.testing.assert_allclose(anchors, [[0.5, 0.5, 1, 1]])
    raw = np.array([[[12.8, 0.0, 64.0, 32.0, 0.0, -12.8]]], np.float32)  # cx +0.1, w 0.5, h 0.25; point y -0.1
    out = det.decode_ssd(raw, np.array([[[1000.0]]]), anchors, config)
    np.testing.assert_allclose(out.boxes, [[0.35, 0.375, 0.85, 0.625]], atol=1e-6)
    np.testing.assert_allclose(out.keypoints, [[[0.5, 0.4]]], atol=1e-6)
    assert out.scores[0] == pytest.approx(1.0)  # 1000 is clipped to 100 first: no overflow, no NaN
    assert det.decode_ssd(raw, np.array([[[-1000.0]]]), anchors, config).scores[0] == pytest.approx(0.0)


def test_decode_yxhw_exponential_sizes_and_ignored_background():
    # TF object detection API's center-size coder: y, x scaled by 10, log-sizes by 5.
    config = SsdConfig(input_width=8, input_height=8, strides=(8,), num_classes=3, y_scale=10, x_scale=10,
                       h_scale=5, w_scale=5, apply_exponential_on_box_size=True, ignore_classes=(0,),
                       interpolated_scale_aspect_ratio=0.0, min_scale=0.4, max_scale=0.4)  # fmt: skip
    anchors = det.generate_ssd_anchors(config)
    np.testing.assert_allclose(anchors, [[0.5, 0.5, 0.4, 0.4]], rtol=1e-6)
    raw = np.array([[1.0, -2.0, 5 * math.log(2), 0.0]], np.float32)  # y +0.04, x -0.08, h x2, w x1
    out = det.decode_ssd(raw, np.array([[0.99, 0.2, 0.7]]), anchors, config)
    np.testing.assert_allclose(out.boxes, [[0.42 - 0.2, 0.54 - 0.4, 0.42 + 0.2, 0.54 + 0.4]], atol=1e-6)
    assert out.classes[0] == 2 and out.scores[0] == pytest.approx(0.7)  # the background's 0.99 is ignored


def test_decode_rejects_shapes_that_do_not_fit_the_config():
    anchors = det.generate_ssd_anchors(FACE)
    with pytest.raises(MetadataError, match="896 anchors with 16 box values"):
        det.decode_ssd(np.zeros((1, 896, 12)), np.zeros((1, 896, 1)), anchors, FACE)


# ----------------------------------------------------------------------------- NMS
def test_iou_by_hand():
    box = np.array([0, 0, 2, 2], np.float32)
    others = np.array([[1, 1, 3, 3], [2, 2, 3, 3], [0, 0, 2, 2], [0, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(det.box_iou(box, others), [1 / 7, 0, 1, 0])


def test_plain_nms_keeps_the_best_of_each_overlapping_group():
    boxes = [[0, 0, 2, 2], [0, 0, 2, 2.2], [3, 3, 4, 4], [1, 1, 3, 3]]
    kept = det.non_max_suppression(np.asarray(boxes, np.float32), np.array([0.6, 0.9, 0.5, 0.8]), 0.5)
    # 1 (0.9) suppresses 0 (IoU 0.91); 3 overlaps 1 by IoU 0.18 and 2 by nothing: both stay.
    assert kept.tolist() == [1, 3, 2]
    assert det.non_max_suppression(np.asarray(boxes, np.float32), np.array([0.6, 0.9, 0.5, 0.8]), 0.5, 2).tolist() == [
        1,
        3,
    ]
    # Suppression needs IoU strictly above the threshold (MediaPipe and TFLite both use ">").
    half = np.array([[0, 0, 2, 2], [0, 0, 2, 1]], np.float32)  # IoU exactly 0.5
    assert det.non_max_suppression(half, np.array([0.9, 0.8]), 0.5).tolist() == [0, 1]
    assert det.non_max_suppression(half, np.array([0.9, 0.8]), 0.49).tolist() == [0]


def test_weighted_nms_averages_boxes_and_keypoints_by_score():
    found = detections(
        [[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]],
        [0.9, 0.6, 0.7],
        keypoints=[[[1, 1]], [[4, 1]], [[55, 55]]],
    )
    merged = det.weighted_non_max_suppression(found, 0.3)
    # Boxes 0 and 1 overlap with IoU 80/120 = 0.67 > 0.3: weights 0.9 and 0.6 (total 1.5).
    np.testing.assert_allclose(merged.boxes[0], [0.6 * 2 / 1.5, 0, 10 + 0.6 * 2 / 1.5, 10], rtol=1e-6)
    np.testing.assert_allclose(merged.keypoints[0], [[(0.9 * 1 + 0.6 * 4) / 1.5, 1]], rtol=1e-6)
    assert merged.scores.tolist() == pytest.approx([0.9, 0.7])  # the best one's score, not an average
    np.testing.assert_allclose(merged.boxes[1], [50, 50, 60, 60])


def test_class_wise_nms_lets_classes_overlap():
    found = detections([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1.1]], [0.9, 0.8, 0.7], classes=[0, 1, 0])
    kept = det.class_wise_nms(found, 0.5)
    assert kept.classes.tolist() == [0, 1] and kept.scores.tolist() == pytest.approx([0.9, 0.8])


def test_select_drops_low_scores_and_broken_boxes_before_nms():
    found = detections(
        [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [0, 0, np.nan, 1], [5, 5, 6, 6]], [0.4, 0.6, 0.9, 0.9, 0.5]
    )
    kept = det.select(found, min_score=0.5, iou_threshold=0.5)
    assert kept.scores.tolist() == pytest.approx([0.6, 0.5])
    assert len(det.select(found, min_score=0.95, iou_threshold=0.5, nms="weighted")) == 0


# ----------------------------------------------------------------------------- PostProcess and YOLO
def test_postprocess_outputs_to_xyxy_and_count():
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [9, 9, 9, 9]]], np.float32)  # y, x order
    out = det.decode_postprocess(boxes, np.array([[3.0, 0.0, 7.0]]), np.array([[0.9, 0.4, 0.0]]), np.array([2.0]))
    np.testing.assert_allclose(out.boxes, [[0.2, 0.1, 0.6, 0.5], [0, 0, 1, 1]])
    assert out.classes.tolist() == [3, 0] and out.scores.tolist() == pytest.approx([0.9, 0.4])


def test_classes_and_scores_told_apart_by_value():
    # Rows past the count are left uninitialized by the op: here, junk that is neither whole nor sorted.
    classes, scores = np.array([[2.0, 0.0, 5.0, 3e-41, 7.5]]), np.array([[0.9, 0.5, 0.25, 4e20, 0.3]])
    for first, second in ((classes, scores), (scores, classes)):
        got_classes, got_scores = det.split_classes_scores(first, second, count=3)
        assert got_classes is classes and got_scores is scores


@pytest.mark.parametrize("normalized", [False, True])
def test_yolo_v8_and_v5_layouts_give_the_same_boxes(normalized):
    rows = np.array(
        [[32, 16, 20, 8, 0.1, 0.8], [10, 10, 4, 4, 0.3, 0.2]], np.float32
    )  # cx, cy, w, h in pixels of 64x32
    if normalized:
        rows[:, :4] /= [64, 32, 64, 32]
    expected = [[22 / 64, 12 / 32, 42 / 64, 20 / 32], [8 / 64, 8 / 32, 12 / 64, 12 / 32]]
    v8 = det.decode_yolo(rows.T[None], "v8", 64, 32)
    np.testing.assert_allclose(v8.boxes, expected, rtol=1e-6)
    assert v8.classes.tolist() == [1, 0] and v8.scores.tolist() == pytest.approx([0.8, 0.3])
    v5_rows = np.concatenate([rows[:, :4], [[0.5], [1.0]], rows[:, 4:]], axis=1)  # objectness x class score
    v5 = det.decode_yolo(v5_rows[None], "v5", 64, 32)
    np.testing.assert_allclose(v5.boxes, expected, rtol=1e-6)
    assert v5.classes.tolist() == [1, 0] and v5.scores.tolist() == pytest.approx([0.4, 0.3])


def test_yolo_logits_pass_through_a_sigmoid():
    rows = np.array([[0.5, 0.5, 0.2, 0.2, 0.0, -3.0]], np.float32)
    assert det.decode_yolo(rows.T[None], "v8", 64, 64).scores[0] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- layouts
def test_postprocess_layout_in_any_order_by_name():
    names = ["TFLite_Detection_PostProcess:2", "TFLite_Detection_PostProcess", "TFLite_Detection_PostProcess:3",
             "TFLite_Detection_PostProcess:1"]  # fmt: skip
    shapes = [(1, 10), (1, 10, 4), (1,), (1, 10)]
    layout = det.find_layout(shapes, names)
    assert layout.decoder == "postprocess" and layout.outputs == (1, 3, 0, 2) and layout.order_known
    by_key = det.find_layout(shapes, ["a detection_scores", "b boxes", "c num", "d detection_classes"])
    assert by_key.outputs == (1, 3, 0, 2)
    unnamed = det.find_layout(shapes, ["Identity", "Identity_1", "Identity_2", "Identity_3"])
    assert unnamed.decoder == "postprocess" and not unnamed.order_known


def test_ssd_and_yolo_layouts():
    assert det.find_layout([(1, 896, 1), (1, 896, 16)], ["", ""], ssd=FACE).outputs == (1, 0)
    assert det.find_layout([(1, 896, 16), (1, 896, 1)], ["", ""]).outputs == (0, 1)
    assert det.find_layout([(1, 896, 16), (1, 896, 1)], ["", ""], ssd=SsdConfig(8, 8, (8,), num_classes=3)) is None
    assert det.find_layout([(1, 84, 8400)], [""]).yolo_version == "v8"
    assert det.find_layout([(1, 25200, 85)], [""]).yolo_version == "v5"
    assert det.find_layout([(1, 25200, 85)], [""], yolo_version="v8").yolo_version == "v8"


def test_no_layout_for_classifiers_or_forced_wrong_decoder():
    assert det.find_layout([(1, 1000)], [""]) is None
    assert det.find_layout([(1, 10), (1, 3)], ["", ""]) is None
    assert det.find_layout([(1, 896, 16), (1, 896, 1)], ["", ""], decoder="yolo") is None
    assert det.find_layout([(1, 84, 8400)], [""], decoder="postprocess") is None
