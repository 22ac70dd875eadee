"""Core ML export: every model in every recipe, verified; the package's spec; bad input; the runtime.

Real .mlpackage files written by the real converter (coremltools 9.0), checked numerically with the
NumPy reference evaluator against the Keras model (MLModel.predict exists only on macOS).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.cli_helpers import assert_one_line_error, edgekit_cli

# Every test here converts through coremltools (which imports TensorFlow): the module is slow as a whole and
# `-m "not slow"` does not import it. The option checks that need neither live in test_coreml_options.py.
pytestmark = pytest.mark.slow
pytest.importorskip("coremltools")

import edgekit  # noqa: E402
from converters.coreml import CoreMLExporter, export_coreml  # noqa: E402
from converters.coreml.recipes import (  # noqa: E402
    DEFAULT_TOLERANCES,
    CoreMLConfig,
    CoreMLRecipe,
    CoreMLTolerance,
)
from converters.coreml.reference import SUPPORTED_OPS, load_reference  # noqa: E402
from converters.tflite import CardOptions, read_labels  # noqa: E402
from edgekit.backends._coremltools import load_program  # noqa: E402
from edgekit.backends.coreml import describe_package, load_coreml  # noqa: E402
from edgekit.errors import UnsupportedModelError, VerificationError  # noqa: E402
from tests.support import coreml_fixtures  # noqa: E402

RECIPES = [recipe.value for recipe in CoreMLRecipe]
ON_MACOS = sys.platform == "darwin"


@dataclass
class Source:
    model: Any  # Keras model, .keras path or SavedModel folder
    options: CardOptions
    data: str | None = None  # verification inputs (random ones when None)


def _digits(request) -> Source:
    digits = request.getfixturevalue("digits")
    options = CardOptions(
        labels=read_labels(digits["labels"]),
        name="digits",
        description="Handwritten digit classifier (tests)",
        author="edgekit tests",
        license="BSD-3-Clause",
        version="1.2",
    )
    return Source(str(digits["keras"]), options, str(digits["test"]))


def _text(request) -> Source:
    model, vocabulary = request.getfixturevalue("text_model")
    return Source(model, CardOptions(vocabulary=vocabulary, task="text-classifier", labels=["a", "b", "c"]))


def _audio(request) -> Source:
    return Source(request.getfixturevalue("audio_model"), CardOptions(task="audio-classifier", sample_rate_hz=16000))


def zoo_source(name: str) -> Callable[[Any], Source]:
    """A matrix entry for a trained ``converters.zoo`` model in $EDGEKIT_ZOO_WORK/<name> (the work folder
    of ``python -m converters.zoo.build``); skipped when it is not there (training takes minutes)."""

    def make(request) -> Source:
        from converters.zoo import build

        entry = build.ZOO[name]
        folder = Path(os.environ.get("EDGEKIT_ZOO_WORK", "/nonexistent")) / name
        if not (folder / entry.keras_file).is_file():
            pytest.skip(f"zoo model {name} not trained here: set EDGEKIT_ZOO_WORK to the zoo work folder")
        options = build._card_options(entry, folder)
        return Source(str(folder / entry.keras_file), options, str(folder / entry.calibration))

    return make


# The Core ML test matrix: every entry is exported in every recipe and verified. Adding a model is
# one line here.
SOURCES: dict[str, Callable[[Any], Source]] = {
    "digits": _digits,
    "text": _text,
    "audio": _audio,
    "fashion": zoo_source("fashion"),
    "keywords": zoo_source("keywords"),
    "topics": zoo_source("topics"),
}
# Exports that verification must refuse, with why (measured: docs/coreml.md, Figures).
EXPECTED_REFUSALS = {
    # 16-entry tables per tensor are too coarse for the fixed DFT kernels: one clip's top class swings 0.94.
    ("keywords", "palettize4"): "relative error",
}


@pytest.fixture(scope="module")
def exported(request, tmp_path_factory):
    """name → {recipe: CoreMLExportResult, or the VerificationError of a refused export}, each model
    exported once per recipe (lazily)."""
    cache: dict[str, dict[str, Any]] = {}
    folder = tmp_path_factory.mktemp("coreml")

    def get(name: str) -> dict[str, Any]:
        if name not in cache:
            source = SOURCES[name](request)
            exporter = CoreMLExporter(source.model, source.options, source.data, show_progress=False)
            results: dict[str, Any] = {}
            for recipe in RECIPES:
                try:
                    results[recipe] = exporter.export(CoreMLConfig(recipe), folder / f"{name}_{recipe}.mlpackage")
                except VerificationError as error:
                    results[recipe] = error
            cache[name] = results
        return cache[name]

    return get


# ----------------------------------------------------------------------------- the recipe matrix
@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("name", list(SOURCES))
def test_every_model_in_every_recipe_is_verified(name, recipe, exported):
    result = exported(name)[recipe]
    if (name, recipe) in EXPECTED_REFUSALS:
        assert isinstance(result, VerificationError), "expected a refusal; update docs/coreml.md if it now passes"
        assert EXPECTED_REFUSALS[name, recipe] in str(result) and result.row.verdict.startswith("REFUSED")
        assert not (Path(result.row.path)).exists()
        return
    assert not isinstance(result, VerificationError), str(result)
    tolerance = DEFAULT_TOLERANCES[CoreMLRecipe(recipe)]
    comparison = result.comparison
    assert result.row.verdict == "ok"
    assert result.path.is_dir() and (result.path / "Manifest.json").is_file()
    assert not comparison.non_finite
    assert comparison.agreement >= tolerance.min_agreement
    assert comparison.relative_error <= tolerance.max_relative_error
    if recipe == "float32":
        assert comparison.max_abs_error <= 1e-4
    assert result.row.size_bytes > 0 and result.config.deployment_target == CoreMLRecipe(recipe).minimum_target
    if recipe in ("int8", "palettize8", "palettize6", "palettize4"):
        assert result.compression is not None  # and the note says how much it compressed
        assert any("compressed" in note for note in result.notes)


@pytest.mark.slow
def test_compressed_recipes_shrink_the_digits_model(exported):
    sizes = {recipe: result.row.size_bytes for recipe, result in exported("digits").items()}
    assert sizes["float16"] < 0.75 * sizes["float32"]
    assert sizes["palettize4"] < sizes["palettize6"] < sizes["int8"] < sizes["float16"]


# ----------------------------------------------------------------------------- the package as apps see it
@pytest.mark.slow
def test_digits_package_spec(exported, digits):
    path = exported("digits")["float16"].path
    spec, program = load_program(path)
    description = spec.description
    (image,) = description.input
    assert image.name == "image" and image.type.WhichOneof("Type") == "imageType"
    assert (image.type.imageType.width, image.type.imageType.height) == (32, 32)
    assert "pixels 0..255" in image.shortDescription
    outputs = {f.name: f.type.WhichOneof("Type") for f in description.output}
    assert outputs == {"classLabel": "stringType", "classLabel_probs": "dictionaryType"}
    assert description.predictedFeatureName == "classLabel"
    assert all(f.shortDescription for f in description.output)
    (classify,) = [op for op in program.functions["main"].operations if op.op_type == "classify"]
    assert list(classify.inputs["classes"].val) == read_labels(digits["labels"])
    metadata = description.metadata
    assert (metadata.author, metadata.license, metadata.versionString) == ("edgekit tests", "BSD-3-Clause", "1.2")
    assert metadata.shortDescription == "Handwritten digit classifier (tests)"
    card = json.loads(metadata.userDefined["edgekit.card"])
    assert card["labels"] == [str(d) for d in range(10)] and card["image"]["width"] == 32
    assert card["extra"]["recipe"] == "float16" and card["extra"]["deployment_target"] == "iOS15"
    # The model has a Rescaling layer: raw pixels in, so Core ML adds no scale/bias ops.
    assert not [op for op in program.functions["main"].operations if op.name.startswith("image__")]


@pytest.mark.slow
def test_audio_and_token_inputs_are_multiarrays_of_the_right_type(exported):
    text = describe_package(exported("text")["int8"].path)
    (tokens,) = text.inputs
    assert (tokens.name, tokens.kind, tokens.shape, tokens.dtype) == ("tokens", "multiarray", (1, 12), "int32")
    assert text.labels == ("a", "b", "c")
    assert text.card.text.vocabulary[:3] == ("<PAD>", "<START>", "<UNKNOWN>")  # the tokenizer travels along
    assert text.specification_version == 7  # int8 needs iOS16
    audio = describe_package(exported("audio")["float16"].path)
    (samples,) = audio.inputs
    assert (samples.name, samples.kind, samples.shape, samples.dtype) == ("audio", "multiarray", (1, 8000), "float32")
    assert audio.card.audio.sample_rate_hz == 16000 and audio.specification_version == 6
    assert {f.name: f.kind for f in audio.outputs} == {"classLabel": "string", "classLabel_probs": "dictionary"}


def _image_preprocessing(path: Path) -> tuple[float, np.ndarray]:
    """The scale and bias coremltools compiled into the program for ImageType 'image' (it leaves out
    a multiplication by 1 and an addition of 0)."""
    _, program = load_program(path)
    ops = {op.name: op for op in program.functions["main"].operations}
    scale = float(ops["image__scaled__"].inputs["y"].val) if "image__scaled__" in ops else 1.0
    bias = np.asarray(ops["image__biased__"].inputs["y"].val) if "image__biased__" in ops else np.zeros(3)
    return scale, bias


@pytest.mark.slow
def test_image_scale_and_bias_equal_the_spec(small_image_model, tmp_path):
    result = export_coreml(
        small_image_model, "float32", tmp_path / "m.mlpackage", card_options=CardOptions(mean=(127.5,), std=(127.5,))
    )
    scale, bias = _image_preprocessing(result.path)
    assert scale == pytest.approx(1 / 127.5)
    np.testing.assert_allclose(bias.reshape(-1), [-1.0, -1.0, -1.0], rtol=1e-6)
    assert result.comparison.max_abs_error <= 1e-4


@pytest.mark.slow
def test_per_channel_std_is_folded_into_the_graph_not_averaged(small_image_model, tmp_path):
    mean, std = (123.7, 116.3, 103.5), (58.4, 57.1, 57.4)
    result = export_coreml(
        small_image_model, "float32", tmp_path / "m.mlpackage", card_options=CardOptions(mean=mean, std=std)
    )
    scale, bias = _image_preprocessing(result.path)
    assert scale == 1.0  # ImageType's single scale is left alone ...
    np.testing.assert_allclose(bias.reshape(-1), [-m for m in mean], rtol=1e-6)  # ... the mean goes in its bias
    user = describe_package(result.path).user_metadata
    multipliers = [float(v) for v in user["edgekit.image_channel_multiplier_in_graph"].split(",")]
    np.testing.assert_allclose(multipliers, [1 / s for s in std], rtol=1e-6)
    # And the numbers: a pixel image through the package equals Keras on (pixel - mean) / std.
    pixels = np.random.default_rng(5).integers(0, 256, (1, 24, 24, 3)).astype(np.float32)
    normalized = (pixels - np.array(mean, np.float32)) / np.array(std, np.float32)
    expected = small_image_model.predict(normalized, verbose=0)
    got = load_reference(result.path).run(normalized)[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.slow
def test_bgr_and_grayscale_layouts(tmp_path):
    import keras

    keras.utils.set_random_seed(4)
    # A grey model takes RGB by default (a luma conversion in the graph, as for TFLite); keep_grayscale
    # keeps Core ML's one-channel GRAYSCALE image input.
    for channels, order, keep, layout in (
        (3, "BGR", False, "BGR"),
        (1, "GRAY", True, "GRAYSCALE"),
        (1, "GRAY", False, "RGB"),
    ):
        inputs = keras.Input((12, 12, channels))
        outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))
        options = CardOptions(color_order=order, labels=["x", "y", "z"], task="image-classifier", keep_grayscale=keep)
        result = export_coreml(
            keras.Model(inputs, outputs), "float32", tmp_path / f"{order}_{keep}.mlpackage", card_options=options
        )
        (feature,) = describe_package(result.path).inputs
        assert feature.kind == "image" and feature.color == layout
        assert result.comparison.max_abs_error <= 1e-4


# ----------------------------------------------------------------------------- sources and op coverage
@pytest.mark.slow
def test_sequential_model(tmp_path):
    model = coreml_fixtures.sequential_model()
    exporter = CoreMLExporter(model, CardOptions(labels=["a", "b", "c"]), show_progress=False)
    for recipe in ("float32", "float16"):
        result = exporter.export(CoreMLConfig(recipe), tmp_path / f"seq_{recipe}.mlpackage")
        assert result.row.verdict == "ok"


@pytest.mark.slow
def test_saved_model_folder(small_image_model, tmp_path):
    folder = tmp_path / "saved"
    small_image_model.export(str(folder))  # Keras 3's SavedModel export
    result = export_coreml(str(folder), "float16", tmp_path / "saved.mlpackage", card_options=CardOptions())
    assert result.row.verdict == "ok" and result.comparison.agreement == 1.0


COVERAGE = {
    # name: (builder, options, [(recipe, weight_threshold)], MIL ops the export must contain)
    "coverage_cnn": (
        coreml_fixtures.coverage_cnn,
        CardOptions(labels=list("abcde")),
        [("float32", None), ("float16", None), ("int8", 0)],
        {"conv", "relu6", "pad", "add", "concat", "avg_pool", "reduce_max", "sigmoid"},
    ),
    "keyword_like": (
        coreml_fixtures.keyword_like,
        CardOptions(task="audio-classifier", labels=list("wxyz")),
        [("float32", None), ("float16", None), ("palettize6", 0)],
        {"conv", "slice_by_index", "abs", "maximum", "minimum", "log", "concat", "reduce_mean"},
    ),
    "text_extended": (
        coreml_fixtures.text_extended,
        CardOptions(vocabulary=["<PAD>", "<UNKNOWN>"] + [f"w{i}" for i in range(48)], task="text-classifier"),
        [("float16", None), ("palettize8", 0)],
        {"gather", "reduce_mean", "rsqrt", "conv", "reduce_max", "relu"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COVERAGE))
def test_layer_families_convert_and_verify(name, tmp_path):
    build, options, recipes, expected_ops = COVERAGE[name]
    exporter = CoreMLExporter(build(), options, show_progress=False)
    ops: set[str] = set()
    for recipe, threshold in recipes:
        result = exporter.export(CoreMLConfig(recipe, weight_threshold=threshold), tmp_path / f"{recipe}.mlpackage")
        assert result.row.verdict == "ok", result.row
        ops |= set(describe_package(result.path).operators)
    assert expected_ops <= ops
    assert ops <= SUPPORTED_OPS


@pytest.mark.slow
def test_mobilenet_v2_ops_are_covered(tmp_path):
    """MobileNetV2 (96x96, alpha 0.35, random weights) in float16 and int8.

    Random weights leave many classes nearly tied, so top-1 agreement on random inputs says little
    here (one flip in 16 inputs is 94 %); the bound checked is the relative error.
    """
    options = CardOptions(mean=(127.5,), std=(127.5,))
    exporter = CoreMLExporter(coreml_fixtures.mobilenet_v2(), options, show_progress=False)
    loose = CoreMLTolerance(min_agreement=0.0, max_relative_error=1.0)
    results = {
        recipe: exporter.export(CoreMLConfig(recipe, tolerance=loose), tmp_path / f"mnv2_{recipe}.mlpackage")
        for recipe in ("float16", "int8")
    }
    for recipe, result in results.items():
        assert result.comparison.relative_error <= DEFAULT_TOLERANCES[CoreMLRecipe(recipe)].max_relative_error
    ops = set(describe_package(results["int8"].path).operators)
    assert {"conv", "relu6", "pad", "add", "reduce_mean", "constexpr_affine_dequantize"} <= ops <= SUPPORTED_OPS
    assert results["int8"].row.size_bytes < 0.6 * results["float16"].row.size_bytes


# ----------------------------------------------------------------------------- bad input
@pytest.mark.slow
def test_unsupported_layer_is_named_with_its_type(tmp_path):
    with pytest.raises(UnsupportedModelError) as error:
        export_coreml(coreml_fixtures.unsupported_model(), "float16", tmp_path / "x.mlpackage")
    message = str(error.value)
    assert "'log_gamma' (LogGamma)" in message and "Lgamma" in message
    assert "--to tflite" in error.value.hint
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_failed_verification_leaves_nothing_and_keeps_the_old_package(small_image_model, tmp_path):
    impossible = CoreMLTolerance(min_agreement=1.0, max_relative_error=1e-12)
    out = tmp_path / "model.mlpackage"
    with pytest.raises(VerificationError) as error:
        export_coreml(small_image_model, CoreMLConfig("float16", tolerance=impossible), out)
    assert error.value.row.verdict.startswith("REFUSED")
    assert not list(tmp_path.iterdir())  # no package, no temporary folder
    first = export_coreml(small_image_model, "float32", out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(VerificationError):
        export_coreml(small_image_model, CoreMLConfig("float16", tolerance=impossible), out, overwrite=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and first.path == out
    assert [p.name for p in tmp_path.iterdir()] == ["model.mlpackage"]
    forced = export_coreml(
        small_image_model, CoreMLConfig("float16", tolerance=impossible), out, overwrite=True, force=True
    )
    assert forced.row.verdict.startswith("FORCED")


@pytest.mark.slow
@pytest.mark.skipif(ON_MACOS, reason="on macOS Core ML runs the package")
def test_load_says_core_ml_runs_only_on_apple_platforms(exported):
    path = exported("digits")["float16"].path
    with pytest.raises(UnsupportedModelError, match="Core ML runs only on Apple platforms") as error:
        edgekit.load(path)
    assert "--reference" in error.value.hint


@pytest.mark.slow
def test_reference_model_has_the_model_interface(exported, digits, digits_keras_model):
    from tests.support.fixtures import held_out_images

    # Another package first: coremltools' loader renames vars to keep names unique across programs
    # in a process, and an evaluator keying values by name once fed this model's first conv the
    # Dense layer's bias after exactly this sequence.
    load_reference(exported("digits")["float16"].path).run(np.zeros((1, 32, 32, 3), np.float32))
    model = load_reference(exported("digits")["float32"].path)
    assert model.card.labels == tuple(str(d) for d in range(10))
    assert model.inputs[0].shape == (1, 32, 32, 3) and model.outputs[0].shape == (1, 10)
    assert model.info()["class_labels"] == list(model.card.labels)
    images, _ = held_out_images(digits, 10)
    expected = digits_keras_model.predict(images.astype(np.float32), verbose=0)
    got = np.concatenate([model.run(image.astype(np.float32))[0] for image in images])  # batch axis added
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not ON_MACOS, reason="Core ML predict exists only on macOS")
def test_core_ml_predict_matches_keras_on_macos(exported, digits, digits_keras_model):
    from tests.support.fixtures import held_out_images

    images, _ = held_out_images(digits, 20)
    model = load_coreml(exported("digits")["float32"].path)
    expected = digits_keras_model.predict(images.astype(np.float32), verbose=0)
    got = np.concatenate([model.run(image[None].astype(np.float32))[0] for image in images])
    np.testing.assert_allclose(got, expected, atol=1e-3)


# ----------------------------------------------------------------------------- the command line
@pytest.mark.slow
def test_cli_convert_info_and_reference_run(digits, digits_keras_model, tmp_path):
    out = tmp_path / "packages"
    out.mkdir()
    result = edgekit_cli(
        "convert", str(digits["keras"]), "--to", "coreml", "--quantize", "float32,palettize8",
        "--labels", str(digits["labels"]), "--verify-data", str(digits["test"]), "--weight-threshold", "0",
        "--author", "me", "--verification-samples", "20", "-o", str(out), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["recipe"] for row in rows] == ["float32", "palettize8"]
    assert all(row["verdict"] == "ok" for row in rows)
    package = out / "digits_palettize8.mlpackage"
    assert package.is_dir() and (out / "digits_float32.mlpackage").is_dir()

    info = edgekit_cli("info", str(package))
    assert info.returncode == 0, info.stderr
    for fragment in ("image: image 32x32 RGB", "class labels (10): 0, 1, 2", "author 'me'", "constexpr_lut_to_dense"):
        assert fragment in info.stdout, info.stdout

    picture = sorted(Path(digits["test"]).glob("*.png"))[0]
    run = edgekit_cli("run", str(out / "digits_float32.mlpackage"), str(picture), "--reference", "--json")
    assert run.returncode == 0, run.stderr
    top = json.loads(run.stdout)["classes"][0]
    from edgekit.processing.image import read_image

    expected = digits_keras_model.predict(read_image(picture)[None].astype(np.float32), verbose=0)[0]
    assert top["label"] == str(int(np.argmax(expected)))
    assert top["score"] == pytest.approx(float(expected.max()), abs=1e-4)

    again = edgekit_cli("convert", str(digits["keras"]), "--to", "coreml", "-o", str(package))
    assert_one_line_error(again, "already exists", "--overwrite")
    if not ON_MACOS:
        assert_one_line_error(edgekit_cli("run", str(package), str(picture)), "Apple platforms", "--reference")
