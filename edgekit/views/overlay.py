"""Draw a task result onto a video frame: labels and scores, boxes, keypoints, keywords and FPS.

A pure function of (frame, result dict): the window and the web view both show what it returns.
The result is the JSON-ready form of a task result (``result.to_dict()``), so the overlay needs no
task classes and draws what ``--json`` prints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError, require

# Twenty well-separated BGR colours; a class keeps its colour across frames and runs (index modulo 20).
PALETTE_BGR: tuple[tuple[int, int, int], ...] = (
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
    (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0),
    (168, 153, 44), (255, 194, 0), (147, 69, 52), (255, 115, 100), (236, 24, 0),
    (255, 56, 132), (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255),
)  # fmt: skip
MAX_CATEGORIES_PER_HEAD = 3  # more lines than this cover the picture on a small frame
FONT_SCALE_PER_PIXEL = 1 / 800  # font scale per pixel of the frame's shorter side
MIN_FONT_SCALE = 0.4  # below this Hershey glyphs are unreadable
TEXT_PADDING_PX = 3
KEYPOINT_RADIUS_PX = 3
SUPPORTED_TYPES = ("classification", "detection", "audio", "text")


def color_for_index(index: int) -> tuple[int, int, int]:
    """The BGR colour of a class index: stable across frames, runs and processes.

    Args:
        index: the category index (any integer; negative or unknown indices still get a colour).

    Returns:
        A (blue, green, red) tuple of ints in 0..255.
    """
    return PALETTE_BGR[int(index) % len(PALETTE_BGR)]


def line_thickness_px(frame_shape: Sequence[int]) -> int:
    """Box line thickness for a frame size: 1 px up to 599 px on the shorter side, then thicker.

    Args:
        frame_shape: the frame's numpy shape, (height, width[, channels]).

    Returns:
        The thickness in pixels (at least 1).
    """
    return max(1, round(min(frame_shape[0], frame_shape[1]) / 400))


def draw_overlay(frame_bgr: np.ndarray, result: Mapping[str, Any], fps: float | None = None) -> np.ndarray:
    """Return a copy of the frame with the result drawn on it; the input frame is not modified.

    Classification and text results: the top categories of each head as "label 0.91" lines, top-left.
    Detection results: each box in its class colour, "label 0.97" above it, keypoints as dots. Audio
    results: the classification lines, then the detected keywords. ``fps`` is written top-right.

    Args:
        frame_bgr: uint8 image, (height, width, 3) BGR or (height, width) grey.
        result: a task result as a dict (``result.to_dict()``); box and keypoint coordinates are in the
            frame's pixels. Boxes partly or wholly outside the frame are clipped.
        fps: frames per second to show, or None for no FPS label.

    Returns:
        A new (height, width, 3) uint8 BGR image.

    Raises:
        InputError: the frame is not a uint8 BGR or grey image, or the result has an unknown ``type``.
    """
    cv2 = require("cv2", "live", "drawing results on video frames")
    canvas = _bgr_copy(frame_bgr, cv2)
    if not isinstance(result, Mapping):
        raise InputError(f"the result to draw must be a dict (result.to_dict()), got {type(result).__name__}")
    result_type = result.get("type")
    if result_type not in SUPPORTED_TYPES:
        raise InputError(f"cannot draw a result of type {result_type!r}; supported: {', '.join(SUPPORTED_TYPES)}")
    font_scale = max(MIN_FONT_SCALE, min(canvas.shape[:2]) * FONT_SCALE_PER_PIXEL)
    if result_type == "detection":
        for detection in result.get("detections") or []:
            _draw_detection(canvas, detection, font_scale, cv2)
        lines = []
    else:
        lines = _classification_lines(result.get("classifications") or [])
        for keyword in result.get("keywords") or []:
            label = keyword.get("label") or "?"
            lines.append((f"keyword {label} {_score_text(keyword.get('score'))}", (255, 255, 255)))
    _draw_text_column(canvas, lines, font_scale, cv2)
    if fps is not None and math.isfinite(fps):
        _draw_fps(canvas, fps, font_scale, cv2)
    return canvas


def _bgr_copy(frame_bgr: np.ndarray, cv2) -> np.ndarray:
    frame = np.asarray(frame_bgr)
    if frame.dtype != np.uint8 or not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise InputError(
            f"the frame to draw on must be a uint8 (height, width, 3) BGR or (height, width) grey image, "
            f"got dtype {frame.dtype} and shape {frame.shape}"
        )
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(frame).copy()


def _score_text(score: Any) -> str:
    return f"{score:.2f}" if isinstance(score, (int, float)) and math.isfinite(score) else "-"


def _category_name(category: Mapping[str, Any]) -> str:
    return category.get("label") or category.get("display_name") or f"#{category.get('index', '?')}"


def _classification_lines(heads: Sequence[Mapping[str, Any]]) -> list[tuple[str, tuple[int, int, int]]]:
    lines = []
    for head in heads:
        categories = sorted(head.get("categories") or [], key=lambda c: -(c.get("score") or 0.0))
        # A head name only helps when there are several heads to tell apart.
        prefix = f"{head['head_name']}: " if len(heads) > 1 and head.get("head_name") else ""
        for category in categories[:MAX_CATEGORIES_PER_HEAD]:
            text = f"{prefix}{_category_name(category)} {_score_text(category.get('score'))}"
            lines.append((text, color_for_index(category.get("index", 0))))
    return lines


def _text_size(text: str, font_scale: float, cv2) -> tuple[int, int, int]:
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    return width, height, baseline


def _draw_label(canvas, text, left_px, top_px, font_scale, text_bgr, background_bgr, cv2) -> int:
    """A filled background box with the text inside, top-left corner at (left_px, top_px); returns its height."""
    width, height, baseline = _text_size(text, font_scale, cv2)
    box_height = height + baseline + 2 * TEXT_PADDING_PX
    cv2.rectangle(
        canvas, (left_px, top_px), (left_px + width + 2 * TEXT_PADDING_PX, top_px + box_height), background_bgr, -1
    )
    origin = (left_px + TEXT_PADDING_PX, top_px + TEXT_PADDING_PX + height)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, text_bgr, 1, cv2.LINE_AA)
    return box_height + 1


def _draw_text_column(canvas, lines, font_scale, cv2) -> None:
    top_px = 0
    for text, color in lines:
        if top_px >= canvas.shape[0]:
            break
        # Coloured text on black stays readable on any picture and keeps the class colour visible.
        top_px += _draw_label(canvas, text, 0, top_px, font_scale, color, (0, 0, 0), cv2)


def _draw_fps(canvas, fps: float, font_scale: float, cv2) -> None:
    text = f"{fps:.1f} FPS"
    width, _, _ = _text_size(text, font_scale, cv2)
    left_px = max(0, canvas.shape[1] - width - 2 * TEXT_PADDING_PX - 1)
    _draw_label(canvas, text, left_px, 0, font_scale, (255, 255, 255), (0, 0, 0), cv2)


def _pixel(value: Any, limit_px: int) -> int | None:
    """A coordinate rounded to a pixel and kept within a frame's reach (huge values overflow OpenCV's int32)."""
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(round(min(max(value, -limit_px), 2 * limit_px)))


def _draw_detection(canvas, detection: Mapping[str, Any], font_scale: float, cv2) -> None:
    height_px, width_px = canvas.shape[:2]
    categories = sorted(detection.get("categories") or [], key=lambda c: -(c.get("score") or 0.0))
    top = categories[0] if categories else {"index": 0}
    color = color_for_index(top.get("index", 0))
    box = detection.get("box") or {}
    left, top_px = _pixel(box.get("x"), width_px), _pixel(box.get("y"), height_px)
    box_w, box_h = _pixel(box.get("width"), width_px), _pixel(box.get("height"), height_px)
    if (
        (left is not None and top_px is not None and box_w is not None and box_h is not None)
        and box_w > 0
        and box_h > 0
    ):
        right, bottom = left + box_w - 1, top_px + box_h - 1
        cv2.rectangle(canvas, (left, top_px), (right, bottom), color, line_thickness_px(canvas.shape))
        if categories and right >= 0 and bottom >= 0 and left < width_px and top_px < height_px:
            text = f"{_category_name(top)} {_score_text(top.get('score'))}"
            _, text_h, baseline = _text_size(text, font_scale, cv2)
            label_h = text_h + baseline + 2 * TEXT_PADDING_PX
            # Above the box when there is room, else just inside its top edge; always on screen.
            label_top = top_px - label_h - 1 if top_px - label_h - 1 >= 0 else max(0, top_px)
            _draw_label(canvas, text, max(0, left), label_top, font_scale, _text_color_on(color), color, cv2)
    for keypoint in detection.get("keypoints") or []:
        x_px, y_px = _pixel(keypoint.get("x"), width_px), _pixel(keypoint.get("y"), height_px)
        if x_px is not None and y_px is not None:
            cv2.circle(canvas, (x_px, y_px), KEYPOINT_RADIUS_PX, color, -1, cv2.LINE_AA)


def _text_color_on(background_bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    blue, green, red = background_bgr
    return (0, 0, 0) if 0.114 * blue + 0.587 * green + 0.299 * red > 140 else (255, 255, 255)
