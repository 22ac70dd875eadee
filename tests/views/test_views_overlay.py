"""The overlay, pixel by pixel: what is drawn lands where the result says, and nothing else changes."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit import BoundingBox, Category, Detection, DetectionResult, InputError, Keypoint
from edgekit.results import AudioClassifierResult, ClassificationResult, Classifications, KeywordDetection
from edgekit.views.overlay import KEYPOINT_RADIUS_PX, color_for_index, draw_overlay

GREY = 90


def blank() -> np.ndarray:
    return np.full((480, 640, 3), GREY, np.uint8)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


def face_result(x=200.0, y=150.0, w=120.0, h=100.0) -> dict:
    detection = Detection(BoundingBox(x, y, w, h), (Category(0, 0.97, "face"),), (Keypoint(250, 190, "nose_tip"),))
    return DetectionResult((detection,), 5).to_dict()


def test_a_box_is_drawn_on_its_edges_and_nowhere_far_from_it():
    frame = blank()
    out = draw_overlay(frame, face_result())
    diff = changed(frame, out)
    assert np.array_equal(frame, blank())  # the input is untouched
    # The box covers pixels x 200..319, y 150..249 (x + width is the first pixel outside it).
    assert diff[150, 200:320].mean() > 0.9 and diff[249, 200:320].mean() > 0.9  # top and bottom edges
    assert diff[150:250, 200].mean() > 0.9 and diff[150:250, 319].mean() > 0.9  # left and right edges
    assert diff[188:193, 248:253].all()  # the keypoint dot
    assert not diff[170:180, 220:240].any() and not diff[215:245, 270:315].any()  # inside, away from marks
    far = diff.copy()
    far[100:260, 190:330] = False  # the box, its label above it, and line widths
    assert not far.any()


def test_label_text_sits_above_the_box():
    frame = blank()
    diff = changed(frame, draw_overlay(frame, face_result()))
    assert diff[110:148, 200:320].any()  # "face 0.97" above the top edge


def test_boxes_outside_the_frame_are_clipped_not_an_error():
    frame = blank()
    for box in ((600.0, 440.0, 200.0, 200.0), (-50.0, -50.0, 100.0, 80.0), (900.0, 900.0, 10.0, 10.0)):
        out = draw_overlay(frame, face_result(*box))
        assert out.shape == frame.shape


def test_classification_lines_top_left_and_fps_top_right():
    frame = blank()
    heads = (Classifications((Category(3, 0.91, "dress"), Category(1, 0.05, "trouser"))),)
    out = draw_overlay(frame, ClassificationResult(heads, 1).to_dict(), fps=29.7)
    diff = changed(frame, out)
    assert diff[:80, :200].any() and diff[:40, -160:].any()
    assert not diff[200:, :].any()  # the lower part of the frame is untouched


def test_audio_keywords_are_listed_and_empty_results_change_nothing():
    frame = blank()
    audio = AudioClassifierResult((), (KeywordDetection("yes", 0.9, 1200.0),), 0).to_dict()
    assert changed(frame, draw_overlay(frame, audio))[:80, :300].any()
    assert not changed(frame, draw_overlay(frame, DetectionResult((), 0).to_dict())).any()
    assert not changed(frame, draw_overlay(frame, ClassificationResult((), 0).to_dict())).any()


def test_grey_frames_become_colour_and_bad_input_is_refused():
    grey = np.full((120, 160), GREY, np.uint8)
    assert draw_overlay(grey, face_result(10, 10, 50, 50)).shape == (120, 160, 3)
    with pytest.raises(InputError):
        draw_overlay(np.zeros((10, 10, 3), np.float32), face_result())
    with pytest.raises(InputError, match="type"):
        draw_overlay(blank(), {"type": "segmentation"})


# The schema as the task results write it (issue 5): the overlay's contract, independent of the classes.
HEADS = [{"head_index": 0, "head_name": "", "categories": [{"index": 3, "score": 0.91, "label": "dress"}]}]
CONTRACT = {
    "classification": {"type": "classification", "timestamp_ms": 123, "classifications": HEADS},
    "text": {"type": "text", "timestamp_ms": 123, "classifications": HEADS},
    "audio": {
        "type": "audio",
        "timestamp_ms": 123,
        "classifications": HEADS,
        "keywords": [{"label": "yes", "score": 0.93, "timestamp_ms": 1234.0}],
    },
    "detection": {
        "type": "detection",
        "timestamp_ms": 123,
        "detections": [
            {
                "box": {"x": 10.0, "y": 20.0, "width": 50.0, "height": 60.0},
                "categories": [{"index": 0, "score": 0.97, "label": "face"}],
                "keypoints": [{"x": 30.0, "y": 40.0, "label": "right_eye", "score": None}],
            }
        ],
    },
}


@pytest.mark.parametrize("kind", sorted(CONTRACT))
def test_every_result_type_of_the_schema_is_drawn(kind):
    frame = blank()
    diff = changed(frame, draw_overlay(frame, CONTRACT[kind]))
    if kind == "detection":
        assert diff[20, 10:60].mean() > 0.9 and diff[40, 30]  # the box's top edge and the keypoint
    else:
        assert diff[:30, :120].any()  # "dress 0.91" top-left
    assert diff[:, 320:].sum() == 0  # nothing on the right half (no FPS was given)


def test_keypoint_dots_are_centred_on_their_coordinates():
    frame = blank()
    result = face_result()
    result["detections"][0]["keypoints"] = [{"x": 500.0, "y": 400.0, "label": "far", "score": None}]
    diff = changed(frame, draw_overlay(frame, result))
    diff[100:260, 190:330] = False  # the box and its label
    rows, cols = np.nonzero(diff)
    assert abs(rows.mean() - 400) <= 0.5 and abs(cols.mean() - 500) <= 0.5
    assert np.ptp(rows) <= 2 * KEYPOINT_RADIUS_PX + 2 and np.ptp(cols) <= 2 * KEYPOINT_RADIUS_PX + 2


def test_boxes_partly_outside_are_clipped_to_their_visible_edges():
    frame = blank()
    diff = changed(frame, draw_overlay(frame, face_result(600.0, 440.0, 200.0, 200.0)))
    assert diff[440, 600:640].mean() > 0.9 and diff[440:480, 600].mean() > 0.9  # top and left edges, clipped
    outside = diff.copy()
    outside[400:, 590:] = False  # the visible part of the box and its label above it
    outside[185:196, 245:256] = False  # the keypoint, which stays where it is
    assert not outside.any()
    for box in ((float("nan"), 10.0, 5.0, 5.0), (1e30, -1e30, 1e30, 1e30), (10.0, 10.0, -5.0, 5.0)):
        assert draw_overlay(frame, face_result(*box)).shape == frame.shape  # no crash, no overflow


def test_each_class_keeps_its_own_colour():
    frame = blank()
    result = face_result()
    for index in (0, 7):
        result["detections"][0]["categories"][0]["index"] = index
        out = draw_overlay(frame, result)
        assert tuple(int(v) for v in out[200, 200]) == color_for_index(index)  # left edge pixel, 1 px line
    assert color_for_index(0) != color_for_index(7) and color_for_index(3) == color_for_index(23)
