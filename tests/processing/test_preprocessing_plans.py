"""Preprocessing plans (issue 17): buffers made once, pixels straight into uint8 models, lazy imports.

Counts, identities and values only — no timings (benchmarks/peers.py measures speed). The goldens:
the reference path (`preprocess_placed`, itself held to MediaPipe's tensor in test_fidelity_images),
a full decode of every anchor, and the pixels of the frame itself.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit import zoo
from edgekit.metadata.card import ImageSpec
from edgekit.model import TensorSpec
from edgekit.processing import detection as det
from edgekit.processing import image as image_proc
from edgekit.processing.image_plan import ImagePlan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    from skimage import data

    astronaut = data.astronaut()
    return [astronaut, np.ascontiguousarray(astronaut[:300, :451]), data.coffee(), data.chelsea()]


SPECS = [
    ImageSpec(224, 224, mean=(127.5,), std=(127.5,)),
    ImageSpec(96, 72, mean=(123.7, 116.3, 103.5), std=(58.4, 57.1, 57.4), color_order="BGR"),
    ImageSpec(128, 128, resize_mode="letterbox", mean=(127.5,), std=(127.5,)),
    ImageSpec(64, 48, resize_mode="center_crop"),
]
INPUTS = [("float32", None, None), ("uint8", 1 / 127.5, 127), ("int8", 1 / 127.5, -1), ("uint8", 0.0078, 128)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.width}x{s.height}-{s.resize_mode}-{len(s.mean)}")
@pytest.mark.parametrize("dtype, scale, zero_point", INPUTS)
def test_plan_gives_the_reference_tensor(spec, dtype, scale, zero_point, photos):
    """Float inputs: bit-identical to the float path. Quantized: its quantization, or (when the
    quantization is the normalization) the resized pixels, never more than one code away."""
    plan = ImagePlan(spec, np.dtype(dtype), scale, zero_point)
    boundary = TensorSpec("x", 0, (1, spec.height, spec.width, 3), np.dtype(dtype), scale, zero_point)
    for frame in photos:
        for order in ("RGB", "BGR"):
            for region in (None, (10.5, 20.25, 200.0, 150.0)):
                tensor, placement = plan.prepare(frame, order, region)
                values, expected_placement = image_proc.preprocess_placed(frame, spec, order, region)
                assert placement == expected_placement
                if dtype == "float32":
                    assert np.array_equal(tensor[0], values)
                elif plan.pass_through:
                    pixels, _ = image_proc.fit_placed(frame, spec.width, spec.height, spec.resize_mode, region=region)
                    assert np.array_equal(tensor[0], image_proc.to_color_order(pixels, spec.color_order, order))
                    assert np.abs(tensor[0].astype(int) - boundary.quantize(values).astype(int)).max() <= 1
                else:
                    assert np.array_equal(tensor[0], boundary.quantize(values))


def test_pass_through_only_when_quantization_is_the_normalization():
    spec = ImageSpec(8, 8, mean=(127.5,), std=(127.5,))
    assert ImagePlan(spec, np.dtype("uint8"), 1 / 127.5, 127).pass_through
    assert ImagePlan(spec, np.dtype("uint8"), 1 / 127.5, 128).pass_through
    assert not ImagePlan(spec, np.dtype("uint8"), 0.0078, 128).pass_through  # 1.2 codes off at 255
    assert not ImagePlan(spec, np.dtype("int8"), 1 / 127.5, -1).pass_through  # a table: p - 128
    assert ImagePlan(ImageSpec(8, 8), np.dtype("uint8"), 1.0, 0).pass_through


def test_numpy_fallback_makes_the_same_tensor(photos, monkeypatch):
    import cv2  # noqa: F401  (loaded, so the plans below take OpenCV's path from their first frame)

    spec = SPECS[2]
    with_opencv = [ImagePlan(spec, np.dtype(d), s, z).prepare(photos[0], "BGR")[0].copy() for d, s, z in INPUTS]
    monkeypatch.setitem(sys.modules, "cv2", None)
    for (dtype, scale, zero_point), expected in zip(INPUTS, with_opencv):
        tensor, _ = ImagePlan(spec, np.dtype(dtype), scale, zero_point).prepare(photos[0], "BGR")
        assert np.array_equal(tensor, expected), dtype


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_buffers_are_reused_and_frames_make_no_page_faults(photos):
    """The face detector on a stream of 640x480 frames: one tensor, one cached map, no memory faulted in."""
    import cv2

    from edgekit import ObjectDetector

    frames = [cv2.resize(p, (640, 480), interpolation=cv2.INTER_AREA) for p in photos[:2]]
    with ObjectDetector.create_from_model_path(zoo.path("faces", "float32"), running_mode="video") as detector:
        plan = detector.image_plan
        tensor = plan.tensor
        for index in range(30):  # warm up: the interpreter and numpy settle their own pools
            detector.detect_for_video(frames[index % 2], index)
        calls = 200
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for index in range(30, 30 + calls):
            found = detector.detect_for_video(frames[index % 2], index)
        faults_per_call = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls
        assert found.detections  # the astronaut's face: the calls did real work
        assert plan.tensor is tensor and len(plan._maps) == 1
        assert faults_per_call <= 20, faults_per_call  # the target; measured about 0.02
        detector.detect_for_video(photos[2], 10_000)  # a new size: a second map, the same tensor
        assert plan.tensor is tensor and len(plan._maps) == 2


@pytest.mark.slow
def test_int8_model_gets_every_pixel_value(tmp_path):
    """0 input codes lost: all 256 pixel values reach an int8 (uint8 I/O) model distinct.

    The model is exported by the project's converter with mean = std = 127.5 and calibration images
    that span 0..255, so its input quantization is the normalization (scale 1/127.5); the float round
    trip the tasks used before kept only 144 of the 256 codes.
    """
    import keras

    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter
    from edgekit import ImageClassifier

    keras.utils.set_random_seed(5)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    calibration = np.random.default_rng(0).integers(0, 256, (16, 16, 16, 3)).astype(np.float32)
    calibration[:, 0, 0] = 0
    calibration[:, 0, 1] = 255
    np.save(tmp_path / "calibration.npy", (calibration - 127.5) / 127.5)  # .npy holds the model's own range
    card = CardOptions(task="image-classifier", mean=(127.5,), std=(127.5,), labels=["a", "b", "c"])
    exporter = Exporter(model, card, calibration_path=str(tmp_path / "calibration.npy"), show_progress=False)
    exporter.prepare_data()
    path = tmp_path / "ramp_int8.tflite"
    exporter.export(RecipeConfig("int8"), path, force=True)

    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    frame = np.ascontiguousarray(np.stack([ramp, ramp[::-1], ramp.T], axis=-1))
    with ImageClassifier.create_from_model_path(path) as task:
        spec = task.model.inputs[0]
        assert spec.dtype == np.uint8 and abs(spec.scale - 1 / 127.5) < 1e-6, spec.describe()
        task.classify(frame)
        fed = task.model._interpreter.get_tensor(spec.index)[0]
        old = spec.quantize(image_proc.preprocess(frame, task.image_spec))
    assert np.array_equal(fed, frame)  # the pixels themselves, as MediaPipe feeds a uint8 model
    assert len(np.unique(fed[..., 0])) == 256
    assert len(np.unique(old[..., 0])) < 256  # what the float round trip lost (the test can fail)


def _raw_face_outputs(seed: int, count: int = 896) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    boxes = rng.normal(0, 8, (1, count, 16)).astype(np.float32)
    scores = rng.normal(-4, 3, (1, count, 1)).astype(np.float32)
    return boxes, scores


@pytest.mark.parametrize("min_score", [0.0, 0.3, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("clip", [None, 100.0, 0.2])
def test_ssd_candidates_decode_like_every_anchor(min_score, clip):
    """Decoding only the anchors that can pass min_score keeps exactly what a full decode keeps."""
    from dataclasses import replace

    from edgekit.vision.object_detector import KNOWN_DETECTORS

    config = next(iter(KNOWN_DETECTORS.values()))[1]
    config = replace(config, score_clipping_threshold=clip)
    anchors = det.generate_ssd_anchors(config)
    candidates = det.SsdCandidates(config, len(anchors), min_score)
    for seed in range(5):
        boxes, scores = _raw_face_outputs(seed, len(anchors))
        full = det.select(det.decode_ssd(boxes, scores, anchors, config), min_score, 0.3, "weighted")
        fast = det.select(
            det.decode_ssd_candidates(boxes, scores, anchors, config, candidates), min_score, 0.3, "weighted"
        )
        for name in ("boxes", "scores", "classes", "keypoints"):
            assert np.array_equal(getattr(full, name), getattr(fast, name)), name


ONE_SHOT = """
import json, sys
from edgekit import ImageClassifier, zoo
from edgekit.processing.decode import decode_image
from pathlib import Path
import numpy as np

