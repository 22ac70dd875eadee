"""MobileNetV2 (alpha 1.0, 224x224, weights=None: the real architecture with random weights).

Prints, measured side by side in one run (runs interleaved so machine noise hits both sides alike):
  1. Model.run overhead over the bare interpreter (set_tensor + invoke + get_tensor), p50, 1 thread;
  2. full-int8 vs float32 speed at 1 thread (p50 ratio);
  3. the time to export full int8 calibrated on 200 images (a folder of PNGs, as a user would).

    python -m benchmarks.mobilenetv2 [--runs 200] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def make_images(folder: Path, count: int) -> None:
    """Smooth random colour fields (not white noise): a stand-in for photos, reproducible."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        coarse = rng.uniform(0, 255, (8, 8, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((256, 256), Image.BICUBIC)
        image.save(folder / f"img{index:04d}.png")


def interleaved(functions: dict, runs: int) -> dict[str, float]:
    """p50 in ms of each function, calling them in turn ``runs`` times (after 10 warm-ups)."""
    for function in functions.values():
        for _ in range(10):
            function()
    times = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: float(np.percentile(values, 50)) for name, values in times.items()}


def measure_overhead(path: Path, recipe: str, runs: int) -> float:
    """Print Model.run vs the bare interpreter; return Model.run's p50 on native-dtype input."""
    import edgekit

    rng = np.random.default_rng(1)
    wrapped = edgekit.load(path, num_threads=1)
    # The bare calls use the very interpreter Model wraps: with two interpreters, whichever runs second
    # finds the caches full of the other's weights, and that, not Python, dominates the difference.
    bare = wrapped._interpreter
    (inp,), (outp,) = bare.get_input_details(), bare.get_output_details()
    if inp["dtype"] == np.float32:
        native = rng.uniform(-1, 1, inp["shape"]).astype(np.float32)
    else:
        native = rng.uniform(0, 255, inp["shape"]).astype(inp["dtype"])
    floats = rng.uniform(-1, 1, inp["shape"]).astype(np.float32)
    bare.set_tensor(inp["index"], native)

    def bare_roundtrip():
        bare.set_tensor(inp["index"], native)
        bare.invoke()
        return bare.get_tensor(outp["index"])

    functions = {
        "bare invoke": bare.invoke,
        "bare set+invoke+get": bare_roundtrip,
        "Model.run (native dtype)": lambda: wrapped.run(native),
    }
    if recipe == "int8":
        functions["Model.run (float in, quantize+dequantize)"] = lambda: wrapped.run(floats)
    p50 = interleaved(functions, runs)
    print(f"\n{recipe}, 1 thread, p50 over {runs} interleaved runs:")
    for name, value in p50.items():
        over = (value / p50["bare set+invoke+get"] - 1) * 100
        print(f"  {name:<44} {value:8.3f} ms   ({over:+.1f}% vs bare set+invoke+get)")
    return p50["Model.run (native dtype)"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="keep the exported models here")
    args = parser.parse_args()

    from converters.recipes import RecipeConfig
    from converters.source import import_tensorflow
    from converters.tflite import CardOptions, Exporter

    import_tensorflow()
    import keras

    out = args.out or Path(tempfile.mkdtemp(prefix="edgekit-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(alpha=1.0, input_shape=(224, 224, 3), weights=None)
    images = out / "calibration"
    make_images(images, 220)  # 200 for calibration + 20 held out for verification

    options = CardOptions(mean=(127.5,), std=(127.5,), name="mobilenetv2")
    start = time.perf_counter()
    exporter = Exporter(
        model,
        options,
        calibration_path=str(images),
        calibration_samples=200,
        verification_samples=20,
        show_progress=False,
    )
    exporter.prepare_data()
    float_row = exporter.export(RecipeConfig("float32"), out / "mobilenetv2_float32.tflite", force=True).row
    start_int8 = time.perf_counter()
    int8_row = exporter.export(
        RecipeConfig("int8", calibration_samples=200, verification_samples=20),
        out / "mobilenetv2_int8.tflite",
        force=True,
    ).row
    int8_seconds = time.perf_counter() - start_int8
    print(
        f"setup (load Keras model, read 220 images, reference outputs): {start_int8 - start:.1f} s "
        f"(float32 export included)"
    )
    print(
        f"export to full int8 with {len(exporter.calibration_set)} calibration images, incl. verification: "
        f"{int8_seconds:.1f} s (target < 60 s)"
    )
    print(
        f"  float32: {float_row.size_bytes / 1e6:.2f} MB; int8: {int8_row.size_bytes / 1e6:.2f} MB; "
        f"int8 verdict on random weights: {int8_row.verdict}"
    )

    float_p50 = measure_overhead(out / "mobilenetv2_float32.tflite", "float32", args.runs)
    int8_p50 = measure_overhead(out / "mobilenetv2_int8.tflite", "int8", args.runs)
    print(f"\nint8 speed-up over float32 at 1 thread (Model.run p50): {float_p50 / int8_p50:.2f}x (target >= 1.5x)")
    print(f"models in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
