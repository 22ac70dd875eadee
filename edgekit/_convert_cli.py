"""`edgekit convert`: flags → converters (imported only here, so the runtime never needs TensorFlow)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .errors import MissingDependencyError, RecipeError, UnsupportedModelError, VerificationError


def _recipes(text: str) -> list[str]:
    from converters.recipes import Recipe

    names = [r.value for r in Recipe] if text.strip().lower() == "all" else [t for t in text.split(",") if t.strip()]
    return [Recipe.parse(name).value for name in names]


def _outputs(args: argparse.Namespace, recipes: list[str]) -> list[Path]:
    stem = Path(args.model.rstrip("/")).stem
    if args.output is None:
        return [Path(f"{stem}_{recipe}.tflite") for recipe in recipes]
    out = Path(args.output)
    if len(recipes) == 1 and not out.is_dir():
        return [out]
    if not out.is_dir():
        raise RecipeError(
            f"several recipes need -o to be an existing folder, got {str(out)!r}",
            hint=f"mkdir -p {out}, or convert one recipe at a time",
        )
    return [out / f"{stem}_{recipe}.tflite" for recipe in recipes]


def convert(args: argparse.Namespace) -> int:
    if args.to == "coreml":
        raise UnsupportedModelError(
            "Core ML export (--to coreml) is not available in this version of edgekit",
            hint="export TFLite with --to tflite",
        )
    try:
        from converters.recipes import RecipeConfig
        from converters.tflite import CardOptions, Exporter, read_labels
        from converters.verify import HEADER, format_row
    except ImportError as exc:
        raise MissingDependencyError(
            f"converting needs TensorFlow ({exc})", hint='pip install "edgekit[convert]"'
        ) from exc
    from ._files import check_output_path

    recipes = _recipes(args.quantize)
    configs = [
        RecipeConfig(
            r,
            io_dtype=args.io_dtype if r == "int8" else None,
            calibration_samples=args.calibration_samples,
            verification_samples=args.verification_samples,
        )
        for r in recipes
    ]
    if args.io_dtype and "int8" not in recipes:
        RecipeConfig(recipes[0], io_dtype=args.io_dtype)  # raises the explanation
    outputs = _outputs(args, recipes)
    for output in outputs:  # every path is checked before any conversion starts
        check_output_path(output, overwrite=args.overwrite)
    if args.verify_data and not Path(args.verify_data).exists():
        from .errors import CalibrationError

        raise CalibrationError(f"verification data not found: {args.verify_data}")
    vocabulary = None
    if args.vocab:
        vocab_path = Path(args.vocab)
        if not vocab_path.is_file():
            from .errors import MetadataError

            raise MetadataError(f"vocabulary file not found: {vocab_path}")
        vocabulary = [line.rstrip("\n") for line in vocab_path.read_text("utf-8").splitlines()]
    options = CardOptions(
        task=args.task,
        labels=read_labels(args.labels) if args.labels else None,
        mean=args.mean,
        std=args.std,
        color_order=args.color_order,
        resize_mode=args.resize_mode,
        image_size=args.size,
        sample_rate_hz=args.sample_rate,
        hop_samples=args.hop,
        vocabulary=vocabulary,
        max_length=args.max_length,
        name=args.name or Path(args.model.rstrip("/")).stem,
        description=args.description,
        author=args.author,
        license=args.license,
        version=args.model_version,
    )
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
        print(f"verifying on {exporter.verification_set.origin}")
        print(HEADER)
    refused = 0
    for config, output in zip(configs, outputs):
        try:
            result = exporter.export(config, output, force=args.force, overwrite=args.overwrite)
            row = result.row
        except VerificationError as exc:
            refused += 1
            if exc.row is None:
                raise
            row = exc.row
            if show:
                print(format_row(row), flush=True)
                print(f"  not written: {exc}\n  hint: {exc.hint}", flush=True)
            else:
                print(json.dumps(row.to_dict()), flush=True)
            continue
        print(format_row(row) + f"  -> {output}", flush=True) if show else print(json.dumps(row.to_dict()), flush=True)
    if refused:
        raise VerificationError(
            f"{refused} of {len(configs)} export(s) failed verification and were not written",
            hint="see the report above; --force writes them anyway",
        )
    return 0
