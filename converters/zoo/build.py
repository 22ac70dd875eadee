"""Rebuild the model zoo: train, export every recipe, measure, write the table and the bundled models.

Over 400 lines: the zoo's one build entry point for every model (train, export, measure, write the tables).

    python -m converters.zoo.build [--work DIR] [--models fashion,keywords,topics] [--reuse]
    python -m converters.zoo.build --table-only      # re-measure existing exports, rewrite docs/zoo.md
    python -m converters.zoo.build --no-coreml       # TFLite only

``--reuse`` keeps already-trained Keras models in the work folder (training is the slow part).
The bundled models (int8 and float32 of each) and their cards land in edgekit/zoo/.
Core ML packages (every Core ML recipe) are exported next to the TFLite files and measured with
edgekit's NumPy reference evaluator on the first ``--coreml-samples`` test samples (Core ML's own
``predict`` runs only on macOS, so they have no latency figure).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
BUNDLE_DIR = REPO / "edgekit" / "zoo"
DOCS = REPO / "docs"
TFLITE_RECIPES = ["float32", "float16", "dynamic", "int8", "int16x8"]
# int8 is the default to deploy; float16 is the float reference at half the size (all under 5 MB).
BUNDLED_RECIPES = ["float16", "int8"]
COREML_RECIPES = ["float32", "float16", "int8", "palettize8", "palettize6", "palettize4"]
# The reference evaluator runs a program op by op in NumPy: the full test sets would take too long.
# The subset is evenly spaced over the test set, not its first samples: the keywords test set is
# sorted by label (its first 500 clips are two of twelve words), the topics one mostly so.
COREML_SAMPLES = 500
COREML_LATENCY = "n/a (Linux)"
COREML_REFUSED = "coreml_refused.json"  # in the exports folder: why recipes were refused, for --table-only


@dataclass(frozen=True)
class ZooModel:
    name: str
    module: str  # converters.zoo.<module>: train(out, seed=…), test_set(folder, card), card_options(…)
    keras_file: str
    calibration: str  # file or folder inside the work folder
    int8_target_points: float  # full-int8 accuracy may be at most this far below float32
    bundled: tuple[str, ...] = tuple(BUNDLED_RECIPES)  # the recipes copied into edgekit/zoo/


ZOO = {
    "fashion": ZooModel("fashion", "converters.zoo.fashion", "fashion.keras", "calibration.npy", 1.0),
    "keywords": ZooModel("keywords", "converters.zoo.keywords", "keywords.keras", "calibration", 1.5),
    "topics": ZooModel("topics", "converters.zoo.topics", "topics.keras", "calibration.txt", 1.0),
    # 5 MB in int8 alone: float16 (9.4 MB) would push the zoo past its 12 MB budget; the build still makes it.
    "imagenet": ZooModel("imagenet", "converters.zoo.imagenet", "imagenet.keras", "calibration", 3.0, ("int8",)),
}


def _module(entry: ZooModel):
    return importlib.import_module(entry.module)


def _card_options(entry: ZooModel, folder: Path):
    options = _module(entry).card_options
    return options(folder) if options.__code__.co_argcount else options()


def train(entry: ZooModel, folder: Path, reuse: bool) -> float:
    if reuse and (folder / entry.keras_file).exists():
        return 0.0
    start = time.perf_counter()
    # Its own process: a clean TensorFlow per model, and the wall time is the model's alone.
    subprocess.run([sys.executable, "-m", entry.module, str(folder)], check=True)
    return time.perf_counter() - start


def export_all(entry: ZooModel, folder: Path, exports: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Export every recipe; recipes the model cannot take are returned with the converter's reason."""
    from converters.recipes import RecipeConfig
    from converters.tflite import Exporter
    from edgekit.errors import RecipeError

    # A zoo module may bring its own Exporter (imagenet's int8 keeps its first blocks in float).
    exporter = getattr(_module(entry), "Exporter", Exporter)(
        str(folder / entry.keras_file),
        _card_options(entry, folder),
        calibration_path=str(folder / entry.calibration),
        show_progress=False,
    )
    paths, refused = {}, {}
    for recipe in TFLITE_RECIPES:
        try:
            exporter.check(RecipeConfig(recipe))
        except RecipeError as error:
            refused[recipe] = str(error).split(":")[0]
            (exports / f"{entry.name}_{recipe}.tflite").unlink(missing_ok=True)
            continue
        paths[recipe] = exports / f"{entry.name}_{recipe}.tflite"
        exporter.export(RecipeConfig(recipe), paths[recipe], force=True)
    return paths, refused


