"""Model cards in standard TFLite Metadata: write → read, still a valid model, files aligned and zipped."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

import edgekit
from edgekit.errors import MetadataError
from edgekit.metadata import AudioSpec, ImageSpec, ModelCard, TextSpec, embed_card, read_card
from edgekit.metadata.tflite import find_metadata_buffer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plain_tflite(small_image_model, tmp_path_factory):
    """A .tflite straight from TensorFlow's converter: no metadata at all."""
    import tensorflow as tf

    data = tf.lite.TFLiteConverter.from_keras_model(small_image_model).convert()
    path = tmp_path_factory.mktemp("plain") / "plain.tflite"
    path.write_bytes(data)
    return path


CARDS = {
    "image": ModelCard(
        task="image-classifier",
        name="img",
        labels=("cat", "dog", "bird", "fish"),
        image=ImageSpec(
            width=24,
            height=24,
            color_order="BGR",
            resize_mode="letterbox",
            mean=(127.5, 120.0, 110.0),
            std=(127.5, 60.0, 58.0),
        ),
        author="edgekit tests",
        license="Apache-2.0",
        version="3",
        description="a test model",
        extra={"recipe": "float32"},
    ),
    "audio": ModelCard(
        task="audio-classifier",
        name="snd",
        labels=("a", "b", "c", "d"),
        audio=AudioSpec(
            sample_rate_hz=16000,
            window_samples=16000,
            hop_samples=8000,
            features="log_mel",
            feature_params={"bins": 40, "fft": 512},
        ),
    ),
    "text": ModelCard(
        task="text-classifier",
        name="txt",
        labels=("neg", "neu", "pos", "x"),
        text=TextSpec(
            vocabulary=("<PAD>", "<START>", "<UNKNOWN>", "good", "bad", "ünïcode"),
            max_length=12,
            lowercase=False,
            start_token="<START>",
        ),
    ),
    "grey": ModelCard(
        task="image-classifier",
        labels=("0", "1", "2", "3"),
        image=ImageSpec(width=24, height=24, channels=1, color_order="GRAY", mean=(0.0,), std=(255.0,)),
    ),
}


@pytest.mark.parametrize("kind", sorted(CARDS))
def test_write_then_read_gives_the_same_card(kind, plain_tflite):
    data = embed_card(plain_tflite.read_bytes(), CARDS[kind])
    assert read_card(data) == CARDS[kind]


@pytest.mark.parametrize("kind", ["image", "text"])
def test_file_with_metadata_is_still_the_same_model(kind, plain_tflite, tmp_path):
    path = tmp_path / "with_meta.tflite"
    path.write_bytes(embed_card(plain_tflite.read_bytes(), CARDS[kind]))
    plain, tagged = edgekit.load(plain_tflite), edgekit.load(path)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 24, 24, 3)).astype(np.float32)
    np.testing.assert_array_equal(plain.run(x)[0], tagged.run(x)[0])
    assert tagged.card == CARDS[kind] and plain.card is None
    assert "no TFLite metadata" in plain.metadata_note


def test_standard_layout(plain_tflite):
    """Checked with tools independent of edgekit's reader: zipfile, the TFLite schema module, raw bytes."""
    from ai_edge_litert import schema_py_generated as schema

    data = embed_card(plain_tflite.read_bytes(), CARDS["image"])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["edgekit.json", "labels.txt"]
        assert archive.read("labels.txt").decode().split() == ["cat", "dog", "bird", "fish"]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    model = schema.Model.GetRootAs(data, 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert names.count("TFLITE_METADATA") == 1
    entry = model.Metadata(names.index("TFLITE_METADATA"))
    blob = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    assert blob[4:8] == b"M001"
    for index in range(model.BuffersLength()):  # weights stay 16-byte aligned after the rewrite
        buffer = model.Buffers(index)
        if buffer.DataLength():
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            assert start % 16 == 0, f"buffer {index} starts at {start}"


def test_embedding_twice_replaces_the_metadata(plain_tflite):
    once = embed_card(plain_tflite.read_bytes(), CARDS["image"])
    twice = embed_card(once, CARDS["grey"])
    assert read_card(twice) == CARDS["grey"]
    with zipfile.ZipFile(io.BytesIO(twice)) as archive:
        assert archive.read("labels.txt").decode().split() == ["0", "1", "2", "3"]


def test_standard_fields_alone_give_a_card(plain_tflite):
    """A model tagged by another tool (no edgekit.json) still yields labels, size and normalization."""
    data = embed_card(
        plain_tflite.read_bytes(), CARDS["image"].replace(image=ImageSpec(24, 24, mean=(127.5,), std=(127.5,)))
    )
    stream = io.BytesIO()
    cut = data.index(b"PK\x03\x04")  # rebuild the archive without edgekit.json
    stream.write(data[:cut])
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(stream, "a") as archive:
        archive.writestr("labels.txt", source.read("labels.txt"))
    card = read_card(stream.getvalue())
    assert card.task.value == "image-classifier"
    assert card.labels == ("cat", "dog", "bird", "fish")
    assert (card.image.width, card.image.height, card.image.mean, card.image.std) == (24, 24, (127.5,), (127.5,))


def test_corrupt_metadata_does_not_stop_the_model_loading(plain_tflite, tmp_path):
    data = bytearray(embed_card(plain_tflite.read_bytes(), CARDS["image"]))
    blob = find_metadata_buffer(bytes(data))
    start = bytes(data).index(blob)
    data[start + 4 : start + 8] = b"XXXX"  # no longer an M001 flatbuffer
    path = tmp_path / "corrupt.tflite"
    path.write_bytes(bytes(data))
    model = edgekit.load(path)
    assert model.card is None and "metadata ignored" in model.metadata_note
    with pytest.raises(MetadataError):
        read_card(bytes(data))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ImageSpec(0, 24), "image size must be positive"),
        (lambda: ImageSpec(24, 24, mean=(1, 2)), "mean needs 1 or 3 values"),
        (lambda: ImageSpec(24, 24, std=(0,)), "std must not be zero"),
        (lambda: ImageSpec(24, 24, resize_mode="squash"), "resize_mode must be one of"),
        (lambda: TextSpec(vocabulary=("a",), max_length=4), "must contain the pad_token"),
        (lambda: ModelCard(task="segmenter"), "unknown task 'segmenter'"),
    ],
)
def test_invalid_specs_are_refused_with_the_reason(make, message):
    with pytest.raises(MetadataError, match=None) as error:
        make()
    assert message in str(error.value)
