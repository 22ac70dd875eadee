"""`edgekit eval MODEL DATA`: accuracy, per-class precision and recall, confusion matrix.

A .tflite needs only the runtime; a .mlpackage runs in Core ML on macOS, else in the NumPy reference
evaluator; a Keras source needs the convert extra (TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import MissingDependencyError, install_hint

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def add_eval_parser(commands, epilog: str) -> None:
    """Register the ``eval`` subcommand."""
    evaluate = commands.add_parser(
        "eval",
        help="accuracy on labelled data, through the model's own metadata",
        description="Evaluate a .tflite, a Core ML .mlpackage (reference evaluator off macOS) or a Keras source on "
        "labelled data, preprocessed as the model's metadata says (what a deployed app does): accuracy, "
        "per-class precision and recall, confusion matrix. DATA: a folder with one subfolder of images or WAV/FLAC "
        "files per class, a CSV/TSV of text,label, or NAME.npy with NAME_labels.npy.",
        epilog=epilog,
    )
    evaluate.add_argument("model", help=".tflite, .mlpackage, or .keras/.h5/SavedModel (needs the convert extra)")
    evaluate.add_argument("data", help="class subfolders, CSV/TSV of text,label, or NAME.npy + NAME_labels.npy")
    evaluate.add_argument("--labels", metavar="FILE", help="Keras sources: class names, one per line, in output order")
    evaluate.add_argument("--json", action="store_true", help="one JSON object")
    evaluate.add_argument("--plot", metavar="FILE.png", help="write the confusion matrix as a PNG (edgekit-ml[plot])")


def _open_model(args: argparse.Namespace, data):
    path = Path(args.model.rstrip("/"))
    notes: list[str] = []
    if path.suffix.lower() == ".mlpackage":
        if sys.platform == "darwin":
            from ..backends.coreml import load_coreml

            return load_coreml(path), notes
        from converters.coreml.reference import load_reference

        notes.append("Core ML runs only on Apple platforms: evaluated with edgekit's NumPy reference evaluator")
        return load_reference(path), notes
    if path.suffix.lower() in KERAS_SUFFIXES or path.is_dir():
        try:
            from converters.evaluate import keras_for_eval
            from converters.tflite import read_labels
        except ImportError as exc:
            raise MissingDependencyError(
                f"evaluating a Keras model needs TensorFlow ({exc})", hint=install_hint("convert")
            ) from exc
        labels = read_labels(args.labels) if args.labels else None
        return keras_for_eval(str(path), labels, data)
    from ..backends import load

    return load(path, num_threads=1), notes


def _more_instances(args: argparse.Namespace, model, count: int) -> list:
    """Further single-thread instances of a .tflite, one per core up to 4 (and no more than items): the items
    are shared out between them (``edgekit.eval.evaluate``), the same scores on every core."""
    if Path(args.model).suffix.lower() != ".tflite":
        return []
    from ..backends import load

    return [load(model.path, num_threads=1) for _ in range(min(4, os.cpu_count() or 1, count) - 1)]


def plot_or_warn(plot: str | None) -> str | None:
    """``--plot``'s path; None after one warning line naming the extra when matplotlib is not installed (the text
    report comes as without --plot: the picture is an extra, not what the command is run for)."""
    if not plot:
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            f"warning: --plot needs matplotlib, which is not installed: {plot} is not written "
            f"({install_hint('plot')} adds it)",
            file=sys.stderr,
            flush=True,
        )
        return None
    return plot


def cmd_eval(args: argparse.Namespace) -> int:
    """Read the data, evaluate, print (and plot); nothing is written unless everything succeeded."""
    from ..eval import evaluate, format_report, plot_confusion
    from ..io import check_output_path
    from ..labelled import read_labelled

    if args.plot:
        check_output_path(args.plot)
        if Path(args.plot).suffix.lower() != ".png":
            from ..errors import InputError

            raise InputError(f"--plot writes a PNG, got {args.plot!r}", hint="give a FILE.png")
        args.plot = plot_or_warn(args.plot)
    if args.labels and Path(args.model.rstrip("/")).suffix.lower() in (".tflite", ".mlpackage"):
        from ..errors import InputError

        raise InputError("--labels is for Keras sources; a .tflite or .mlpackage carries its own labels")
    data = read_labelled(args.data)
    model, notes = _open_model(args, data)
    more: list = []
    try:
        more = _more_instances(args, model, len(data))
        report = evaluate(model, data, more_models=more)
    finally:
        for instance in (model, *more):
            instance.close()
    if args.plot:
        plot_confusion(report, args.plot)
    if args.json:
        print(json.dumps(report.to_dict() | {"notes": notes} | ({"plot": args.plot} if args.plot else {})))
        return 0
    for note in notes:
        print(f"note: {note}")
    print("\n".join(format_report(report)))
    if args.plot:
        print(f"confusion matrix plot -> {args.plot}")
    return 0
