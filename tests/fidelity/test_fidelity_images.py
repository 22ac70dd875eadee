"""The same .tflite gives the same answer in edgekit and in MediaPipe Tasks, on real photos of any size.

Goldens come from MediaPipe itself (1.2.2, the current release, and 0.10.21), each in its own venv:
- an identity model (its output is its input, exported by the project's converter) reads back the exact
  tensor MediaPipe's image-to-tensor step feeds a model; edgekit's must equal it (uint8 pixels exactly,
  so 0 difference for mean 0 / std 1), with OpenCV and with the numpy fallback;
- classifiers (the digits demo model, a Rescaling CNN, MobileNetV2 0.35/96 in float32 and int8) on
  scikit-image's photos in several sizes and aspects: top-1 agreement ≥ 99 %, scores within 0.01;
- the bundled face detector against MediaPipe's FaceDetector task on the same file: the same faces,
  IoU ≥ 0.98 for faces of 64 px and more (MediaPipe truncates boxes to whole pixels, so smaller faces
  are held to 1 px per edge instead), scores within 0.01.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import fidelity_images as fidelity  # noqa: E402
from edgekit.metadata.card import ImageSpec  # noqa: E402
from edgekit.processing import image as image_proc  # noqa: E402
from edgekit.processing.image_plan import ImagePlan  # noqa: E402

MAX_SCORE_DIFF = 0.01
MIN_TOP1 = 0.99
MIN_FACE_IOU = 0.98
IOU_FACE_PX = 64  # below this width one truncated pixel alone costs more than 2 % IoU


@pytest.fixture(scope="module", params=["mediapipe-1.2.2", "mediapipe-0.10.21"])
def mediapipe(request, mediapipe_current_python, mediapipe_python) -> str:
    return {"mediapipe-1.2.2": mediapipe_current_python, "mediapipe-0.10.21": mediapipe_python}[request.param]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fidelity")


@pytest.fixture(scope="module")
def photos(work) -> list[Path]:
    return [path for group in fidelity.photo_variants(work / "photos").values() for path in group]


def identity_model(folder: Path, width: int, height: int) -> Path:
    """A "classifier" whose scores are its input tensor, flattened; mean 0 / std 1 so values are pixels."""
    import keras

    inputs = keras.Input((height, width, 3))
    model = keras.Model(inputs, keras.layers.Reshape((height * width * 3,))(inputs))
    calibration = np.random.default_rng(0).integers(0, 256, (8, height, width, 3)).astype(np.float32)
    spec = ImageSpec(width, height, mean=(0.0,), std=(1.0,))
    return fidelity._export(
        model, folder, ("float32",), calibration, name=f"identity{width}x{height}", image_spec=spec
    )["float32"]


@pytest.mark.parametrize("size", [(32, 24), (96, 96)])
@pytest.mark.interop
@pytest.mark.slow
def test_tensor_is_mediapipes_exactly(size, photos, work, mediapipe, monkeypatch):
    width, height = size
    model = identity_model(work / f"identity_{width}x{height}", width, height)
    theirs = fidelity.mediapipe_scores(mediapipe, model, photos, work)
    spec = ImageSpec(width, height)
    # The tasks' plans (reused buffers, cached maps) feed the same tensor: float32, and for a uint8
    # model whose quantization is the normalization (MobileNet's 127.5 / 127.5) the pixels themselves.
    float_plan = ImagePlan(spec, np.float32)
    pixel_plan = ImagePlan(ImageSpec(width, height, mean=(127.5,), std=(127.5,)), np.uint8, 1 / 127.5, 127)
    assert pixel_plan.pass_through
    for path, expected in zip(photos, theirs):
        image = image_proc.read_image(path)
        ours = image_proc.preprocess(image, spec)
        assert np.array_equal(ours.reshape(-1), expected), f"{path.name}: {np.abs(ours.reshape(-1) - expected).max()}"
        assert np.array_equal(float_plan.prepare(image)[0].reshape(-1), expected), path.name
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        assert np.array_equal(pixel_plan.prepare(bgr, "BGR")[0].reshape(-1), expected), path.name
    # Without OpenCV, numpy makes the same pixels (integer arithmetic, not an approximation).
    monkeypatch.setitem(sys.modules, "cv2", None)
    for path, expected in zip(photos[::4], theirs[::4]):
        ours = image_proc.preprocess(image_proc.read_image(path), spec)
        assert np.array_equal(ours.reshape(-1), expected), path.name
        assert np.array_equal(pixel_plan.prepare(image_proc.read_image(path))[0].reshape(-1), expected), path.name


@pytest.mark.interop
@pytest.mark.slow
def test_region_of_interest_is_mediapipes(photos, work, mediapipe_current_python):
    """A region of interest (and so center_crop, which is one) samples what MediaPipe's ROI does."""
    width, height = 32, 24
    model = identity_model(work / "identity_roi", width, height)
    left, top, right, bottom = 0.125, 0.25, 0.75, 0.875
    sample = photos[:: max(1, len(photos) // 6)]
    import subprocess

    out = work / "roi.npz"
    run = subprocess.run(
        [mediapipe_current_python, "-I", str(fidelity.INTEROP / "mediapipe_scores.py"), str(model), str(out)]
        + [str(p) for p in sample]
        + ["--roi", f"{left},{top},{right},{bottom}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    spec = ImageSpec(width, height)
    with np.load(out) as theirs:
        for number, path in enumerate(sample):
            image = image_proc.read_image(path)
            img_h, img_w = image.shape[:2]
            region = (left * img_w, top * img_h, (right - left) * img_w, (bottom - top) * img_h)
            ours, _ = image_proc.preprocess_placed(image, spec, region=region)
            # MediaPipe passes the region through float32 normalized coordinates: a sample position can
            # round to the neighbouring 1/32 pixel, which moves a value by at most 255 / 32 < 8 levels;
            # it must stay rare (measured: a few pixels in 2304, up to 2 levels).
            difference = np.abs(ours.reshape(-1) - theirs[str(number)])
            assert difference.max() <= 8 and (difference > 0).mean() < 0.02, (path.name, difference.max())


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_area_resampler_only_when_asked(photos):
    """The old resampler is an explicit option: it differs from the default, and the default is MediaPipe's."""
    image = image_proc.read_image(photos[0])
    default = image_proc.preprocess(image, ImageSpec(64, 48))
    area = image_proc.preprocess(image, ImageSpec(64, 48, resampling="area"))
    assert default.shape == area.shape and not np.array_equal(default, area)
    card = {"image": ImageSpec(64, 48, resampling="area")}
    from edgekit.metadata.card import ModelCard

    assert ModelCard(task="image-classifier", **card).to_json_dict()["image"]["resampling"] == "area"
    assert "resampling" not in ModelCard(task="image-classifier", image=ImageSpec(64, 48)).to_json_dict()["image"]


def test_letterbox_geometry_maps_back(photos):
    """Letterbox and centre-crop placements put the canvas corners where MediaPipe's rectangle lies."""
    for mode in ("letterbox", "center_crop", "stretch"):
        region, placement = image_proc.place(451, 300, 128, 96, mode)
        left, top, right, bottom = region.corners()
        corners = placement.to_source(np.array([[0.0, 0.0], [1.0, 1.0]]))
        np.testing.assert_allclose(corners, [[left, top], [right, bottom]], atol=1e-4)
        assert abs((right - left) / (bottom - top) - (451 / 300 if mode == "stretch" else 128 / 96)) < 1e-3


# ----------------------------------------------------------------------------- classifiers
@pytest.fixture(scope="module")
def classifiers(work, digits_exports) -> dict[str, Path]:
    models = {f"digits {r}": digits_exports[r] for r in ("float32", "int8")}
    for name, paths in (
        ("rescaling", fidelity.rescaling_classifier(work / "rescaling")),
        ("mobilenetv2", fidelity.mobilenet_v2(work / "mobilenetv2")),
    ):
        models.update({f"{name} {recipe}": path for recipe, path in paths.items()})
    return models


@pytest.mark.parametrize("name", ["digits float32", "digits int8", "rescaling float32", "rescaling int8",
                                  "mobilenetv2 float32", "mobilenetv2 int8"])  # fmt: skip
@pytest.mark.interop
@pytest.mark.slow
def test_classifier_agrees_with_mediapipe(name, classifiers, photos, work, mediapipe):
    model = classifiers[name]
    result = fidelity.compare_scores(
        fidelity.edgekit_scores(model, photos), fidelity.mediapipe_scores(mediapipe, model, photos, work)
    )
    assert result["top1_agreement"] >= MIN_TOP1, result
    assert result["max_score_diff"] <= MAX_SCORE_DIFF, result


# ----------------------------------------------------------------------------- face detector
@pytest.mark.interop
@pytest.mark.slow
def test_faces_agree_with_mediapipe(photos, mediapipe):
    ours = fidelity.edgekit_faces(fidelity.FACES, photos)
    theirs = fidelity.mediapipe_faces(mediapipe, fidelity.FACES, photos)
    from PIL import Image

    found = 0
    for path, mine, golden in zip(photos, ours, theirs):
        assert len(mine) == len(golden), f"{path.name}: edgekit {len(mine)} faces, MediaPipe {len(golden)}"
        with Image.open(path) as handle:
            width, height = handle.size
        for face, expected in zip(mine, golden):
            found += 1
            box = fidelity.as_mediapipe_box(face["box_float"], width, height)
            assert abs(face["score"] - expected["score"]) <= MAX_SCORE_DIFF, (path.name, face, expected)
            if expected["box"][2] >= IOU_FACE_PX:
                assert fidelity.iou(box, expected["box"]) >= MIN_FACE_IOU, (path.name, box, expected)
            else:
                assert np.abs(np.subtract(box, expected["box"])).max() <= 1, (path.name, box, expected)
    assert found >= 8  # astronaut and camera in most variants: the comparison is not vacuous


@pytest.mark.interop
@pytest.mark.slow
def test_cat_is_not_a_face(photos, mediapipe):
    """The issue's case: the cat photo gave 0.51 in edgekit (a face) and 0.43 in MediaPipe (none)."""
    cat = [p for p in photos if p.name == "chelsea_original.png"]
    assert fidelity.edgekit_faces(fidelity.FACES, cat) == [[]]
    assert fidelity.mediapipe_faces(mediapipe, fidelity.FACES, cat) == [[]]
