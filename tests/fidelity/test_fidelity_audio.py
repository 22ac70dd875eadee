"""The same file gives the same answer in MediaPipe Tasks and in edgekit: audio models and grey image models.

MediaPipe's AudioClassifier takes only float16/float32 input, and its image tasks only RGB. So int8
audio exports keep float samples at their boundary (quantizing inside the graph), and grey image
models are exported with an RGB input and a BT.601 luma conversion inside the graph. Checked here:

- the bundled keyword spotter (int8 and float16) in MediaPipe 1.2.2 (current) and 0.10.21, window by
  window against edgekit's AudioClassifier on real speech (pocketsphinx-testdata) and spoken keywords,
  windows framed the way MediaPipe frames them (back to back, the last one padded with zeros);
- a fresh int8 audio export has float32 input/output by default (uint8 only when asked, and then
  MediaPipe refuses it);
- an int8 grey image export takes RGB and equals the Keras model on the luma of a real colour photo
  (golden: Keras on the luma computed here in NumPy), in edgekit and in MediaPipe; a file exported
  with ``keep_grayscale`` (the old kind) still runs in edgekit;
- the bundled fashion models (RGB input) in MediaPipe's ImageClassifier against edgekit on garment
  images, grey and tinted.

Third-party runtimes run in their own venvs (tests/interop/runtime_env.sh); EDGEKIT_SKIP_INTEROP=1
skips those parts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.interop import mediapipe_audio  # the host side of tests/interop/mediapipe_audio.py

pytestmark = [pytest.mark.interop, pytest.mark.slow]

INTEROP = Path(__file__).parents[1] / "interop"

ZOO = Path(__file__).resolve().parents[2] / "edgekit" / "zoo"
WINDOW_AGREEMENT = 0.99  # the target for audio vs MediaPipe's AudioClassifier
# Largest score difference per window. float16: both runtimes run the same float kernels (measured
# 0.0 with 1.2.2, 1.2e-6 with 0.10.21). int8: MediaPipe's int8 kernels round a few windows differently
# from ai-edge-litert's XNNPACK ones (measured: 5 of 254 windows differ, by at most 0.043 = 11 output
# steps; the top-1 never changed).
AUDIO_ATOL = {"float16": 1e-3, "int8": 0.1}
# Probabilities of the grey test model against Keras on the luma: float32 is float rounding (measured
# 2e-7); int8 adds the uint8 input/output and int8 activations (measured 0.0036). Tight enough to tell
# the weights apart: Keras on a channel mean or on BT.709 luma differs from the golden by up to 0.025
# and 0.018 on these photos, on the red channel alone by 0.12.
FLOAT_ATOL, INT8_ATOL = 1e-4, 0.01
# Fashion in MediaPipe vs edgekit on images whose resize is exact for both resamplers (8x nearest
# upscales): only kernel rounding is left (measured 0.0).
FASHION_ATOL = 0.01


def _require_speech_tools():
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing or not mediapipe_audio.POCKETSPHINX.is_dir():
        pytest.skip(f"needs espeak-ng, sox and pocketsphinx-testdata (./dev.sh installs them); missing: {missing}")


@pytest.fixture(scope="module")
def speech_clips(tmp_path_factory) -> list[Path]:
    _require_speech_tools()
    return mediapipe_audio.write_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module", params=["mediapipe-1.2.2", "mediapipe-0.10.21"])
def mediapipe(request) -> str:
    fixture = {"mediapipe-1.2.2": "mediapipe_current_python", "mediapipe-0.10.21": "mediapipe_python"}
    return request.getfixturevalue(fixture[request.param])


# ----------------------------------------------------------------------------- the bundled keyword spotter
@pytest.mark.parametrize("recipe", ["int8", "float16"])
def test_bundled_keywords_agree_with_mediapipe_window_by_window(recipe, speech_clips, mediapipe):
    import edgekit

    model = ZOO / f"keywords_{recipe}.tflite"
    loaded = edgekit.load(model)
    assert loaded.inputs[0].dtype == np.float32 and loaded.outputs[0].dtype == np.float32  # MediaPipe's types
    version, theirs = mediapipe_audio.mediapipe_windows(mediapipe, model, speech_clips)
    ours = mediapipe_audio.edgekit_windows(model, speech_clips)
    window_ms = loaded.card.audio.window_samples * 1000 / loaded.card.audio.sample_rate_hz
    result = mediapipe_audio.compare(theirs, ours, window_ms)
    print(f"keywords_{recipe} vs MediaPipe {version}: {result}")
    assert result["windows"] >= 100  # about 64 s of audio at four phases, 2 s windows
    assert result["unmatched"] == 0, "MediaPipe and edgekit cut the clips into different windows"
    assert result["agreement"] >= WINDOW_AGREEMENT
    assert result["max_score_difference"] <= AUDIO_ATOL[recipe]


# ----------------------------------------------------------------------------- converters: audio int8 I/O
def _tiny_audio_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16000,), name="samples")
    x = keras.layers.Reshape((16000, 1))(inputs)
    x = keras.layers.Conv1D(8, 400, strides=160, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    dense = keras.layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(stddev=4))
    return keras.Model(inputs, dense(x))


def _speech_windows(count: int) -> np.ndarray:
    """1 s windows of real speech (every 16 kHz recording in pocketsphinx-testdata), every 0.25 s."""
    folder = mediapipe_audio.POCKETSPHINX
    parts = [np.fromfile(raw, "<i2") / 32768 for raw in sorted(folder.glob("*.raw"))]
    parts += [mediapipe_audio.read_wav(wav)[0] for wav in sorted(folder.glob("*/*.wav"))]
    samples = np.concatenate(parts).astype(np.float32)
    starts = range(0, samples.size - 16000, 4000)
    return np.stack([samples[s : s + 16000] for s in starts][:count])


def test_int8_audio_export_has_float_input_and_output_and_runs_in_mediapipe(tmp_path, mediapipe_current_python):
    _require_speech_tools()
    import edgekit
    from converters.float_io import rewrite_file
    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter

    np.save(tmp_path / "calibration.npy", _speech_windows(160))
    exporter = Exporter(
        _tiny_audio_model(),
        CardOptions(labels=["a", "b", "c"], name="tiny_audio", sample_rate_hz=16000),
        calibration_path=str(tmp_path / "calibration.npy"),
        show_progress=False,
    )
    default, asked = tmp_path / "default_int8.tflite", tmp_path / "uint8_int8.tflite"
    exporter.export(RecipeConfig("int8"), default)
    exporter.export(RecipeConfig("int8", io_dtype="uint8"), asked)
    model = edgekit.load(default)
    assert (model.inputs[0].dtype, model.outputs[0].dtype) == (np.float32, np.float32)
    assert model.card.extra["io_dtype"] == "float32" and model.card.extra["recipe"] == "int8"
    explicit = edgekit.load(asked)
    assert (explicit.inputs[0].dtype, explicit.card.extra["io_dtype"]) == (np.uint8, "uint8")

    # An int8 file exported with integer I/O gets float I/O after the fact (how the bundled spotter got
    # it): outputs equal the converter's own float-I/O export exactly, on real speech.
    rewritten = tmp_path / "rewritten_int8.tflite"
    rewrite_file(asked, rewritten)
    fixed = edgekit.load(rewritten)
    assert (fixed.inputs[0].dtype, fixed.outputs[0].dtype, fixed.card.extra["io_dtype"]) == (
        np.float32,
        np.float32,
        "float32",
    )
    for window in _speech_windows(40):
        np.testing.assert_array_equal(fixed.run(window[None])[0], model.run(window[None])[0])

    clip = mediapipe_audio.write_wav(
        tmp_path / "speech.wav", np.fromfile(mediapipe_audio.POCKETSPHINX / "goforward.raw", "<i2")
    )
    _, theirs = mediapipe_audio.mediapipe_windows(mediapipe_current_python, default, [clip])
    result = mediapipe_audio.compare(theirs, mediapipe_audio.edgekit_windows(default, [clip]), 1000.0)
    assert result["windows"] == 3 and result["unmatched"] == 0 and result["agreement"] == 1.0
    with pytest.raises(RuntimeError, match="float16/float32, got UINT8"):
        mediapipe_audio.mediapipe_windows(mediapipe_current_python, asked, [clip])


# ----------------------------------------------------------------------------- converters: grey models take RGB
GREY_SIZE = 32


def _tiny_grey_model():
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((GREY_SIZE, GREY_SIZE, 1), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(4, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(stddev=3))
    return keras.Model(inputs, dense(x))


def _colour_photos(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """Real colour photos (scikit-image), shrunk here to the model's size so no runtime resamples."""
    from PIL import Image
    from skimage import data

    photos = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"):
        pixels = np.asarray(Image.fromarray(getattr(data, name)()).resize((GREY_SIZE, GREY_SIZE), Image.BILINEAR))
        path = folder / f"{name}.png"
        Image.fromarray(pixels).save(path)
        photos.append((path, pixels))
    return photos


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, by hand: the golden input of the grey model."""
    rgb = rgb.astype(np.float64)
    return (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])[..., None]


def _edgekit_scores(model: Path, image: Path) -> np.ndarray:
    from edgekit.vision import ImageClassifier

    with ImageClassifier.create_from_model_path(str(model)) as classifier:
        categories = classifier.classify(str(image)).classifications[0].categories
    scores = np.zeros(len(categories))
    for category in categories:
        scores[category.index] = category.score
    return scores


def _mediapipe_images(python: str, model: Path, images: list[Path]) -> dict[str, np.ndarray]:
    run = subprocess.run(
        [python, "-I", str(INTEROP / "mediapipe_classify_images.py"), str(model), *map(str, images)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if run.returncode != 0:
        raise RuntimeError(f"MediaPipe could not classify with {model.name}:\n{run.stderr[-2000:]}")
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return {line["image"]: np.asarray(line["scores"]) for line in lines[1:]}


@pytest.mark.parametrize("recipe, atol", [("float32", FLOAT_ATOL), ("int8", INT8_ATOL)])
def test_grey_export_takes_rgb_and_equals_keras_on_the_luma(recipe, atol, tmp_path, mediapipe):
    from skimage import data

    import edgekit
    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter

    keras_model = _tiny_grey_model()
    rng = np.random.default_rng(0)
    camera = data.camera()  # a real grey photo: calibration crops at the model's size
    corners = rng.integers(0, camera.shape[0] - GREY_SIZE, (150, 2))
    crops = np.stack([camera[y : y + GREY_SIZE, x : x + GREY_SIZE, None] for y, x in corners]).astype(np.float32)
    np.save(tmp_path / "calibration.npy", crops)
    paths = {}
    for keep in (False, True):
        exporter = Exporter(
            keras_model,
            CardOptions(labels=list("abcd"), name="grey", keep_grayscale=keep),
            calibration_path=str(tmp_path / "calibration.npy"),
            show_progress=False,
        )
        paths[keep] = tmp_path / f"grey_{recipe}_{'keep' if keep else 'rgb'}.tflite"
        exporter.export(RecipeConfig(recipe), paths[keep])
    rgb_file, grey_file = edgekit.load(paths[False]), edgekit.load(paths[True])
    assert rgb_file.inputs[0].shape == (1, GREY_SIZE, GREY_SIZE, 3)
    assert rgb_file.inputs[0].dtype == (np.uint8 if recipe == "int8" else np.float32)
    image = rgb_file.card.image
    assert (image.channels, image.color_order, image.mean, image.std) == (3, "RGB", (0.0,), (1.0,))
    assert "BT.601" in rgb_file.card.extra["input_conversion"]
    assert grey_file.inputs[0].shape == (1, GREY_SIZE, GREY_SIZE, 1) and grey_file.card.image.color_order == "GRAY"

    photos = _colour_photos(tmp_path)
    golden = keras_model.predict(np.stack([_luma(pixels) for _, pixels in photos]).astype(np.float32), verbose=0)
    theirs = _mediapipe_images(mediapipe, paths[False], [path for path, _ in photos])
    for (path, pixels), expected in zip(photos, golden):
        assert (
            np.abs(rgb_file.run(pixels[None].astype(rgb_file.inputs[0].dtype))[0].reshape(-1) - expected).max() <= atol
        )
        assert np.abs(_edgekit_scores(paths[False], path) - expected).max() <= atol, path.name
        assert np.abs(_edgekit_scores(paths[True], path) - expected).max() <= atol, path.name  # the old kind
        assert np.abs(theirs[str(path)] - expected).max() <= atol, path.name
    with pytest.raises(RuntimeError, match="RGB"):  # why the default is RGB: MediaPipe refuses one channel
        _mediapipe_images(mediapipe, paths[True], [photos[0][0]])


# ----------------------------------------------------------------------------- the bundled fashion models
def _garments(folder: Path, count: int = 40) -> list[Path]:
    """Fashion-MNIST test garments at 224x224 (8x nearest, as converters/zoo/samples.py writes them:
    both runtimes' resamplers give back the exact 28x28 pixels), grey and tinted (a coloured garment)."""
    from PIL import Image

    from converters.zoo.fashion import load

    try:
        images, _ = load("t10k")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    paths = []
    for index in range(count):
        grey = images[index]
        tint = np.asarray([1.0, 0.55, 0.25]) if index % 2 else np.asarray([0.3, 0.6, 1.0])
        for name, pixels in (("grey", grey), ("tinted", np.round(grey * tint).astype(np.uint8))):
            path = folder / f"garment_{index}_{name}.png"
            Image.fromarray(pixels).resize((224, 224), Image.NEAREST).save(path)
            paths.append(path)
    return paths


@pytest.mark.parametrize("recipe", ["int8", "float16"])
def test_bundled_fashion_takes_rgb_and_agrees_with_mediapipe(recipe, tmp_path, mediapipe):
    import edgekit

    model = ZOO / f"fashion_{recipe}.tflite"
    loaded = edgekit.load(model)
    # Trained on grey images repeated in three channels: an RGB input already, which MediaPipe accepts.
    assert loaded.inputs[0].shape == (1, 28, 28, 3) and loaded.card.image.color_order == "RGB"
    images = _garments(tmp_path)
    theirs = _mediapipe_images(mediapipe, model, images)
    agree, worst = 0, 0.0
    for path in images:
        ours = _edgekit_scores(model, path)
        agree += int(np.argmax(ours) == np.argmax(theirs[str(path)]))
        worst = max(worst, float(np.abs(ours - theirs[str(path)]).max()))
    print(f"fashion_{recipe}: top-1 agreement {agree}/{len(images)}, max score difference {worst:.2g}")
    assert agree == len(images) and worst <= FASHION_ATOL


def test_core_ml_export_of_a_grey_model_takes_rgb_too(tmp_path):
    """One preprocessing spec for both formats: the .mlpackage takes RGB (an RGB ImageType) and gives
    Keras-on-the-luma, checked with edgekit's NumPy reference evaluator (Core ML predicts only on macOS)."""
    from converters.coreml import CoreMLConfig, CoreMLExporter
    from converters.coreml.reference import load_reference
    from converters.tflite import CardOptions

    keras_model = _tiny_grey_model()
    photos = _colour_photos(tmp_path)
    golden = keras_model.predict(np.stack([_luma(pixels) for _, pixels in photos]).astype(np.float32), verbose=0)
    for keep in (False, True):
        exporter = CoreMLExporter(
            keras_model, CardOptions(labels=list("abcd"), keep_grayscale=keep), show_progress=False
        )
        assert exporter.plan.inputs[0].image.color_layout == ("G" if keep else "RGB")
        out = tmp_path / f"grey_{keep}.mlpackage"
        exporter.export(CoreMLConfig("float32"), out)
        model = load_reference(out)
        assert model.inputs[0].shape == (1, GREY_SIZE, GREY_SIZE, 1 if keep else 3)
        for (_, pixels), expected in zip(photos, golden):
            feed = _luma(pixels) if keep else pixels
            assert np.abs(model.run(feed[None].astype(np.float32))[0].reshape(-1) - expected).max() <= FLOAT_ATOL
