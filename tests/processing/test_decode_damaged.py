"""Damaged JPEGs: what libjpeg recovers from (stray bytes, a cut-off end) decodes to OpenCV's pixels with one
warning, as OpenCV and image viewers show such photos; a file with no decodable image is one error.
Golden: OpenCV's own decode of the same bytes (an independent decoder path)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import InputError
from edgekit.processing.decode import decode_image


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    import cv2
    from skimage import data

    ok, encoded = cv2.imencode(".jpg", data.coffee()[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def _damaged(jpeg: bytes, kind: str) -> bytes:
    if kind == "cut off":
        return jpeg[: len(jpeg) // 3]
    after_app0 = 4 + int.from_bytes(jpeg[4:6], "big")  # SOI, then the APP0 segment's marker and length
    return jpeg[:after_app0] + bytes(10) + jpeg[after_app0:]  # stray bytes between two segments


@pytest.mark.parametrize("kind", ["cut off", "stray bytes"])
def test_recoverable_damage_decodes_like_opencv_with_one_warning(jpeg, kind, tmp_path, caplog):
    import cv2

    raw = _damaged(jpeg, kind)
    path = tmp_path / "photo.jpg"
    path.write_bytes(raw)
    with caplog.at_level(logging.WARNING, logger="edgekit.processing"):
        pixels = decode_image(np.frombuffer(raw, np.uint8), Path("photo.jpg"))
    reference = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(pixels, reference)
    warnings = [r.getMessage() for r in caplog.records if "damage" in r.getMessage()]
    assert len(warnings) == 1 and "photo.jpg" in warnings[0], warnings


def test_an_intact_jpeg_gives_no_warning(jpeg, caplog):
    with caplog.at_level(logging.WARNING, logger="edgekit.processing"):
        decode_image(np.frombuffer(jpeg, np.uint8), Path("photo.jpg"))
    assert not [r for r in caplog.records if "damaged" in r.getMessage()]


def test_a_jpeg_with_nothing_decodable_is_one_error(jpeg):
    raw = jpeg[:3] + bytes(200)  # the JPEG magic, then nothing
    with pytest.raises(InputError, match="photo.jpg") as error:
        decode_image(np.frombuffer(raw, np.uint8), Path("photo.jpg"))
    assert "damaged" in error.value.hint
