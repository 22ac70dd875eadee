"""ObjectDetector latency on MediaPipe's short-range face detector, split into its stages.

Prints, per thread count and frame size, the median and 90th-percentile milliseconds of a whole
``detect()`` call and of its three stages: preprocessing (colour, letterbox resize, normalize),
the interpreter (``Model.run``) and decoding (anchors, sigmoid, weighted NMS, mapping to pixels).

    python -m benchmarks.detector [--runs 300] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edgekit.vision._input import prepare_image
from edgekit.vision.object_detector import ObjectDetector
from tests.interop.fetch_models import default_cache, fetch

TESTS = Path(__file__).resolve().parents[1] / "tests"


def frames() -> dict[str, np.ndarray]:
    import skimage.data

    photo = skimage.data.astronaut()
    vga = np.zeros((480, 640, 3), np.uint8)
    vga[:, 64:576] = photo[16:496]  # a webcam-sized frame with the face in it
    return {"512x512": photo, "640x480": vga}


def percentiles_ms(samples_s: list[float]) -> str:
    values = np.asarray(samples_s) * 1000
    return f"{np.median(values):6.3f} / {np.percentile(values, 90):6.3f}"


def measure(model_path: Path, threads: int, image: np.ndarray, runs: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"detect": [], "preprocess": [], "interpreter": [], "decode": []}
    with ObjectDetector.create_from_model_path(model_path, num_threads=threads) as task:
        for _ in range(20):  # warm-up: XNNPACK packs weights on the first runs
            task.detect(image)
        for _ in range(runs):
            start = time.perf_counter()
            task.detect(image)
            timings["detect"].append(time.perf_counter() - start)
            start = time.perf_counter()
            tensor, placement = prepare_image(image, task.image_spec, "RGB")
            after_pre = time.perf_counter()
            outputs = task.model.run(tensor)
            after_run = time.perf_counter()
            task._to_result(task._decode(outputs), placement, 0)
            end = time.perf_counter()
            timings["preprocess"].append(after_pre - start)
            timings["interpreter"].append(after_run - after_pre)
            timings["decode"].append(end - after_run)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    model_path = fetch(default_cache()) / "face_detection_short_range.tflite"
    print(
        f"{'frame':>8} {'threads':>7}  "
        + "  ".join(f"{s:>17}" for s in ("detect", "preprocess", "interpreter", "decode"))
    )
    print(f"{'':>8} {'':>7}  " + "  ".join(f"{'median / p90 ms':>17}" for _ in range(4)))
    for name, image in frames().items():
        for threads in (int(t) for t in args.threads.split(",")):
            timings = measure(model_path, threads, image, args.runs)
            print(f"{name:>8} {threads:>7}  " + "  ".join(f"{percentiles_ms(v):>17}" for v in timings.values()))


if __name__ == "__main__":
    main()
