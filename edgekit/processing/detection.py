"""Object detection post-processing in pure numpy: SSD anchors, box decoding, NMS, output layouts.

Coordinates everywhere in this module: boxes are ``(N, 4)`` normalized ``[x_min, y_min, x_max, y_max]``
on the model's input canvas (0..1 across the input tensor's width and height); keypoints are
``(N, K, 2)`` normalized ``(x, y)`` on the same canvas. Mapping back to image pixels is the task's job.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..errors import MetadataError


@dataclass(frozen=True)
class Detections:
    """Detections as arrays (one row per detection), before they become result objects."""

    boxes: np.ndarray  # (N, 4) float32, normalized x_min, y_min, x_max, y_max
    scores: np.ndarray  # (N,) float32
    classes: np.ndarray  # (N,) int64, index into the model's labels
    keypoints: np.ndarray  # (N, K, 2) float32, normalized x, y (K may be 0)

    @classmethod
    def empty(cls, num_keypoints: int = 0) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            np.zeros((0, num_keypoints, 2), np.float32),
        )

    def take(self, indices: np.ndarray) -> Detections:
        """The detections at ``indices`` (an index array or a boolean mask), in that order."""
        return Detections(self.boxes[indices], self.scores[indices], self.classes[indices], self.keypoints[indices])

    def __len__(self) -> int:
        return len(self.scores)


# ----------------------------------------------------------------------------- SSD configuration
BOX_FORMATS = ("yxhw", "xywh")
NMS_ALGORITHMS = ("plain", "weighted")


@dataclass(frozen=True)
class SsdConfig:
    """Anchors and decoding of an anchor-based single-shot detector, with MediaPipe's semantics.

    Anchor fields follow MediaPipe's SsdAnchorsCalculator (consecutive layers with the same stride share
    one grid; ``fixed_anchor_size`` makes every anchor 1x1 so the regressed size is the box size). Decoding
    fields follow its TensorsToDetectionsCalculator: raw box rows hold ``box_format`` values at
    ``box_coord_offset`` and (x, y) keypoint pairs from ``keypoint_coord_offset``; centres are
    ``value / x_scale * anchor_w + anchor_x``. ``min_score`` is the default pre-NMS score filter and
    ``ignore_classes`` drops score columns (e.g. a background class 0).
    """

    input_width: int
    input_height: int
    strides: tuple[int, ...]
    num_layers: int = 0  # 0: one layer per stride (MediaPipe requires them equal)
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0,)
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    fixed_anchor_size: bool = False
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = False
    num_classes: int = 1
    num_keypoints: int = 0
    box_coord_offset: int = 0
    keypoint_coord_offset: int = 4
    box_format: str = "yxhw"
    x_scale: float = 1.0
    y_scale: float = 1.0
    w_scale: float = 1.0
    h_scale: float = 1.0
    apply_exponential_on_box_size: bool = False
    sigmoid_score: bool = False
    score_clipping_threshold: float | None = None
    ignore_classes: tuple[int, ...] = ()
    min_score: float = 0.5
    nms: str = "plain"
    iou_threshold: float = 0.5
    labels: tuple[str, ...] = ()
    keypoint_labels: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("strides", "aspect_ratios", "ignore_classes", "labels", "keypoint_labels"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.strides or any(int(s) < 1 for s in self.strides):
            raise MetadataError(f"ssd strides must be positive integers, got {self.strides}")
        if self.num_layers not in (0, len(self.strides)):
            raise MetadataError(f"ssd num_layers is {self.num_layers} but {len(self.strides)} strides are given")
        if self.box_format not in BOX_FORMATS:
            raise MetadataError(f"ssd box_format must be one of {BOX_FORMATS}, got {self.box_format!r}")
        if self.nms not in NMS_ALGORITHMS:
            raise MetadataError(f"ssd nms must be one of {NMS_ALGORITHMS}, got {self.nms!r}")
        if self.keypoint_labels and len(self.keypoint_labels) != self.num_keypoints:
            raise MetadataError(f"{len(self.keypoint_labels)} keypoint_labels for {self.num_keypoints} keypoints")
        if min(self.x_scale, self.y_scale, self.w_scale, self.h_scale) <= 0:
            raise MetadataError("ssd x_scale, y_scale, w_scale and h_scale must be positive")

    @property
    def num_coords(self) -> int:
        """Values per raw box row: 4 box values and 2 per keypoint."""
        return max(self.box_coord_offset + 4, self.keypoint_coord_offset + 2 * self.num_keypoints)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SsdConfig:
        """Build from a model card's ``extra["detector"]`` dict (``"type": "ssd"`` and the fields above).

        Raises:
            MetadataError: an unknown field (with a close match), or a value that does not fit.
        """
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k != "type"}
        for key in values:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                raise MetadataError(
                    f"unknown ssd detector field {key!r}", hint=f"did you mean {close[0]!r}?" if close else ""
                )
        try:
            return cls(**values)
        except TypeError as exc:
            raise MetadataError(f"ssd detector config is incomplete: {exc}") from exc


def _layer_scale(config: SsdConfig, index: int) -> float:
    count = len(config.strides)
    if count == 1:
        return (config.min_scale + config.max_scale) * 0.5
    return config.min_scale + (config.max_scale - config.min_scale) * index / (count - 1.0)


def generate_ssd_anchors(config: SsdConfig) -> np.ndarray:
    """SSD anchors as MediaPipe's SsdAnchorsCalculator makes them (without multiscale generation).

    Args:
        config: the detector's anchor options (input size, strides, scales, aspect ratios, offsets).

    Returns:
        (N, 4) float32 anchors ``[x_center, y_center, width, height]``, normalized, in the order the
        model's outputs list them (layer by layer, row-major over the grid, anchors of a cell together).
    """
    strides = [int(s) for s in config.strides]
    anchors: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        # Consecutive layers with the same stride share one grid: their anchors interleave per cell.
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _layer_scale(config, last)
            if last == 0 and config.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                ratios += list(config.aspect_ratios)
                scales += [scale] * len(config.aspect_ratios)
                if config.interpolated_scale_aspect_ratio > 0:
                    following = 1.0 if last == len(strides) - 1 else _layer_scale(config, last + 1)
                    scales.append(float(np.sqrt(scale * following)))
                    ratios.append(config.interpolated_scale_aspect_ratio)
            last += 1
        root = np.sqrt(np.asarray(ratios, np.float64))
        widths, heights = np.asarray(scales) * root, np.asarray(scales) / root
        if config.fixed_anchor_size:
            widths, heights = np.ones_like(widths), np.ones_like(heights)
        grid_h = int(np.ceil(config.input_height / strides[layer]))
        grid_w = int(np.ceil(config.input_width / strides[layer]))
        ys, xs = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
        centers_x = (xs.reshape(-1, 1) + config.anchor_offset_x) / grid_w
        centers_y = (ys.reshape(-1, 1) + config.anchor_offset_y) / grid_h
        per_cell = len(scales)
        block = np.stack(
            np.broadcast_arrays(centers_x, centers_y, widths.reshape(1, per_cell), heights.reshape(1, per_cell)),
            axis=-1,
        )
        anchors.append(block.reshape(-1, 4))
        layer = last
    return np.concatenate(anchors).astype(np.float32)


def decode_ssd(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, config: SsdConfig) -> Detections:
    """Decode every anchor's raw regression and scores (no filtering, no NMS).

    Args:
        raw_boxes: (N, num_coords) or (1, N, num_coords) regression values.
        raw_scores: (N, C) or (1, N, C) class scores (logits when ``config.sigmoid_score``).
        anchors: (N, 4) from :func:`generate_ssd_anchors` (x_center, y_center, width, height).
        config: the decoding options.

    Returns:
        One detection per anchor: its box, best class and score, and keypoints.

    Raises:
        MetadataError: the tensors do not have the shapes the config implies.
    """
    boxes_raw = np.asarray(raw_boxes, np.float32).reshape(-1, raw_boxes.shape[-1])
    scores_raw = np.asarray(raw_scores, np.float32).reshape(-1, raw_scores.shape[-1])
    count = len(anchors)
    if boxes_raw.shape != (count, config.num_coords) or len(scores_raw) != count:
        raise MetadataError(
            f"ssd config expects {count} anchors with {config.num_coords} box values each, got boxes "
            f"{tuple(raw_boxes.shape)} and scores {tuple(raw_scores.shape)}"
        )
    ax, ay, aw, ah = anchors.T
    off = config.box_coord_offset
    first, second, third, fourth = (boxes_raw[:, off + i] for i in range(4))
    if config.box_format == "xywh":
        cx, cy, w, h = first, second, third, fourth
    else:
        cy, cx, h, w = first, second, third, fourth
    cx = cx / config.x_scale * aw + ax
    cy = cy / config.y_scale * ah + ay
    if config.apply_exponential_on_box_size:
        w, h = np.exp(w / config.w_scale) * aw, np.exp(h / config.h_scale) * ah
    else:
        w, h = w / config.w_scale * aw, h / config.h_scale * ah
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    k = config.num_keypoints
    points = boxes_raw[:, config.keypoint_coord_offset : config.keypoint_coord_offset + 2 * k].reshape(count, k, 2)
    if config.box_format == "yxhw":
        points = points[:, :, ::-1]  # MediaPipe reads keypoints in the box's axis order
    keypoints = np.stack(
        [
            points[:, :, 0] / config.x_scale * aw[:, None] + ax[:, None],
            points[:, :, 1] / config.y_scale * ah[:, None] + ay[:, None],
        ],
        axis=-1,
    )
    scores = scores_raw
    if config.sigmoid_score:
        if config.score_clipping_threshold is not None:
            scores = np.clip(scores, -config.score_clipping_threshold, config.score_clipping_threshold)
        with np.errstate(over="ignore"):  # exp overflows to inf for very negative logits: the score is 0
            scores = 1.0 / (1.0 + np.exp(-scores))
    if config.ignore_classes:
        scores = scores.copy()
        scores[:, [c for c in config.ignore_classes if c < scores.shape[1]]] = -np.inf
    classes = scores.argmax(axis=1)
    best = scores[np.arange(count), classes]
    return Detections(
        boxes.astype(np.float32), best.astype(np.float32), classes.astype(np.int64), keypoints.astype(np.float32)
    )


# ----------------------------------------------------------------------------- NMS
def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``[x_min, y_min, x_max, y_max]`` box with each of ``boxes`` (N, 4); 0 where disjoint."""
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=np.float64), where=union > 0)


