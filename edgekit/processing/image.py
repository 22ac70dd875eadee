"""Images: read, convert colour order, resize (stretch, letterbox, centre crop), normalize.

Resizing and normalization are MediaPipe's image-to-tensor step (see :mod:`.warp`), so a file gives
the same input tensor in edgekit as in MediaPipe Tasks: bit-exact uint8 pixels, float values within
one float32 rounding. OpenCV is the fast path; without it a numpy path gives the same pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import check_input_file
from ..metadata.card import ImageSpec
from .decode import IMAGE_SUFFIXES, decode_image  # noqa: F401  # IMAGE_SUFFIXES: imported from here too
from .image_header import check_image_header
from .warp import RESAMPLINGS, Region, area_fit, fit_region, value_transform, warp

log = logging.getLogger("edgekit.processing")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB uint8 array (H, W, 3).

    Raises:
        InputError: the file cannot be decoded as an image (or its header is damaged).
        LimitError: its header says more pixels than the ``image_pixels`` limit (EDGEKIT_MAX_IMAGE_PIXELS).
        MissingDependencyError: no installed decoder reads the file's format (JPEG and PNG need none of the
            extras; BMP, GIF, WebP, TIFF and PNM need Pillow or OpenCV).
    """
    path = Path(path)
    check_input_file(path, "image")
    data = np.fromfile(str(path), dtype=np.uint8)
    # Width and height from the header first: a small file can decode to gigabytes (limit image_pixels).
    check_image_header(data.data, str(path))
    return decode_image(data, path)


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Stretch to (height, width) with MediaPipe's resampling, keeping uint8 as uint8 (float stays float32)."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    flat = image.ndim == 2
    pixels = image[:, :, None] if flat else image
    resized = warp(pixels, Region.whole(pixels.shape[1], pixels.shape[0]), width, height)
    return resized[:, :, 0] if flat else resized


@dataclass(frozen=True)
class Placement:
    """Where a source image lies on the model's input canvas, to map results back.

    A source pixel (x, y) lands on the canvas at ``((x - origin_x) * scale_x + pad_x,
    (y - origin_y) * scale_y + pad_y)``; ``origin`` is the corner of the sampled source rectangle
    (negative when a letterbox reaches past the image), ``pad`` a border added on the canvas (only
    the ``area`` resampler pads; MediaPipe's geometry grows the source rectangle instead).
    """

    canvas_width: int
    canvas_height: int
    scale_x: float
    scale_y: float
    origin_x: float = 0.0
    origin_y: float = 0.0
    pad_x: float = 0.0
    pad_y: float = 0.0

    def to_source(self, points: np.ndarray) -> np.ndarray:
        """Canvas coordinates normalized to 0..1, shape (..., 2) as (x, y) → source pixels."""
        points = np.asarray(points, np.float64)
        x = (points[..., 0] * self.canvas_width - self.pad_x) / self.scale_x + self.origin_x
        y = (points[..., 1] * self.canvas_height - self.pad_y) / self.scale_y + self.origin_y
        return np.stack([x, y], axis=-1)

    def shifted(self, dx: float, dy: float) -> Placement:
        """The same placement for an image that was cut out of a larger one at (dx, dy)."""
        return replace(self, origin_x=self.origin_x + dx, origin_y=self.origin_y + dy)


def border_for(mode: str) -> str:
    """MediaPipe's border for a resize mode: its face detector letterboxes with zeros (BORDER_ZERO);
    its classifier and object detector stretch with the default, replicated edges."""
    return "zero" if mode == "letterbox" else "replicate"


def place(
    src_width: int,
    src_height: int,
    width: int,
    height: int,
    mode: str,
    region: Sequence[float] | None = None,
) -> tuple[Region, Placement]:
    """The source rectangle MediaPipe samples for ``mode`` and the Placement that maps results back.

    Args:
        src_width, src_height: the image's size in pixels.
        width, height: the model's input size.
        mode: stretch, letterbox or center_crop.
        region: optional region of interest (x, y, width, height) in source pixels (default: all).
    """
    base = Region.whole(src_width, src_height) if region is None else Region.from_box(*region)
    fitted = fit_region(base, width, height, mode)
    left, top, right, bottom = fitted.corners()
    placement = Placement(width, height, width / (right - left), height / (bottom - top), left, top)
    return fitted, placement


