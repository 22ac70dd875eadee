"""TFLite export in every recipe, from every kind of source, verified against the source model."""

from __future__ import annotations

import time

import numpy as np
import pytest

import edgekit
from converters.recipes import Recipe, RecipeConfig, Tolerance
from converters.tflite import CardOptions, Exporter, export_tflite
from converters.verify import compare
from edgekit.errors import CalibrationError, InvalidModelError, RecipeError, VerificationError
from tests.support.fixtures import RECIPES, held_out_images, write_wav

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------------------- recipes as data
def test_recipe_names_and_did_you_mean():
    assert Recipe.parse("INT8") is Recipe.INT8 and Recipe.parse("fp16") is Recipe.FLOAT16
    with pytest.raises(RecipeError) as error:
        Recipe.parse("int9")
    assert "did you mean 'int8'" in error.value.hint


def test_recipe_config_is_validated_on_creation():
    # The int8 I/O type follows the task, as MediaPipe needs it: uint8 images (not int8), float audio.
    assert RecipeConfig("int8").io_dtype is None
    assert RecipeConfig("int8").for_task("image-classifier").io_dtype == "uint8"
    assert RecipeConfig("int8").for_task("audio-classifier").io_dtype == "float32"
    assert RecipeConfig("int8", io_dtype="uint8").for_task("audio-classifier").io_dtype == "uint8"  # asked for
    with pytest.raises(RecipeError, match="applies only to the int8 recipe"):
        RecipeConfig("float16", io_dtype="int8")
    with pytest.raises(RecipeError, match="io_dtype must be one of"):
        RecipeConfig("int8", io_dtype="int4")
    with pytest.raises(RecipeError, match="min_agreement"):
        Tolerance(min_agreement=1.5, max_relative_error=0.1)


