"""The README's Kotlin and Swift snippets cannot be compiled here: the names they use are checked against real files.

Kotlin: the model file is a bundled export, the labels file is packed in it, the signature's input and output
names, the input's size and the output's length and quantization are the file's. Swift: the package name is
what ``edgekit convert --to coreml`` writes, and the feature names (``image``, ``classLabel``,
``classLabel_probs``) and the image input kind are those of a real Core ML export by the converters (skipped
when coremltools cannot be imported). Also: the commands the README names exist, and the published zoo
tables carry no paths of the machine that built them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.metadata.tflite import associated_files

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text("utf-8")


def blocks(language: str) -> str:
    found = re.findall(rf"```{language}\n(.*?)```", README, re.S)
    assert found, f"no {language} block in the README"
    return "\n".join(found)


def test_quick_start_is_the_two_commands():
    quick = README[README.index("## Quick start") : README.index("## Install")]
    commands = [line.split("#")[0].strip() for line in blocks("sh").splitlines() if line.startswith("./dev.sh")]
    assert commands[:2] == ["./dev.sh demo", "./dev.sh test"] and "out/demo/" in quick


def test_demo_modules_named_in_the_readme_exist():
    for module in set(re.findall(r"python -m (edgekit\.demos\.\w+)", README)):
        assert importlib.util.find_spec(module) is not None, module
    assert (REPO / "docs" / "images" / "edgekit_at_work.png").is_file()


def test_kotlin_names_match_the_bundled_file():
    from ai_edge_litert.interpreter import Interpreter

    kotlin = blocks("kotlin")
    files = set(re.findall(r'"(\w+\.tflite)"', kotlin))
    assert files == {"fashion_int8.tflite"}, files
    path = edgekit.zoo.path("fashion_int8")
    assert path.name in files
    packed = associated_files(path.read_bytes())
    (label_file,) = re.findall(r'getAssociatedFile\("([^"]+)"\)', kotlin)
    assert label_file in packed
    model = edgekit.load(path)
    assert packed[label_file].decode().splitlines() == list(model.card.labels)
    signature = Interpreter(model_path=str(path)).get_signature_list()["serving_default"]
    (inputs, outputs) = re.findall(r'runSignature\(mapOf\("(\w+)" to \w+\), mapOf\("(\w+)" to \w+\)\)', kotlin)[0]
    assert inputs in signature["inputs"] and outputs in signature["outputs"], signature
    # The buffers: input 1 * 28 * 28 * 3 uint8 pixels taken as they are, output one uint8 score per label / 256.
    sizes = [eval(size) for size in re.findall(r"allocateDirect\(([\d *]+)\)", kotlin)]  # noqa: S307 (digits only)
    (tensor,) = model.inputs
    assert sizes == [int(np.prod(tensor.shape)), len(model.card.labels)], sizes
    assert tensor.dtype == np.uint8 and model.card.image.mean == (0.0,) and model.card.image.std == (1.0,)
    (output,) = model.outputs
    assert output.dtype == np.uint8 and output.scale == 1 / 256 and output.zero_point == 0
    assert "value / 256" in kotlin and "mean 0, std 1" in kotlin


def test_swift_names_match_the_core_ml_export(small_image_model, tmp_path):
    from edgekit.cli.convert import _outputs

    swift = blocks("swift")
    (resource,) = re.findall(r'forResource: "(\w+)"', swift)
    written = _outputs(argparse.Namespace(model="fashion.keras", output=None), ["float16"], ".mlpackage")
    assert [p.stem for p in written] == [resource] and f"-o {resource}.mlpackage" in README
    # The Vision crop/scale option matches the bundled model's resize mode.
    vision = {"stretch": ".scaleFill", "center_crop": ".centerCrop", "letterbox": ".scaleFit"}
    assert f"imageCropAndScaleOption = {vision[edgekit.load(edgekit.zoo.path('fashion')).card.image.resize_mode]}" in (
        swift
    )
    if importlib.util.find_spec("coremltools") is None:
        pytest.skip("coremltools is not installed: the Core ML feature names are not checked")
    from converters.coreml import export_coreml
    from converters.tflite import CardOptions
    from edgekit.backends.coreml import describe_package

    labels = ("T-shirt", "Trouser", "Pullover", "Dress")
    result = export_coreml(
        small_image_model, "float16", tmp_path / f"{resource}.mlpackage", card_options=CardOptions(labels=labels)
    )
    package = describe_package(result.path)
    (image,) = package.inputs
    assert (image.name, image.kind) == ("image", "image")
    assert {f.name for f in package.outputs} == {"classLabel", "classLabel_probs"}
    assert tuple(package.labels) == labels
    ios = README[README.index("## iOS app") : README.index("## Export your own model")]
    for name in ("`image`", '"image"', "`classLabel`", "`classLabel_probs`", "ImageType", "ClassifierConfig"):
        assert name in ios, name


def test_published_zoo_tables_carry_no_local_paths(tmp_path):
    from converters.zoo import build

    home = str(Path.home())
    for name in ("zoo.md", "zoo.json"):
        text = (REPO / "docs" / name).read_text("utf-8")
        for local in (home, str(REPO), "/tmp/", "/root/", "/home/", ".cache/edgekit"):
            assert local not in text, (name, local)
    json.loads((REPO / "docs" / "zoo.json").read_text("utf-8"))
    work = tmp_path / "work"
    text = f"refused: on {work}/keywords/calibration and {home}/.cache/edgekit/x and {REPO}/out/zoo"
    assert (
        build.publishable(text, work) == "refused: on $WORK/keywords/calibration and ~/.cache/edgekit/x and ./out/zoo"
    )
