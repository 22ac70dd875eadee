"""Core ML export options refused before any work: what neither coremltools nor TensorFlow is needed for.

The conversions themselves are in test_coreml.py (slow as a whole).
"""

from __future__ import annotations

import pytest

from converters.coreml import check_package_path
from converters.coreml.recipes import CoreMLConfig, CoreMLRecipe
from edgekit.errors import OutputPathError, RecipeError
from tests.support.cli_helpers import assert_one_line_error, edgekit_cli


def test_existing_package_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "m.mlpackage"
    out.mkdir()
    with pytest.raises(OutputPathError, match="already exists") as error:
        check_package_path(out)
    assert "--overwrite" in error.value.hint
    assert check_package_path(out, overwrite=True) == out
    with pytest.raises(OutputPathError, match="must end in .mlpackage"):
        check_package_path(tmp_path / "m.mlmodel")
    with pytest.raises(OutputPathError, match="does not exist"):
        check_package_path(tmp_path / "missing" / "m.mlpackage")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(recipe="int8", deployment_target="iOS15"), "needs deployment target iOS16"),
        (dict(recipe="float32", compute_precision="float16"), "contradicts"),
        (dict(recipe="float16", weight_threshold=512), "applies only to the compressed recipes"),
        (dict(recipe="palettize4", weight_threshold=-1), "whole number >= 0"),
        (dict(recipe="float16", deployment_target="iOS99"), "unknown deployment target"),
        (dict(recipe="palettise4"), "unknown Core ML recipe"),
    ],
)
def test_recipe_config_refuses_what_cannot_work(kwargs, message):
    with pytest.raises(RecipeError, match=message):
        CoreMLConfig(**kwargs)


def test_recipe_config_defaults():
    assert CoreMLConfig("int8").deployment_target == "iOS16"
    assert CoreMLConfig("int8").weight_threshold == 2048
    assert CoreMLConfig("int8").compute_precision == "float16"
    assert CoreMLConfig("palettize6", compute_precision="float32", deployment_target="macos14").deployment_target == (
        "macOS14"
    )
    assert CoreMLConfig("float16").deployment_target == "iOS15" and CoreMLConfig("float16").weight_threshold is None
    assert CoreMLRecipe.parse("pal4") is CoreMLRecipe.PALETTIZE4 and CoreMLRecipe.parse("FP32") is CoreMLRecipe.FLOAT32


# ----------------------------------------------------------------------------- runtime


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--to", "coreml", "--quantize", "int8", "--deployment-target", "iOS15"], ["needs deployment target iOS16"]),
        (["--to", "coreml", "--deployment-target", "iOS99"], ["unknown deployment target"]),
        (["--to", "coreml", "--quantize", "palletize4"], ["unknown Core ML recipe", "palettize4"]),
        (["--to", "tflite", "--weight-threshold", "0"], ["apply only to Core ML exports"]),
        (["--to", "coreml", "--io-dtype", "uint8"], ["--io-dtype applies only to TFLite"]),
    ],
)
def test_cli_refuses_bad_core_ml_flags_before_any_work(flags, fragments, tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"not read: the flags are refused first")
    assert_one_line_error(edgekit_cli("convert", str(model), *flags, "-o", str(tmp_path / "x.mlpackage")), *fragments)
