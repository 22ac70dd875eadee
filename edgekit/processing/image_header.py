"""Image size from the file header, before decoding: a 48 KB PNG can decode to gigabytes.

:func:`check_image_header` reads width and height from PNG, JPEG, BMP, GIF, WebP, TIFF and PNM headers
and refuses the file (``LimitError``, limit ``image_pixels``) when width x height is over the limit,
or (``InputError``) when the header is damaged or the format is not one edgekit reads. Nothing is
decoded, so the check costs microseconds.
"""

from __future__ import annotations

import struct

from .. import limits
from ..errors import InputError

FORMATS = "PNG, JPEG, BMP, GIF, WebP, TIFF, PPM/PGM"
MAX_JPEG_SEGMENTS = 100_000


def _bad(name: str, problem: str) -> InputError:
    return InputError(f"{name}: {problem}", hint=f"check the file is a complete image ({FORMATS})")


def image_size(data: bytes | memoryview, name: str = "image") -> tuple[str, int, int]:
    """(format, width, height) from the header of an image file's bytes.

    Raises:
        InputError: the header is damaged or the format is not one of :data:`FORMATS`.
    """
    head = bytes(data[:32])
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            if head[12:16] != b"IHDR":
                raise _bad(name, "a PNG without IHDR header chunk")
            width, height = struct.unpack_from(">II", head, 16)
            return "PNG", width, height
        if head.startswith(b"\xff\xd8"):
            return ("JPEG", *_jpeg_size(data, name))
        if head.startswith(b"BM"):
            (header_size,) = struct.unpack_from("<I", head, 14)
            if header_size == 12:
                width, height = struct.unpack_from("<HH", head, 18)
            else:
                width, height = struct.unpack_from("<ii", head, 18)
            return "BMP", abs(width), abs(height)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack_from("<HH", head, 6)
            return "GIF", width, height
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return ("WebP", *_webp_size(head, name))
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return ("TIFF", *_tiff_size(data, name))
        if head[:1] == b"P" and head[1:2] in b"123456" and len(head) > 2:
            return ("PNM", *_pnm_size(bytes(data[:4096]), name))
    except struct.error:
        raise _bad(name, "the image header is truncated") from None
    raise InputError(
        f"{name} is not an image format edgekit reads (no {FORMATS} header)",
        hint=f"convert it to PNG or JPEG; readable formats: {FORMATS}",
    )


def _jpeg_size(data: bytes | memoryview, name: str) -> tuple[int, int]:
    pos, end = 2, len(data)
    for _ in range(MAX_JPEG_SEGMENTS):
        if pos + 2 > end or data[pos] != 0xFF:
            break
        while pos + 2 < end and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > end:
            break
        marker = data[pos + 1]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        pos += 2 + length
    raise _bad(name, "a JPEG without a readable frame header (SOF)")


def _webp_size(head: bytes, name: str) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        (bits,) = struct.unpack_from("<I", head, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack_from("<HH", head, 26)
        return width & 0x3FFF, height & 0x3FFF
    raise _bad(name, f"a WebP with an unknown first chunk {chunk!r}")


def _tiff_size(data: bytes | memoryview, name: str) -> tuple[int, int]:
    order = "<" if bytes(data[:2]) == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    size: dict[int, int] = {}
    for index in range(min(count, 4096)):
        tag, kind, _, value = struct.unpack_from(order + "HHI4s", data, ifd + 2 + 12 * index)
        if tag in (256, 257):
            size[tag] = struct.unpack_from(order + ("H" if kind == 3 else "I"), value)[0]
    if 256 not in size or 257 not in size:
        raise _bad(name, "a TIFF without ImageWidth/ImageLength")
    return size[256], size[257]


def _pnm_size(head: bytes, name: str) -> tuple[int, int]:
    tokens: list[int] = []
    for line in head[2:].split(b"\n"):
        line = line.split(b"#")[0]
        for token in line.split():
            if not token.isdigit():
                raise _bad(name, "a PNM header with a non-number size")
            tokens.append(int(token))
            if len(tokens) == 2:
                return tokens[0], tokens[1]
    raise _bad(name, "a PNM header without a size")


def check_image_header(data: bytes | memoryview, name: str = "image") -> tuple[str, int, int]:
    """The file's (format, width, height), refused before decoding if damaged or over ``image_pixels``.

    Raises:
        InputError: no known header, a damaged one, or a zero size.
        LimitError: width x height is over the ``image_pixels`` limit (EDGEKIT_MAX_IMAGE_PIXELS).
    """
    kind, width, height = image_size(data, name)
    if width <= 0 or height <= 0:
        raise _bad(name, f"the {kind} header says {width}x{height} pixels")
    limits.check("image_pixels", width * height, f"{name} ({kind}, {width}x{height})")
    return kind, width, height
