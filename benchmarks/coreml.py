"""Core ML export figures: every recipe of the given models, and MobileNetV2-224 export times.

For each model: the export report of every Core ML recipe (size, top-1 agreement with the Keras
model, max/mean absolute error, from the NumPy reference evaluation of the saved package) and the
compression note. For MobileNetV2 (alpha 1.0, 224x224, weights=None with variance-preserving random
kernels): the export time per recipe, from a fresh conversion each time (convert + compress + save;
verification timed apart).

    python -m benchmarks.coreml [--model NAME=PATH[,LABELS[,DATA]]]... [--zoo NAME=FOLDER]... [--mobilenet]

PATH is a .keras file or SavedModel folder; LABELS a labels file; DATA verification data (images
or WAV folder, text file, .npy). --zoo takes a converters.zoo model trained into FOLDER (its card
options and held-out data come from the zoo module). Without models, only MobileNetV2 is measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

RECIPES = ["float32", "float16", "int8", "palettize8", "palettize6", "palettize4"]


def _mobilenet():
    from tests.support.coreml_fixtures import mobilenet_v2

    return mobilenet_v2(224, 1.0)


def report(name: str, model, options, data: str | None, out: Path, fresh: bool) -> None:
    """Export ``model`` in every recipe and print one report row per recipe, with timings.

    ``fresh``: a new exporter per recipe, so each export time includes its own conversion (by
    default int8 and the palettize recipes share one float16 conversion).
    """
    from converters.coreml import CoreMLExporter
    from converters.coreml.recipes import CoreMLConfig
    from converters.verify import HEADER, format_row

    exporter = CoreMLExporter(model, options, data, show_progress=False)
    exporter.prepare_data()
    print(f"\n{name}: verified on {exporter.verification_origin}")
    print(f"{HEADER}  export s  verify s")
    for recipe in RECIPES:
        if fresh:
            exporter = CoreMLExporter(model, options, data, show_progress=False)
        result = exporter.export(CoreMLConfig(recipe), out / f"{name}_{recipe}.mlpackage", force=True)
        print(f"{format_row(result.row)}  {result.export_seconds:8.1f}  {result.timings['verify']:8.1f}", flush=True)
        for note in result.notes:
            print(f"    {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH[,LABELS[,DATA]]")
    parser.add_argument("--zoo", action="append", default=[], metavar="NAME=FOLDER")
    parser.add_argument("--mobilenet", action="store_true", help="also MobileNetV2-224 (default without --model)")
    parser.add_argument("--out", type=Path, help="keep the packages here (default: a temporary folder)")
    args = parser.parse_args(argv)

    from converters.tflite import CardOptions, read_labels

    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        for spec in args.model:
            name, _, rest = spec.partition("=")
            path, labels, data = (rest.split(",") + [None, None])[:3]
            options = CardOptions(labels=read_labels(labels) if labels else None, name=name)
            report(name, path, options, data or None, out, fresh=False)
        for spec in args.zoo:
            from converters.zoo import build

            name, _, text = spec.partition("=")
            folder, entry = Path(text), build.ZOO[name]
            options = build._card_options(entry, folder)
            report(name, str(folder / entry.keras_file), options, str(folder / entry.calibration), out, fresh=False)
        if args.mobilenet or not (args.model or args.zoo):
            report("mobilenetv2_224", _mobilenet(), CardOptions(mean=(127.5,), std=(127.5,)), None, out, fresh=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