def _coreml_package(exports: Path, name: str, recipe: str) -> Path:
    return exports / f"{name}_{recipe}.mlpackage"


def _refusals_file(exports: Path) -> dict[str, dict[str, str]]:
    path = exports / COREML_REFUSED
    return json.loads(path.read_text()) if path.exists() else {}


def export_coreml_all(entry: ZooModel, folder: Path, exports: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Export every Core ML recipe with the project's exporter (each verified on the model's calibration
    data by the NumPy reference evaluator); a refused recipe or a failed verification is returned with
    its reason instead of stopping the build, and no package is left behind for it."""
    from converters.coreml import CoreMLExporter
    from converters.coreml.recipes import CoreMLConfig, CoreMLRecipe
    from edgekit.errors import EdgekitError, VerificationError

    paths, refused = {}, {}
    try:
        exporter = CoreMLExporter(
            str(folder / entry.keras_file),
            _card_options(entry, folder),
            verification_path=str(folder / entry.calibration),
            show_progress=False,
        )
    except Exception as error:  # the model cannot be exported at all: every recipe is refused
        refused = {recipe: f"{type(error).__name__}: {error}" for recipe in COREML_RECIPES}
        return paths, refused
    for recipe in COREML_RECIPES:
        out = _coreml_package(exports, entry.name, recipe)
        try:
            result = exporter.export(CoreMLConfig(CoreMLRecipe.parse(recipe)), out, force=False, overwrite=True)
        except VerificationError as error:
            refused[recipe] = str(error).split(" export not written: ", 1)[-1]
        except EdgekitError as error:
            refused[recipe] = str(error)
        except Exception as error:  # a converter failure must not stop the rest of the zoo
            refused[recipe] = f"{type(error).__name__}: {error}"
        else:
            paths[recipe] = out
            print(f"  coreml {recipe:<10} exported ({result.row.verdict}; {'; '.join(result.notes) or 'float'})")
            continue
        print(f"  coreml {recipe:<10} refused: {refused[recipe]}")
        shutil.rmtree(out, ignore_errors=True)
    return paths, refused


def _subset(count: int, samples: int) -> np.ndarray:
    """``samples`` indices spread evenly over a test set of ``count`` (all of it if smaller): fixed, and
    every label is represented even when the set is sorted by label."""
    return np.unique(np.linspace(0, count - 1, min(samples, count)).round().astype(int))


def measure_coreml(entry: ZooModel, folder: Path, paths: dict[str, Path], samples: int) -> list[dict]:
    """Accuracy on the first ``samples`` test samples and agreement with the Core ML float32 package,
    both from the NumPy reference evaluation of the saved package, and the package size."""
    from converters.coreml.reference import load_reference
    from edgekit.backends.coreml import package_size

    rows, float_predictions, test = [], None, None
    for recipe, path in paths.items():
        try:
            model = load_reference(path)
            if test is None:  # one preprocessing spec for every recipe of a model
                inputs, labels = _module(entry).test_set(folder, model.card)
                chosen = _subset(len(labels), samples)
                test = inputs[chosen], labels[chosen]
            inputs, labels = test
            predictions = np.array([int(np.argmax(model.run(x[None])[0])) for x in inputs])
        except Exception as error:  # e.g. an op the evaluator cannot run: a row, not a crash
            rows.append({"model": entry.name, "recipe": recipe, "refused": f"{type(error).__name__}: {error}"})
            continue
        if recipe == "float32":
            float_predictions = predictions
        rows.append(
            {
                "model": entry.name,
                "recipe": recipe,
                "size_bytes": package_size(path),
                "accuracy": float(np.mean(predictions == labels)),
                "test_samples": int(len(labels)),
                "agreement_with_float32": (
                    None if float_predictions is None else float(np.mean(predictions == float_predictions))
                ),
                "latency_p50_ms_1_thread": None,
                "latency": COREML_LATENCY,
            }
        )
    return rows


def measure(entry: ZooModel, folder: Path, paths: dict[str, Path]) -> list[dict]:
    """Accuracy on the held-out set, agreement with the float32 export, size and p50 latency at 1 thread."""
    import edgekit
    from converters.verify import latency_ms

    rows, float_predictions = [], None
    for recipe, path in paths.items():
        model = edgekit.load(path, num_threads=1)
        inputs, labels = _module(entry).test_set(folder, model.card)
        predictions = np.array([int(np.argmax(model.run(x[None])[0])) for x in inputs])
        if recipe == "float32":
            float_predictions = predictions
        sample = inputs[:1]
        rows.append(
            {
                "model": entry.name,
                "recipe": recipe,
                "size_bytes": path.stat().st_size,
                "accuracy": float(np.mean(predictions == labels)),
                "test_samples": int(len(labels)),
                "agreement_with_float32": float(np.mean(predictions == float_predictions)),
                "latency_p50_ms_1_thread": latency_ms(lambda model=model, sample=sample: model.run(sample), repeats=50),
            }
        )
    return rows


def check_targets(entry: ZooModel, rows: list[dict]) -> list[str]:
    by_recipe = {row["recipe"]: row for row in rows}
    float32, int8 = by_recipe["float32"], by_recipe["int8"]
    problems = []
    drop = (float32["accuracy"] - int8["accuracy"]) * 100
    if drop > entry.int8_target_points:
        problems.append(f"{entry.name}: int8 is {drop:.2f} points below float32 (target ≤ {entry.int8_target_points})")
    if int8["size_bytes"] > 0.30 * float32["size_bytes"]:
        problems.append(f"{entry.name}: int8 is {int8['size_bytes'] / float32['size_bytes']:.0%} of float32 (≤ 30%)")
    return problems


def _coreml_lines(coreml_rows: list[dict], samples: int) -> list[str]:
    lines = [
        "",
        "## Core ML (verified with edgekit's NumPy reference evaluator on Linux)",
        "",
        f"Every Core ML recipe of each model, exported with `converters.coreml` (default weight threshold 2048; "
        f"see [coreml.md](coreml.md)). Accuracy is on **{samples} samples** of each model's held-out "
        "test set, evenly spaced through it (fixed; not the first ones, as the keywords set is sorted by label; "
        "the reference evaluator runs each program op by op in NumPy; the full sets would take too "
        "long); agreement is top-1 agreement with the Core ML float32 package on the same samples; size is "
        "the total bytes of the `.mlpackage` folder. Core ML's `predict` runs only on macOS, so there is no "
        "latency figure. A refused recipe missed its tolerance when verified against the Keras model "
        "(on its calibration data), or could not be converted; nothing is written for it.",
        "",
        f"| model | recipe | size | accuracy ({samples} test samples) | agreement with float32 | latency |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in coreml_rows:
        if "refused" in row:
            lines.append(f"| {row['model']} | {row['recipe']} | refused: {row['refused']} | | | |")
            continue
        agreement = row["agreement_with_float32"]
        lines.append(
            f"| {row['model']} | {row['recipe']} | {row['size_bytes'] / 1e3:.1f} kB | {row['accuracy']:.2%} | "
            f"{'n/a (no float32)' if agreement is None else f'{agreement:.2%}'} | {row['latency']} |"
        )
    return lines


def publishable(text: str, work: Path | None = None) -> str:
    """``text`` without the paths of the machine that built it: the work folder becomes ``$WORK``, the
    checkout ``.``, the home folder (the caches under ~/.cache) ``~``."""
    roots = []
    if work is not None:
        roots += [(str(work.resolve()), "$WORK"), (str(work), "$WORK")]
    roots += [(str(DOCS.parent.resolve()), "."), (str(Path.home().resolve()), "~"), (str(Path.home()), "~")]
    for root, name in roots:
        if len(root) > 1:
            text = text.replace(root, name)
    return text


def write_table(
    rows: list[dict],
    training: dict[str, dict],
    coreml_rows: list[dict] | None = None,
    coreml_samples: int = 0,
    work: Path | None = None,
) -> None:
    """docs/zoo.json and docs/zoo.md, with no absolute paths of this machine in them (see :func:`publishable`)."""
    DOCS.mkdir(exist_ok=True)
    document = {"rows": rows, "training": training}
    if coreml_rows is not None:
        document |= {"coreml_rows": coreml_rows, "coreml_test_samples": coreml_samples}
    (DOCS / "zoo.json").write_text(publishable(json.dumps(document, indent=2), work) + "\n")
    lines = [
        "# Model zoo: every model in every TFLite recipe",
        "",
        "Regenerate with `python -m converters.zoo.build --table-only` (measures the existing exports) or "
        "`./dev.sh zoo` (rebuilds everything from scratch). Accuracy is on each model's held-out test set; "
        "agreement is top-1 agreement with the float32 export on the same inputs; latency is `Model.run` "
        "p50 at 1 thread on this project's CI machine (x86-64, XNNPACK).",
        "",
        "| model | recipe | size | accuracy | agreement with float32 | latency p50 (1 thread) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "refused" in row:
            lines.append(f"| {row['model']} | {row['recipe']} | refused: {row['refused']} | | | |")
            continue
        lines.append(
            f"| {row['model']} | {row['recipe']} | {row['size_bytes'] / 1e3:.1f} kB | "
            f"{row['accuracy']:.2%} | {row['agreement_with_float32']:.2%} | "
            f"{row['latency_p50_ms_1_thread']:.3f} ms |"
        )
    if coreml_rows is not None:
        lines += _coreml_lines(coreml_rows, coreml_samples)
    lines += ["", "## Training", ""]
    for name, summary in training.items():
        lines.append(f"- **{name}**: " + ", ".join(f"{k}: {v}" for k, v in summary.items()))
    (DOCS / "zoo.md").write_text(publishable("\n".join(lines), work) + "\n")


def bundle(entry: ZooModel, paths: dict[str, Path], rows: list[dict], summary: dict) -> None:
    """Copy the bundled recipes into edgekit/zoo/ with the measured accuracy inside their metadata, and a card."""
    import edgekit
    from edgekit.io import write_bytes_atomic
    from edgekit.metadata import embed_card

    BUNDLE_DIR.mkdir(exist_ok=True)
    accuracy = {row["recipe"]: row["accuracy"] for row in rows}
    for recipe in entry.bundled:
        card = edgekit.load(paths[recipe]).card
        card = card.replace(
            extra={
                **card.extra,
                "accuracy": accuracy[recipe],
                "test_samples": rows[0]["test_samples"],
                "training": summary,
            }
        )
        write_bytes_atomic(BUNDLE_DIR / f"{entry.name}_{recipe}.tflite", embed_card(paths[recipe].read_bytes(), card))
    module_doc = (_module(entry).__doc__ or "").strip()
    table = "\n".join(
        f"| {r['recipe']} | {r['size_bytes'] / 1e3:.1f} kB | {r['accuracy']:.2%} | "
        f"{r['agreement_with_float32']:.2%} | {r['latency_p50_ms_1_thread']:.3f} ms |"
        for r in rows
    )
    card = edgekit.load(BUNDLE_DIR / f"{entry.name}_int8.tflite").card
    spec = card.preprocessing
    if card.text is not None:  # the vocabulary is in the file; the card names its size, not its words
        spec = (
            f"{type(spec).__name__}({len(spec.vocabulary)}-token vocabulary, max_length={spec.max_length}, "
            f"start token {spec.start_token}, lowercase={spec.lowercase}, RE2 delimiter {spec.delimiter_pattern!r})"
        )
    labels = ", ".join(card.labels)
    if len(card.labels) > 20:  # the file holds them all; the card names how many and the first few
        labels = f"{len(card.labels)} classes in the file ({', '.join(card.labels[:5])}, …)"
    text = (
        f"# Model card: {entry.name}\n\n{module_doc}\n\n"
        f"- Task: {card.task.value}; labels: {labels}\n"
        f"- Licence: {card.license}\n- Preprocessing: {spec!r}\n"
        f"- Training command: `python -m {entry.module} OUT` (whole zoo: `./dev.sh zoo`)\n"
        f"- Training: {json.dumps(summary)}\n"
        f"- Bundled: {', '.join(f'{entry.name}_{r}.tflite' for r in entry.bundled)}\n\n"
        "| recipe | size | accuracy | agreement with float32 | latency p50 (1 thread) |\n"
        "|---|---:|---:|---:|---:|\n" + table + "\n"
    )
    (BUNDLE_DIR / f"{entry.name}.md").write_text(text)


def seed_spread(entry: ZooModel, work: Path, seeds: list[int]) -> dict[str, float]:
    """Train ``entry`` once per seed (seed 0 twice: same seed, same figure?) and return float32 accuracies."""
    results = {}
    for run, seed in enumerate([seeds[0], *seeds]):
        folder = work / f"{entry.name}_seed{seed}_run{run}"
        subprocess.run([sys.executable, "-m", entry.module, str(folder), "--seed", str(seed)], check=True)
        results[f"seed {seed} (run {run})"] = json.loads((folder / "training.json").read_text())["float32_accuracy"]
    return results


def coreml_model(entry: ZooModel, folder: Path, exports: Path, args, refusals: dict[str, dict[str, str]]) -> list[dict]:
    """Export (unless --table-only) and measure the Core ML packages of one model; ``refusals`` is updated."""
    start = time.perf_counter()
    if args.table_only:
        paths = {r: _coreml_package(exports, entry.name, r) for r in COREML_RECIPES}
        known = refusals.get(entry.name, {})
        refused = {r: known.get(r, "not exported") for r, p in paths.items() if not p.exists()}
        paths = {r: p for r, p in paths.items() if p.exists()}
    else:
        paths, refused = export_coreml_all(entry, folder, exports)
        refusals[entry.name] = refused
    measured = measure_coreml(entry, folder, paths, args.coreml_samples)
    for row in measured:
        if "refused" in row:
            print(f"  coreml {row['recipe']:<10} not measured: {row['refused']}")
            continue
        agreement = row["agreement_with_float32"]
        print(
            f"  coreml {row['recipe']:<10} {row['size_bytes'] / 1e3:8.1f} kB  accuracy {row['accuracy']:.2%}  "
            f"agreement {'n/a' if agreement is None else f'{agreement:.2%}'}  ({row['test_samples']} samples)"
        )
    print(f"  coreml: {time.perf_counter() - start:.0f} s")
    by_recipe = {row["recipe"]: row for row in measured}
    by_recipe |= {r: {"model": entry.name, "recipe": r, "refused": why} for r, why in refused.items()}
    return [by_recipe[r] for r in COREML_RECIPES if r in by_recipe]


def _keep_other_models(
    names: list[str], rows: list[dict], training: dict, coreml_rows: list[dict] | None
) -> tuple[list[dict], dict, list[dict] | None]:
    """The table's rows of the models not built this time, kept from docs/zoo.json (``--models`` rebuilds
    some, not the whole table), in the zoo's order. With ``--no-coreml`` every Core ML row is kept as
    last measured (the Core ML packages do not depend on the TFLite recipes' options)."""
    path = DOCS / "zoo.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    order = {name: index for index, name in enumerate(ZOO)}

    def merged(new: list[dict], previous: list[dict]) -> list[dict]:
        kept = [row for row in previous if row["model"] not in names]
        return sorted(kept + new, key=lambda row: order.get(row["model"], len(order)))  # stable: recipe order kept

    rows = _without_machine_paths(merged(rows, old.get("rows", [])))
    training = {name: training.get(name) or old.get("training", {}).get(name) for name in ZOO}
    training = {name: summary for name, summary in training.items() if summary}
    if coreml_rows is None and "coreml_rows" in old:
        print("Core ML rows kept from the last build that measured them (--no-coreml)")
        coreml_rows = old["coreml_rows"]
    elif coreml_rows is not None:
        coreml_rows = merged(coreml_rows, old.get("coreml_rows", []))
    return rows, training, None if coreml_rows is None else _without_machine_paths(coreml_rows)


def _without_machine_paths(rows: list[dict]) -> list[dict]:
    """Refusal reasons name the data they were verified on; keep the path from the model's folder on
    ("keywords/calibration"), not this machine's work folder."""
    models = "|".join(map(re.escape, ZOO))
    pattern = re.compile(rf"(?:/[^\s/()]+)+/(?=(?:{models})/)")
    return [{**row, "refused": pattern.sub("", row["refused"])} if "refused" in row else row for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=REPO / "out" / "zoo")
    parser.add_argument("--models", default=",".join(ZOO))
    parser.add_argument("--reuse", action="store_true", help="keep trained Keras models found in --work")
    parser.add_argument("--table-only", action="store_true", help="measure existing exports; no training/export")
    parser.add_argument(
        "--coreml", action=argparse.BooleanOptionalAction, default=True, help="also export/measure Core ML"
    )
    parser.add_argument("--coreml-samples", type=int, default=COREML_SAMPLES, help="test samples for Core ML rows")
    parser.add_argument("--spread", metavar="MODEL", help="only: train MODEL with seeds 0 (twice) and 1; report")
    args = parser.parse_args(argv)
    if args.spread:
        spread = seed_spread(ZOO[args.spread], args.work / "spread", [0, 1])
        for label, accuracy in spread.items():
            print(f"{args.spread} {label}: float32 accuracy {accuracy:.2%}")
        (DOCS / f"seed_spread_{args.spread}.json").write_text(json.dumps(spread, indent=2) + "\n")
        return 0
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    rows, training, problems, coreml_rows = [], {}, [], []
    coreml_refusals = _refusals_file(args.work / "exports")
    for name in names:
        entry = ZOO[name]
        folder, exports = args.work / name, args.work / "exports"
        exports.mkdir(parents=True, exist_ok=True)
        if args.table_only:
            paths = {r: exports / f"{name}_{r}.tflite" for r in TFLITE_RECIPES}
            refused = {r: "not exported" for r, p in paths.items() if not p.exists()}
            paths = {r: p for r, p in paths.items() if p.exists()}
        elif name == "keywords":  # its own exporter: int8 with a float front end (converters/zoo/keywords_bundle.py)
            seconds = train(entry, folder, args.reuse)
            print(f"{name}: trained in {seconds:.0f} s" if seconds else f"{name}: reusing the trained model")
            bundle_command = [sys.executable, "-m", "converters.zoo.keywords_bundle", str(folder), "--bundle"]
            subprocess.run(bundle_command, check=True)
            continue
        else:
            seconds = train(entry, folder, args.reuse)
            print(f"{name}: trained in {seconds:.0f} s" if seconds else f"{name}: reusing the trained model")
            paths, refused = export_all(entry, folder, exports)
        summary = json.loads((folder / "training.json").read_text())
        model_rows = measure(entry, folder, paths)
        rows += model_rows + [{"model": name, "recipe": r, "refused": why} for r, why in refused.items()]
        training[name] = summary
        problems += check_targets(entry, model_rows)
        if not args.table_only:
            bundle(entry, paths, model_rows, summary)
        for row in model_rows:
            print(
                f"  {row['recipe']:<8} {row['size_bytes'] / 1e3:8.1f} kB  accuracy {row['accuracy']:.2%}  "
                f"agreement {row['agreement_with_float32']:.2%}  p50 {row['latency_p50_ms_1_thread']:.3f} ms"
            )
        if args.coreml:
            coreml_rows += coreml_model(entry, folder, exports, args, coreml_refusals)
    if args.coreml:
        (args.work / "exports" / COREML_REFUSED).write_text(json.dumps(coreml_refusals, indent=2) + "\n")
    rows, training, coreml_rows = _keep_other_models(names, rows, training, coreml_rows if args.coreml else None)
    write_table(rows, training, coreml_rows, args.coreml_samples, work=args.work)  # the docs carry no local paths
    for problem in problems:
        print(f"target missed: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