def fit(image: np.ndarray, width: int, height: int, mode: str, resampling: str = "mediapipe") -> np.ndarray:
    """Resize with ``mode``: stretch, letterbox (keep aspect, pad with 0) or center_crop."""
    return fit_placed(image, width, height, mode, resampling)[0]


def fit_placed(
    image: np.ndarray,
    width: int,
    height: int,
    mode: str,
    resampling: str = "mediapipe",
    region: Sequence[float] | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, Placement]:
    """``fit``, also returning the Placement that maps canvas coordinates back to ``image``.

    Args:
        image: (H, W, C) uint8 or float pixels.
        width, height: the canvas size.
        mode: stretch, letterbox or center_crop.
        resampling: "mediapipe" (default: MediaPipe's image-to-tensor step, bit-exact on uint8) or
            "area" (the older area-averaging resampler; never chosen silently).
        region: optional region of interest (x, y, width, height) in pixels; results map back to ``image``.
        out: optional preallocated (height, width, C) destination (mediapipe resampling only).

    Raises:
        InputError: unknown mode or resampling, or a region that does not overlap the image.
    """
    src_h, src_w = image.shape[:2]
    if resampling == "area":
        dx = dy = 0.0
        if region is not None:
            image, dx, dy = crop_pixels(image, region)
        resized, (sx, sy, ox, oy, px, py) = area_fit(image, width, height, mode)
        return resized, Placement(width, height, sx, sy, ox + dx, oy + dy, px, py)
    if resampling != "mediapipe":
        raise InputError(f"unknown resampling {resampling!r}", hint=f"use one of {RESAMPLINGS}")
    if region is not None:
        crop_pixels(image, region)  # the same overlap check and message as the area path
    fitted, placement = place(src_w, src_h, width, height, mode, region)
    return warp(image, fitted, width, height, border_for(mode), out), placement


def crop_pixels(image: np.ndarray, region: Sequence[float]) -> tuple[np.ndarray, float, float]:
    """Cut the region of interest (x, y, width, height) in whole pixels; returns the crop and its corner.

    Raises:
        InputError: the region is malformed or lies outside the image.
    """
    try:
        x, y, width, height = (float(v) for v in region)
    except (TypeError, ValueError):
        raise InputError(f"region_of_interest must be (x, y, width, height) in pixels, got {region!r}") from None
    img_h, img_w = image.shape[:2]
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(img_w, int(round(x + width))), min(img_h, int(round(y + height)))
    if x1 - x0 < 1 or y1 - y0 < 1 or not (width > 0 and height > 0):
        raise InputError(
            f"region_of_interest {tuple(region)} does not overlap the {img_w}x{img_h} image",
            hint="give (x, y, width, height) in pixels inside the image",
        )
    return image[y0:y1, x0:x1], float(x0), float(y0)


def as_image(image: np.ndarray | str | Path, what: str = "image") -> np.ndarray:
    """Check a frame (or read a file path) and return it as (H, W, C) with C in 1, 3 or 4.

    Accepts uint8, and float images with values in 0..255. Other frames are converted, with one warning
    line per kind and process (not one per frame): uint16 is scaled to 0..255 (value / 257, as 16-bit PNGs
    and depth cameras give it), other integers outside 0..255 and floats outside 0..255 are clipped.

    Raises:
        InputError: wrong type, dtype, shape or channel count, empty, or NaN/Inf values.
    """
    if isinstance(image, (str, Path)):
        return read_image(image)
    if not isinstance(image, np.ndarray):
        raise InputError(f"{what} must be a numpy array or an image file path, got {type(image).__name__}")
    if image.dtype.kind not in "uif" or image.dtype.kind == "b":
        raise InputError(f"{what} must be uint8 (or float 0..255), got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise InputError(
            f"{what} must have shape (H, W, 3), (H, W, 4), (H, W, 1) or (H, W), got {image.shape}",
            hint="pass one frame at a time, channels last",
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"{what} is empty: shape {image.shape}")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise InputError(f"{what} contains NaN or Inf values")
    return _to_pixel_range(image, what)


#: The conversions already announced in this process (one warning line each, not one per frame).
_warned: set[str] = set()


