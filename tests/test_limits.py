"""Resource limits (edgekit/limits.py): each one refuses before the work is done, names itself and says how
to raise it; the overrides (environment, set_limit, override) work. Real bundled models and real files."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit import limits
from edgekit.errors import EdgekitError, InputError, LimitError, MetadataError
from edgekit.metadata.card import TextSpec
from edgekit.metadata.tflite import associated_files, read_card
from edgekit.processing.arrays import read_npy
from edgekit.processing.audio import read_wav, wav_header
from edgekit.processing.image import read_image
from edgekit.processing.image_header import check_image_header, image_size

ZOO = Path(edgekit.__file__).parent / "zoo"


def assert_limit(caught, name: str) -> None:
    error = caught.value
    assert error.limit == name and name in str(error)
    assert limits.LIMITS[name].env in error.hint and f'set_limit("{name}"' in error.hint


# ------------------------------------------------------------------ the module
def test_precedence_override_env_default(monkeypatch):
    assert limits.get("image_pixels") == 50_000_000
    monkeypatch.setenv("EDGEKIT_MAX_IMAGE_PIXELS", "1_000")
    assert limits.get("image_pixels") == 1000
    with limits.override(image_pixels=5):
        assert limits.get("image_pixels") == 5
    assert limits.get("image_pixels") == 1000
    monkeypatch.setenv("EDGEKIT_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(LimitError, match="EDGEKIT_MAX_IMAGE_PIXELS"):
        limits.get("image_pixels")
    with pytest.raises(KeyError):
        limits.get("nonsense")


# ------------------------------------------------------------------ associated files (the appended zip)
def model_with_zip(entries: list[tuple[zipfile.ZipInfo, bytes]], patch=None) -> bytes:
    data = (ZOO / "fashion_int8.tflite").read_bytes()
    start = data.find(b"PK\x03\x04")
    stream = io.BytesIO()
    stream.write(data[:start])
    with zipfile.ZipFile(stream, "a") as archive:
        for info, blob in entries:
            archive.writestr(info, blob)
    blob = bytearray(stream.getvalue())
    if patch:
        patch(blob)
    return bytes(blob)


def test_too_many_associated_files():
    data = model_with_zip([(zipfile.ZipInfo(f"f{i}.txt"), b"x") for i in range(1001)])
    with pytest.raises(LimitError) as caught:
        associated_files(data)
    assert_limit(caught, "associated_files")


def test_associated_bytes_and_ratio():
    deflated = zipfile.ZipInfo("labels.txt")
    deflated.compress_type = zipfile.ZIP_DEFLATED
    data = model_with_zip([(deflated, b"a\n" * 200_000)])  # 400 kB of repeats deflate about 1000-fold
    with pytest.raises(LimitError) as caught:
        associated_files(data)
    assert_limit(caught, "associated_ratio")
    with limits.override(associated_ratio=10_000, associated_bytes=1000), pytest.raises(LimitError) as caught:
        associated_files(data)
    assert_limit(caught, "associated_bytes")
    with limits.override(associated_ratio=10_000):
        assert len(associated_files(data)["labels.txt"]) == 400_000


def test_encrypted_or_odd_entries_refused():
    def encrypt(blob: bytearray) -> None:
        central = blob.rfind(b"PK\x01\x02")
        struct.pack_into("<H", blob, central + 8, 0x1)

    with pytest.raises(MetadataError, match="encrypted"):
        associated_files(model_with_zip([(zipfile.ZipInfo("a.txt"), b"a")], encrypt))

    def bzip2(blob: bytearray) -> None:
        central = blob.rfind(b"PK\x01\x02")
        struct.pack_into("<H", blob, central + 10, zipfile.ZIP_BZIP2)

    with pytest.raises(MetadataError, match="compression method 12"):
        associated_files(model_with_zip([(zipfile.ZipInfo("a.txt"), b"a")], bzip2))


def test_labels_and_vocabulary_limits():
    with limits.override(labels=3), pytest.raises(LimitError) as caught:
        read_card((ZOO / "fashion_int8.tflite").read_bytes())
    assert_limit(caught, "labels")
    with limits.override(vocabulary=10), pytest.raises(LimitError) as caught:
        read_card((ZOO / "topics_int8.tflite").read_bytes())
    assert_limit(caught, "vocabulary")


def test_text_max_length():
    vocabulary = ("<PAD>", "<UNKNOWN>", "a")
    with pytest.raises(LimitError) as caught:
        TextSpec(vocabulary=vocabulary, max_length=10**9)
    assert_limit(caught, "text_max_length")
    assert TextSpec(vocabulary=vocabulary, max_length=256).max_length == 256


# ------------------------------------------------------------------ images
SUFFIXES = (".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm", ".pgm")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_header_sizes_match_the_decoder(suffix):
    import cv2

    pixels = np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    if suffix == ".pgm":
        pixels = pixels[:, :, 0]
    ok, encoded = cv2.imencode(suffix, pixels)
    assert ok
    kind, width, height = image_size(encoded.tobytes(), "x" + suffix)
    assert (width, height) == (53, 37), kind


def test_gif_header():
    from PIL import Image

    stream = io.BytesIO()
    Image.new("RGB", (41, 17)).save(stream, format="GIF")
    assert image_size(stream.getvalue()) == ("GIF", 41, 17)


def test_huge_png_refused_before_decoding(tmp_path, monkeypatch):
    import cv2

    ok, encoded = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    data = bytearray(encoded.tobytes())
    struct.pack_into(">II", data, 16, 100_000, 100_000)  # 10 gigapixels claimed by a tiny file
    path = tmp_path / "bomb.png"
    path.write_bytes(bytes(data))
    with pytest.raises(LimitError) as caught:
        read_image(path)
    assert_limit(caught, "image_pixels")
    assert "100000x100000" in str(caught.value)
    monkeypatch.setenv("EDGEKIT_MAX_IMAGE_PIXELS", str(10**11))
    assert check_image_header(bytes(data))[1:] == (100_000, 100_000)


def test_image_limit_in_the_cli_run_path(tmp_path, capsys):
    import cv2

    from edgekit.cli.main import main

    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.zeros((60, 60, 3), np.uint8))
    with limits.override(image_pixels=1000):
        code = main(["run", str(ZOO / "fashion_int8.tflite"), str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "image_pixels" in err and "hint:" in err and "EDGEKIT_MAX_IMAGE_PIXELS" in err


@pytest.mark.parametrize("blob", [b"", b"\x89PNG\r\n\x1a\n", b"hello world", b"\xff\xd8\xff\xd9"])
def test_damaged_or_unknown_headers(tmp_path, blob):
    path = tmp_path / "bad.png"
    path.write_bytes(blob)
    with pytest.raises(InputError):
        read_image(path)


# ------------------------------------------------------------------ WAV
def wav(path: Path, rate=16000, channels=1, bits=16, frames=1600, declared=None, align=None) -> Path:
    width = bits // 8 if bits % 8 == 0 else 2
    data = b"\0" * (frames * channels * width)
    align = channels * bits // 8 if align is None else align
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"data" + struct.pack("<I", len(data) if declared is None else declared) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"rate": 0}, "sample rate of 0 Hz"),
        ({"rate": 1}, "sample rate of 1 Hz"),
        ({"rate": 10_000_000}, "sample rate"),
        ({"channels": 0}, "0 channels"),
        ({"bits": 12}, "12 bits"),
        ({"align": 7}, "block alignment"),
    ],
)
def test_bad_wav_headers(tmp_path, kwargs, problem):
    with pytest.raises(InputError, match=problem) as caught:
        read_wav(wav(tmp_path / "bad.wav", **kwargs))
    assert caught.value.hint


def test_wav_channel_and_duration_limits(tmp_path):
    with pytest.raises(LimitError) as caught:
        wav_header(wav(tmp_path / "many.wav", channels=100, frames=10))
    assert_limit(caught, "audio_channels")
    path = wav(tmp_path / "long.wav", rate=1000, frames=5000)  # 5 s
    with limits.override(audio_seconds=2), pytest.raises(LimitError) as caught:
        read_wav(path)
    assert_limit(caught, "audio_seconds")
    assert read_wav(path)[0].shape == (5000, 1)


def test_wav_data_length_past_the_file_is_clamped(tmp_path):
    """Streamed WAVs declare 0xFFFFFFFF bytes: only what the file holds is read (no 4 GB allocation)."""
    header = wav_header(wav(tmp_path / "stream.wav", frames=1000, declared=0xFFFFFFFF))
    assert header.frames == 1000
    samples, rate = read_wav(tmp_path / "stream.wav")
    assert samples.shape == (1000, 1) and rate == 16000


@pytest.mark.parametrize("rate", [0, 1])
def test_cli_run_refuses_bad_rates(tmp_path, capsys, rate):
    from edgekit.cli.main import main

    path = wav(tmp_path / f"rate{rate}.wav", rate=rate)
    code = main(["run", str(ZOO / "keywords_int8.tflite"), str(path)])
    err = capsys.readouterr().err
    assert code == 1 and f"sample rate of {rate} Hz" in err and "hint:" in err and "internal error" not in err


def test_audio_file_source_refuses_bad_rate(tmp_path):
    from edgekit.sources.audio_file import AudioFileSource

    source = AudioFileSource(wav(tmp_path / "slow.wav", rate=1), decoder="wave")
    with pytest.raises(InputError, match="sample rate of 1 Hz"):
        source.start()


# ------------------------------------------------------------------ .npy
def test_npy_header_checked_before_loading(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((1, 28, 28, 1), np.float32))
    assert read_npy(path).shape == (1, 28, 28, 1)
    raw = path.read_bytes()
    path.write_bytes(raw[:-100])
    with pytest.raises(InputError, match="truncated"):
        read_npy(path)
    path.write_bytes(raw.replace(b"(1, 28, 28, 1)", b"(1000000000, 28, 28, 1)".ljust(14)[:14]))
    with pytest.raises(EdgekitError):
        read_npy(path)
    np.save(path, np.zeros((1000, 1000), np.float32))  # 4 MB, over a 1 MB limit
    with limits.override(tensor_bytes=1 << 20), pytest.raises(LimitError) as caught:
        read_npy(path)
    assert_limit(caught, "tensor_bytes")
