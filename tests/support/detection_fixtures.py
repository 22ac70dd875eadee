"""Small detection models built here with TensorFlow (seeded, a few seconds on 2 cores).

- an SSD whose graph ends in a real TFLite_Detection_PostProcess op (as TF's object detection API
  exports it: a ``tf.function`` with ``experimental_implements`` that the converter turns into the op),
  and the same SSD with its raw outputs (box encodings, class scores) and its anchors in the card;
- YOLO-layout models (v8 and v5) whose outputs are a table chosen by hand, scaled by the input, so the
  expected detections can be worked out on paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.metadata import ImageSpec, ModelCard, embed_card
from edgekit.processing.detection import SsdConfig, generate_ssd_anchors

SSD_SIZE = 32
SSD_LABELS = ("background", "cat", "dog", "bird", "fish")  # class 0 is the background the op skips
#: How the SSD's raw outputs decode: TF object detection API's center-size coder (scales 10, 10, 5, 5).
SSD_CONFIG = SsdConfig(
    input_width=SSD_SIZE,
    input_height=SSD_SIZE,
    strides=(8, 16),
    min_scale=0.2,
    max_scale=0.9,
    aspect_ratios=(1.0, 2.0, 0.5),
    num_classes=len(SSD_LABELS),
    box_format="yxhw",
    y_scale=10.0,
    x_scale=10.0,
    h_scale=5.0,
    w_scale=5.0,
    apply_exponential_on_box_size=True,
    ignore_classes=(0,),
    min_score=0.5,  # with these weights: 7 to 12 boxes pass, so both the threshold and the limit of 10 matter
    iou_threshold=0.5,
    nms="plain",
)
MAX_DETECTIONS = 10
SSD_IMAGE = ImageSpec(SSD_SIZE, SSD_SIZE, mean=(127.5,), std=(127.5,))


@dataclass(frozen=True)
class SsdModels:
    postprocess: Path  # ends in TFLite_Detection_PostProcess: boxes, classes, scores, count
    postprocess_shuffled: Path  # the same, outputs in EfficientDet-Lite's order: scores, boxes, count, classes
    raw: Path  # the same network's raw box encodings and scores; anchors in the card
    raw_without_card: Path  # the same, no metadata at all
    anchors: np.ndarray  # (N, 4) x_center, y_center, width, height


def _quiet_tf():
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    return tf


def _postprocess_implements(iou: float, score: float) -> str:
    # The attribute list TF's object detection API writes for the op (export_tflite_graph_lib_tf2.py).
    attrs = {
        "max_detections": f"i: {MAX_DETECTIONS}",
        "max_classes_per_detection": "i: 1",
        "detections_per_class": "i: 100",
        "use_regular_nms": "b: false",
        "nms_score_threshold": f"f: {score:f}",
        "nms_iou_threshold": f"f: {iou:f}",
        "y_scale": f"f: {SSD_CONFIG.y_scale:f}",
        "x_scale": f"f: {SSD_CONFIG.x_scale:f}",
        "h_scale": f"f: {SSD_CONFIG.h_scale:f}",
        "w_scale": f"f: {SSD_CONFIG.w_scale:f}",
        "num_classes": f"i: {len(SSD_LABELS) - 1}",
    }
    return " ".join(
        ['name: "TFLite_Detection_PostProcess"'] + [f'attr {{ key: "{k}" value {{ {v} }} }}' for k, v in attrs.items()]
    )


def _convert(tf, function, path: Path, card: ModelCard | None) -> Path:
    # Through a SavedModel, as the object detection API exports: the composite function must still be
    # a function of its own (not inlined) when the converter looks for "implements" attributes.
    module = tf.Module()
    module.serve = function
    saved = path.with_suffix(".savedmodel")
    tf.saved_model.save(module, str(saved), signatures={"serving_default": function})
    data = tf.lite.TFLiteConverter.from_saved_model(str(saved)).convert()
    path.write_bytes(embed_card(data, card) if card is not None else data)
    return path


def build_ssd_models(folder: Path, seed: int = 0) -> SsdModels:
    """Build the SSD twice (PostProcess op / raw outputs) from the same seeded weights."""
    tf = _quiet_tf()
    anchors = generate_ssd_anchors(SSD_CONFIG)
    count, classes = len(anchors), len(SSD_LABELS)
    rng = np.random.default_rng(seed)
    features = (SSD_SIZE // 8) ** 2 * 3
    # Weights large enough that boxes move off their anchors and a few classes score high.
    box_weights = tf.constant(rng.normal(0, 0.6, (features, count * 4)), tf.float32)
    class_weights = tf.constant(rng.normal(0, 0.5, (features, count * classes)), tf.float32)
    class_bias = tf.constant(rng.normal(-2.0, 1.0, (count * classes,)), tf.float32)
    # The op wants anchors as y_center, x_center, height, width.
    op_anchors = tf.constant(anchors[:, [1, 0, 3, 2]], tf.float32)
    spec = tf.TensorSpec((1, SSD_SIZE, SSD_SIZE, 3), tf.float32, name="image")

    def raw(image):
        pooled = tf.reshape(tf.nn.avg_pool2d(image, 8, 8, "VALID"), (1, features))
        encodings = tf.reshape(tf.matmul(pooled, box_weights), (1, count, 4))
        scores = tf.sigmoid(tf.reshape(tf.matmul(pooled, class_weights) + class_bias, (1, count, classes)))
        return encodings, scores

    @tf.function(experimental_implements=_postprocess_implements(SSD_CONFIG.iou_threshold, SSD_CONFIG.min_score))
    def postprocess_op(box_encodings, class_predictions, anchor_boxes):
        # A placeholder body: the converter replaces the whole function with the TFLite op.
        zero = tf.constant(0.0, tf.float32)
        return zero, zero, zero, zero

    @tf.function(input_signature=[spec])
    def with_op(image):
        encodings, scores = raw(image)
        return postprocess_op(encodings, scores, op_anchors)

    @tf.function(input_signature=[spec])
    def with_op_shuffled(image):
        boxes, classes, scores, count = with_op(image)
        return scores, boxes, count, classes

    @tf.function(input_signature=[spec])
    def without_op(image):
        return raw(image)

    card = ModelCard(task="object-detector", name="tiny-ssd", labels=SSD_LABELS[1:], image=SSD_IMAGE)
    raw_card = card.replace(labels=SSD_LABELS, extra={"detector": {"type": "ssd", **_ssd_dict(SSD_CONFIG)}})
    return SsdModels(
        postprocess=_convert(tf, with_op, folder / "ssd_postprocess.tflite", card),
        postprocess_shuffled=_convert(tf, with_op_shuffled, folder / "ssd_postprocess_shuffled.tflite", card),
        raw=_convert(tf, without_op, folder / "ssd_raw.tflite", raw_card),
        raw_without_card=_convert(tf, without_op, folder / "ssd_raw_bare.tflite", None),
        anchors=anchors,
    )


def _ssd_dict(config: SsdConfig) -> dict:
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


# ----------------------------------------------------------------------------- YOLO
YOLO_SIZE = 64
YOLO_LABELS = ("person", "ball")
#: Hand-chosen rows: cx, cy, w, h (input pixels), score of class 0, score of class 1.
YOLO_ROWS = np.array(
    [
        [16, 16, 20, 20, 0.90, 0.00],  # kept: best of its class
        [18, 17, 20, 20, 0.80, 0.00],  # IoU 0.75 with row 0, same class: suppressed
        [18, 17, 20, 20, 0.00, 0.85],  # same box as row 1 but class 1: kept (class-wise NMS)
        [48, 48, 16, 16, 0.60, 0.00],  # kept: far from the others
        [48, 20, 10, 30, 0.00, 0.20],  # below the 0.25 default threshold: dropped
    ],
    np.float32,
)
YOLO_CANDIDATES = 40  # the remaining rows are all zeros
#: What the detector must return for a white image, by hand: (class, score, x_min, y_min, x_max, y_max) in input pixels.
YOLO_EXPECTED = [(0, 0.90, 6, 6, 26, 26), (1, 0.85, 8, 7, 28, 27), (0, 0.60, 40, 40, 56, 56)]


def yolo_table(version: str, normalized: bool) -> np.ndarray:
    """The model's constant output for a white image, in the layout of ``version``."""
    rows = np.zeros((YOLO_CANDIDATES, 4 + len(YOLO_LABELS)), np.float32)
    rows[: len(YOLO_ROWS)] = YOLO_ROWS
    if normalized:
        rows[:, :4] /= YOLO_SIZE
    if version == "v8":
        return rows.T[None]  # (1, 4 + C, N)
    # v5: an objectness column; objectness x class score gives back the same scores.
    objectness = rows[:, 4:].max(axis=1, keepdims=True)
    classes = np.divide(rows[:, 4:], objectness, out=np.zeros_like(rows[:, 4:]), where=objectness > 0)
    return np.concatenate([rows[:, :4], objectness, classes], axis=1)[None]  # (1, N, 5 + C)


