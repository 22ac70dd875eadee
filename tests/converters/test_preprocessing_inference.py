"""Preprocessing you can trust: the normalization is read from the graph (plain arithmetic, Lambda,
keras.applications preprocess_input patterns), the note says what was written, data ranges are checked,
and the preprocessing trap is caught through the deployed path (edgekit's task and MediaPipe 1.2.2)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli_helpers import edgekit_cli
from tests.support.labelled_fixtures import LABELS, build_trap, keras_truth

INTEROP = Path(__file__).parents[1] / "interop"


# ------------------------------------------------------------------ specs inferred from random-weight models
def _model(preprocess):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(preprocess(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))


def _caffe(x):
    from keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(x, mode="caffe")


def _torch(x):
    from keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(x, mode="torch")


def _lambda(x):
    import keras

    return keras.layers.Lambda(lambda t: t / 127.5 - 1.0)(x)


def _rescaling(x):
    import keras

    return keras.layers.Rescaling(1 / 255)(x)


def _tanh(x):
    import keras

    return keras.ops.tanh(x / 255.0)


# Hand-derived from the arithmetic: what the graph does to input channel k is (x_k - mean_k) / std_k.
# keras.applications' caffe mode flips RGB→BGR and subtracts [103.939, 116.779, 123.68] from B, G, R,
# so in the input's RGB order the mean is [123.68, 116.779, 103.939]; torch mode is
# (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225], i.e. mean 255*m, std 255*s per channel.
CASES = {
    "plain x/127.5-1": (lambda x: x / 127.5 - 1.0, (127.5,), (127.5,), False, "pixels"),
    "lambda x/127.5-1": (_lambda, (127.5,), (127.5,), False, "pixels"),
    "caffe": (_caffe, (123.68, 116.779, 103.939), (1.0,), True, "pixels"),
    "torch": (_torch, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), False, "pixels"),
    "rescaling 1/255": (_rescaling, (0.0,), (255.0,), False, "pixels"),
    "x*2-1 (expects 0..1)": (lambda x: x * 2.0 - 1.0, (0.5,), (0.5,), False, "unit"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_graph_normalization_matches_the_hand_derived_one(case):
    from converters.normalization import infer_graph_normalization

    preprocess, mean, std, flips, domain = CASES[case]
    found = infer_graph_normalization(_model(preprocess))
    assert found is not None
    np.testing.assert_allclose(np.broadcast_to(found.mean, (3,)), np.broadcast_to(mean, (3,)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.broadcast_to(found.std, (3,)), np.broadcast_to(std, (3,)), rtol=1e-4)
    assert found.reverses_channels is flips
    assert found.domain == domain


@pytest.mark.parametrize("case", sorted(CASES))
def test_card_takes_raw_pixels_when_the_graph_normalizes_them(case):
    from converters.source import load_source
    from converters.tflite import CardOptions, build_card

    *_, domain = CASES[case]
    notes: list[str] = []
    card = build_card(load_source(_model(CASES[case][0])), CardOptions(), notes)
    # Every runtime feeds exactly these values: raw pixels when the graph normalizes 0..255 itself.
    expected_std = (1.0,) if domain == "pixels" else (255.0,)
    assert (card.image.mean, card.image.std, card.image.color_order) == ((0.0,), expected_std, "RGB")
    assert card.extra["preprocessing_assumed"] is False
    assert [n for n in notes if "assumed" in n] == []
    assert any(n.startswith("found ") for n in notes)


@pytest.mark.slow  # over 0.5 s on a quiet machine
@pytest.mark.parametrize("preprocess", [lambda x: x, _tanh], ids=["no normalization", "not affine"])
def test_unknown_normalization_is_said_to_be_assumed_on_one_line(preprocess, tmp_path):
    from converters.tflite import export_tflite

    result = export_tflite(_model(preprocess), "float32", tmp_path / "m.tflite")
    assert result.preprocessing_assumed is True
    assumed = [n for n in result.notes if "assumed" in n]
    assert assumed == [result.preprocessing]
    assert "mean 0, std 255" in result.preprocessing


@pytest.mark.slow  # a real `edgekit convert`
def test_the_note_never_contradicts_what_was_written(tmp_path):
    """`--mean 0 --std 1` on a model without normalization: the note says exactly that, nothing 'assumed'."""
    import edgekit

    model_path = tmp_path / "plain.keras"
    _model(lambda x: x).save(model_path)
    out = tmp_path / "plain.tflite"
    done = edgekit_cli("convert", str(model_path), "-o", str(out), "--mean", "0", "--std", "1")
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stdout.splitlines() if line.startswith("note:")]
    assert "assumed" not in done.stdout
    assert any("as given" in n and "mean 0, std 1" in n for n in notes), notes
    written = edgekit.load(out).card.image
    assert (written.mean, written.std) == ((0.0,), (1.0,))


@pytest.mark.slow  # a real `edgekit convert`
def test_npy_calibration_in_0_255_for_a_0_1_spec_is_refused(tmp_path):
    model_path = tmp_path / "plain.keras"
    _model(lambda x: x).save(model_path)  # nothing in the graph: the 0..1 spec is assumed
    pixels = np.random.default_rng(0).uniform(0, 255, (40, 16, 16, 3)).astype(np.float32)
    np.save(tmp_path / "raw.npy", pixels)
    out = tmp_path / "m.tflite"
    done = edgekit_cli("convert", str(model_path), "--calibration", str(tmp_path / "raw.npy"), "-o", str(out))
    assert done.returncode == 1
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "0..255" in error[0] and "0..1" in error[0], done.stderr
    assert "--mean 0 --std 1" in done.stderr and not out.exists()
    # The same data with the spec that matches it goes through.
    done = edgekit_cli(
        "convert", str(model_path), "--calibration", str(tmp_path / "raw.npy"), "-o", str(out), "--std", "1"
    )
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------ the trap, trained here for real
@pytest.fixture(scope="session")
def trap(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "trap"
    root.mkdir(exist_ok=True)
    built = build_trap(root)
    predicted, truth = keras_truth(built["keras"], built["data"])
    return built | {"keras_predicted": predicted, "truth": truth, "keras_accuracy": float(np.mean(predicted == truth))}


def _convert(trap, out: Path, *flags: str):
    return edgekit_cli(
        "convert",
        str(trap["keras"]),
        "--calibration",
        str(trap["data"]),
        "--labels",
        str(trap["labels"]),
        "-o",
        str(out),
        *flags,
    )


def _row(stdout: str, recipe: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(recipe + " "))


def _deployed_accuracy(model_path: Path, folders: Path) -> tuple[float, list[int]]:
    from edgekit import ImageClassifier

    predicted, truth = [], []
    with ImageClassifier.create_from_model_path(model_path, max_results=1) as classifier:
        for index, name in enumerate(LABELS):
            for path in sorted((folders / name).glob("*.png")):
                predicted.append(classifier.classify(path).categories[0].index)
                truth.append(index)
    return float(np.mean(np.array(predicted) == np.array(truth))), predicted


def test_trap_is_inferred_and_deploys_at_keras_accuracy(trap, tmp_path, mediapipe_current_python):
    import edgekit

    assert trap["keras_accuracy"] > 0.6  # really trained (10 classes: chance is 0.1)
    done = _convert(trap, tmp_path, "--quantize", "float32,int8")
    assert done.returncode == 0, done.stderr
    assert "it takes raw 0..255 pixels" in done.stdout and "assumed" not in done.stdout
    for recipe in ("float32", "int8"):
        path = tmp_path / f"trap_{recipe}.tflite"
        card = edgekit.load(path).card
        assert (card.image.mean, card.image.std) == ((0.0,), (1.0,))
        accuracy, _ = _deployed_accuracy(path, trap["data"])
        assert abs(accuracy - trap["keras_accuracy"]) <= 0.01, (recipe, accuracy, trap["keras_accuracy"])
        # The export report's accuracy column shows the same deployed figure.
        assert f"{accuracy:.1%}" in _row(done.stdout, recipe)
    # MediaPipe 1.2.2 reads the same file's metadata: 2 images per class, compared with Keras on those images.
    files = [sorted((trap["data"] / name).glob("*.png"))[:2] for name in LABELS]
    picks = [(index, path) for index, pair in enumerate(files) for path in pair]
    keras_by_file = dict(
        zip(
            [p for pair in (sorted((trap["data"] / n).glob("*.png")) for n in LABELS) for p in pair],
            trap["keras_predicted"],
        )
    )
    mediapipe_hits = keras_hits = 0
    for index, path in picks:
        ran = subprocess.run(
            [
                mediapipe_current_python,
                "-I",
                str(INTEROP / "mediapipe_classify.py"),
                str(tmp_path / "trap_float32.tflite"),
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stderr
        top = max(json.loads(ran.stdout)["categories"], key=lambda c: c["score"])
        mediapipe_hits += top["index"] == index
        keras_hits += keras_by_file[path] == index
    assert abs(mediapipe_hits - keras_hits) / len(picks) <= 0.01, (mediapipe_hits, keras_hits)


def test_a_wrong_spec_forced_by_flags_shows_in_the_accuracy_column(trap, tmp_path):
    out = tmp_path / "wrong.tflite"
    done = _convert(trap, out, "--mean", "0", "--std", "255")
    assert done.returncode == 1 and not out.exists()
    row = _row(done.stdout, "float32")
    deployed = float(row.split()[4].rstrip("%")) / 100  # recipe, size, unit, agreement, accuracy
    assert "100.0%" in row.split()[3]  # the converter's own arrays agree perfectly: only accuracy can tell
    assert trap["keras_accuracy"] - deployed > 0.3, row
    assert "REFUSED" in row and "deployed accuracy" in row
    assert "the graph expects raw 0..255 pixels" in done.stdout  # the warning names the contradiction
    forced = _convert(trap, out, "--mean", "0", "--std", "255", "--force", "--overwrite")
    assert forced.returncode == 0 and out.exists() and "FORCED" in _row(forced.stdout, "float32")
    accuracy, _ = _deployed_accuracy(out, trap["data"])
    assert abs(accuracy - deployed) < 1e-9  # the column is what edgekit's task gets from the file


def test_a_wrong_spec_forced_by_flags_is_refused_without_labelled_data(trap, tmp_path):
    """No labels, so no accuracy column: the contradiction between the flags and the graph's own normalization
    (x / 127.5 - 1, made for raw pixels) is itself the reason to refuse, never an "ok" row."""
    import shutil

    flat = tmp_path / "unlabelled"
    flat.mkdir()
    for index, path in enumerate(sorted(Path(trap["data"]).rglob("*.png"))):
        shutil.copy(path, flat / f"{index:04d}.png")
    out = tmp_path / "wrong.tflite"
    done = edgekit_cli("convert", str(trap["keras"]), "--calibration", str(flat), "--labels", str(trap["labels"]),
                       "-o", str(out), "--mean", "0", "--std", "255")  # fmt: skip
    assert done.returncode == 1 and not out.exists(), done.stdout + done.stderr
    row = _row(done.stdout, "float32")
    assert "REFUSED" in row and "preprocessing is wrong" in done.stdout + done.stderr, done.stdout
    assert "deployed accuracy" not in row  # nothing labelled: the refusal comes from the spec alone
    assert "the graph expects raw 0..255 pixels" in row  # the reason says which spec the graph wants
    forced = edgekit_cli("convert", str(trap["keras"]), "--calibration", str(flat), "--labels", str(trap["labels"]),
                         "-o", str(out), "--mean", "0", "--std", "255", "--force", "--overwrite")  # fmt: skip
    assert forced.returncode == 0 and out.exists() and "FORCED" in _row(forced.stdout, "float32"), forced.stderr
    # the spec edgekit infers by itself is not refused on the same unlabelled data
    inferred = edgekit_cli("convert", str(trap["keras"]), "--calibration", str(flat), "--labels", str(trap["labels"]),
                           "-o", str(tmp_path / "right.tflite"), "--overwrite")  # fmt: skip
    assert inferred.returncode == 0 and " ok" in _row(inferred.stdout, "float32"), inferred.stdout + inferred.stderr
