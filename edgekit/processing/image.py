"""Images: read, convert colour order, resize (stretch, letterbox, centre crop), normalize.

Uses OpenCV's resize when it is installed (fast) and an equivalent numpy bilinear resize otherwise
(both sample with half-pixel centres).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDependencyError
from ..metadata.card import ImageSpec

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as an RGB uint8 array (H, W, 3).

    Raises:
        InputError: the file cannot be decoded as an image.
        MissingDependencyError: neither OpenCV nor Pillow is installed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"image file not found: {path}")
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        data = np.fromfile(str(path), dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{path} is not an image OpenCV can decode", hint=f"use one of {IMAGE_SUFFIXES}")
        return image[:, :, ::-1].copy()
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise MissingDependencyError(
            "reading image files needs OpenCV or Pillow", hint='pip install "edgekit[live]"'
        ) from exc
    try:
        with Image.open(path) as handle:
            return np.asarray(handle.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path} is not an image Pillow can decode ({exc})") from exc


def _bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    src_h, src_w = image.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * (src_h / height) - 0.5, 0, src_h - 1)
    xs = np.clip((np.arange(width) + 0.5) * (src_w / width) - 0.5, 0, src_w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, src_h - 1), np.minimum(x0 + 1, src_w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = image.astype(np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    top = img[y0][:, x0] * (1 - wx) + img[y0][:, x1] * wx
    bottom = img[y1][:, x0] * (1 - wx) + img[y1][:, x1] * wx
    out = top * (1 - wy) + bottom * wy
    return out if image.ndim == 3 else out[:, :, 0]


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize to (height, width); returns float32."""
    if image.shape[1] == width and image.shape[0] == height:
        return image.astype(np.float32)
    try:
        import cv2
    except ImportError:
        return _bilinear(image, width, height)
    return cv2.resize(image.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def fit(image: np.ndarray, width: int, height: int, mode: str) -> np.ndarray:
    """Resize with ``mode``: stretch, letterbox (keep aspect, pad with 0) or center_crop."""
    src_h, src_w = image.shape[:2]
    if mode == "stretch":
        return resize(image, width, height)
    if mode == "center_crop":
        scale = max(width / src_w, height / src_h)
        crop_w, crop_h = round(width / scale), round(height / scale)
        top, left = (src_h - crop_h) // 2, (src_w - crop_w) // 2
        return resize(image[top : top + crop_h, left : left + crop_w], width, height)
    if mode == "letterbox":
        scale = min(width / src_w, height / src_h)
        new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
        canvas = np.zeros((height, width) + image.shape[2:], np.float32)
        top, left = (height - new_h) // 2, (width - new_w) // 2
        canvas[top : top + new_h, left : left + new_w] = resize(image, new_w, new_h)
        return canvas
    raise InputError(f"unknown resize mode {mode!r}", hint="use stretch, letterbox or center_crop")


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
    if image.dtype.kind not in "uif" or image.ndim not in (2, 3):
        raise InputError(f"expected a uint8 image of shape (H, W, 3), got {image.shape} {image.dtype}")
    converted = to_color_order(image, spec.color_order, source_order)
    resized = fit(converted, spec.width, spec.height, spec.resize_mode)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    return (resized - mean) / std
