"""The `edgekit` command: convert, info, run, bench.

Over 400 lines: the argparse definitions of every command in one parser, so flags stay consistent; the
commands' own code is in the other cli modules.

Errors print one line (``error: …`` and ``hint: …``) and exit 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EdgekitError, InputError, InvalidModelError
from ..media import DEFAULT_SAMPLE_RATE_HZ
from .args import float_list, non_negative_int, positive_int, region_xywh, size_wxh, thread_counts

if TYPE_CHECKING:
    from ..model import Model

EPILOG = (
    "Docs: README.md. Exit status: 0 success, 1 error, 2 bad command line, 130 interrupted (Ctrl-C), "
    "143 SIGTERM, 129 SIGHUP."
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``command`` only that command's (what `edgekit run …` needs: building all nine
    commands' arguments was about a third of the CLI's own start-up time)."""
    parser = argparse.ArgumentParser(
        prog="edgekit", description="Export models to TFLite and Core ML and run them on the edge.", epilog=EPILOG
    )
    parser.add_argument("--version", action="version", version=f"edgekit {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and converter logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    adders = [PARSERS[command]] if command in PARSERS else list(dict.fromkeys(PARSERS.values()))
    for add in adders:
        add(commands)
    return parser


def _add_convert(commands) -> None:
    convert = commands.add_parser(
        "convert",
        help="export a Keras model or SavedModel (verified against it)",
        description="Export a Keras 3 model (.keras/.h5) or SavedModel folder to TFLite (labels and "
        "preprocessing embedded as TFLite Metadata) or to a Core ML .mlpackage (image input, class labels and "
        "metadata inside); verify the export against the source model "
        "on held-out inputs and print an export report. Nothing is written when verification fails "
        "(unless --force); the message names the first layer whose output diverges. With several recipes, "
        "one that is refused or fails gets its row and the others are still written. Exit status: 0 when "
        "every recipe was written, 1 when any was refused or failed (the written files are listed).",
        epilog=EPILOG,
    )
    convert.add_argument("model", help=".keras / .h5 file or SavedModel folder")
    convert.add_argument("--to", default="tflite", choices=["tflite", "coreml"], help="target format (default tflite)")
    convert.add_argument(
        "--quantize",
        default=None,
        metavar="RECIPE[,RECIPE…]",
        help="tflite: float32 (default), float16, dynamic, int8, int16x8; coreml: float16 (default), float32, "
        "int8, palettize8, palettize6, palettize4; several separated by commas, or 'all'",
    )
    convert.add_argument(
        "--calibration",
        metavar="PATH",
        help="folder of images or WAV/FLAC files, text file of lines, or .npy array (needed for "
        "int8/int16x8; part is held back for verification)",
    )
    convert.add_argument(
        "--verify-data",
        metavar="PATH",
        help="inputs to verify on (default: held-out calibration data, else random inputs)",
    )
    convert.add_argument("--labels", metavar="FILE", help="class labels, one per line")
    convert.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file (one recipe) or folder (several); default MODEL_RECIPE.tflite (.mlpackage) here",
    )
    convert.add_argument("--force", action="store_true", help="write the file even if verification fails")
    convert.add_argument("--overwrite", action="store_true", help="replace existing outputs and report.html")
    convert.add_argument(
        "--task",
        choices=["image-classifier", "object-detector", "audio-classifier", "text-classifier", "custom"],
        help="override the inferred task",
    )
    convert.add_argument("--mean", type=float_list, metavar="M[,M,M]", help="normalization mean (pixels 0..255)")
    convert.add_argument("--std", type=float_list, metavar="S[,S,S]", help="normalization std (pixels 0..255)")
    convert.add_argument("--color-order", choices=["RGB", "BGR", "GRAY"], help="channel order the model expects")
    convert.add_argument("--resize-mode", choices=["stretch", "letterbox", "center_crop"], help="image resizing")
    convert.add_argument(
        "--resampling",
        choices=["mediapipe", "area"],
        help="image resampler written into the card (default mediapipe: what MediaPipe Tasks does; area: the "
        "older area-averaging one, edgekit only)",
    )
    convert.add_argument("--size", type=size_wxh, metavar="WxH", help="image size for models that take any size")
    convert.add_argument(
        "--sample-rate", type=positive_int, metavar="HZ", help=f"audio sample rate (default {DEFAULT_SAMPLE_RATE_HZ})"
    )
    convert.add_argument("--hop", type=positive_int, metavar="SAMPLES", help="audio hop between windows")
    convert.add_argument("--vocab", metavar="FILE", help="text vocabulary, one token per line (line = id)")
    convert.add_argument("--max-length", type=positive_int, help="text: tokens per input")
    convert.add_argument(
        "--io-dtype",
        choices=["uint8", "int8", "float32"],
        help="int8 recipe: input/output type (default: float32 for audio models, as MediaPipe needs; uint8 otherwise)",
    )
    convert.add_argument(
        "--keep-grayscale",
        action="store_true",
        help="a grayscale image model keeps its 1-channel input (default: RGB input, converted to grey in the graph)",
    )
    convert.add_argument(
        "--compute-precision",
        choices=["float16", "float32"],
        help="coreml int8/palettize*: precision the weights decompress to and compute in (default float16)",
    )
    convert.add_argument(
        "--deployment-target",
        metavar="OS",
        help="coreml: oldest OS to run on, iOS15 (default; iOS16 for int8/palettize*) … iOS18, macOS12 … macOS15",
    )
    convert.add_argument(
        "--weight-threshold",
        type=non_negative_int,
        metavar="N",
        help="coreml int8/palettize*: leave weight tensors of at most N elements uncompressed (2048, "
        "coremltools' default; 0 compresses every layer)",
    )
    convert.add_argument("--calibration-samples", type=positive_int, default=300, help="at most this many (300)")
    convert.add_argument("--verification-samples", type=positive_int, default=100, help="at most this many (100)")
    convert.add_argument("--name", help="model name in the metadata")
    convert.add_argument("--description", default="", help="model description in the metadata")
    convert.add_argument("--author", default="", help="author in the metadata")
    convert.add_argument("--license", default="", help="licence in the metadata")
    convert.add_argument("--model-version", default="", help="version in the metadata")
    convert.add_argument("--json", action="store_true", help="print report rows as JSON lines")