def build_yolo_model(folder: Path, version: str, normalized: bool) -> Path:
    """A YOLO-layout model: the score columns of :func:`yolo_table` times the mean input value (0..1),
    so a white image gives the table and a black one no detections. Input pixels are scaled by 1/255."""
    tf = _quiet_tf()
    table = yolo_table(version, normalized)
    score_mask = np.zeros_like(table)
    if version == "v8":
        score_mask[:, 4:, :] = 1
    else:
        score_mask[:, :, 4:] = 1
    table_t, mask_t = tf.constant(table), tf.constant(score_mask)

    @tf.function(input_signature=[tf.TensorSpec((1, YOLO_SIZE, YOLO_SIZE, 3), tf.float32, name="image")])
    def yolo(image):
        brightness = tf.reduce_mean(image)
        return table_t * (1 - mask_t) + table_t * mask_t * brightness

    card = ModelCard(
        task="object-detector",
        name=f"tiny-yolo{version}",
        labels=YOLO_LABELS,
        image=ImageSpec(YOLO_SIZE, YOLO_SIZE, resize_mode="stretch", mean=(0.0,), std=(255.0,)),
    )
    suffix = "normalized" if normalized else "pixels"
    return _convert(tf, yolo, folder / f"yolo{version}_{suffix}.tflite", card)
