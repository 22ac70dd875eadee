"""Detections (arrays of boxes, scores, classes, keypoints) and non-maximum suppression (pure numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``[x_min, y_min, x_max, y_max]`` box with each of ``boxes`` (N, 4); 0 where disjoint."""
    # x and y side by side: the same float operations as one axis at a time, in half the numpy calls
    sides = np.maximum(np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2]), 0)
    inter = sides[:, 0] * sides[:, 1]
    area = (box[2] - box[0]) * (box[3] - box[1])
    extents = boxes[:, 2:] - boxes[:, :2]
    union = area + extents[:, 0] * extents[:, 1] - inter
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
    out_boxes: list[np.ndarray] = []
    out_points: list[np.ndarray] = []
    kept: list[int] = []
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