def _add_info(commands) -> None:
    info = commands.add_parser(
        "info",
        help="inputs, outputs, operators, metadata, interpreter",
        description="Describe a model file.",
        epilog=EPILOG,
    )
    info.add_argument("model")
    info.add_argument("--json", action="store_true", help="one JSON object")


def _add_run(commands) -> None:
    run = commands.add_parser(
        "run",
        help="run a model on input files (one result each)",
        description="Run a model on image or WAV/FLAC files, .npy arrays, or --text strings, "
        "preprocessed as its metadata says.",
        epilog=EPILOG,
    )
    run.add_argument(
        "model",
        nargs="?",
        help="model file (.tflite, .mlpackage); left out, or a photo in its place: the bundled imagenet model",
    )
    run.add_argument("inputs", nargs="*", metavar="INPUT", help="image, WAV/FLAC or .npy files")
    run.add_argument("--text", action="append", default=[], help="a text input (repeatable)")
    run.add_argument(
        "--source",
        help="live source: camera index (0), video file, image sequence (img_%%04d.png), http/rtsp/tcp/udp URL, "
        "mic[:NAME], or a WAV/FLAC file; the task comes from the model's metadata",
    )
    run.add_argument("--max-results", type=positive_int, default=3, help="classes per result (3)")
    run.add_argument("--threads", type=positive_int, default=None, help="inference threads")
    run.add_argument(
        "--roi", type=region_xywh, metavar="X,Y,W,H", help="image files: classify or search only this region (pixels)"
    )
    run.add_argument(
        "--reference",
        action="store_true",
        help="run a Core ML .mlpackage with edgekit's NumPy reference evaluator (any OS; slow; for checking)",
    )
    run.add_argument("--json", action="store_true", help="one JSON object per result")
    from .live import add_live_arguments

    add_live_arguments(run)


