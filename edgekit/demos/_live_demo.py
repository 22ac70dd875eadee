"""What the live demos share: the flags a user needs, and the loop source → task → window/web/stdout.

Each demo makes its own task (that is the part worth reading); this module opens the source, picks the
view (a window when a display exists and --headless is not given; `--serve` for a browser) and runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import edgekit
from edgekit.live import LiveRunner
from edgekit.live.sinks import PrintSink, WebSink, WindowSink
from edgekit.media import DEFAULT_SAMPLE_RATE_HZ
from edgekit.sources import open_source


def size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 640x480, got {text!r}") from None
    return width, height


def parser(description: str, model: str, source: str, video: bool = True) -> argparse.ArgumentParser:
    """The common flags; ``model`` and ``source`` are the defaults (a bundled model, camera 0 or mic)."""
    # `python -m edgekit.demos.NAME` (or demos/NAME.py in a checkout) in the usage line, not NAME.py
    p = argparse.ArgumentParser(prog=f"python -m edgekit.demos.{Path(sys.argv[0]).stem}", description=description)
    p.add_argument("--model", default=model, help=f"model file (default: bundled {os.path.basename(model)})")
    p.add_argument("--source", default=source, help=f"camera index, video file, URL, mic[:NAME] or WAV ({source})")
    p.add_argument("--threads", type=int, default=2, help="inference threads (2)")
    p.add_argument("--max-results", type=int, default=3, help="results to show (3)")
    p.add_argument("--score-threshold", type=float, default=0.0, help="hide results scoring below this")
    if video:
        p.add_argument("--size", type=size, default=(640, 480), metavar="WxH", help="camera size (640x480)")
    p.add_argument("--headless", action="store_true", help="no window: print results only")
    p.add_argument("--serve", action="store_true", help="also serve the web view on --port")
    p.add_argument("--port", type=int, default=8080, help="web view port (8080, on 127.0.0.1)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames/blocks")
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    return p


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_live(
    args: argparse.Namespace,
    make_task: Callable[[Callable[..., None]], Any],
    sample_rate_hz: int | None = None,
    extra_sinks: tuple = (),
    quiet: bool = False,
) -> int:
    """Open ``args.source``, create the task with the runner's callback, and run until done.

    Args:
        sample_rate_hz: audio: the rate blocks are delivered at (None: the model's, from its metadata).
        extra_sinks: the demo's own result handlers, after the standard ones.
        quiet: no standard per-result printing (the demo prints its own).

    Returns:
        The process exit status (0 ok, 1 a clear error was printed).
    """
    width, height = getattr(args, "size", (None, None))
    try:
        runner = LiveRunner(None, max_frames=args.max_frames, duration_s=args.duration)
        with make_task(runner.on_result) as task:
            rate = sample_rate_hz or task.input_format.sample_rate_hz or DEFAULT_SAMPLE_RATE_HZ
            runner.source = open_source(args.source, sample_rate_hz=rate, width=width, height=height, realtime=True)
            printer = PrintSink(json_lines=args.json)
            sinks: list[Any] = ([] if quiet else [printer]) + list(extra_sinks)
            if not args.headless and runner.source.kind == "video":
                if has_display():
                    sinks.append(WindowSink(os.path.basename(args.model)))
                else:
                    print("no display: printing results (use --serve to watch in a browser)", file=sys.stderr)
            if args.serve:
                web = WebSink("127.0.0.1", args.port, task=task)
                sinks.append(web)
                print(f"web view: {web.url}", file=sys.stderr)
            runner.sinks = sinks
            stats = runner.run(task).to_dict()
    except edgekit.EdgekitError as error:
        print(f"error: {error}" + (f"\nhint: {error.hint}" if error.hint else ""), file=sys.stderr)
        return 1
    print(
        f"{stats['results']} results, {stats['results_per_s']:.1f}/s, latency p50 {stats['latency_ms_p50']:.1f} ms "
        f"p95 {stats['latency_ms_p95']:.1f} ms, dropped {stats['dropped_by_task']}",
        file=sys.stderr,
    )
    if not quiet and printer.shown():
        print(f"shown: {printer.shown()}", file=sys.stderr)
    return 0
