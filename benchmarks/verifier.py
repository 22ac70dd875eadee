"""What the model check (edgekit/backends/_tflite_check.py) costs, against the time to load the model.

For each bundled model (edgekit/zoo/*.tflite) and a MobileNetV2 float32 (14 MB, 224x224, weights=None,
exported by edgekit's own converter and cached under ~/.cache/edgekit/bench-verifier), prints the p50 of
``verify_tflite`` on the file's bytes and of ``edgekit.load`` (which reads the file, checks it, opens the
interpreter with XNNPACK and reads the card), measured interleaved so machine noise hits both alike.
Target: the check is at most 5 % of the load.

    python -m benchmarks.verifier [--runs 30]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

CACHE = Path.home() / ".cache" / "edgekit" / "bench-verifier"


def mobilenetv2_float32() -> Path:
    """MobileNetV2 (alpha 1.0, 224x224, random weights) exported to float32 by edgekit's converter; cached."""
    path = CACHE / "mobilenetv2_float32.tflite"
    if path.exists():
        return path
    from converters.recipes import RecipeConfig
    from converters.source import import_tensorflow
    from converters.tflite import CardOptions, Exporter

    from .mobilenetv2 import make_images

    import_tensorflow()
    import keras

    CACHE.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(alpha=1.0, input_shape=(224, 224, 3), weights=None)
    images = CACHE / "images"
    make_images(images, 12)
    exporter = Exporter(
        model,
        CardOptions(mean=(127.5,), std=(127.5,), name="mobilenetv2"),
        calibration_path=str(images),
        calibration_samples=4,
        verification_samples=8,
        show_progress=False,
    )
    exporter.export(RecipeConfig("float32"), path, force=True)
    return path


def measure(path: Path, runs: int) -> tuple[float, float]:
    """(check p50 ms, load p50 ms) for one file."""
    import edgekit
    from edgekit.backends._tflite_check import verify_tflite

    data = path.read_bytes()
    for _ in range(3):
        verify_tflite(data, path.name)
        edgekit.load(path).close()
    checks, loads = [], []
    for _ in range(runs):
        start = time.perf_counter()
        verify_tflite(data, path.name)
        checks.append(time.perf_counter() - start)
        start = time.perf_counter()
        edgekit.load(path).close()
        loads.append(time.perf_counter() - start)
    return float(np.median(checks)) * 1e3, float(np.median(loads)) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    zoo = Path(__file__).resolve().parent.parent / "edgekit" / "zoo"
    paths = sorted(zoo.glob("*.tflite")) + [mobilenetv2_float32()]
    print(f"{'model':34} {'size MB':>8} {'check ms':>9} {'load ms':>9} {'check/load':>10}")
    worst = 0.0
    for path in paths:
        check, load = measure(path, args.runs)
        worst = max(worst, check / load)
        size = path.stat().st_size / 1e6
        print(f"{path.name:34} {size:8.2f} {check:9.2f} {load:9.2f} {100 * check / load:9.1f}%")
    print(f"worst check/load: {100 * worst:.1f} % (target <= 5 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