def _add_serve(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run a model live and watch it in a browser",
        description="Run a model on a live source and serve the annotated video (MJPEG) and the results "
        "(server-sent events) on a small web page. Listens on 127.0.0.1 unless --host says otherwise "
        "(--host 0.0.0.0 makes it reachable from the LAN, e.g. a phone watching a Raspberry Pi).",
        epilog=EPILOG,
    )
    serve.add_argument("model")
    serve.add_argument("--max-results", type=positive_int, default=3, help="classes per result (3)")
    serve.add_argument("--threads", type=positive_int, default=None, help="inference threads")
    serve.add_argument("--json", action="store_true", help="also print one JSON object per result")
    from .live import add_live_arguments

    add_live_arguments(serve, serve=True)


def _add_bench(commands) -> None:
    bench = commands.add_parser(
        "bench",
        help="latency and memory at chosen thread counts",
        description="Benchmark a model: init time, warm-up, latency p50/p90/p99 over N "
        "runs per thread count, peak memory.",
        epilog=EPILOG,
    )
    bench.add_argument("model")
    bench.add_argument("--runs", type=positive_int, default=50, help="timed runs per thread count (50)")
    bench.add_argument("--warmup", type=positive_int, default=5, help="untimed runs first (5)")
    bench.add_argument("--threads", type=thread_counts, default=[1], metavar="N[,N…]", help="thread counts (1)")
    bench.add_argument("--json", action="store_true", help="one JSON object per thread count")
    bench.add_argument("--plot", metavar="FILE.png", help="write the latencies as a bar chart PNG (edgekit[plot])")


def _add_eval(commands) -> None:
    from .eval import add_eval_parser

    add_eval_parser(commands, EPILOG)


def _add_bundle_and_deploy(commands) -> None:
    from .deploy import add_commands as add_deploy_commands

    add_deploy_commands(commands, EPILOG)


def _add_train(commands) -> None:
    from .train import add_train_parser

    add_train_parser(commands, EPILOG)


# In the order of `edgekit --help`; bundle and deploy are added together.
PARSERS = {
    "convert": _add_convert,
    "info": _add_info,
    "run": _add_run,
    "serve": _add_serve,
    "bench": _add_bench,
    "eval": _add_eval,
    "bundle": _add_bundle_and_deploy,
    "deploy": _add_bundle_and_deploy,
    "train": _add_train,
}


def _command_in(argv: list[str]) -> str | None:
    """The command named on the command line, if it comes before any help or version flag."""
    for arg in argv:
        if arg in ("-h", "--help", "--version") or not arg.startswith("-"):
            return arg if arg in PARSERS else None
    return None


def _version() -> str:
    from .. import __version__

    return __version__


def _print_json(data: Any) -> None:
    print(json.dumps(data, default=str), flush=True)


# ----------------------------------------------------------------------------- commands
def _is_coreml(path: str) -> bool:
    return Path(path.rstrip("/")).suffix.lower() == ".mlpackage"


def _compat_lines(compat) -> list[str]:
    from ..compat import format_compatibility

    return ["compatibility:"] + format_compatibility(compat)


