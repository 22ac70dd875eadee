"""Keyword spotting on the microphone (or a WAV/FLAC file): prints each keyword once, with its time.

    python -m edgekit.demos.mic_keywords                          # default microphone, bundled keyword spotter
    python -m edgekit.demos.mic_keywords --source mic:USB --threshold 0.8
    python -m edgekit.demos.mic_keywords --source speech.wav      # a file, paced in real time
    python -m edgekit.demos.mic_keywords --model alexa.tflite     # microWakeWord streaming models work too

The microphone is opened at its native rate and resampled to the model's; one utterance gives one
detection (a score threshold plus a refractory period).
"""

from __future__ import annotations

import sys

from edgekit import zoo
from edgekit.audio import AudioClassifier, defaults

from ._live_demo import parser, run_live


class KeywordPrinter:
    """Prints only the detections (the per-window scores scroll by too fast to read)."""

    def handle(self, result, item, stats):
        for keyword in result.keywords:
            print(f"heard {keyword.label!r} ({keyword.score:.2f}) at {keyword.timestamp_ms / 1000:.2f} s", flush=True)

    def close(self):
        pass


def run(args) -> int:
    hop_ms = args.hop_ms  # None: the model's own hop (edgekit/audio/defaults.py), as the CLI and the API

    def make_task(callback):
        return AudioClassifier.create_from_model_path(
            args.model,
            running_mode="live_stream",
            result_callback=callback,
            num_threads=args.threads,
            hop_ms=hop_ms,
            keyword_threshold=args.threshold,
            refractory_ms=args.refractory_ms,
        )

    args.headless, args.json = True, False
    return run_live(args, make_task, quiet=True, extra_sinks=(KeywordPrinter(),))


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0], str(zoo.path("keywords")), "mic", video=False)
    p.add_argument("--threshold", default="auto", help="keyword score threshold (auto: the model's)")
    p.add_argument("--hop-ms", type=float, default=None, help="time between windows (default: the model's)")
    p.add_argument(
        "--refractory-ms",
        type=float,
        default=defaults.KEYWORD_REFRACTORY_MS,
        help=f"quiet time after a detection ({defaults.KEYWORD_REFRACTORY_MS:.0f})",
    )
    args = p.parse_args(argv)
    if args.threshold != "auto":
        args.threshold = float(args.threshold)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
