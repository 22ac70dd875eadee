"""Object detection post-processing in pure numpy: SSD anchors, box decoding, NMS, output layouts.

Coordinates everywhere in this module: boxes are ``(N, 4)`` normalized ``[x_min, y_min, x_max, y_max]``
on the model's input canvas (0..1 across the input tensor's width and height); keypoints are
``(N, K, 2)`` normalized ``(x, y)`` on the same canvas. Mapping back to image pixels is the task's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anchors import (
    BOX_FORMATS,
    NMS_ALGORITHMS,
    SsdCandidates,
    SsdConfig,
    decode_ssd,
    decode_ssd_candidates,
    generate_ssd_anchors,
)
from .nms import (
    Detections,
    box_iou,
    class_wise_nms,
    non_max_suppression,
    select,
    weighted_non_max_suppression,
)

__all__ = [
    "BOX_FORMATS",
    "DECODERS",
    "NMS_ALGORITHMS",
    "YOLO_VERSIONS",
    "Detections",
    "OutputLayout",
    "SsdCandidates",
    "SsdConfig",
    "box_iou",
    "class_wise_nms",
    "decode_postprocess",
    "decode_ssd",
    "decode_ssd_candidates",
    "decode_yolo",
    "find_layout",
    "generate_ssd_anchors",
    "non_max_suppression",
    "select",
    "split_classes_scores",
    "weighted_non_max_suppression",
]


def decode_postprocess(boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray, count: np.ndarray) -> Detections:
    """The four outputs of a model ending in TFLite_Detection_PostProcess (already NMS-ed) → Detections.

    Args:
        boxes: (1, N, 4) ``[y_min, x_min, y_max, x_max]`` normalized.
        classes: (1, N) class indices as floats (0-based, background excluded).
        scores: (1, N).
        count: (1,) how many of the N rows are valid.
    """
    valid = int(np.clip(np.asarray(count).reshape(-1)[0], 0, boxes.shape[-2]))
    yx = np.asarray(boxes, np.float32).reshape(-1, 4)[:valid]
    return Detections(
        yx[:, [1, 0, 3, 2]],
        np.asarray(scores, np.float32).reshape(-1)[:valid],
        np.rint(np.asarray(classes).reshape(-1)[:valid]).astype(np.int64),
        np.zeros((valid, 0, 2), np.float32),
    )


def split_classes_scores(first: np.ndarray, second: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Tell the classes output from the scores output of a PostProcess model by their values.

    For models whose tensor names do not say: classes are whole numbers, scores lie in [0, 1] best
    first. Only the first ``count`` rows are looked at: the op leaves the rest uninitialized.
    Returns (classes, scores).
    """

    def valid(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, np.float32).reshape(-1)[:count]

    def looks_like_scores(values: np.ndarray) -> bool:
        flat = valid(values)
        return bool(np.all((flat >= 0) & (flat <= 1)) and np.all(np.diff(flat) <= 1e-6))

    def whole(values: np.ndarray) -> bool:
        flat = valid(values)
        return bool(np.all(flat == np.rint(flat)))

    if whole(second) and not whole(first) or looks_like_scores(first) and not looks_like_scores(second):
        return second, first
    return first, second


# ----------------------------------------------------------------------------- YOLO
YOLO_VERSIONS = ("v8", "v5")


def decode_yolo(output: np.ndarray, version: str, input_width: int, input_height: int) -> Detections:
    """Raw YOLO rows → one detection per row (no filtering, no NMS).

    Args:
        output: ultralytics v8 layout (1, 4 + C, N) — cx, cy, w, h, then C class scores — or v5 layout
            (1, N, 5 + C) — cx, cy, w, h, objectness, then C class scores (score = objectness x class).
            Box values may be pixels of the input or normalized: pixels are detected (any centre beyond
            2, which no normalized box reaches) and divided by the input size. Scores outside [0, 1]
            are taken as logits and passed through a sigmoid.
        version: "v8" or "v5".
        input_width, input_height: the model input's size in pixels.
    """
    array = np.asarray(output, np.float32)
    rows = array.reshape(array.shape[-2:])
    rows = rows.T if version == "v8" else rows
    xywh, rest = rows[:, :4].astype(np.float64), rows[:, 4:]
    if len(rest) and (rest.min() < 0 or rest.max() > 1):
        with np.errstate(over="ignore"):
            rest = 1.0 / (1.0 + np.exp(-rest))
    class_scores = rest if version == "v8" else rest[:, :1] * rest[:, 1:]
    if len(xywh) and np.abs(xywh[:, :2]).max() > 2.0:
        xywh = xywh / np.asarray([input_width, input_height, input_width, input_height], np.float64)
    cx, cy, w, h = xywh.T
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    classes = class_scores.argmax(axis=1) if class_scores.shape[1] else np.zeros(len(rows), np.int64)
    scores = class_scores[np.arange(len(rows)), classes] if class_scores.shape[1] else np.zeros(len(rows))
    return Detections(
        boxes, scores.astype(np.float32), classes.astype(np.int64), np.zeros((len(rows), 0, 2), np.float32)
    )


