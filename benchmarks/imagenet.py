"""The imagenet zoo model (EfficientNet-Lite0): port fidelity, int8 vs float32, speed, live demo, MediaPipe.

    python -m benchmarks.imagenet [--work out/zoo] [--no-mediapipe] [--no-live]

float32 and float16 come from the build's WORK/exports (`./dev.sh zoo`), or are made here from the
ported Keras model (ported into ~/.cache/edgekit/imagenet-port first when it is not there); int8 is the
bundled file. Prints:
- the Keras port vs the original PyTorch network (max probability difference, from the build's check);
- int8 vs float32: top-1 agreement (on all photos, and on those where float32's top-1 leads its runner-up
  by more than 0.05 / 0.1 / 0.2) and mean top-5 overlap on every photo here (22 real photos and 396
  augmented variants of them, none used for calibration), and each recipe's top-1 agreement with the
  original network on the agreement set;
- ImageClassifier.classify on a 640x480 frame at 1 thread: p50/p95 for float32, float16 and int8;
- the live webcam demo on a 640x480 video file, pinned to one core: results per second;
- MediaPipe Tasks 1.2.2's ImageClassifier on the same files: top-1 agreement and max score difference.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _scores(model: Path, images: list[np.ndarray]) -> np.ndarray:
    """Every class score per image from edgekit's ImageClassifier (default options)."""
    from edgekit import ImageClassifier, ImageClassifierOptions

    options = ImageClassifierOptions(model_path=str(model), max_results=-1, score_threshold=0.0)
    rows = []
    with ImageClassifier.create_from_options(options) as task:
        for image in images:
            row = np.zeros(1000, np.float32)
            for category in task.classify(image).categories:
                row[category.index] = category.score
            rows.append(row)
    return np.stack(rows)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def int8_vs_float32(models: dict[str, Path]) -> None:
    from converters.zoo import imagenet
    from converters.zoo import imagenet_photos as photos

    agreement = photos.photo_set(photos.AGREEMENT_SEED, 8)
    port = photos.photo_set(photos.PORT_CHECK_SEED, 2, originals=False)
    extra = photos.photo_set(photos.AGREEMENT_SEED + 1, 8, originals=False)
    images = [image for _, image in agreement + port + extra]
    originals = len(photos.photos())
    scores = {recipe: _scores(path, images) for recipe, path in models.items()}
    reference = np.array(imagenet.reference_top1())
    base = scores["float32"]
    ranked = np.sort(base, axis=1)
    lead = ranked[:, -1] - ranked[:, -2]  # float32's top-1 probability minus its runner-up's
    print(
        f"\n{len(images)} photos: {originals} real + {len(images) - originals} augmented (crops, mirrors, scales, "
        "colour jitter; none used for calibration)"
    )
    margins = (0.05, 0.1, 0.2)
    heads = " | ".join(f"top-1, lead > {m} ({int(np.sum(lead > m))})" for m in margins)
    print(f"| recipe | top-1 agreement with float32 | {heads} | top-5 overlap | top-1 = original ({len(reference)}) |")
    print("|---|---:|" + "---:|" * len(margins) + "---:|---:|")
    for recipe, found in scores.items():
        same = _top(found, 1)[:, 0] == _top(base, 1)[:, 0]
        overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(_top(found, 5), _top(base, 5))])
        original = float(np.mean(_top(found[: len(agreement)], 1)[:, 0] == reference))
        by_margin = " | ".join(f"{np.mean(same[lead > m]):.2%}" for m in margins)
        print(f"| {recipe} | {np.mean(same):.2%} | {by_margin} | {overlap:.2%} | {original:.2%} |")


