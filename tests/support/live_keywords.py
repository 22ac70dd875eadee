"""Speak keywords into the PulseAudio virtual microphone and spot them with `edgekit run --source mic:vmic`.

Shared by tests/live/test_live_audio.py and benchmarks/keyword_latency.py. The spotter runs as the real CLI in
its own process; the clip is played with paplay. Keyword latency = the monotonic time the result existed
(its capture timestamp + its latency, both printed by `--json`) − the monotonic time the word ended in the
playback (paplay's start + the word's end in the clip). CLOCK_MONOTONIC is shared by all processes, so the
two can be compared; paplay's own start-up (8–16 ms measured with a chirp) counts against edgekit.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio_fixtures import Clip


@dataclass(frozen=True)
class Heard:
    label: str
    stream_ms: float  # where the spotter placed it, in stream time
    latency_ms: float  # from the end of the spoken word to the detection


def write_clip(path: Path, clip: Clip) -> Path:
    pcm = np.clip(np.rint(clip.samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(pcm.tobytes())
    return path


def spot_live(mic, model: Path, clip: Clip, wav: Path, keywords: set[str]) -> tuple[list[Heard], dict]:
    """Run the spotter on the microphone, play ``clip`` into it, and match detections to the spoken words.

    Returns:
        (what was heard, in order, with its latency against the matching spoken keyword — NaN when the
        detection matches no keyword spoken before it), and the run's final statistics.
    """
    write_clip(wav, clip)
    duration_s = clip.duration_s + 3.0
    process = subprocess.Popen(
        [sys.executable, "-m", "edgekit", "run", str(model), "--source", "mic:vmic", "--json", "--duration",
         str(duration_s)],
        env=mic.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    errors: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [errors.put(line) for line in process.stderr], daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the microphone is open and streaming
        try:
            if "running" in errors.get(timeout=1):
                break
        except queue.Empty:
            if process.poll() is not None:
                break
    time.sleep(0.8)
    played_ms = time.monotonic() * 1000
    mic.play(wav)
    out, _ = process.communicate(timeout=duration_s + 60)
    stderr = "".join(errors.queue)
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in out.splitlines()]
    heard = []
    spoken = [w for w in clip.words if w.text in keywords]
    for line in lines:
        for keyword in line.get("keywords", []):
            detected_ms = line["timestamp_ms"] + line["latency_ms"]
            before = [w for w in spoken if played_ms + w.end_ms <= detected_ms + 200]
            match = next((w for w in reversed(before) if w.text == keyword["label"]), None)
            latency = detected_ms - (played_ms + match.end_ms) if match else float("nan")
            heard.append(Heard(keyword["label"], keyword["timestamp_ms"], latency))
    return heard, lines[-1]