# ----------------------------------------------------------------------------- output layouts
DECODERS = ("postprocess", "ssd", "yolo")


@dataclass(frozen=True)
class OutputLayout:
    """Which decoder fits a model's outputs, and which output is which.

    ``outputs`` lists output indices in the decoder's order: postprocess (boxes, classes, scores,
    count), ssd (boxes, scores), yolo (rows,). ``order_known`` is False when a PostProcess model's
    names do not say which (1, N) output holds classes: :func:`split_classes_scores` decides per run.
    """

    decoder: str
    outputs: tuple[int, ...]
    yolo_version: str = ""
    order_known: bool = True


def _postprocess_layout(shapes: list[tuple[int, ...]], names: list[str]) -> OutputLayout | None:
    if len(shapes) != 4:
        return None
    boxes = [i for i, s in enumerate(shapes) if len(s) == 3 and s[0] == 1 and s[2] == 4]
    count = [i for i, s in enumerate(shapes) if int(np.prod(s)) == 1 and len(s) <= 2]
    if len(boxes) != 1 or len(count) != 1:
        return None
    rows = shapes[boxes[0]][1]
    pair = [i for i, s in enumerate(shapes) if i not in (boxes[0], count[0]) and s == (1, rows)]
    if len(pair) != 2:
        return None
    lowered = [names[i].lower() for i in pair]
    for first, second in ((0, 1), (1, 0)):
        says_classes = "class" in lowered[first] or lowered[first].endswith("postprocess:1")
        says_scores = "score" in lowered[second] or lowered[second].endswith("postprocess:2")
        if says_classes or says_scores:
            return OutputLayout("postprocess", (boxes[0], pair[first], pair[second], count[0]))
    return OutputLayout("postprocess", (boxes[0], pair[0], pair[1], count[0]), order_known=False)


def _ssd_layout(shapes: list[tuple[int, ...]], ssd: SsdConfig | None) -> OutputLayout | None:
    if len(shapes) != 2 or any(len(s) != 3 or s[0] != 1 for s in shapes) or shapes[0][1] != shapes[1][1]:
        return None
    widths = [s[2] for s in shapes]
    if ssd is not None:
        wanted = (ssd.num_coords, ssd.num_classes)
        for boxes, scores in ((0, 1), (1, 0)):
            if (widths[boxes], widths[scores]) == wanted:
                return OutputLayout("ssd", (boxes, scores))
        return None
    if widths[0] == widths[1] or max(widths) < 4:
        return None
    boxes = int(np.argmax(widths))
    return OutputLayout("ssd", (boxes, 1 - boxes))


def _yolo_layout(shapes: list[tuple[int, ...]], version: str = "") -> OutputLayout | None:
    if len(shapes) != 1 or len(shapes[0]) != 3 or shapes[0][0] != 1 or min(shapes[0][1:]) < 5:
        return None
    # v8 exports put the few channels (4 + classes) before the many candidate rows; v5 the other way.
    version = version or ("v8" if shapes[0][1] < shapes[0][2] else "v5")
    return OutputLayout("yolo", (0,), yolo_version=version)


def find_layout(
    shapes: list[tuple[int, ...]],
    names: list[str],
    decoder: str = "auto",
    ssd: SsdConfig | None = None,
    yolo_version: str = "",
) -> OutputLayout | None:
    """Find the decoder that fits a model's output shapes (and names), or None.

    Args:
        shapes: the output shapes, in the model's order.
        names: one string per output (tensor name and signature key), to tell classes from scores.
        decoder: "auto" (try postprocess, then ssd, then yolo) or one of :data:`DECODERS`.
        ssd: the SSD config when known (its num_coords and num_classes pick the outputs).
        yolo_version: "v8" or "v5" to override the version guessed from the shape.
    """
    shapes = [tuple(int(d) for d in s) for s in shapes]
    candidates = DECODERS if decoder == "auto" else (decoder,)
    for name in candidates:
        if name == "postprocess":
            layout = _postprocess_layout(shapes, names)
        elif name == "ssd":
            layout = _ssd_layout(shapes, ssd)
        else:
            layout = _yolo_layout(shapes, yolo_version)
        if layout is not None:
            return layout
    return None
