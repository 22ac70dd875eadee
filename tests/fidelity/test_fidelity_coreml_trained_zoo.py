"""The Core ML cells of the runtime matrix for the bundled models without a Keras source here: fashion,
keywords, topics (trained by the zoo) and faces (Google's own .tflite) (issue 10, point 8). The imagenet
cells are in test_fidelity_coreml_zoo.py.

coremltools converts Keras, not .tflite, and these models are trained by the zoo: their Keras sources
exist only after ``./dev.sh zoo`` (fashion alone trains for 13 min on two quiet cores). So the source here
is the zoo's own architecture with the weights read back from the bundled float16 file (keywords' embedding
from its pinned ONNX file, rounded to float16 as the file holds it): the network the bundled files compute.
The face detector's source is its .tflite graph rebuilt op by op in Keras (tests/support/tflite_keras.py).
Every rebuild is checked against its bundled file before anything relies on it. Each source is exported by
``converters.coreml`` (float16, the Core ML default, and int8 weights), and each package runs through
edgekit's task on its own metadata in the NumPy reference evaluator (Core ML predicts only on macOS).

Goldens are independent of the Core ML path: the bundled .tflite files run by ai-edge-litert, and the data's
own labels (Fashion-MNIST's official test labels, the spoken keyword, the corpus' topic). Details in
tests/support/coreml_cells.py.
"""

from __future__ import annotations

import pytest

from tests.support import coreml_cells
from tests.support.zoo_sources import load_tflite_weights, rebuilt_difference

pytestmark = pytest.mark.slow  # three networks exported twice each and run op by op in NumPy

# Rebuilt Keras source vs the bundled float16 file (ai-edge-litert). Measured: fashion 2.6e-6 and topics
# 2.4e-7 (the same float16 weights; float32 rounding order); keywords 2.2e-4 on these windows, 1.6e-3 on
# white noise (the converter folds constants into the embedding's convolutions before rounding them to
# float16; the rebuild rounds before folding).
REBUILD_ATOL = {"fashion": 1e-4, "keywords": 0.01, "topics": 1e-4}
# The float16 package's scores against the bundled float16 file: Core ML's float16 compute against float16
# weights with float32 compute. Measured 0.0039 (fashion), 0.0025 (keywords), 0.0008 (topics).
FLOAT16_ATOL = {"fashion": 0.01, "keywords": 0.02, "topics": 0.01}
# Two different int8s, Core ML's int8 weights with float16 compute and TFLite's int8 all through, must
# still pick the same class almost always (measured 99.2 %, 100 %, 99.3 %).
INT8_VS_INT8_AGREEMENT = 0.95
# A package's accuracy on the labels against the bundled file of its recipe, in points (measured within 0.7).
ACCURACY_POINTS = {"fashion": 2.0, "keywords": 5.0, "topics": 1.0}  # 132, 30 and 558 labelled inputs


@pytest.fixture(scope="module", params=["fashion", "keywords", "topics"])
def model_cells(request, tmp_path_factory):
    name = request.param
    if name == "keywords":
        from tests.support import audio_fixtures as speech

        if not speech.tools_available():
            pytest.skip("needs espeak-ng, flite and sox (./dev.sh installs them)")
    work = tmp_path_factory.mktemp(f"coreml_{name}")
    model, card, data = coreml_cells.source_and_data(name, work)
    difference = coreml_cells.rebuild_difference(name, model, data)
    print(f"\n{name} rebuilt from {name}_float16.tflite: max difference {difference:.2e}")
    assert difference <= REBUILD_ATOL[name], difference
    packages = coreml_cells.export(model, card, data.source_inputs, work, name)
    return name, packages, coreml_cells.cells(name, packages, data)


def test_packages_answer_like_the_bundled_files(model_cells):
    name, packages, cells = model_cells
    for recipe, package in packages.items():
        assert not isinstance(package, Exception), f"{name} {recipe} refused: {package}"
    for cell in cells:
        print(cell.line())
        if cell.against.endswith("_float16.tflite"):
            assert cell.decisive_agreement == 1.0, cell
            if cell.recipe == "float16":
                assert cell.max_difference <= FLOAT16_ATOL[name], cell
        else:
            assert cell.agreement >= INT8_VS_INT8_AGREEMENT, cell
        if cell.accuracy is not None and cell.against == f"{name}_{cell.recipe}.tflite":
            assert abs(cell.accuracy - cell.bundled_accuracy) * 100 <= ACCURACY_POINTS[name], cell
    assert {(cell.recipe, cell.against) for cell in cells} == {
        ("float16", f"{name}_float16.tflite"),
        ("int8", f"{name}_float16.tflite"),
        ("int8", f"{name}_int8.tflite"),
    }


def test_a_wrong_rebuild_is_caught():
    """The rebuild check can fail: fashion's weights without undoing the Rescaling the converter folded
    into the stem differ from the bundled file by far more than the tolerance."""
    import numpy as np

    from converters.zoo import fashion
    from edgekit import zoo

    model = fashion.build_model()
    load_tflite_weights(model, zoo.path("fashion", "float16"))  # input_scale left out
    images = fashion.load("t10k")[0][:20].astype(np.float32)
    assert rebuilt_difference(model, zoo.path("fashion", "float16"), images) > 100 * REBUILD_ATOL["fashion"]


# The face detector rebuilt op by op against its file, both outputs (box offsets in pixels of the 128 px
# input, score logits): measured 6.1e-5.
FACES_REBUILD_ATOL = 1e-3
# The targets for face detection across runtimes: the same detections, boxes IoU >= 0.98, scores
# within 0.01 (measured for the float16 package: IoU 0.9991, score difference 0.0004). The int8 package is
# another, quantized model: the same detections, boxes IoU >= 0.9 (measured 0.932, scores within 0.012).
FACES_MIN_IOU, FACES_SCORE_ATOL, FACES_INT8_MIN_IOU = 0.98, 0.01, 0.9


@pytest.fixture(scope="module")
def face_cells(tmp_path_factory):
    from PIL import Image

    model, options, difference = coreml_cells.faces_source()
    print(f"\nfaces rebuilt op by op from faces_float32.tflite: max difference {difference:.2e}")
    assert difference <= FACES_REBUILD_ATOL, difference
    work = tmp_path_factory.mktemp("coreml_faces")
    photos = coreml_cells.face_photos()
    (work / "photos").mkdir()
    for name, image in photos.items():
        Image.fromarray(image).save(work / "photos" / f"{name}.png")
    packages = coreml_cells.export(model, options, work / "photos", work, "faces")
    return packages, coreml_cells.face_cells(packages, photos)


def test_face_packages_find_the_faces_the_bundled_file_finds(face_cells):
    packages, cells = face_cells
    assert not isinstance(packages["float16"], Exception), packages["float16"]
    for recipe, package in packages.items():
        if isinstance(package, Exception):
            print(f"faces Core ML {recipe}: refused: {package}")
            assert "first divergence at layer" in str(package) or "below the recipe" in str(package), package
    for cell in cells:
        print(cell.line())
        assert cell.faces >= 6, cell  # the photos do hold faces: the check is not vacuous
        assert cell.same_detections == cell.images, cell
        if cell.recipe == "float16":
            assert cell.min_iou >= FACES_MIN_IOU, cell
            assert cell.max_score_difference <= FACES_SCORE_ATOL, cell
        else:
            assert cell.min_iou >= FACES_INT8_MIN_IOU, cell