def non_max_suppression(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_detections: int = -1
) -> np.ndarray:
    """Greedy NMS: keep the best box, drop the others overlapping it with IoU > ``iou_threshold``, repeat.

    Args:
        boxes: (N, 4) ``[x_min, y_min, x_max, y_max]``.
        scores: (N,).
        iou_threshold: overlap above which a lower-scoring box is suppressed.
        max_detections: stop after this many (-1: no limit).

    Returns:
        Indices of the kept boxes, best score first.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    kept: list[int] = []
    while order.size and (max_detections < 0 or len(kept) < max_detections):
        best, order = order[0], order[1:]
        kept.append(int(best))
        order = order[box_iou(boxes[best], boxes[order]) <= iou_threshold]
    return np.asarray(kept, np.int64)


def weighted_non_max_suppression(detections: Detections, iou_threshold: float, max_detections: int = -1) -> Detections:
    """MediaPipe's WEIGHTED NMS: each kept detection's box and keypoints become the score-weighted mean
    of every remaining detection overlapping it with IoU > ``iou_threshold`` (itself included); its
    score and class stay those of the best one. Smoother boxes than plain NMS, frame to frame.

    Returns:
        The merged detections, best score first.
    """
    order = np.argsort(-detections.scores, kind="stable")
    boxes, scores, points = detections.boxes, detections.scores, detections.keypoints
    out_boxes, out_points, kept = [], [], []
    while order.size and (max_detections < 0 or len(kept) < max_detections):
        best = order[0]
        overlapping = box_iou(boxes[best], boxes[order]) > iou_threshold
        group = order[overlapping]
        weights = scores[group].astype(np.float64)
        total = weights.sum()
        if total > 0:
            out_boxes.append((boxes[group] * weights[:, None]).sum(axis=0) / total)
            out_points.append((points[group] * weights[:, None, None]).sum(axis=0) / total)
        else:  # all-zero scores: nothing to weight by
            out_boxes.append(boxes[best])
            out_points.append(points[best])
        kept.append(int(best))
        order = order[~overlapping]
    if not kept:
        return Detections.empty(detections.keypoints.shape[1])
    picked = detections.take(np.asarray(kept))
    return Detections(
        np.asarray(out_boxes, np.float32), picked.scores, picked.classes, np.asarray(out_points, np.float32)
    )


def class_wise_nms(detections: Detections, iou_threshold: float, max_detections: int = -1) -> Detections:
    """Plain NMS within each class: boxes of different classes never suppress each other."""
    if not len(detections):
        return detections
    # Shift each class to its own far-away region, so one NMS pass equals one pass per class.
    span = float(np.abs(detections.boxes).max()) + 1.0
    shifted = detections.boxes + (detections.classes.astype(np.float32) * 2 * span)[:, None]
    return detections.take(non_max_suppression(shifted, detections.scores, iou_threshold, max_detections))


def select(
    detections: Detections, min_score: float, iou_threshold: float, nms: str = "plain", max_detections: int = -1
) -> Detections:
    """Drop detections below ``min_score`` or with a degenerate box, then run NMS (``plain``, ``weighted``
    or ``class_wise``); best score first."""
    boxes = detections.boxes
    valid = (detections.scores >= min_score) & (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
    valid &= np.isfinite(boxes).all(axis=1) & np.isfinite(detections.scores)
    candidates = detections.take(np.flatnonzero(valid))
    if nms == "weighted":
        return weighted_non_max_suppression(candidates, iou_threshold, max_detections)
    if nms == "class_wise":
        return class_wise_nms(candidates, iou_threshold, max_detections)
    return candidates.take(non_max_suppression(candidates.boxes, candidates.scores, iou_threshold, max_detections))


# ----------------------------------------------------------------------------- TFLite_Detection_PostProcess
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
