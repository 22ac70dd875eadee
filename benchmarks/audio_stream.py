"""Real-time factor of AudioClassifier streams: processing time / audio time (below 1: keeps up).

Streams 60 s of real read speech (Debian's pocketsphinx-testdata, looped) through
``classify_for_stream`` in blocks, 1 interpreter thread, for each bundled audio model (the zoo
keyword spotter, float16 and int8, at its own hop and at 100 ms) and each microWakeWord model, at
16 kHz and from 44.1 kHz (resampled in the stream). Prints a table; target for the keyword spotter at
its default hop: RTF <= 0.05.

    python -m benchmarks.audio_stream [--seconds 60] [--block-ms 100] [--repeats 3] [--models DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SPEECH = Path("/usr/share/pocketsphinx/test/data")


def speech(seconds: float) -> np.ndarray:
    """``seconds`` of 16 kHz read speech (the pocketsphinx test files end to end, looped); noise if absent."""
    parts = []
    for path in sorted(SPEECH.rglob("*.wav")) + sorted(SPEECH.rglob("*.raw")):
        data = path.read_bytes()[44:] if path.suffix == ".wav" else path.read_bytes()
        parts.append(np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / 32768.0)
    if not parts:
        print("pocketsphinx-testdata not installed: using noise", file=sys.stderr)
        parts = [np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.05]
    audio = np.concatenate(parts)
    return np.resize(audio, int(seconds * 16000))


def stream_seconds(task, audio: np.ndarray, rate_hz: int, block_ms: float) -> float:
    """Wall time to push ``audio`` through the task in blocks (VIDEO mode)."""
    block = int(rate_hz * block_ms / 1000)
    started = time.perf_counter()
    for start in range(0, audio.size, block):
        task.classify_for_stream(audio[start : start + block], rate_hz, start * 1000.0 / rate_hz)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--block-ms", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3, help="best of N (machine noise only adds time)")
    parser.add_argument("--models", type=Path, default=None, help="folder of microWakeWord models (default: fetch)")
    args = parser.parse_args()

    import edgekit.zoo
    from edgekit.audio import AudioClassifier
    from tests.interop.fetch_models import default_cache, fetch

    wake_folder = args.models or fetch(default_cache())
    audio_16k = speech(args.seconds)
    from scipy.signal import resample_poly

    audio_44k = resample_poly(audio_16k, 441, 160).astype(np.float32)
    cases = []
    for recipe in ("float16", "int8"):
        path = edgekit.zoo.path("keywords", recipe)
        cases.append((f"keywords {recipe}", path, {}))
        cases.append((f"keywords {recipe}", path, {"hop_ms": 100.0}))
    for name in ("alexa", "okay_nabu", "hey_jarvis", "hey_mycroft"):
        cases.append((f"microWakeWord {name}", wake_folder / f"{name}.tflite", {}))

    print(f"{args.seconds:.0f} s of read speech in {args.block_ms:.0f} ms blocks, 1 thread, best of {args.repeats}")
    print(f"{'model':28} {'hop':>7} {'windows/s':>9} {'RTF 16 kHz':>11} {'RTF 44.1 kHz':>13} {'detections':>10}")
    for label, path, options in cases:
        row = {}
        for rate_hz, audio in ((16000, audio_16k), (44100, audio_44k)):
            best = np.inf
            for _ in range(args.repeats):
                with AudioClassifier.create_from_model_path(
                    path, running_mode="video", num_threads=1, **options
                ) as task:
                    best = min(best, stream_seconds(task, audio, rate_hz, args.block_ms))
                    hop_ms = task.hop_ms
            row[rate_hz] = best / args.seconds
        with AudioClassifier.create_from_model_path(path, **options) as task:
            detections = len(task.classify(audio_16k, 16000).keywords)
        print(f"{label:28} {hop_ms:5.0f}ms {1000 / hop_ms:9.1f} {row[16000]:11.4f} {row[44100]:13.4f} {detections:10d}")


if __name__ == "__main__":
    main()
