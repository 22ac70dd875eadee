"""A third-party runtime reads our TFLite Metadata: MediaPipe Tasks' ImageClassifier, in its own venv.

MediaPipe takes the labels (TENSOR_AXIS_LABELS file on output 0) and the input normalization
(NormalizationOptions on input 0) only from the metadata edgekit embeds, so if its category names
and scores equal our labels and the Keras model's own probabilities, it read both correctly.
The venv is made by tests/interop/runtime_env.sh (MediaPipe needs numpy<2); no network makes
these tests fail, unless EDGEKIT_SKIP_INTEROP=1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.interop, pytest.mark.slow]

INTEROP = Path(__file__).parents[1] / "interop"
LABELS = ["cat", "dog", "bird", "fish"]
SIZE = 16
FLOAT_ATOL = 1e-3  # float32: only float rounding separates MediaPipe from Keras (measured ~1e-7)
INT8_ATOL = 0.05  # int8: uint8 input and output quantization (measured ~1e-3)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 16x16 RGB PNG, the model's own size, so MediaPipe's resize is the identity."""
    from PIL import Image

    pixels = np.random.default_rng(1).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("image") / "noise.png"
    Image.fromarray(pixels).save(path)
    return path, pixels.astype(np.float32)


def tiny_classifier(rescaling: bool):
    import keras  # here, not at the top: importing TensorFlow would slow down collecting the fast tests

    keras.utils.set_random_seed(0)
    x = inputs = keras.Input((SIZE, SIZE, 3))
    if rescaling:
        x = keras.layers.Rescaling(1 / 255)(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    # Large weights spread the probabilities apart: a clear top-1, and a wrong normalization shows.
    dense = keras.layers.Dense(
        len(LABELS), activation="softmax", kernel_initializer=keras.initializers.RandomNormal(stddev=1.0)
    )
    return keras.Model(inputs, dense(x))


def export(model, tmp_path: Path, recipe: str, calibration: np.ndarray, **card) -> Path:
    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter

    npy = tmp_path / "calibration.npy"
    np.save(npy, calibration)
    exporter = Exporter(
        model, CardOptions(labels=LABELS, name="tiny", **card), calibration_path=str(npy), show_progress=False
    )
    exporter.prepare_data()
    out = tmp_path / f"tiny_{recipe}.tflite"
    exporter.export(RecipeConfig(recipe), out)
    return out


def mediapipe_scores(python: str, model: Path, png: Path) -> np.ndarray:
    """Run MediaPipe on ``png``; check it names every class with our label; return scores by index."""
    # -I: MediaPipe's venv only, whatever PYTHONPATH the test session has.
    run = subprocess.run(
        [python, "-I", str(INTEROP / "mediapipe_classify.py"), str(model), str(png)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"MediaPipe could not classify with {model.name}:\n{run.stderr[-3000:]}"
    categories = json.loads(run.stdout.strip().splitlines()[-1])["categories"]  # stderr is MediaPipe's log
    names = {c["index"]: c["category_name"] for c in categories}
    assert names == dict(enumerate(LABELS)), "MediaPipe did not read our labels"
    scores = np.full(len(LABELS), np.nan)
    for c in categories:
        scores[c["index"]] = c["score"]
    return scores


def test_float32_with_rescaling_inside(mediapipe_python, image, tmp_path):
    """Rescaling is in the graph, so the card says mean 0, std 1: MediaPipe must feed raw 0..255 pixels."""
    png, pixels = image
    model = tiny_classifier(rescaling=True)
    calibration = np.random.default_rng(0).uniform(0, 255, (150, SIZE, SIZE, 3)).astype(np.float32)
    path = export(model, tmp_path, "float32", calibration)
    golden = np.asarray(model(pixels[None]))[0]
    got = mediapipe_scores(mediapipe_python, path, png)
    np.testing.assert_allclose(got, golden, rtol=0, atol=FLOAT_ATOL)


def test_float32_normalization_options(mediapipe_python, image, tmp_path):
    """No Rescaling layer: only our NormalizationOptions (mean 127.5, std 127.5) tell MediaPipe to map to -1..1."""
    png, pixels = image
    model = tiny_classifier(rescaling=False)
    # .npy calibration is taken as model input as it is, so here it is already normalized to -1..1.
    calibration = np.random.default_rng(0).uniform(-1, 1, (150, SIZE, SIZE, 3)).astype(np.float32)
    path = export(model, tmp_path, "float32", calibration, mean=(127.5,), std=(127.5,))
    golden = np.asarray(model(((pixels - 127.5) / 127.5)[None]))[0]
    # The check can tell: other normalizations (0..1, raw 0..255) give scores far outside the tolerance.
    for wrong in (pixels / 255, pixels):
        assert np.abs(np.asarray(model(wrong[None]))[0] - golden).max() > 20 * FLOAT_ATOL
    got = mediapipe_scores(mediapipe_python, path, png)
    np.testing.assert_allclose(got, golden, rtol=0, atol=FLOAT_ATOL)


def test_int8_uint8_io(mediapipe_python, image, tmp_path):
    """Full-integer model with uint8 input and output: MediaPipe feeds pixels as they are and dequantizes."""
    png, pixels = image
    model = tiny_classifier(rescaling=True)
    calibration = np.random.default_rng(0).uniform(0, 255, (150, SIZE, SIZE, 3)).astype(np.float32)
    path = export(model, tmp_path, "int8", calibration)
    golden = np.asarray(model(pixels[None]))[0]
    got = mediapipe_scores(mediapipe_python, path, png)
    assert got.argmax() == golden.argmax()
    np.testing.assert_allclose(got, golden, rtol=0, atol=INT8_ATOL)
