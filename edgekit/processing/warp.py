"""MediaPipe's image-to-tensor geometry and resampling, reproduced bit for bit.

MediaPipe Tasks (0.10.x and 1.x, and so every Android/iOS app) turns an image into a model input
with its ImageToTensorCalculator and the OpenCV 3.4 converter built into the wheel:

- The region of interest is a rectangle in source pixels (the whole image unless the caller gives
  one). With ``keep_aspect_ratio`` (the face detector) the rectangle grows around its centre to the
  tensor's aspect (float32 arithmetic), which letterboxes; the image classifier stretches.
- ``cv::warpPerspective`` with ``INTER_LINEAR`` maps the rectangle's corners onto the tensor's
  corners: output pixel ``x`` samples the source at ``left + x * width / tensor_width`` (corner
  aligned, *not* half-pixel centres), rounded to 1/32 pixel; the four neighbours are weighted in
  fixed point and the sum rounded to uint8 before any normalization.
- Samples outside the image replicate the edge (classifier) or read 0 (face detector, BORDER_ZERO).

``warp`` does the same with ``cv2.remap`` on the same fixed-point maps (fast path, measured identical
to MediaPipe) or in numpy without OpenCV (integer arithmetic, identical too). The older area-averaging
resampler lives on only as ``resampling="area"`` (see :func:`area_fit`).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError

RESAMPLINGS = ("mediapipe", "area")
BORDERS = ("replicate", "zero")

_FRACTION_BITS = 5  # OpenCV's INTER_BITS: sample positions are rounded to 1/32 pixel
_ONE = 1 << _FRACTION_BITS
_f32 = np.float32


@dataclass(frozen=True)
class Region:
    """A rectangle in source pixels given by its centre and size (MediaPipe's RotatedRect, unrotated)."""

    center_x: float
    center_y: float
    width: float
    height: float

    @classmethod
    def whole(cls, src_width: int, src_height: int) -> Region:
        """The whole image, as MediaPipe's GetRoi makes it (0.5f * size, size)."""
        return cls(float(_f32(0.5) * _f32(src_width)), float(_f32(0.5) * _f32(src_height)), src_width, src_height)

    @classmethod
    def from_box(cls, x: float, y: float, width: float, height: float) -> Region:
        """A region of interest given as its top-left corner and size in pixels."""
        if not (width > 0 and height > 0) or not all(np.isfinite([x, y, width, height])):
            raise InputError(f"region_of_interest must have a positive finite size, got {(x, y, width, height)}")
        return cls(x + width / 2, y + height / 2, float(width), float(height))

    def corners(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) as OpenCV's RotatedRect::points computes them (float32)."""
        cx, cy, w, h = _f32(self.center_x), _f32(self.center_y), _f32(self.width), _f32(self.height)
        left, top = _f32(cx - _f32(0.5) * w), _f32(cy - _f32(0.5) * h)
        return float(left), float(top), float(_f32(_f32(2) * cx - left)), float(_f32(_f32(2) * cy - top))


def fit_region(region: Region, width: int, height: int, mode: str) -> Region:
    """The source rectangle that fills a ``width`` x ``height`` tensor under ``mode``.

    stretch: the region itself. letterbox: grown around its centre to the tensor's aspect, as
    MediaPipe's PadRoi does for ``keep_aspect_ratio`` (the out-of-image part becomes padding).
    center_crop: shrunk around its centre to the tensor's aspect (what MediaPipe computes for that
    rectangle given as a region of interest).
    """
    if mode == "stretch":
        return region
    tensor_aspect = _f32(height) / _f32(width)
    roi_aspect = _f32(region.height) / _f32(region.width)
    if mode == "letterbox":
        taller = tensor_aspect > roi_aspect
    elif mode == "center_crop":
        taller = tensor_aspect <= roi_aspect
    else:
        raise InputError(f"unknown resize mode {mode!r}", hint="use stretch, letterbox or center_crop")
    if taller:  # keep the width, derive the height
        new_width, new_height = _f32(region.width), _f32(_f32(region.width) * tensor_aspect)
    else:
        new_width, new_height = _f32(_f32(region.height) / tensor_aspect), _f32(region.height)
    return Region(region.center_x, region.center_y, float(new_width), float(new_height))


def sample_positions(region: Region, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each tensor column and row samples the source, in 1/32 pixels (int64, floor-divisible).

    The inverse of the perspective transform MediaPipe builds from the region's corners to the
    tensor's corners; OpenCV evaluates it in double and rounds half to even, as ``np.rint`` does.
    """
    left, top, right, bottom = region.corners()
    xs = left + np.arange(width, dtype=np.float64) * ((right - left) / width)
    ys = top + np.arange(height, dtype=np.float64) * ((bottom - top) / height)
    return np.rint(xs * _ONE).astype(np.int64), np.rint(ys * _ONE).astype(np.int64)


def warp(
    image: np.ndarray,
    region: Region,
    width: int,
    height: int,
    border: str = "replicate",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Resample ``region`` of ``image`` (H, W, C) onto a ``height`` x ``width`` grid as MediaPipe does.

    Args:
        image: uint8 (bit-exact with MediaPipe) or float32 (H, W, C) pixels.
        region: the source rectangle (see :func:`fit_region`).
        width, height: the tensor's size.
        border: "replicate" (MediaPipe's default) or "zero" (its face detector).
        out: optional preallocated (height, width, C) array of the image's dtype to write into.

    Returns:
        (height, width, C) array, uint8 for uint8 input (rounded like OpenCV), else float32.
    """
    if border not in BORDERS:
        raise InputError(f"unknown border {border!r}", hint=f"use one of {BORDERS}")
    if image.dtype != np.uint8 and image.dtype != np.float32:
        image = image.astype(np.float32)
    xs, ys = sample_positions(region, width, height)
    cv2 = opencv()
    if cv2 is None:
        result = _warp_numpy(image, xs, ys, border == "replicate")
    else:
        result = _warp_opencv(cv2, image, xs, ys, border == "replicate", out)
    if out is not None and result is not out:
        out[...] = result
        return out
    return result


_warped = 0  # frames this process has warped: OpenCV is imported from the second on
_cv2_lock = threading.Lock()
_cv2: Any = None


def load_cv2() -> Any:
    """cv2, imported under a lock, for code that may run in several threads (tasks evaluated side by side).

    OpenCV's package replaces itself in ``sys.modules`` while it loads, so a second thread importing it at
    that moment got a half-made module ("partially initialized module 'cv2' has no attribute ...").

    Raises:
        ImportError: OpenCV is not installed.
    """
    global _cv2
    if _cv2 is None:
        with _cv2_lock:
            if _cv2 is None:
                import cv2

                _cv2 = cv2
    return _cv2


def opencv(*, counting: bool = True) -> Any:
    """cv2 when it pays off, else None (then the numpy warp makes the same pixels, with temporaries).

    Importing OpenCV costs 30-50 ms of CPU, the time of about eight numpy warps of a camera frame, so the
    first frame of a process is warped in numpy unless something (a camera source, a view) has loaded OpenCV
    already; from the second frame on it is imported. None without OpenCV. ``counting=False`` asks without
    counting a frame (a caller that warps through :func:`warp` afterwards, which counts it).
    """
    global _warped
    if counting:
        _warped += 1
    if _cv2 is None and "cv2" not in sys.modules and _warped < (2 if counting else 1):
        return None
    try:
        return load_cv2()  # loaded (or being loaded by another thread, then waited for) or due now
    except ImportError:
        return None


def _warp_opencv(cv2, image, xs, ys, replicate, out):
    # cv2.remap with integer maps runs OpenCV's fixed-point bilinear kernel on exactly the positions
    # MediaPipe's warpPerspective computes (newer cv2.warpAffine rounds differently: up to 5 levels off).
    limit = np.iinfo(np.int16)
    map_xy = np.empty((len(ys), len(xs), 2), np.int16)
    map_xy[..., 0] = np.clip(xs >> _FRACTION_BITS, limit.min, limit.max)[None, :]
    map_xy[..., 1] = np.clip(ys >> _FRACTION_BITS, limit.min, limit.max)[:, None]
    fractions = ((ys & (_ONE - 1))[:, None] * _ONE + (xs & (_ONE - 1))[None, :]).astype(np.uint16)
    mode = cv2.BORDER_REPLICATE if replicate else cv2.BORDER_CONSTANT
    channels = image.shape[2]
    dst = out.reshape(out.shape[:2]) if out is not None and channels == 1 else out
    result = cv2.remap(image, map_xy, fractions, cv2.INTER_LINEAR, dst=dst, borderMode=mode, borderValue=0)
    return result[:, :, None] if result.ndim == 2 else result


def _taps(positions: np.ndarray, size: int, replicate: bool):
    """Source indices of the two neighbours of each sample and their weights in 1/32 (0 outside a zero border)."""
    first = positions >> _FRACTION_BITS
    weight_second = positions & (_ONE - 1)
    weight_first = _ONE - weight_second
    second = first + 1
    if not replicate:
        weight_first = np.where((first >= 0) & (first < size), weight_first, 0)
        weight_second = np.where((second >= 0) & (second < size), weight_second, 0)
    return np.clip(first, 0, size - 1), np.clip(second, 0, size - 1), weight_first, weight_second


def _warp_numpy(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, replicate: bool) -> np.ndarray:
    # OpenCV's sum (w_x * w_y * 32 * p + 2^14) >> 15 equals (w_x * w_y * p + 512) >> 10 with the
    # weights in 1/32, so a separable pass in int32 gives the same integers (max 1024 * 255).
    src_h, src_w = image.shape[:2]
    x0, x1, wx0, wx1 = _taps(xs, src_w, replicate)
    y0, y1, wy0, wy1 = _taps(ys, src_h, replicate)
    work = np.int32 if image.dtype == np.uint8 else np.float32
    wx0, wx1 = wx0.astype(work)[None, :, None], wx1.astype(work)[None, :, None]
    rows_top, rows_bottom = image[y0].astype(work), image[y1].astype(work)
    top = rows_top[:, x0] * wx0 + rows_top[:, x1] * wx1
    bottom = rows_bottom[:, x0] * wx0 + rows_bottom[:, x1] * wx1
    total = top * wy0.astype(work)[:, None, None] + bottom * wy1.astype(work)[:, None, None]
    if image.dtype == np.uint8:
        return np.clip((total + 512) >> 10, 0, 255).astype(np.uint8)
    return total / np.float32(_ONE * _ONE)


def value_transform(mean: float, std: float) -> tuple[np.float32, np.float32]:
    """MediaPipe's uint8 → float conversion for one mean/std: ``pixel * scale + offset``.

    It maps the range (0 - mean) / std .. (255 - mean) / std linearly over 0..255, in float32, as
    ImagePreprocessingGraph and GetValueRangeTransformation compute it.
    """
    low = _f32(_f32(0.0 - mean) / _f32(std))
    high = _f32(_f32(255.0 - mean) / _f32(std))
    scale = _f32((high - low) / _f32(255.0))
    return scale, low


def area_fit(image: np.ndarray, width: int, height: int, mode: str):
    """The pre-MediaPipe resampler, kept only for ``resampling="area"``: area averaging when shrinking
    by 2x or more, then bilinear with half-pixel centres; integer crop and padding.

    Returns:
        (resized image, (scale_x, scale_y, origin_x, origin_y, pad_x, pad_y)).
    """
    src_h, src_w = image.shape[:2]
    if mode == "stretch":
        return _area_resize(image, width, height), (width / src_w, height / src_h, 0.0, 0.0, 0.0, 0.0)
    if mode == "center_crop":
        scale = max(width / src_w, height / src_h)
        crop_w, crop_h = round(width / scale), round(height / scale)
        left, top = (src_w - crop_w) // 2, (src_h - crop_h) // 2
        crop = image[top : top + crop_h, left : left + crop_w]
        return _area_resize(crop, width, height), (width / crop_w, height / crop_h, left, top, 0.0, 0.0)
    if mode != "letterbox":
        raise InputError(f"unknown resize mode {mode!r}", hint="use stretch, letterbox or center_crop")
    scale = min(width / src_w, height / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2
    canvas = np.zeros((height, width) + image.shape[2:], image.dtype)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = _area_resize(image, new_w, new_h)
    return canvas, (new_w / src_w, new_h / src_h, 0.0, 0.0, float(pad_x), float(pad_y))


def _area_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    try:
        cv2 = load_cv2()
    except ImportError:
        return _half_pixel_bilinear(image, width, height)
    if image.dtype not in (np.uint8, np.float32):
        image = image.astype(np.float32)
    factor = min(image.shape[1] // width, image.shape[0] // height)
    if factor >= 2:
        image = cv2.resize(image, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
    if image.shape[1] != width or image.shape[0] != height:
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return image[:, :, None] if image.ndim == 2 else image


def _half_pixel_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    src_h, src_w = image.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * (src_h / height) - 0.5, 0, src_h - 1)
    xs = np.clip((np.arange(width) + 0.5) * (src_w / width) - 0.5, 0, src_w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, src_h - 1), np.minimum(x0 + 1, src_w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = image.astype(np.float32)
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy
