"""Image fidelity matrix: the same .tflite in edgekit and in MediaPipe Tasks, on real photos of any size.

For each model × photo set × MediaPipe version (1.2.2, the current release, and 0.10.21, each in its
own venv made by tests/interop/runtime_env.sh): top-1 agreement and the largest score difference for
classifiers, and for the bundled face detector the detections above threshold (same count), the box
IoU (edgekit's box truncated to integers as MediaPipe's FaceDetector reports it) and score difference.
Targets (issue 10): top-1 ≥ 99 %, max score difference ≤ 0.01, face IoU ≥ 0.98, same detections.

    python -m benchmarks.fidelity_images [--json] [--out DIR]

``run(json_out)`` returns the rows (one dict per cell) for benchmarks/fidelity.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
INTEROP = ROOT / "tests" / "interop"
FACES = ROOT / "edgekit" / "zoo" / "faces_float32.tflite"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera")
MEDIAPIPE_VERSIONS = ("mediapipe-1.2.2", "mediapipe-0.10.21")


# ----------------------------------------------------------------------------- photos
def photo_variants(folder: Path) -> dict[str, list[Path]]:
    """scikit-image's photos as PNGs in several sizes and aspects, grouped by variant.

    original; half and tiny (shrunk, aspect kept); large (enlarged 2x); crop_tall and crop_wide
    (parts of the photo); padded (on a wider grey canvas). OpenCV makes the variants; which resampler
    makes them does not matter, both runtimes read the same PNG bytes.
    """
    import cv2
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[Path]] = {}
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()
        if photo.ndim == 2:
            photo = np.repeat(photo[:, :, None], 3, axis=2)  # camera is greyscale: MediaPipe wants RGB
        height, width = photo.shape[:2]
        padded = np.full((height, width + 160, 3), 90, np.uint8)
        padded[:, 80 : 80 + width] = photo
        variants = {
            "original": photo,
            "half": cv2.resize(photo, (width // 2, height // 2), interpolation=cv2.INTER_AREA),
            "tiny": cv2.resize(photo, (48, max(1, 48 * height // width)), interpolation=cv2.INTER_AREA),
            "large": cv2.resize(photo, (width * 2, height * 2), interpolation=cv2.INTER_CUBIC),
            "crop_tall": photo[:, width // 5 : width // 5 + width * 2 // 5],
            "crop_wide": photo[height // 6 : height // 6 + height * 2 // 5],
            "padded": padded,
        }
        for variant, pixels in variants.items():
            path = folder / f"{name}_{variant}.png"
            cv2.imwrite(str(path), np.ascontiguousarray(pixels[:, :, ::-1]))
            groups.setdefault(variant, []).append(path)
    return groups


# ----------------------------------------------------------------------------- models
def _export(
    model, out: Path, recipes: tuple[str, ...], calibration: np.ndarray, force: bool = False, **card
) -> dict[str, Path]:
    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter

    out.mkdir(parents=True, exist_ok=True)
    npy = out / "calibration.npy"
    np.save(npy, calibration)
    exporter = Exporter(
        model, CardOptions(task="image-classifier", **card), calibration_path=str(npy), show_progress=False
    )
    exporter.prepare_data()
    paths = {}
    for recipe in recipes:
        paths[recipe] = out / f"{card['name']}_{recipe}.tflite"
        exporter.export(RecipeConfig(recipe), paths[recipe], force=force)
    return paths


def calibration_crops(size: int, count: int = 64, seed: int = 0) -> np.ndarray:
    """Random crops of the photos at ``size`` x ``size``, float 0..255 (calibration for int8)."""
    import cv2
    import skimage.data

    rng = np.random.default_rng(seed)
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    crops = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.integers(48, min(photo.shape[:2])))
        y, x = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        crops.append(cv2.resize(photo[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(crops).astype(np.float32)


def rescaling_classifier(out: Path) -> dict[str, Path]:
    """A small RGB CNN with a Rescaling layer (random weights, 6 classes), float32 and int8 exports."""
    import keras

    keras.utils.set_random_seed(4)
    inputs = keras.Input((40, 40, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(12, 3, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    # Large weights spread the probabilities: a clear top-1 that a wrong resampling would move.
    x = keras.layers.Dense(6, kernel_initializer=keras.initializers.RandomNormal(stddev=3.0))(x)
    model = keras.Model(inputs, keras.layers.Softmax()(x))
    labels = [f"class{i}" for i in range(6)]
    return _export(model, out, ("float32", "int8"), calibration_crops(40), name="rescaling", labels=labels)


def mobilenet_v2(out: Path) -> dict[str, Path]:
    """keras.applications MobileNetV2 alpha 0.35 at 96 px, weights=None (agreement, not accuracy)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), weights=None)
    labels = [f"c{i}" for i in range(1000)]
    card = dict(name="mobilenetv2", labels=labels, mean=(127.5,), std=(127.5,))
    # Random weights give near-uniform scores that int8 cannot match to Keras's tolerance: written anyway
    # (force), since what is measured here is edgekit against MediaPipe on the very same file.
    # The .npy holds the model's own input range (the converter checks it against mean/std).
    calibration = (calibration_crops(96, count=100) - 127.5) / 127.5
    return _export(model, out, ("float32", "int8"), calibration, force=True, **card)


