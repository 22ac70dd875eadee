"""`edgekit convert`: flags → converters (imported only here, so the runtime never needs TensorFlow)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, RecipeError, install_hint


def _recipes(text: str | None, target: str = "tflite") -> list[str]:
    recipe_type: Any  # the target's recipe enum (each has .parse and .value)
    if target == "coreml":
        from converters.coreml.recipes import CoreMLRecipe

        recipe_type = CoreMLRecipe
    else:
        from converters.recipes import Recipe

        recipe_type = Recipe
    text = text or ("float16" if target == "coreml" else "float32")
    all_names = [r.value for r in recipe_type]
    names = all_names if text.strip().lower() == "all" else [t for t in text.split(",") if t.strip()]
    return [recipe_type.parse(name).value for name in names]


def _outputs(args: argparse.Namespace, recipes: list[str], suffix: str = ".tflite") -> list[Path]:
    stem = Path(args.model.rstrip("/")).stem
    if args.output is None:
        return [Path(f"{stem}_{recipe}{suffix}") for recipe in recipes]
    out = Path(args.output)
    # An existing .mlpackage is a folder too, but it is the output, not a folder to write into.
    names_package = suffix == ".mlpackage" and out.suffix.lower() == ".mlpackage"
    if len(recipes) == 1 and (not out.is_dir() or names_package):
        return [out]
    if not out.is_dir() or names_package:
        raise RecipeError(
            f"several recipes need -o to be an existing folder, got {str(out)!r}",
            hint=f"mkdir -p {out}, or convert one recipe at a time",
        )
    return [out / f"{stem}_{recipe}{suffix}" for recipe in recipes]


def _check_report_path(outputs: list[Path], overwrite: bool) -> None:
    """report.html follows the outputs' rule: an existing one is replaced only with --overwrite (checked before any
    work). One that exists but cannot be replaced (a folder of that name, an immutable file) is not refused here:
    writing it fails after the export and costs one warning line (see _write_html_report)."""
    from ..errors import OutputPathError

    report = Path(outputs[0]).parent / "report.html"
    if (report.exists() or report.is_symlink()) and not report.is_dir() and not overwrite:
        raise OutputPathError(
            f"{str(report)!r} already exists (the report of an earlier export)",
            hint="pass --overwrite to replace it, or export into another folder",
        )


def _card_options(args: argparse.Namespace):
    from converters.tflite import CardOptions, read_labels

    vocabulary = None
    if args.vocab:
        from ..io import read_text_lines

        vocabulary = read_text_lines(args.vocab, "vocabulary file", hint="give a text file with one token per line")
    return CardOptions(
        task=args.task,
        labels=read_labels(args.labels) if args.labels else None,
        mean=args.mean,
        std=args.std,
        color_order=args.color_order,
        resize_mode=args.resize_mode,
        resampling=getattr(args, "resampling", None),
        image_size=args.size,
        sample_rate_hz=args.sample_rate,
        hop_samples=args.hop,
        vocabulary=vocabulary,
        max_length=args.max_length,
        keep_grayscale=getattr(args, "keep_grayscale", False),
        name=args.name or Path(args.model.rstrip("/")).stem,
        description=args.description,
        author=args.author,
        license=args.license,
        version=args.model_version,
    )


def _print_row(row, output: Path, show: bool, refused: Exception | None = None) -> None:
    from converters.verify import format_row

    from ..compat import check_compatibility, format_compatibility

    compat = check_compatibility(output) if refused is None and output.exists() else None
    if not show:
        print(json.dumps(row.to_dict() | ({"compatibility": compat.to_dict()} if compat else {})), flush=True)
    elif refused is not None:
        if row.verdict.startswith("FAILED"):  # the reason follows on its own line
            row = dataclasses.replace(row, verdict="FAILED")
        print(format_row(row), flush=True)
        hint = getattr(refused, "hint", "")
        print(f"  not written: {refused}" + (f"\n  hint: {hint}" if hint else ""), flush=True)
    else:
        print(format_row(row) + f"  -> {output}", flush=True)
        if compat is not None:
            print("\n".join(format_compatibility(compat, indent="    ", compact=True)), flush=True)


def _export_each(
    exporter, configs, outputs, args, show: bool, what: str, row_notes: bool = False, header: str = ""
) -> int:
    """Export every recipe, then print the report card: ``header`` and a row each, in one piece (the progress
    lines of the conversions come before it, not between its rows). A refused or failed recipe leaves no file
    and never stops the others; the exit status is 1 if any recipe was not written (one error at the end)."""
    from converters.batch import export_each

    outcomes: list = []
    batch = export_each(
        exporter, configs, outputs, force=args.force, overwrite=args.overwrite, on_outcome=outcomes.append
    )
    if show and header:
        print(header)
    for outcome in outcomes:
        _print_row(outcome.row, outcome.output, show, outcome.error)
        if show and row_notes and outcome.result is not None:
            for note in outcome.result.notes:
                print(f"  note: {note}")
    if show:
        written = [str(o.output) for o in outcomes if o.error is None and o.output.exists()]
        if written:
            print(f"wrote {len(written)} file(s) to {Path(written[0]).parent}")
    _write_html_report(batch, exporter, outputs, args, show)
    if not batch.ok:
        raise batch.summary_error(what)
    return 0


def _write_html_report(batch, exporter, outputs, args, show: bool) -> None:
    """report.html beside the outputs; a folder that cannot take it costs one warning line, not the export."""
    import sys

    from converters.report_html import write_report

    accuracy = getattr(exporter, "accuracy", None)
    verification = getattr(exporter, "verification_set", None)  # TFLite; Core ML says verification_origin
    origin = getattr(exporter, "verification_origin", None) or getattr(verification, "origin", "")
    notes = [f"verified on {origin}"] if origin else []
    if accuracy is not None and accuracy.source_report is not None:
        notes.append(accuracy.describe_source())
    notes += [f"note: {note}" for note in exporter.notes]
    folder = Path(outputs[0]).parent
    try:
        path = write_report(
            folder,
            [outcome.row for outcome in batch.outcomes],
            title=f"edgekit export report: {Path(args.model.rstrip('/')).name}",
            notes=notes,
            reports=getattr(accuracy, "reports", None),
        )
    except OSError as exc:
        print(f"warning: report.html not written in {folder}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return
    if show:
        print(f"report: {path}", flush=True)


def _missing(what: str, exc: ImportError) -> MissingDependencyError:
    """The error for a failed import of the converters: absent (a wheel install) or without TensorFlow."""
    if exc.name == "converters":
        what = "converting needs the converters, which are in the edgekit repository and not in the wheel"
    return MissingDependencyError(f"{what} ({exc})", hint=install_hint("convert"))


def convert(args: argparse.Namespace) -> int:
    if args.to == "coreml":
        return convert_coreml(args)
    coreml_flags = {"--compute-precision": args.compute_precision, "--deployment-target": args.deployment_target}
    coreml_flags["--weight-threshold"] = args.weight_threshold
    given = [flag for flag, value in coreml_flags.items() if value is not None]
    if given:
        raise RecipeError(f"{', '.join(given)} apply only to Core ML exports", hint="add --to coreml, or drop them")
    try:
        from converters.recipes import Recipe, RecipeConfig
        from converters.tflite import Exporter
        from converters.verify import HEADER
    except ImportError as exc:
        raise _missing("converting needs TensorFlow", exc) from exc
    from ..io import check_output_path

    recipes = _recipes(args.quantize)
    configs = [
        RecipeConfig(
            Recipe.parse(r),
            io_dtype=args.io_dtype if r == "int8" else None,
            calibration_samples=args.calibration_samples,
            verification_samples=args.verification_samples,
        )
        for r in recipes
    ]
    if args.io_dtype and "int8" not in recipes:
        RecipeConfig(Recipe.parse(recipes[0]), io_dtype=args.io_dtype)  # raises the explanation
    outputs = _outputs(args, recipes)
    for output in outputs:  # every path is checked before any conversion starts
        check_output_path(output, overwrite=args.overwrite)
    _check_report_path(outputs, args.overwrite)
    if args.verify_data and not Path(args.verify_data).exists():
        from ..errors import CalibrationError

        raise CalibrationError(f"verification data not found: {args.verify_data}")
    options = _card_options(args)
    show = not args.json
    exporter = Exporter(
        args.model,
        options,
        args.calibration,
        args.verify_data,
        args.calibration_samples,
        args.verification_samples,
        show_progress=show,
    )
    for config in configs:
        exporter.check(config)
    exporter.prepare_data()
    for note in exporter.notes:
        print(f"note: {note}") if show else None
    if show:
        assert exporter.verification_set is not None  # prepare_data() made it
        print(f"verifying on {exporter.verification_set.origin}")
        if exporter.accuracy and exporter.accuracy.source_report:
            print(exporter.accuracy.describe_source())
    return _export_each(exporter, configs, outputs, args, show, what="export(s)", header=HEADER)


def convert_coreml(args: argparse.Namespace) -> int:
    """`edgekit convert --to coreml`: every recipe and path is checked before the first conversion."""
    if args.io_dtype:
        raise RecipeError("--io-dtype applies only to TFLite int8 exports", hint="drop it for --to coreml")
    try:
        from converters.coreml import CoreMLExporter, check_package_path
        from converters.coreml.recipes import CoreMLConfig, CoreMLRecipe
        from converters.verify import HEADER
    except ImportError as exc:
        raise _missing("Core ML export needs TensorFlow and coremltools", exc) from exc
    recipes = _recipes(args.quantize, "coreml")
    configs = []
    for name in recipes:
        compressed = CoreMLRecipe.parse(name).compression is not None
        configs.append(
            CoreMLConfig(
                CoreMLRecipe.parse(name),
                compute_precision=args.compute_precision if compressed else None,
                deployment_target=args.deployment_target,
                weight_threshold=args.weight_threshold if compressed else None,
                verification_samples=args.verification_samples,
            )
        )
    if not any(CoreMLRecipe.parse(name).compression for name in recipes):
        # The flags were not passed to any recipe: let the first explain why they do not apply.
        CoreMLConfig(
            CoreMLRecipe.parse(recipes[0]),
            compute_precision=args.compute_precision,
            weight_threshold=args.weight_threshold,
        )
    outputs = _outputs(args, recipes, ".mlpackage")
    for output in outputs:
        check_package_path(output, overwrite=args.overwrite)
    _check_report_path(outputs, args.overwrite)
    data = args.verify_data or args.calibration
    if data and not Path(data).exists():
        from ..errors import CalibrationError

        raise CalibrationError(f"verification data not found: {data}")
    show = not args.json
    exporter = CoreMLExporter(args.model, _card_options(args), data, args.verification_samples, show_progress=show)
    exporter.prepare_data()
    if show:
        for note in exporter.notes:
            print(f"note: {note}")
        if args.calibration and not args.verify_data:
            print("note: Core ML recipes need no calibration; the --calibration data is used to verify")
        print(f"verifying on {exporter.verification_origin}")
        if exporter.accuracy and exporter.accuracy.source_report:
            print(exporter.accuracy.describe_source())
    return _export_each(exporter, configs, outputs, args, show, what="Core ML export(s)", row_notes=True, header=HEADER)