paths = sys.argv[1:]
seen = []
with ImageClassifier.create_from_model_path(zoo.path("imagenet", "int8"), max_results=5) as classifier:
    for path in paths:
        image = decode_image(np.fromfile(path, np.uint8), Path(path))
        result = classifier.classify(image).classifications[0].categories
        seen.append({"cv2": "cv2" in sys.modules, "top": [(c.index, c.score) for c in result]})
print(json.dumps(seen))
"""


def test_a_one_shot_run_skips_the_opencv_import_and_gives_the_same_scores(tmp_path):
    """The first frame of a process is warped in numpy (an OpenCV import costs more CPU than eight numpy
    warps); from the second frame on OpenCV does it. Golden: the same photos in a process that loaded
    OpenCV first (its remap kernel from frame one): identical scores either way."""
    import cv2
    from skimage import data

    paths = []
    for name, photo in (("coffee", data.coffee()), ("chelsea", data.chelsea())):
        path = tmp_path / f"{name}.png"
        cv2.imwrite(str(path), photo[:, :, ::-1])
        paths.append(str(path))
    runs = {}
    for label, prefix in (("plain", ""), ("opencv first", "import cv2\n")):
        run = subprocess.run(
            [sys.executable, "-c", prefix + ONE_SHOT, *paths], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert run.returncode == 0, run.stderr
        runs[label] = json.loads(run.stdout)
    assert [frame["cv2"] for frame in runs["plain"]] == [False, True]  # PNG decoded by pyspng, then numpy's warp
    assert [frame["cv2"] for frame in runs["opencv first"]] == [True, True]
    assert [frame["top"] for frame in runs["plain"]] == [frame["top"] for frame in runs["opencv first"]]


def test_import_edgekit_loads_only_what_load_needs():
    code = (
        "import json, sys, edgekit\n"
        "before = sorted(m for m in sys.modules if m.split('.')[0] in ('cv2', 'tensorflow', 'keras', 'edgekit'))\n"
        "backend = edgekit.find_backend()\n"
        "after_backend = 'importlib.metadata' in sys.modules\n"
        "from edgekit import *  # noqa\n"
        "print(json.dumps({'before': before, 'metadata_read': after_backend, 'version': backend.version,\n"
        "    'classifier': ImageClassifier.__module__, 'running_mode': RunningMode.IMAGE.name,\n"
        "    'dir': 'ObjectDetector' in dir(edgekit)}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    lazy = {"edgekit.vision", "edgekit.audio", "edgekit.text", "edgekit.tasks", "edgekit.compat", "edgekit.results"}
    assert not lazy & set(found["before"]), found["before"]
    assert not any(m.split(".")[0] in ("cv2", "tensorflow", "keras") for m in found["before"]), found["before"]
    import ai_edge_litert

    assert found["version"] == ai_edge_litert.__version__ and not found["metadata_read"]
    assert found["classifier"] == "edgekit.vision.image_classifier"
    assert found["running_mode"] == "IMAGE" and found["dir"]


def test_audio_windows_reuse_their_buffers_and_quantize_like_the_boundary():
    """The keyword spotter's window and its int8 codes are two buffers made once; codes as TensorSpec.quantize."""
    from edgekit import AudioClassifier
    from edgekit.processing.streaming import RingBuffer

    rng = np.random.default_rng(7)
    ring = RingBuffer(100)
    ring.extend(rng.normal(size=130).astype(np.float32))
    held = np.concatenate([ring._data[30:], ring._data[:30]])  # positions 30..129, oldest first
    out = np.empty((1, 60), np.float32)
    assert ring.span(130, 60, out=out) is out and np.array_equal(out[0], held[-60:])
    assert np.array_equal(ring.span(90, 60), held[:60])
    early = RingBuffer(100)
    early.extend(np.ones(3, np.float32))
    assert np.array_equal(early.span(3, 8), np.r_[np.zeros(5), np.ones(3)].astype(np.float32))

    # The bundled keywords_int8 takes float32 samples (MediaPipe's AudioClassifier needs float input), so
    # its window goes in as it is; a quantized input reuses its codes buffer too (checked when present).
    with AudioClassifier.create_from_model_path(zoo.path("keywords", "int8"), running_mode="video") as task:
        engine = task.engine
        window, quantized = engine._window, engine._input
        codes = quantized.codes if quantized is not None else None
        clip = (rng.normal(0, 0.3, 16000 * 3)).astype(np.float32)
        for index, start in enumerate(range(0, clip.size, 4000)):
            task.classify_for_stream(clip[start : start + 4000], 16000, index * 250)
        assert engine._window is window and engine._input is quantized
        if quantized is not None:
            assert quantized.codes is codes
            assert np.array_equal(codes, task.model.inputs[0].quantize(window))  # the boundary's way
