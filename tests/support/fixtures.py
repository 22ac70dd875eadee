"""Shared fixtures: real models trained/built here, exported by the project's own converters."""

from __future__ import annotations

import os
import re
import wave
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

RECIPES = ["float32", "float16", "dynamic", "int8", "int16x8"]

# Fixtures that train a model or build one in Keras (which imports TensorFlow) for the test to convert: a test
# that uses one is `slow` whatever its own marks say (`-m "not slow"` trains and converts nothing). `trap` is
# the module fixture of tests/test_eval.py and tests/converters/test_preprocessing_inference.py.
TRAINING_FIXTURES = frozenset(
    {"digits", "digits_keras_model", "digits_exports", "small_image_model", "text_model", "audio_model", "trap"}
)


REAL_PARTS_MARKERS = ("network", "audio", "display")

_SLOW_MODULE = re.compile(r"^pytestmark = (pytest\.mark\.slow\b|\[[^\]]*pytest\.mark\.slow\b)", re.MULTILINE)


def pytest_ignore_collect(collection_path: Path, config) -> bool | None:
    """Under exactly ``-m "not slow"``, a test module marked slow as a whole is not imported at all: several import
    TensorFlow or coremltools at module level (about 10 s of collection for tests that would all be deselected)."""
    if config.option.markexpr.strip() != "not slow" or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    try:
        text = collection_path.read_text(encoding="utf-8")
    except OSError:
        return None
    return True if _SLOW_MODULE.search(text) else None


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items):
    """Mark `slow` every test that trains or converts through a fixture, every emulated-Pi test (qemu), and every
    test that drives a real stream, microphone or screen (marked network, audio or display: an ffmpeg or MJPEG
    server, PulseAudio, Xvfb, Chromium). Each of those takes 0.5-3 s; together they were half of the fast set."""
    for item in items:
        real_parts = any(item.get_closest_marker(name) for name in REAL_PARTS_MARKERS)
        if TRAINING_FIXTURES & set(item.fixturenames) or item.get_closest_marker("pi") or real_parts:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("edgekit")


@pytest.fixture(scope="session")
def digits(cache_dir) -> dict:
    """The default model, trained here (scikit-learn digits): Keras file, labels, calibration and test PNGs."""
    from converters.zoo.digits import train

    out = cache_dir / "digits"
    summary = train(out, epochs=30, seed=0)
    return {
        "dir": out,
        "keras": out / "digits.keras",
        "labels": out / "labels.txt",
        "calibration": out / "calibration",
        "test": out / "test",
        "summary": summary,
    }


@pytest.fixture(scope="session")
def digits_keras_model(digits):
    import keras

    return keras.saving.load_model(digits["keras"], compile=False)


@pytest.fixture(scope="session")
def digits_exports(digits, cache_dir) -> dict[str, Path]:
    """The digits model exported in every recipe by the project's converter (calibrated on the PNG folder)."""
    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter, read_labels

    out = cache_dir / "digits_tflite"
    out.mkdir()
    exporter = Exporter(
        str(digits["keras"]),
        CardOptions(labels=read_labels(digits["labels"]), name="digits"),
        calibration_path=str(digits["calibration"]),
        show_progress=False,
    )
    paths = {}
    for recipe in RECIPES:
        paths[recipe] = out / f"digits_{recipe}.tflite"
        exporter.export(RecipeConfig(recipe), paths[recipe])
    return paths


def held_out_images(digits, count: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Held-out digit images (uint8 RGB 32x32) and their true labels, from the PNG files."""
    from edgekit.processing.image import read_image

    files = sorted(Path(digits["test"]).glob("*.png"))[:count]
    images = np.stack([read_image(f) for f in files])
    labels = np.array([int(f.stem.split("label")[1]) for f in files])
    return images, labels


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    pcm = np.clip(np.rint(np.asarray(samples) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="session")
def small_image_model():
    """A small Functional CNN with random weights, no Rescaling (expects [-1, 1] inputs)."""
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="session")
def text_model():
    """Embedding → pooling → softmax over 3 classes; int32 token ids of length 12; vocabulary of 40."""
    import keras

    keras.utils.set_random_seed(2)
    vocabulary = ["<PAD>", "<START>", "<UNKNOWN>"] + [f"w{i}" for i in range(37)]
    tokens = keras.Input((12,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(len(vocabulary), 8)(tokens)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(tokens, outputs), vocabulary


@pytest.fixture(scope="session")
def audio_model():
    """A 1-D conv model on 8000 raw samples (0.5 s at 16 kHz), 3 classes."""
    import keras

    keras.utils.set_random_seed(3)
    samples = keras.Input((8000,), name="waveform")
    x = keras.layers.Reshape((8000, 1))(samples)
    x = keras.layers.Conv1D(8, 64, strides=32, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(samples, outputs)


def runtime_python(runtime: str) -> str:
    """The python of a venv holding a third-party runtime (tests/interop/runtime_env.sh; made once per machine).

    ``runtime`` is mediapipe-0.10.21, mediapipe-1.2.2 or tflite-runtime-2.14. Without network the venv
    cannot be made and the test fails, unless EDGEKIT_SKIP_INTEROP=1 (then it skips and says so).
    """
    if os.environ.get("EDGEKIT_SKIP_INTEROP") == "1":
        pytest.skip("EDGEKIT_SKIP_INTEROP=1")
    import subprocess
    import sys

    # The venv is made from this interpreter unless PYTHON says otherwise.
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    script = Path(__file__).parents[1] / "interop" / "runtime_env.sh"
    made = subprocess.run(["bash", str(script), runtime], env=env, capture_output=True, text=True, timeout=1800)
    if made.returncode != 0:
        pytest.fail(
            f"could not make the {runtime} venv (needs PyPI; EDGEKIT_SKIP_INTEROP=1 skips these tests):\n"
            + made.stderr[-3000:],
            pytrace=False,
        )
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def mediapipe_python() -> str:
    """MediaPipe Tasks 0.10.21 (numpy<2): what older Android/iOS apps still ship."""
    return runtime_python("mediapipe-0.10.21")


@pytest.fixture(scope="session")
def mediapipe_current_python() -> str:
    """MediaPipe Tasks 1.2.2, the current release (numpy 2): what a new Android/iOS app runs."""
    return runtime_python("mediapipe-1.2.2")


@pytest.fixture(scope="session")
def tflite_runtime_python() -> str:
    """tflite-runtime 2.14 (numpy<2, no XNNPACK by default): the documented fallback on old Raspberry Pi OS."""
    return runtime_python("tflite-runtime-2.14")
