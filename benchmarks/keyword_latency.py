"""Keyword spotting on a live microphone: the time from the end of a spoken keyword to its detection.

Speech from held-out espeak-ng voices is played into the PulseAudio virtual microphone (started here, in
its own runtime folder, and stopped after) and heard by `edgekit run MODEL --source mic:vmic --json`, the
real CLI in its own process. Target: p95 <= 300 ms for the zoo keyword spotter.

    python -m benchmarks.keyword_latency [--model PATH] [--voices 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgekit import zoo
from tests.support.audio_fixtures import Voice, assemble
from tests.support.live_fixtures import virtual_microphone
from tests.support.live_keywords import spot_live

KEYWORDS = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}
SPOKEN = [0.8, "yes", 1.0, "table", 1.0, "stop", 1.0, "left", 1.0, "hello", 1.0, "go", 1.0, "no", 1.0, "on", 1.2]
VOICES = [("en-us", "m3"), ("en-gb-x-rp", "klatt2"), ("en-gb-scotland", "m3"), ("en", "f2")]  # held out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=zoo.path("keywords", "int8"))
    parser.add_argument("--voices", type=int, default=len(VOICES))
    args = parser.parse_args()
    latencies, spoken, found, extra = [], 0, 0, 0
    with virtual_microphone() as mic, tempfile.TemporaryDirectory() as folder:
        for accent, variant in VOICES[: args.voices]:
            clip = assemble(SPOKEN, Voice("espeak-ng", accent, variant), Path(folder))
            heard, stats = spot_live(mic, args.model, clip, Path(folder) / "clip.wav", KEYWORDS)
            words = [w.text for w in clip.words if w.text in KEYWORDS]
            spoken += len(words)
            matched = [h for h in heard if np.isfinite(h.latency_ms)]
            found += len(matched)
            extra += len(heard) - len(matched)
            latencies += [h.latency_ms for h in matched]
            shown = ", ".join(f"{h.label} {h.latency_ms:.0f} ms" for h in heard)
            print(f"{accent}/{variant}: spoke {words}; heard {shown}; overflows {stats['source'].get('overflows')}")
    values = np.array(latencies)
    print(
        f"\n{args.model.name}: {found}/{spoken} keywords heard, {extra} detections matching no spoken keyword; "
        f"end of word → detection p50 {np.percentile(values, 50):.0f} ms, p95 {np.percentile(values, 95):.0f} ms, "
        f"max {values.max():.0f} ms (target p95 <= 300 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
