"""Decode an image file's bytes to RGB uint8 pixels, with whichever decoder is installed.

The order: for the two formats photos and screenshots come in, the light decoders of the runtime install
(simplejpeg: JPEG through libjpeg-turbo; pyspng: PNG through libspng; about 1.5 MB together, against Pillow's 22 MB),
even when OpenCV is there: importing OpenCV costs a one-shot ``edgekit run`` about 30 ms of CPU, a tenth of its
process. Then OpenCV (the ``live`` extra; it decodes every format edgekit reads), then Pillow (the ``image`` extra)
for BMP, GIF, WebP, TIFF and PNM. The light decoders give the same pixels as OpenCV (the same libjpeg-turbo settings:
accurate integer IDCT, smooth chroma upsampling; PNG is lossless; 16-bit PNG scaled and CMYK JPEG converted
as OpenCV does), and the EXIF orientation of a JPEG is applied on every path, as OpenCV applies it: a phone photo taken
upright is upright whichever decoder read it.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np

from ..errors import DISTRIBUTION, InputError, MissingDependencyError, install_hint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
log = logging.getLogger("edgekit.processing")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def decode_image(data: np.ndarray, path: Path) -> np.ndarray:
    """The RGB uint8 pixels (H, W, 3) of an image file's bytes (``data``, uint8); ``path`` names it in errors.

    Raises:
        InputError: the bytes are not an image the decoder can read.
        MissingDependencyError: no installed decoder reads this format (names the extra that does).
    """
    head = data[:8].tobytes()
    light = refused = None
    if head.startswith(JPEG_MAGIC):
        try:
            light = _jpeg(data, path)
        except InputError as exc:  # OpenCV, when installed, gets a second try (it reads past some header damage)
            refused = exc
    elif head.startswith(PNG_MAGIC):
        light = _png(data, path)  # no retry: OpenCV refused the damaged PNGs libspng did (bad filter, cut off)
    if light is not None:
        return light
    from .warp import load_cv2

    try:
        cv2 = load_cv2()
    except ImportError:
        cv2 = None  # Pillow below
    if cv2 is not None:
        try:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        except cv2.error:  # OpenCV asserts on some corrupt headers instead of returning None
            image = None
        if image is None:
            raise refused or InputError(f"{path} is not an image OpenCV can decode", hint=undecodable_hint(path))
        if refused is not None:
            log.warning("warning: %s; decoded by OpenCV, which reads past this damage", refused)
        # BGR -> RGB in place: a 50-megapixel photo is 150 MB, a copy would be another 150 MB
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)
    if refused is not None:
        raise refused
    return _pillow(data, path)


def undecodable_hint(path: Path) -> str:
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return f"the file is damaged or is not really a {path.suffix} image (does an image viewer open it?)"
    return "use one of " + ", ".join(IMAGE_SUFFIXES)


def _jpeg(data: np.ndarray, path: Path) -> np.ndarray | None:
    try:
        import simplejpeg
    except ImportError:
        return None
    raw = data.tobytes()
    try:
        pixels = simplejpeg.decode_jpeg(raw, colorspace="RGB")  # YCbCr, grey and CMYK alike
    except ValueError as exc:
        # Damage libjpeg can recover from (stray bytes, a cut-off end): decode what is there, as OpenCV and
        # image viewers do (the same pixels as OpenCV's, grey where data is missing), and say so.
        try:
            pixels = simplejpeg.decode_jpeg(raw, colorspace="RGB", strict=False)
        except ValueError:
            raise InputError(
                f"{path} is not a JPEG image simplejpeg can decode ({exc})", hint=undecodable_hint(path)
            ) from exc
        log.warning("warning: %s: damaged JPEG (%s): decoded what could be read, as OpenCV does", path, exc)
    return orient(pixels, exif_orientation(raw))


def _png(data: np.ndarray, path: Path) -> np.ndarray | None:
    try:
        import pyspng
    except ImportError:
        return None
    try:
        pixels = pyspng.load(data.tobytes(), format="RGB")  # palette, grey, alpha, 16-bit -> RGB8
    except (ValueError, RuntimeError) as exc:
        raise InputError(f"{path} is not a PNG image pyspng can decode ({exc})", hint=undecodable_hint(path)) from exc
    return np.ascontiguousarray(pixels)


def _pillow(data: np.ndarray, path: Path) -> np.ndarray:
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as exc:
        from .image_header import image_size

        kind = image_size(data.data, str(path))[0]  # the header was checked: the format is known
        light = {"JPEG": "simplejpeg", "PNG": "pyspng"}.get(kind)
        if light:  # a dependency of edgekit-ml that is missing (an install with --no-deps)
            raise MissingDependencyError(
                f"reading {kind} images needs {light} (a dependency of {DISTRIBUTION}), Pillow or OpenCV",
                hint=f"pip install {light}",
            ) from exc
        raise MissingDependencyError(
            f"reading {kind} images needs Pillow or OpenCV (the runtime install reads JPEG and PNG only)",
            hint=install_hint("image"),
        ) from exc
    import io

    try:
        with Image.open(io.BytesIO(data.tobytes())) as handle:
            return np.asarray(ImageOps.exif_transpose(handle).convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path} is not an image Pillow can decode ({exc})", hint=undecodable_hint(path)) from exc


def exif_orientation(jpeg: bytes) -> int:
    """The EXIF orientation tag (1-8) of a JPEG's APP1 segment; 1 (as stored) when there is none or it is damaged."""
    at = 2
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF:
        marker = jpeg[at + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: the metadata segments come before
            break
        (length,) = struct.unpack_from(">H", jpeg, at + 2)
        segment = jpeg[at + 4 : at + 2 + length]
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            return _tiff_orientation(segment[6:])
        at += 2 + length
    return 1


def _tiff_orientation(tiff: bytes) -> int:
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return 1
    try:
        (first,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, first)
        for index in range(count):
            tag, kind, _, value = struct.unpack_from(order + "HHIH", tiff, first + 2 + 12 * index)
            if tag == 0x0112 and kind == 3:  # Orientation, SHORT
                return value if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels (H, W, C) upright for an EXIF orientation (1 upright ... 8), as viewers show them."""
    if orientation in (5, 6, 7, 8):
        pixels = pixels.transpose(1, 0, 2)  # 5: transpose; 6, 7, 8 = 5 followed by a flip
    flip_rows = orientation in (3, 4, 7, 8)
    flip_cols = orientation in (2, 3, 6, 7)
    if flip_rows:
        pixels = pixels[::-1]
    if flip_cols:
        pixels = pixels[:, ::-1]
    return np.ascontiguousarray(pixels)