# ----------------------------------------------------------------------------- the two runtimes
def runtime_python(runtime: str) -> str:
    """The venv python of a third-party runtime (made and cached by tests/interop/runtime_env.sh)."""
    made = subprocess.run(["bash", str(INTEROP / "runtime_env.sh"), runtime], capture_output=True, text=True)
    if made.returncode != 0:
        raise RuntimeError(f"could not make the {runtime} venv:\n{made.stderr[-2000:]}")
    return made.stdout.strip().splitlines()[-1]


def mediapipe_scores(python: str, model: Path, images: list[Path], work: Path) -> list[np.ndarray]:
    """MediaPipe's ImageClassifier scores (by class index) for each image, from one process."""
    out = work / f"{model.stem}_{abs(hash(tuple(images)))}.npz"
    run = subprocess.run(
        [python, "-I", str(INTEROP / "mediapipe_scores.py"), str(model), str(out), *map(str, images)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if run.returncode != 0:
        raise RuntimeError(f"MediaPipe failed on {model.name}:\n{run.stderr[-3000:]}")
    with np.load(out) as data:
        return [data[str(i)] for i in range(len(images))]


def edgekit_scores(model: Path, images: list[Path]) -> list[np.ndarray]:
    """edgekit's ImageClassifier scores (by class index) for each image file, default options."""
    from edgekit import ImageClassifier, ImageClassifierOptions

    options = ImageClassifierOptions(model_path=str(model), max_results=-1, score_threshold=0.0)
    scores = []
    with ImageClassifier.create_from_options(options) as task:
        for path in images:
            categories = task.classify(path).categories
            row = np.zeros(max(c.index for c in categories) + 1, np.float32)
            for category in categories:
                row[category.index] = category.score
            scores.append(row)
    return scores


def mediapipe_faces(python: str, model: Path, images: list[Path]) -> list[list[dict]]:
    """MediaPipe's FaceDetector task on each image: [{"score", "box" (int x, y, w, h), "keypoints"}]."""
    run = subprocess.run(
        [python, "-I", str(INTEROP / "mediapipe_face_task.py"), str(model), *map(str, images)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if run.returncode != 0:
        raise RuntimeError(f"MediaPipe's FaceDetector failed:\n{run.stderr[-3000:]}")
    return [json.loads(line)["faces"] for line in run.stdout.strip().splitlines()]


def edgekit_faces(model: Path, images: list[Path]) -> list[list[dict]]:
    """edgekit's ObjectDetector on each image, boxes as floats and as MediaPipe's integer pixels."""
    from edgekit import ObjectDetector

    found = []
    with ObjectDetector.create_from_model_path(str(model)) as detector:
        for path in images:
            result = detector.detect(path)
            found.append([_face(d) for d in result.detections])
    return found


def _face(detection) -> dict:
    return {
        "score": detection.top.score,
        "box_float": [detection.box.x, detection.box.y, detection.box.width, detection.box.height],
        "keypoints": [[k.x, k.y] for k in detection.keypoints],
    }


def as_mediapipe_box(box: list[float], width: int, height: int) -> list[int]:
    """A float pixel box as MediaPipe's FaceDetector reports it: each of x, y, w, h truncated to int and
    clamped to [0, image size] (DetectionTransformationCalculator's BoundedValue)."""
    limits = (width, height, width, height)
    return [max(0, min(int(value), limit)) for value, limit in zip(box, limits)]


def iou(a: list[float], b: list[float]) -> float:
    """IoU of two (x, y, width, height) boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


# ----------------------------------------------------------------------------- comparisons
def compare_scores(ours: list[np.ndarray], theirs: list[np.ndarray]) -> dict:
    """Top-1 agreement and the largest absolute score difference over a set of images."""
    agree = [int(np.argmax(a) == np.argmax(b)) for a, b in zip(ours, theirs)]
    diffs = [float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs)]
    return {"images": len(agree), "top1_agreement": float(np.mean(agree)), "max_score_diff": max(diffs)}


def compare_faces(ours: list[list[dict]], theirs: list[list[dict]], images: list[Path]) -> dict:
    """Same detections above threshold (count per image), min box IoU and max score difference."""
    from PIL import Image

    same, ious, score_diffs, keypoint_px = 0, [], [], []
    for found, golden, path in zip(ours, theirs, images):
        same += len(found) == len(golden)
        with Image.open(path) as handle:
            width, height = handle.size
        for face, expected in zip(found, golden):
            ious.append(iou(as_mediapipe_box(face["box_float"], width, height), expected["box"]))
            score_diffs.append(abs(face["score"] - expected["score"]))
            keypoint_px.append(float(np.abs(np.subtract(face["keypoints"], expected["keypoints"])).max()))
    return {
        "images": len(images),
        "same_detections": same / len(images),
        "faces": len(ious),
        "min_iou": min(ious, default=1.0),
        "max_score_diff": max(score_diffs, default=0.0),
        "max_keypoint_px": max(keypoint_px, default=0.0),
    }


def run(json_out: bool = False, out: Path | None = None, models: dict[str, Path] | None = None) -> list[dict]:
    """Build the models and photos (in ``out`` or a temporary folder), compare, print and return rows.

    Args:
        json_out: print one JSON object per row instead of a table.
        out: working folder (kept); default a temporary one.
        models: classifier name → .tflite to use instead of building the default set.
    """
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(out) if out else Path(scratch)
        groups = photo_variants(work / "photos")
        if models is None:
            models = {}
            for name, paths in (
                ("rescaling", rescaling_classifier(work / "rescaling")),
                ("mobilenetv2_035_96", mobilenet_v2(work / "mobilenetv2")),
            ):
                models.update({f"{name} {recipe}": path for recipe, path in paths.items()})
        rows = []
        for runtime in MEDIAPIPE_VERSIONS:
            python = runtime_python(runtime)
            for model_name, path in models.items():
                for variant, images in groups.items():
                    result = compare_scores(edgekit_scores(path, images), mediapipe_scores(python, path, images, work))
                    rows.append({"model": model_name, "photos": variant, "runtime": runtime, **result})
                    _print(rows[-1], json_out)
            for variant, images in groups.items():
                result = compare_faces(edgekit_faces(FACES, images), mediapipe_faces(python, FACES, images), images)
                rows.append({"model": "faces float32", "photos": variant, "runtime": runtime, **result})
                _print(rows[-1], json_out)
        return rows


def _print(row: dict, json_out: bool) -> None:
    if json_out:
        print(json.dumps(row), flush=True)
        return
    head = f"{row['model']:26s} {row['photos']:10s} {row['runtime']:18s}"
    if "top1_agreement" in row:
        print(f"{head} top-1 {row['top1_agreement'] * 100:6.1f} %  max score diff {row['max_score_diff']:.2e}")
    else:
        print(
            f"{head} same detections {row['same_detections'] * 100:5.1f} %  faces {row['faces']:2d}  "
            f"min IoU {row['min_iou']:.3f}  max score diff {row['max_score_diff']:.2e}  "
            f"keypoints ≤ {row['max_keypoint_px']:.2f} px",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--out", type=Path, help="keep models and photos in this folder")
    args = parser.parse_args(argv)
    run(args.json, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