def float_exports(work: Path) -> dict[str, Path]:
    """float32 and float16 files: the build's (WORK/exports), else made now from the ported Keras model."""
    exports = work / "exports"
    models = {r: exports / f"imagenet_{r}.tflite" for r in ("float32", "float16")}
    if all(p.exists() for p in models.values()):
        return models
    from converters.recipes import RecipeConfig
    from converters.tflite import Exporter
    from converters.zoo import imagenet
    from converters.zoo.imagenet_weights import default_cache

    port = default_cache().parent / "imagenet-port"
    if not (port / "imagenet.keras").exists():
        print(f"porting into {port} (python -m converters.zoo.imagenet {port})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "converters.zoo.imagenet", str(port)], check=True, cwd=REPO)
    models = {r: port / "exports" / f"imagenet_{r}.tflite" for r in ("float32", "float16")}
    exporter = Exporter(str(port / "imagenet.keras"), imagenet.card_options(port), show_progress=False)
    for recipe, path in models.items():
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            exporter.export(RecipeConfig(recipe), path, force=True)
    return models


def frame_latency(models: dict[str, Path], runs: int = 60) -> None:
    import time

    import cv2
    from skimage import data

    from edgekit import ImageClassifier

    frame = cv2.resize(data.chelsea(), (640, 480), interpolation=cv2.INTER_LINEAR)
    print("\nImageClassifier.classify on a 640x480 RGB frame, 1 thread (preprocessing included)")
    for recipe, path in models.items():
        with ImageClassifier.create_from_model_path(str(path), num_threads=1, max_results=3) as task:
            for _ in range(5):
                task.classify(frame)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                task.classify(frame)
                times.append((time.perf_counter() - start) * 1e3)
        print(f"  {recipe:<8} p50 {np.percentile(times, 50):6.2f} ms  p95 {np.percentile(times, 95):6.2f} ms")


def live_demo(work: Path) -> None:
    from converters.zoo.samples import write_photos

    with tempfile.TemporaryDirectory() as folder:
        from skimage import data

        video = [p for p in write_photos(Path(folder), data) if p.suffix == ".mkv"][0]
        command = [sys.executable, str(REPO / "demos" / "webcam_classify.py"), "--source", str(video)]
        command += ["--headless", "--threads", "1"]
        # One core: the process (inference, decoding and the loop) may run on CPU 0 only. Its CPU time is
        # also measured: on a shared machine, results per CPU-second is what one core of its own gives.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=lambda: os.sched_setaffinity(0, {0}),
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = re.search(r"(\d+) results, ([\d.]+)/s, latency p50 ([\d.]+) ms", run.stderr)
    print("\nlive demo (demos/webcam_classify.py, bundled int8, 640x480 FFV1 video at 30 fps, 1 thread, 1 core)")
    if run.returncode != 0 or summary is None:
        print(f"  failed: {run.stderr[-500:]}")
        return
    results, rate, p50 = summary.groups()
    print(f"  {results} results, {float(rate):.1f} results/s, inference latency p50 {p50} ms (target >= 15/s)")
    load = os.getloadavg()[0]
    print(
        f"  process CPU time {cpu_s:.1f} s (start-up included): {int(results) / cpu_s:.1f} results per CPU-second; "
        f"machine load average {load:.1f} on {os.cpu_count()} cores"
    )


def mediapipe_agreement(models: dict[str, Path]) -> None:
    from PIL import Image

    from benchmarks.fidelity_images import compare_scores, edgekit_scores, mediapipe_scores, runtime_python
    from converters.zoo import imagenet
    from converters.zoo import imagenet_photos as photos

    python = runtime_python("mediapipe-1.2.2")
    print("\nMediaPipe Tasks 1.2.2 ImageClassifier vs edgekit, same file, same photos (25 real photos)")
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for name, image in [*photos.photos().items(), *imagenet.named_photos().items()]:
            files.append(Path(folder) / f"{name}.png")
            Image.fromarray(image).save(files[-1])
        for recipe, path in models.items():
            result = compare_scores(edgekit_scores(path, files), mediapipe_scores(python, path, files, Path(folder)))
            print(
                f"  {recipe:<8} top-1 agreement {result['top1_agreement']:.2%}, "
                f"max score difference {result['max_score_diff']:.5f} ({result['images']} images)"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "out" / "zoo")
    parser.add_argument("--no-mediapipe", action="store_true")
    parser.add_argument("--no-live", action="store_true")
    args = parser.parse_args(argv)
    from edgekit import zoo

    models = float_exports(args.work)
    models["int8"] = zoo.path("imagenet", "int8")
    found = [args.work / "imagenet" / "training.json", models["float32"].parents[1] / "training.json"]
    summary = next((path for path in found if path.exists()), None)
    if summary is not None:
        check = json.loads(summary.read_text())
        print(
            f"Keras port vs original PyTorch network: max probability difference "
            f"{check['port_max_probability_difference']:.2e} on {check['port_check_inputs']} inputs (target <= 1e-4)"
        )
    int8_vs_float32(models)
    frame_latency(models)
    if not args.no_live:
        live_demo(args.work)
    if not args.no_mediapipe:
        mediapipe_agreement({r: models[r] for r in ("float16", "int8")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