def _warn_once(kind: str, message: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        log.warning("warning: %s (said once; later frames are converted the same way)", message)


def _to_pixel_range(image: np.ndarray, what: str) -> np.ndarray:
    """uint8 as it is; uint16 scaled to 0..255; other values outside 0..255 clipped, never silently."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        _warn_once(
            "uint16",
            f"{what} is uint16: scaled to 0..255 (value / 257); pass uint8 frames (or floats 0..255) to avoid this",
        )
        return np.rint(image.astype(np.float32) * (1.0 / 257.0)).astype(np.uint8)
    low, high = image.min(), image.max()
    if low >= 0 and high <= 255:
        return image.astype(np.uint8) if image.dtype.kind in "iu" else image
    _warn_once(
        f"range-{image.dtype.kind}",
        f"{what} ({image.dtype}) has values from {low:.6g} to {high:.6g}, outside the pixel range 0..255: "
        "clipped to it; scale frames to 0..255 first",
    )
    if image.dtype.kind in "iu":
        return np.clip(image, 0, 255).astype(np.uint8)
    return np.clip(image.astype(np.float32), 0.0, 255.0)


def to_color_order(image: np.ndarray, order: str, source_order: str = "RGB") -> np.ndarray:
    """Convert an RGB/BGR (H, W, 3) or grey (H, W[, 1]) image to ``order`` (RGB, BGR or GRAY)."""
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim == 2 or image.shape[2] == 1:
        grey = image.reshape(image.shape[:2])
        return grey[:, :, None] if order == "GRAY" else np.repeat(grey[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an image of shape (H, W, 3) or (H, W), got {image.shape}")
    rgb = image[:, :, ::-1] if source_order == "BGR" else image
    if order == "GRAY":
        weights = np.asarray([0.299, 0.587, 0.114], np.float32)
        return (rgb.astype(np.float32) @ weights)[:, :, None]
    return rgb[:, :, ::-1] if order == "BGR" else rgb


def preprocess(image: np.ndarray, spec: ImageSpec, source_order: str = "RGB") -> np.ndarray:
    """Frame (any size, uint8 0..255) → float32 (H, W, C) as the model's float input expects it."""
    return preprocess_placed(image, spec, source_order)[0]


def preprocess_placed(
    image: np.ndarray,
    spec: ImageSpec,
    source_order: str = "RGB",
    region: Sequence[float] | None = None,
) -> tuple[np.ndarray, Placement]:
    """``preprocess``, also returning where the frame lies on the model's canvas.

    Args:
        image: (H, W, C) or (H, W) frame, uint8 (or float 0..255).
        spec: the model's ImageSpec (size, resize mode, resampling, colour order, mean/std).
        source_order: the frame's channel order, "RGB" or "BGR".
        region: optional region of interest (x, y, width, height) in the frame's pixels.

    Returns:
        (float32 (height, width, channels) tensor, Placement mapping canvas points to the frame).

    Raises:
        InputError: a malformed frame or region.
    """
    if image.dtype.kind not in "uif" or image.ndim not in (2, 3):
        raise InputError(f"expected a uint8 image of shape (H, W, 3), got {image.shape} {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 4:
        image = image[:, :, :3]  # alpha is not part of any model's input (MediaPipe drops it too)
    # Resample first, in the frame's own dtype (uint8 is rounded like MediaPipe's OpenCV warp), then
    # reorder or mix channels: per-pixel linear maps that commute with resampling, on fewer pixels.
    resized, placement = fit_placed(
        np.ascontiguousarray(image), spec.width, spec.height, spec.resize_mode, spec.resampling, region
    )
    pixels = to_color_order(resized, spec.color_order, source_order)
    return normalize(pixels, spec.mean, spec.std), placement


def normalize(pixels: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Pixels 0..255 → float32 ``(pixel - mean) / std``; one mean/std is computed as MediaPipe does
    (``pixel * scale + offset`` in float32), per-channel values directly."""
    if len(mean) == 1 and len(std) == 1:
        scale, offset = value_transform(mean[0], std[0])
        if scale == 1 and offset == 0:
            return pixels.astype(np.float32)
        values = pixels.astype(np.float32)
        values *= scale
        values += offset
        return values
    return (pixels.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