def test_compare_by_hand():
    reference = {"out": np.array([[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]])}
    exported = {"out": np.array([[0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])}
    result = compare(reference, exported)
    assert result.agreement == pytest.approx(2 / 3)
    assert result.max_abs_error == pytest.approx(0.5)
    assert result.mean_abs_error == pytest.approx((0.1 * 2 + 0.5 * 2) / 6)
    assert result.relative_error == pytest.approx(0.5 / 0.9)
    nan = compare(reference, {"out": np.full((3, 2), np.nan)})
    assert nan.non_finite and "NaN" in nan.failures(Tolerance(0.0, 1.0))[0]


# ----------------------------------------------------------------------------- every recipe on the digits model
def test_every_recipe_agrees_with_keras_on_held_out_images(digits_exports, digits, digits_keras_model):
    images, labels = held_out_images(digits, 300)
    golden = digits_keras_model.predict(images.astype(np.float32), verbose=0)
    float_accuracy = np.mean(golden.argmax(1) == labels)
    sizes = {}
    for recipe in RECIPES:
        model = edgekit.load(digits_exports[recipe])
        got = np.concatenate([model.run(image[None])[0] for image in images])
        agreement = np.mean(got.argmax(1) == golden.argmax(1))
        accuracy = np.mean(got.argmax(1) == labels)
        sizes[recipe] = digits_exports[recipe].stat().st_size
        assert np.isfinite(got).all()
        assert agreement >= {"float32": 1.0, "float16": 0.99, "dynamic": 0.98, "int8": 0.97, "int16x8": 0.98}[recipe]
        assert accuracy >= float_accuracy - 0.02, recipe
        if recipe == "float32":
            np.testing.assert_allclose(got, golden, atol=1e-5)
    assert sizes["int8"] < 0.5 * sizes["float32"] and sizes["float16"] < 0.7 * sizes["float32"]


@pytest.mark.parametrize("io_dtype, expected", [("uint8", np.uint8), ("int8", np.int8), ("float32", np.float32)])
def test_int8_input_output_types(io_dtype, expected, digits, tmp_path):
    out = tmp_path / "m.tflite"
    export_tflite(
        str(digits["keras"]), RecipeConfig("int8", io_dtype=io_dtype), out, calibration_path=str(digits["calibration"])
    )
    model = edgekit.load(out)
    assert model.inputs[0].dtype == expected and model.outputs[0].dtype == expected
    assert model.card.extra["io_dtype"] == io_dtype


# ----------------------------------------------------------------------------- sources
def test_sequential_functional_file_and_savedmodel_all_keep_weights(tmp_path):
    """The Keras 3 trap: conversions that drop weights give NaN or garbage; ours must match Keras."""
    import keras

    keras.utils.set_random_seed(4)
    sequential = keras.Sequential(
        [keras.Input((10,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(5, activation="softmax")]
    )
    inputs = keras.Input((10,))
    functional = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(keras.layers.Dense(16)(inputs)))
    sequential.save(tmp_path / "seq.keras")
    functional.export(str(tmp_path / "saved"), verbose=False)
    x = np.random.default_rng(0).standard_normal((20, 10)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for source, keras_model in (
        (sequential, sequential),
        (functional, functional),
        (str(tmp_path / "seq.keras"), sequential),
        (str(tmp_path / "saved"), functional),
    ):
        out = tmp_path / "out.tflite"
        result = export_tflite(source, "float32", out, card_options=CardOptions())
        assert result.row.verdict == "ok"
        got = edgekit.load(out).run(x)[0]
        np.testing.assert_allclose(got, keras_model.predict(x, verbose=0), atol=1e-5)


def test_multi_output_order_follows_the_keras_model(tmp_path):
    import keras

    keras.utils.set_random_seed(5)
    a, b = keras.Input((8,), name="feat"), keras.Input((4,), name="aux")
    hidden = keras.layers.Dense(6, activation="relu")(a)
    first = keras.layers.Dense(3, activation="softmax", name="zclass")(hidden)
    second = keras.layers.Dense(1, name="areg")(keras.layers.Concatenate()([hidden, b]))
    model = keras.Model([a, b], [first, second])
    out = tmp_path / "multi.tflite"
    assert export_tflite(model, "float32", out).row.verdict == "ok"
    x = [
        np.random.default_rng(1).standard_normal((1, 8)).astype(np.float32),
        np.random.default_rng(2).standard_normal((1, 4)).astype(np.float32),
    ]
    got = edgekit.load(out).run(*x)
    golden = model.predict(x, verbose=0)
    assert [g.shape for g in got] == [(1, 3), (1, 1)]
    for value, expected in zip(got, golden):
        np.testing.assert_allclose(value, expected, atol=1e-5)


def test_text_model_int8_and_dynamic_with_vocabulary(text_model, tmp_path):
    model, vocabulary = text_model
    lines = [" ".join(f"w{(i * 7 + j) % 37}" for j in range(i % 12 + 1)) for i in range(150)]
    (tmp_path / "lines.txt").write_text("\n".join(lines))
    options = CardOptions(vocabulary=vocabulary, labels=["a", "b", "c"], max_length=12)
    exporter = Exporter(model, options, calibration_path=str(tmp_path / "lines.txt"), show_progress=False)
    for recipe in ("dynamic", "int8"):
        result = exporter.export(RecipeConfig(recipe), tmp_path / f"text_{recipe}.tflite")
        assert result.row.verdict == "ok"
        loaded = edgekit.load(tmp_path / f"text_{recipe}.tflite")
        assert loaded.inputs[0].dtype == np.int32 and loaded.card.text.vocabulary == tuple(vocabulary)
    with pytest.raises(RecipeError, match="int16x8 cannot quantize a model with integer inputs"):
        exporter.check(RecipeConfig("int16x8"))


def test_audio_model_calibrated_from_wav_folder(audio_model, tmp_path):
    folder = tmp_path / "wavs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(120):  # 44.1 kHz stereo: the converter must mix down and resample to 16 kHz
        t = np.arange(44100) / 44100
        tone = 0.3 * np.sin(2 * np.pi * (200 + 20 * index) * t) + 0.05 * rng.standard_normal(t.size)
        write_wav(folder / f"clip{index:03d}.wav", np.stack([tone, tone], axis=1).reshape(-1), 44100, channels=2)
    options = CardOptions(task="audio-classifier", labels=["x", "y", "z"], sample_rate_hz=16000)
    out = tmp_path / "audio_int8.tflite"
    result = Exporter(audio_model, options, calibration_path=str(folder), show_progress=False).export(
        RecipeConfig("int8", io_dtype="float32"), out
    )
    assert result.row.verdict == "ok" and "audio files" in result.row.data_origin
    card = edgekit.load(out).card
    assert (card.audio.sample_rate_hz, card.audio.window_samples) == (16000, 8000)


# ----------------------------------------------------------------------------- refusals and failures
def test_impossible_recipe_refused_before_any_work(text_model, tmp_path):
    """int16x8 on token inputs fails before data is read: a missing calibration path is never looked at."""
    model, vocabulary = text_model
    exporter = Exporter(model, CardOptions(vocabulary=vocabulary), calibration_path=str(tmp_path / "absent.txt"))
    start = time.perf_counter()
    with pytest.raises(RecipeError, match="integer inputs"):
        exporter.export(RecipeConfig("int16x8"), tmp_path / "never.tflite")
    assert time.perf_counter() - start < 1.0
    assert list(tmp_path.iterdir()) == []


def test_int8_without_calibration_is_refused(digits, tmp_path):
    with pytest.raises(RecipeError, match="needs calibration data"):
        export_tflite(str(digits["keras"]), "int8", tmp_path / "x.tflite")


def test_failed_verification_writes_nothing_unless_forced(digits, tmp_path):
    impossible = RecipeConfig("int8", tolerance=Tolerance(min_agreement=1.0, max_relative_error=1e-9))
    out = tmp_path / "strict.tflite"
    with pytest.raises(VerificationError, match="relative error") as error:
        export_tflite(str(digits["keras"]), impossible, out, calibration_path=str(digits["calibration"]))
    assert error.value.row is not None and error.value.row.verdict.startswith("REFUSED")
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind
    result = export_tflite(
        str(digits["keras"]), impossible, out, calibration_path=str(digits["calibration"]), force=True
    )
    assert result.row.verdict.startswith("FORCED") and out.exists()


def test_source_that_outputs_nan_is_reported(tmp_path):
    import keras

    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: keras.ops.log(x - 10.0))(inputs)  # log of a negative number
    with pytest.raises(VerificationError, match="source model itself outputs NaN"):
        export_tflite(keras.Model(inputs, outputs), "float32", tmp_path / "nan.tflite")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "setup, error, message",
    [
        (lambda p: p.mkdir(), CalibrationError, "has no usable data: it holds 0 images and 0 WAV/FLAC files"),
        (lambda p: np.save(p.with_suffix(".npy"), np.zeros((10, 28, 28, 3))), CalibrationError, "needs (N, 32, 32, 3)"),
        (lambda p: (p.mkdir(), (p / "a.png").write_text("not an image")), CalibrationError, "a.png"),
    ],
)
def test_bad_calibration_data(setup, error, message, digits, tmp_path):
    path = tmp_path / "calib"
    setup(path)
    target = path.with_suffix(".npy") if path.with_suffix(".npy").exists() else path
    with pytest.raises(error) as raised:
        export_tflite(str(digits["keras"]), "int8", tmp_path / "out.tflite", calibration_path=str(target))
    assert message in str(raised.value)
    assert not (tmp_path / "out.tflite").exists()


def test_few_calibration_samples_warn(digits, tmp_path):
    small = tmp_path / "few.npy"
    images, _ = held_out_images(digits, 40)
    np.save(small, images.astype(np.float32))
    exporter = Exporter(str(digits["keras"]), calibration_path=str(small), show_progress=False)
    with pytest.warns(UserWarning, match="only 32 calibration samples"):
        exporter.prepare_data()
    assert any("only 32 calibration samples" in note for note in exporter.notes)


def test_text_file_named_keras_is_refused(tmp_path):
    fake = tmp_path / "model.keras"
    fake.write_text("hello")
    with pytest.raises(InvalidModelError, match="not a Keras archive"):
        export_tflite(str(fake), "float32", tmp_path / "out.tflite")