def cmd_info(args: argparse.Namespace) -> int:
    from ..backends import load
    from ..compat import check_compatibility

    if _is_coreml(args.model):  # described from its spec, without running it (works off macOS too)
        from converters.coreml.reference import REFERENCE_BACKEND  # also registers the evaluator for compat

        from ..backends.coreml import describe_package, format_description

        runs_with = "Core ML (macOS, iOS)" + (f"; here: {REFERENCE_BACKEND}" if sys.platform != "darwin" else "")
        data = describe_package(args.model).to_dict() | {"interpreter": runs_with}
        compat = check_compatibility(args.model)
        data["compatibility"] = compat.to_dict()
        _print_json(data) if args.json else print("\n".join(format_description(data) + _compat_lines(compat)))
        return 0
    try:
        model = load(args.model)
    except InvalidModelError:  # this interpreter refuses it: still say which runtimes will load it
        try:
            lines = _compat_lines(check_compatibility(args.model)) if not args.json else []
        except EdgekitError:  # unreadable too: the interpreter's error says it best
            lines = []
        print("\n".join(lines)) if lines else None
        raise
    data = model.info()
    compat = check_compatibility(args.model)
    data["compatibility"] = compat.to_dict()
    if args.json:
        _print_json(data)
        return 0
    print(f"{model.path}  ({data['size_bytes'] / 1e3:.1f} kB)")
    print(
        f"interpreter: {data['interpreter']}  (XNNPACK partitions: "
        f"{data['delegation'].get('xnnpack_partitions', 'n/a')})"
    )
    for title, specs in (("inputs", model.inputs), ("outputs", model.outputs)):
        print(f"{title}:")
        for spec in specs:
            print(f"  {spec.describe()}" + (f"  [key {spec.key}]" if spec.key != spec.name else ""))
    print("operators: " + ", ".join(f"{name} x{count}" for name, count in sorted(data["operators"].items())))
    print("\n".join(_compat_lines(compat)))
    card = model.card
    if card is None:
        print(f"metadata: none. Note: {model.metadata_note}")
        return 0
    print(
        f"metadata: task {card.task.value}, name {card.name!r}" + (f", licence {card.license}" if card.license else "")
    )
    if card.labels:
        shown = ", ".join(card.labels[:10]) + (" …" if len(card.labels) > 10 else "")
        print(f"  labels ({len(card.labels)}): {shown}")
    if card.image:
        i = card.image
        print(
            f"  image: {i.width}x{i.height} {i.color_order}, resize {i.resize_mode}{_resampling_note(i.resampling)}, "
            f"mean {list(i.mean)}, std {list(i.std)}"
        )
    if card.audio:
        a = card.audio
        print(f"  audio: {a.sample_rate_hz} Hz, window {a.window_samples}, hop {a.hop_samples}, features {a.features}")
    if card.text:
        t = card.text
        start = "<START> first, " if "<START>" in t.vocabulary else ""
        print(f"  text: {len(t.vocabulary)} tokens, max length {t.max_length}, {start}split on {t.delimiter_pattern!r}")
    for key in ("recipe", "io_dtype", "input_conversion", "interface", "source", "converter", "exported_by"):
        if card.extra.get(key):
            print(f"  {key}: {card.extra[key]}")
    return 0


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def _default_image_model(args: argparse.Namespace) -> None:
    """`edgekit run photo.jpg` or `edgekit run --source 0` with no model: the bundled ImageNet classifier."""
    from .. import zoo

    if args.model is not None and Path(args.model).suffix.lower() in IMAGE_SUFFIXES:
        args.inputs = [args.model, *args.inputs]
        args.model = None
    if args.model is None:
        if args.text:
            raise InputError("--text needs a text model", hint='edgekit run MODEL --text "..."')
        args.model = str(zoo.path("imagenet"))


