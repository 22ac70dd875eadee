"""What a task costs on top of the interpreter: ImageClassifier from a 640x480 uint8 frame to a result,
against the bare ``invoke`` of the same interpreter, on MobileNetV2-224 (weights=None: the real
architecture and cost; accuracy is not the point). Target: at most +1.5 ms at p50.

    python -m benchmarks.tasks [--runs 300] [--models DIR]     # DIR: reuse benchmarks/mobilenetv2.py --out
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.mobilenetv2 import interleaved, make_images


def export(out: Path) -> None:
    from converters.recipes import RecipeConfig
    from converters.source import import_tensorflow
    from converters.tflite import CardOptions, Exporter

    import_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(alpha=1.0, input_shape=(224, 224, 3), weights=None)
    make_images(out / "calibration", 120)
    exporter = Exporter(
        model,
        CardOptions(mean=(127.5,), std=(127.5,), name="mobilenetv2", task="image-classifier"),
        calibration_path=str(out / "calibration"),
        calibration_samples=100,
        verification_samples=20,
        show_progress=False,
    )
    for recipe in ("float32", "int8"):
        exporter.export(RecipeConfig(recipe), out / f"mobilenetv2_{recipe}.tflite", force=True)


def measure(path: Path, runs: int) -> dict[str, float]:
    from edgekit import ImageClassifier

    classifier = ImageClassifier.create_from_model_path(path, num_threads=1, max_results=5)
    bare = classifier.model._interpreter  # the very interpreter the task uses: no cache-thrash between two
    (inp,) = bare.get_input_details()
    rng = np.random.default_rng(0)
    native = rng.uniform(0, 255, inp["shape"]).astype(inp["dtype"])
    bare.set_tensor(inp["index"], native)
    frame = rng.integers(0, 256, (480, 640, 3), np.uint8)
    from edgekit.processing.image import preprocess

    p50 = interleaved(
        {
            "bare invoke": bare.invoke,
            "preprocess only (640x480 → 224 float)": lambda: preprocess(frame, classifier.image_spec),
            "ImageClassifier.classify(640x480 frame)": lambda: classifier.classify(frame),
            "ImageClassifier.classify(BGR frame)": lambda: classifier.classify(frame, color_order="BGR"),
        },
        runs,
    )
    classifier.close()
    return p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--models", type=Path, help="folder with mobilenetv2_{float32,int8}.tflite (else exported)")
    args = parser.parse_args()
    folder = args.models or Path(tempfile.mkdtemp(prefix="edgekit-tasks-bench-"))
    if not (folder / "mobilenetv2_int8.tflite").exists():
        export(folder)
    for recipe in ("float32", "int8"):
        p50 = measure(folder / f"mobilenetv2_{recipe}.tflite", args.runs)
        print(f"\nMobileNetV2-224 {recipe}, 1 thread, p50 over {args.runs} interleaved runs:")
        for name, value in p50.items():
            print(f"  {name:<42} {value:8.3f} ms")
        extra = p50["ImageClassifier.classify(640x480 frame)"] - p50["bare invoke"]
        print(f"  task cost over bare invoke: {extra:+.3f} ms (target <= +1.5 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
