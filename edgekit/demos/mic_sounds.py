"""Sound classification on the microphone (or a WAV/FLAC file): the top classes of each window, smoothed,
as a live bar chart in the terminal.

    python -m edgekit.demos.mic_sounds                              # default microphone, bundled keyword model
    python -m edgekit.demos.mic_sounds --model my_sounds.tflite --source mic:2 --smoothing 5
    python -m edgekit.demos.mic_sounds --source clip.wav --max-results 5 --serve
"""

from __future__ import annotations

import sys

from edgekit import zoo
from edgekit.audio import AudioClassifier

from ._live_demo import parser, run_live


class Bars:
    """One line per window: the top classes as bars (scores averaged over --smoothing windows)."""

    def handle(self, result, item, stats):
        for window in result.classifications:
            bars = "  ".join(f"{c.label:>10} {'#' * round(c.score * 20):<20}" for c in window.categories)
            print(f"{window.timestamp_ms / 1000:7.2f} s {bars}", flush=True)

    def close(self):
        pass


def run(args) -> int:
    def make_task(callback):
        return AudioClassifier.create_from_model_path(
            args.model,
            running_mode="live_stream",
            result_callback=callback,
            num_threads=args.threads,
            max_results=args.max_results,
            score_threshold=args.score_threshold,
            hop_ms=args.hop_ms,
            smoothing_windows=args.smoothing,
            keyword_threshold=None,  # scores only: this demo shows what it hears, not events
        )

    return run_live(args, make_task, quiet=not args.json, extra_sinks=(Bars(),) if not args.json else ())


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0], str(zoo.path("keywords")), "mic", video=False)
    p.add_argument("--hop-ms", type=float, default=250.0, help="time between windows (250 ms)")
    p.add_argument("--smoothing", type=int, default=3, help="average scores over N windows (3)")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