def cmd_run(args: argparse.Namespace) -> int:
    from ..backends import load
    from .run_files import FileRunner, format_result

    _default_image_model(args)
    if args.source is not None:
        if args.inputs or args.text:
            raise InputError("give either --source or input files/--text, not both")
        from .live import run_live

        return run_live(args, serve=False)
    items = list(args.inputs) + list(args.text)
    if not items:
        raise InputError("no inputs given", hint='edgekit run MODEL image.jpg ... (or --text "...")')
    if args.reference:
        if not _is_coreml(args.model):
            raise InputError(
                "--reference runs Core ML packages (.mlpackage) only", hint=f"drop --reference for {args.model}"
            )
        from converters.coreml.reference import load_reference

        model: Model = load_reference(args.model)
    else:
        model = load(args.model, num_threads=args.threads)
    if args.text and not (model.card and model.card.text):
        raise InputError(
            f"--text needs a text model; {Path(args.model).name} is not one",
            hint="give this model image, WAV/FLAC or .npy files (edgekit info MODEL shows what it takes)",
        )
    runner = FileRunner(model, args.max_results, region_of_interest=args.roi)
    failures = 0
    texts = len(args.inputs)  # items from this index on came with --text
    for number, item in enumerate(items):
        try:
            result = runner.run(item, text=number >= texts)
        except Exception as exc:  # one bad input is one error line; the batch goes on (exit 1 at the end)
            failures += 1
            if isinstance(exc, EdgekitError):
                message, hint = str(exc), exc.hint
            else:  # a bug in edgekit, said so plainly; the other inputs still run
                if args.debug:
                    traceback.print_exc()
                message, hint = f"internal error ({type(exc).__name__}: {exc}); rerun with --debug and report it", ""
            result = {"input": item, "error": message, "hint": hint}
            if not args.json:
                print(f"error: {item}: {message}" + (f"\nhint: {hint}" if hint else ""), file=sys.stderr, flush=True)
                continue
        if args.json:
            _print_json(result)
        else:
            print(format_result(result), flush=True)
    return 1 if failures else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .live import run_live

    return run_live(args, serve=True)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..backends import load
    from ..bench import benchmark, format_bench

    if args.plot:  # every reason the plot cannot be written is found before timing anything
        from ..io import check_output_path
        from .eval import plot_or_warn

        if Path(args.plot).suffix.lower() != ".png":
            raise InputError(f"--plot writes a PNG, got {args.plot!r}", hint="give a FILE.png")
        check_output_path(args.plot)
        args.plot = plot_or_warn(args.plot)  # without matplotlib: one warning line, the timings as usual
    load(args.model)  # fail fast with a clear message before timing anything
    rows = []
    for threads in args.threads:
        rows.append(benchmark(args.model, threads, runs=args.runs, warmup=args.warmup))
        _print_json(rows[-1]) if args.json else print(format_bench(rows[-1]), flush=True)
    if args.plot:
        from ..bench import plot_bench

        plot_bench(rows, args.plot)
        print(f"latency plot -> {args.plot}", file=sys.stderr if args.json else sys.stdout, flush=True)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert

    return convert(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from .eval import cmd_eval as run_eval

    return run_eval(args)


def cmd_train(args: argparse.Namespace) -> int:
    from .train import cmd_train as train

    return train(args)


def cmd_bundle(args: argparse.Namespace) -> int:
    from .deploy import cmd_bundle as bundle

    return bundle(args)


def cmd_deploy(args: argparse.Namespace) -> int:
    from .deploy import cmd_deploy as deploy

    return deploy(args)


COMMANDS = {
    "eval": cmd_eval,
    "convert": cmd_convert,
    "info": cmd_info,
    "run": cmd_run,
    "bench": cmd_bench,
    "serve": cmd_serve,
    "bundle": cmd_bundle,
    "deploy": cmd_deploy,
    "train": cmd_train,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    warnings.simplefilter("ignore") if not args.debug else None
    from .signals import Stopped, stop_on_signals

    try:
        with stop_on_signals():  # SIGTERM/SIGHUP clean up as Ctrl-C does (no .part left), exit 143/129
            return COMMANDS[args.command](args)
    except Stopped as stop:
        writes = args.command in ("convert", "bundle") or getattr(args, "plot", None)
        outputs = " (finished outputs kept, unfinished ones removed)" if writes else ""
        print(f"stopped by {stop.name}: edgekit {args.command} ended early{outputs}", file=sys.stderr)
        return stop.exit_code
    except EdgekitError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `edgekit … | head`: the reader left, which is not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Exception as exc:  # a bug in edgekit: say so plainly, one line unless --debug
        if args.debug:
            traceback.print_exc()
        print(f"error: internal error ({type(exc).__name__}: {exc}); rerun with --debug and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


def _resampling_note(resampling: str) -> str:
    """Nothing for MediaPipe's resampler (the default); the other one is named, never silent."""
    return "" if resampling == "mediapipe" else f" ({resampling} resampling, edgekit only)"
