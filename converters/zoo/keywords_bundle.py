"""Export the trained keyword spotter in every recipe, measure each, and bundle the ones that ship.

    python -m converters.zoo.keywords_bundle OUT_FOLDER [--bundle]

OUT_FOLDER is the training folder of :mod:`converters.zoo.keywords`. Writes OUT_FOLDER/exports/
keywords_{float32,float16,dynamic,int8,int8_float_front}.tflite and OUT_FOLDER/recipes.json: accuracy on
the held-out windows, at 10 dB SNR, agreement with float32, size. ``--bundle`` copies float16 and the
best integer recipe within 1.5 points of float32 (full int8 if it is; else int8 with a float front end;
else dynamic range) into edgekit/zoo/ with the figures in their metadata.

Every file takes float32 samples and returns float32 scores (MediaPipe's AudioClassifier takes float only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from converters.zoo import keywords

REPO = Path(__file__).resolve().parents[2]
BUNDLE_DIR = REPO / "edgekit" / "zoo"
INT8_POINTS = 1.5


def _card_for(exporter, recipe: str):
    import edgekit
    from converters.source import import_tensorflow

    return exporter.card.replace(
        extra={
            **exporter.card.extra,
            "recipe": recipe,
            "io_dtype": "float32",
            "source": exporter.source.description,
            "converter": f"tensorflow {import_tensorflow().__version__}",
            "exported_by": f"edgekit {edgekit.__version__}",
        }
    )


def export_all(folder: Path) -> dict[str, Path]:
    from converters.recipes import RecipeConfig
    from converters.tflite import Exporter
    from edgekit.metadata import embed_card
    from edgekit.processing import audio as audio_proc

    exports = folder / "exports"
    exports.mkdir(exist_ok=True)
    exporter = Exporter(
        str(folder / "keywords.keras"),
        keywords.card_options(folder),
        calibration_path=str(folder / "calibration"),
        show_progress=False,
    )
    paths = {}
    for recipe in ("float32", "float16", "dynamic", "int8"):
        config = RecipeConfig(recipe, io_dtype="float32" if recipe == "int8" else None)
        if recipe == "int8":
            exporter.prepare_data()
        data = embed_card(exporter.convert(config), _card_for(exporter, recipe))
        paths[recipe] = exports / f"keywords_{recipe}.tflite"
        paths[recipe].write_bytes(data)
        print(f"exported {recipe}: {len(data) / 1e3:.0f} kB", flush=True)
    import keras

    model = keras.saving.load_model(folder / "keywords.keras", compile=False)
    windows = []
    for path in sorted((folder / "calibration").glob("*.wav"))[:300]:
        audio, rate = audio_proc.read_wav(path)
        windows.append(audio_proc.fit_window(audio_proc.to_mono(audio).astype(np.float32), keywords.WINDOW_SAMPLES))
    content = keywords.int8_with_float_front_end(model, np.stack(windows))
    card = _card_for(exporter, "int8")
    card = card.replace(extra={**card.extra, "float_fallback": "log-mel front end (DFT, SQRT, mel, LOG)"})
    paths["int8_float_front"] = exports / "keywords_int8_float_front.tflite"
    paths["int8_float_front"].write_bytes(embed_card(content, card))
    print(f"exported int8 with a float front end: {len(content) / 1e3:.0f} kB", flush=True)
    return paths


def measure(folder: Path, paths: dict[str, Path], stride: int = 6, save: bool = True) -> dict[str, dict]:
    """Accuracy of each file on every ``stride``-th held-out window (6: 350 of each set, as five
    recipes on all of them take long here; the bundled files are measured on all, for their cards)."""
    import edgekit

    test, labels = keywords.test_set(folder)
    noisy, noisy_labels = keywords.test_set(folder, noisy=True)
    test, labels, noisy, noisy_labels = (a[::stride] for a in (test, labels, noisy, noisy_labels))
    rows, reference = {}, None
    for recipe, path in paths.items():
        model = edgekit.load(path, num_threads=2)
        predictions = np.array([int(np.argmax(model.run(x[None])[0])) for x in test])
        noisy_predictions = np.array([int(np.argmax(model.run(x[None])[0])) for x in noisy])
        if reference is None:
            reference = predictions
        rows[recipe] = {
            "file": path.name,
            "size_bytes": path.stat().st_size,
            "accuracy": round(float(np.mean(predictions == labels)), 4),
            "accuracy_10db": round(float(np.mean(noisy_predictions == noisy_labels)), 4),
            "agreement_with_float32": round(float(np.mean(predictions == reference)), 4),
            "test_windows": int(len(labels)),
        }
        print(recipe, rows[recipe], flush=True)
    if save:
        (folder / "recipes.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows


def choose_integer(rows: dict[str, dict]) -> str:
    best = rows["float32"]["accuracy"]
    for recipe in ("int8", "int8_float_front", "dynamic"):
        if recipe in rows and (best - rows[recipe]["accuracy"]) * 100 <= INT8_POINTS:
            return recipe
    return "dynamic"


def bundle(folder: Path, paths: dict[str, Path], rows: dict[str, dict]) -> list[str]:
    import edgekit
    from edgekit.io import write_bytes_atomic
    from edgekit.metadata import embed_card

    summary = json.loads((folder / "training.json").read_text())
    integer = choose_integer(rows)
    shipped = {"float16": "float16", integer: "int8" if integer.startswith("int8") else integer}
    full = measure(folder, {r: paths[r] for r in shipped}, stride=1, save=False)  # agreement: with float16
    (folder / "bundled.json").write_text(json.dumps(full, indent=2) + "\n")
    rows = {**rows, **full}
    for old in BUNDLE_DIR.glob("keywords_*.tflite"):
        old.unlink()
    names = []
    for recipe, suffix in shipped.items():
        card = edgekit.load(paths[recipe]).card
        card = card.replace(
            extra={
                **card.extra,
                "accuracy": rows[recipe]["accuracy"],
                "accuracy_10db": rows[recipe]["accuracy_10db"],
                "test_samples": rows[recipe]["test_windows"],
                "training": summary,
            }
        )
        name = f"keywords_{suffix}.tflite"
        write_bytes_atomic(BUNDLE_DIR / name, embed_card(paths[recipe].read_bytes(), card))
        names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--bundle", action="store_true")
    parser.add_argument("--measure-only", action="store_true")
    args = parser.parse_args(argv)
    if args.measure_only:
        exports = args.folder / "exports"
        paths = {p.stem.removeprefix("keywords_"): p for p in sorted(exports.glob("keywords_*.tflite"))}
        paths = dict(sorted(paths.items(), key=lambda item: item[0] != "float32"))
    else:
        paths = export_all(args.folder)
    rows = measure(args.folder, paths)
    if args.bundle:
        print("bundled:", bundle(args.folder, paths, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
