"""The keyword spotter on a live microphone: espeak-ng speech played into the PulseAudio virtual
microphone, heard by `edgekit run MODEL --source mic:vmic` (the real CLI, PortAudio, resampling from the
device's 44.1 kHz, the live runner), checked against the words that were spoken."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit import zoo
from tests.support.audio_fixtures import Voice, assemble, tools_available
from tests.support.live_keywords import spot_live

pytestmark = [pytest.mark.audio, pytest.mark.slow]

KEYWORDS = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}
SPOKEN = [0.8, "yes", 1.0, "table", 1.0, "stop", 1.0, "left", 1.0, "hello", 1.0, "go", 1.2]


@pytest.mark.skipif(not tools_available(), reason="espeak-ng, flite and sox are needed (apt)")
def test_keywords_spoken_into_the_microphone_are_spotted_live(virtual_mic, tmp_path):
    # A voice held out of the keyword model's training (variant m3, see converters/zoo/speech_data.py).
    clip = assemble(SPOKEN, Voice("espeak-ng", "en-us", "m3"), tmp_path)
    heard, stats = spot_live(virtual_mic, zoo.path("keywords", "int8"), clip, tmp_path / "spoken.wav", KEYWORDS)
    assert [h.label for h in heard] == ["yes", "stop", "left", "go"]  # in order, once each, nothing else
    latencies = np.array([h.latency_ms for h in heard])
    # Sanity bound only: benchmarks/keyword_latency.py measures the p95 (target 300 ms) over more words.
    assert np.isfinite(latencies).all() and (latencies < 1000).all(), latencies
    assert stats["type"] == "stats" and stats["source"].get("overflows", 0) == 0
