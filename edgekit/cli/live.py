"""`edgekit run MODEL --source SRC` and `edgekit serve MODEL --source SRC`: the live runner from the shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import InputError
from ..media import DEFAULT_SAMPLE_RATE_HZ
from .args import positive_int, size_wxh


def add_live_arguments(parser: argparse.ArgumentParser, serve: bool = False) -> None:
    """Flags shared by `run --source` and `serve`."""

    group = parser.add_argument_group("live sources")
    if serve:
        group.add_argument("--source", required=True, help="camera index, video file, image sequence, URL, mic, WAV")
    group.add_argument("--max-frames", type=positive_int, help="stop after N frames or audio blocks")
    group.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    group.add_argument("--size", type=size_wxh, metavar="WxH", help="camera capture size (e.g. 640x480)")
    group.add_argument("--fps", type=float, help="camera capture rate")
    group.add_argument("--score-threshold", type=float, default=None, help="drop results scoring below this")
    group.add_argument("--fast", action="store_true", help="read files as fast as possible (default: real time)")
    group.add_argument("--loop", action="store_true", help="loop a video file")
    group.add_argument("--device", help="microphone: index or name (same as --source mic:NAME)")
    group.add_argument(
        "--hop-ms",
        type=float,
        help="audio window models: time between windows (default: the model's; see edgekit/audio/defaults.py)",
    )
    if not serve:
        group.add_argument("--window", action="store_true", help="show the annotated video in a window")
        group.add_argument("--serve", action="store_true", help="also serve the web view (see `edgekit serve`)")
    group.add_argument("--host", default="127.0.0.1", help="web view address (127.0.0.1; 0.0.0.0 = the LAN)")
    group.add_argument("--port", type=int, default=8080, help="web view port (8080)")
    group.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="web view: another name browsers may reach it by (e.g. pi.local, a proxy); others get 403 "
        "(localhost, the bound address and, with --host 0.0.0.0, this machine's addresses always work)",
    )
    group.add_argument(
        "--log-interval",
        type=float,
        default=0.0,
        metavar="S",
        help="print at most one result line every S seconds (keywords always); for services logging to a journal",
    )
    group.add_argument(
        "--max-viewers",
        type=positive_int,
        default=200,
        metavar="N",
        help="web view: simultaneous video viewers (200); the next one gets 503",
    )


def run_live(args: argparse.Namespace, serve: bool) -> int:
    """Build task, source and sinks from the flags, run until done, print the statistics."""
    from ..auto import create_task
    from ..backends import load
    from ..live.runner import LiveRunner
    from ..live.sinks import PrintSink, WebSink, WindowSink
    from ..sources import open_source

    runner = LiveRunner(None, max_frames=args.max_frames, duration_s=args.duration)
    model = load(args.model, num_threads=args.threads)  # loaded once; the task takes it over
    hop_ms = args.hop_ms  # None: the model's hop, as in the Python API (edgekit/audio/defaults.py)
    task = create_task(
        model,
        num_threads=args.threads,
        running_mode="live_stream",
        result_callback=runner.on_result,
        max_results=args.max_results,
        score_threshold=args.score_threshold,
        hop_ms=hop_ms,
    )
    with task:
        wanted = task.input_format
        kind = wanted.kind
        if kind == "text":
            raise InputError(
                f"{os.path.basename(args.model)} is a text model; live sources are cameras and microphones",
                hint='classify text with: edgekit run MODEL --text "..." (or python -m edgekit.demos.classify_text)',
            )
        width, height = args.size if args.size else (None, None)
        source = open_source(
            args.source,
            sample_rate_hz=wanted.sample_rate_hz or DEFAULT_SAMPLE_RATE_HZ,
            width=width,
            height=height,
            fps=args.fps,
            realtime=not args.fast,
            device=args.device,
            loop=args.loop,
            model_size=_image_size(model),
        )
        if source.kind != kind:
            source.stop()
            raise InputError(
                f"{os.path.basename(args.model)} takes {kind}, but --source {args.source} gives {source.kind}",
                hint="use a camera/video source for image models and mic or a WAV file for audio models",
            )
        runner.source = source
        printer = PrintSink(json_lines=args.json, min_interval_s=args.log_interval)
        sinks: list[Any] = [printer]
        if getattr(args, "window", False):
            sinks.append(WindowSink(f"edgekit: {os.path.basename(args.model)}"))
        if serve or getattr(args, "serve", False):
            web = WebSink(args.host, args.port, task=task, allow_hosts=args.allow_host, max_viewers=args.max_viewers)
            sinks.append(web)
            print(f"web view: {web.url}", file=sys.stderr, flush=True)
        runner.sinks = sinks
        print(
            f"running {os.path.basename(args.model)} on {source.description} (Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        stats = runner.run(task).to_dict()
    if args.json:
        print(json.dumps(stats), flush=True)
    else:
        print(
            f"{stats['results']} results in {stats['elapsed_s']:.1f} s ({stats['results_per_s']:.1f}/s), "
            f"latency p50 {stats['latency_ms_p50']:.1f} ms p95 {stats['latency_ms_p95']:.1f} ms, dropped "
            f"{stats['dropped_by_task']} by the task and {stats['dropped_by_source']} by the source",
            file=sys.stderr,
        )
        if printer.shown():
            print(f"shown: {printer.shown()}", file=sys.stderr)
    return 0


def _image_size(model: Any) -> tuple[int, int] | None:
    """(width, height) of an image model's input (NHWC), None for other models."""
    shape: tuple[int, ...] = tuple(model.inputs[0].shape) if model.inputs else ()
    return (int(shape[2]), int(shape[1])) if len(shape) == 4 and shape[1] > 1 and shape[2] > 1 else None
