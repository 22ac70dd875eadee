"""Anchor-based single-shot detectors (MediaPipe's SSD semantics): anchors, box and keypoint decoding."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..errors import MetadataError
from .nms import Detections

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
    # Centres and keypoints as (x, y) pairs, sizes as (w, h): one gather and a few whole-array operations,
    # each element still computed as ``value / x_scale * anchor_w + anchor_x`` (the same float32 steps).
    pair_columns, size_columns = _columns(config)
    scales = np.asarray([config.x_scale, config.y_scale], np.float32)
    anchor_xy, anchor_wh = anchors[:, None, :2], anchors[:, None, 2:]
    pairs = boxes_raw[:, pair_columns].reshape(count, 1 + config.num_keypoints, 2) / scales * anchor_wh + anchor_xy
    sizes = boxes_raw[:, size_columns] / np.asarray([config.w_scale, config.h_scale], np.float32)
    sizes = (np.exp(sizes) if config.apply_exponential_on_box_size else sizes) * anchors[:, 2:]
    centres, half = pairs[:, 0], sizes / 2
    boxes = np.concatenate([centres - half, centres + half], axis=1)
    keypoints = pairs[:, 1:]
    scores: np.ndarray = scores_raw
    if config.sigmoid_score:
        if config.score_clipping_threshold is not None:
            limit = config.score_clipping_threshold
            scores = np.minimum(np.maximum(scores, -limit), limit)  # np.clip's values, without its overhead
        with np.errstate(over="ignore"):  # exp overflows to inf for very negative logits: the score is 0
            scores = 1.0 / (1.0 + np.exp(-scores))
    if config.ignore_classes:
        scores = scores.copy()
        scores[:, [c for c in config.ignore_classes if c < scores.shape[1]]] = -np.inf
    if scores.shape[1] == 1:  # one class (a face detector): argmax is 0 everywhere
        classes, best = np.zeros(count, np.int64), scores[:, 0]
    else:
        classes = scores.argmax(axis=1)
        best = scores[np.arange(count), classes]
    return Detections(
        boxes.astype(np.float32, copy=False),
        best.astype(np.float32, copy=False),
        classes.astype(np.int64, copy=False),
        keypoints.astype(np.float32, copy=False),
    )


def _columns(config: SsdConfig) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of a raw box row: (x, y) of the centre then of each keypoint, and (w, h).

    MediaPipe reads keypoints in the box's axis order, so a ``yxhw`` row has (y, x) keypoint pairs.
    """
    key = (config.box_format, config.box_coord_offset, config.keypoint_coord_offset, config.num_keypoints)
    cached = _COLUMNS.get(key)
    if cached is None:
        off, start = config.box_coord_offset, config.keypoint_coord_offset
        if config.box_format == "xywh":
            pairs, sizes = [off, off + 1], [off + 2, off + 3]
        else:
            pairs, sizes = [off + 1, off], [off + 3, off + 2]
        for k in range(config.num_keypoints):
            first, second = start + 2 * k, start + 2 * k + 1
            pairs += [first, second] if config.box_format == "xywh" else [second, first]
        cached = _COLUMNS[key] = (np.asarray(pairs, np.intp), np.asarray(sizes, np.intp))
    return cached


_COLUMNS: dict[tuple[str, int, int, int], tuple[np.ndarray, np.ndarray]] = {}


class SsdCandidates:
    """Which anchors can pass ``min_score``, found before decoding, on buffers made once.

    A sigmoid (and clipping) never reorders scores, so an anchor whose best raw score lies below
    the raw threshold cannot reach ``min_score``: only the others are decoded (a face in a frame
    leaves a few dozen of the 896). The raw threshold sits a little below the exact one, so rounding
    never drops an anchor the full decode would keep; :func:`select` applies the exact filter after.

    Args:
        config: the decoding options.
        count: the number of anchors.
        min_score: the score below which detections are dropped.
    """

    def __init__(self, config: SsdConfig, count: int, min_score: float):
        self.count = count
        if min_score <= 0 or (config.sigmoid_score and min_score >= 1):
            self.raw_threshold = -np.inf if min_score <= 0 else np.inf
        elif config.sigmoid_score:
            self.raw_threshold = float(np.log(min_score / (1 - min_score))) - 1e-3
        else:
            self.raw_threshold = float(min_score) - 1e-6 * max(1.0, abs(float(min_score)))
        clip = config.score_clipping_threshold
        if config.sigmoid_score and clip is not None and -clip >= self.raw_threshold:
            self.raw_threshold = -np.inf  # clipping lifts every low score to -clip, which may pass
        self._best = np.empty(count, np.float32)
        self._passing = np.empty(count, np.bool_)

    def find(self, raw_scores: np.ndarray) -> np.ndarray | None:
        """Indices of the anchors worth decoding (ascending), or None for all of them."""
        if self.raw_threshold == -np.inf:
            return None
        scores = np.asarray(raw_scores).reshape(self.count, -1)
        if scores.shape[1] == 1:
            best = scores[:, 0]
        else:
            best = np.max(scores, axis=1, out=self._best if scores.dtype == np.float32 else None)
        with np.errstate(invalid="ignore"):  # NaN scores fail the comparison, as they fail select()'s
            np.greater_equal(best, self.raw_threshold, out=self._passing)
        return np.flatnonzero(self._passing)


def decode_ssd_candidates(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    config: SsdConfig,
    candidates: SsdCandidates | None,
) -> Detections:
    """:func:`decode_ssd` on the anchors ``candidates`` lets through (the others cannot pass its ``min_score``)."""
    rows = candidates.find(raw_scores) if candidates is not None else None
    if rows is None:
        return decode_ssd(raw_boxes, raw_scores, anchors, config)
    boxes = np.asarray(raw_boxes).reshape(len(anchors), -1)[rows]
    scores = np.asarray(raw_scores).reshape(len(anchors), -1)[rows]
    return decode_ssd(boxes, scores, anchors[rows], config)


# ----------------------------------------------------------------------------- NMS
