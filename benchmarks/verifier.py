"""What the model check (edgekit/backends/_tflite_check.py) costs, against the time to load the model.

For each bundled model (edgekit/zoo/*.tflite) and a MobileNetV2 float32 (14 MB, 224x224, weights=None,
exported by edgekit's own converter and cached under ~/.cache/edgekit/bench-verifier), prints the p50 of
``verify_tflite`` on the file's bytes and of ``edgekit.load`` (which reads the file, checks it, opens the
interpreter with XNNPACK and reads the card): wall clock p50, and p50 CPU time of the process (which a loaded
machine disturbs less), measured interleaved in one run so machine noise hits both alike.
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


def measure(path: Path, runs: int) -> tuple[float, float, float, float]:
    """(check, load) p50 wall ms and p50 CPU ms for one file, interleaved."""
    import edgekit
    from edgekit.backends._tflite_check import verify_tflite

    data = path.read_bytes()
    for _ in range(3):
        verify_tflite(data, path.name)
        edgekit.load(path).close()
    walls: dict[str, list[float]] = {"check": [], "load": []}
    cpus: dict[str, list[float]] = {"check": [], "load": []}
    for _ in range(runs):
        for name, function in (("check", lambda: verify_tflite(data, path.name)), ("load", lambda: load(path))):
            wall, cpu = time.perf_counter(), time.process_time()
            function()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    return (
        float(np.median(walls["check"])) * 1e3,
        float(np.median(walls["load"])) * 1e3,
        float(np.median(cpus["check"])) * 1e3,
        float(np.median(cpus["load"])) * 1e3,
    )


def load(path: Path) -> None:
    import edgekit

    edgekit.load(path).close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    zoo = Path(__file__).resolve().parent.parent / "edgekit" / "zoo"
    paths = sorted(zoo.glob("*.tflite")) + [mobilenetv2_float32()]
    columns = f"{'check':>7} {'load':>7} {'ratio':>6}"
    print(f"{'model':28} {'MB':>6} | wall p50: {columns} | CPU p50: {columns}")
    worst_wall = worst_cpu = 0.0
    for path in paths:
        check, load_ms, check_cpu, load_cpu = measure(path, args.runs)
        worst_wall, worst_cpu = max(worst_wall, check / load_ms), max(worst_cpu, check_cpu / load_cpu)
        size = path.stat().st_size / 1e6
        print(
            f"{path.name:28} {size:6.2f} | {'':10}{check:7.2f} {load_ms:7.2f} {100 * check / load_ms:5.1f}% | "
            f"{'':9}{check_cpu:7.2f} {load_cpu:7.2f} {100 * check_cpu / load_cpu:5.1f}%"
        )
    print(f"worst check/load: wall {100 * worst_wall:.1f} %, CPU {100 * worst_cpu:.1f} % (target <= 5 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
