"""Speech for the audio tests: words synthesized one by one, trimmed, and assembled with known timings.

Each word is synthesized on its own (espeak-ng or flite), converted to 16 kHz 16-bit with sox (``-D``:
no dither, so clips are reproducible), and trimmed by an energy threshold: the word spans the 10 ms
frames whose RMS is within 40 dB of its loudest frame (synthetic speech has digital silence around
it, so the edges are sharp). A clip is words and silences laid end to end, so the start and end of
every word in the clip are known exactly: the truth the keyword timestamps are checked against.

Synthesis is cached in a folder (a pytest session's tmp folder), keyed by engine, voice, rate and text.
Real speech: Debian's pocketsphinx-testdata (16 kHz read speech), found by :func:`pocketsphinx_files`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE_HZ = 16000
FRAME_SAMPLES = 160  # 10 ms
TRIM_DB = 40.0
POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")


def tools_available() -> bool:
    return all(shutil.which(tool) for tool in ("espeak-ng", "flite", "sox"))


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker: ``engine`` is espeak-ng (``voice`` an accent, ``variant`` e.g. m3) or flite."""

    engine: str
    voice: str
    variant: str = ""
    rate_wpm: int = 160
    pitch: int = 50

    @property
    def key(self) -> str:
        parts = (self.engine, self.voice, self.variant, str(self.rate_wpm), str(self.pitch))
        return "_".join(part for part in parts if part)


@dataclass(frozen=True)
class SpokenWord:
    """Where one word sits in a clip: samples ``[start_sample, end_sample)`` at 16 kHz."""

    text: str
    start_sample: int
    end_sample: int

    @property
    def start_ms(self) -> float:
        return self.start_sample * 1000.0 / SAMPLE_RATE_HZ

    @property
    def end_ms(self) -> float:
        return self.end_sample * 1000.0 / SAMPLE_RATE_HZ


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray  # float32 mono at 16 kHz
    words: tuple[SpokenWord, ...]

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE_HZ


def read_pcm16(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as handle:
        assert handle.getframerate() == SAMPLE_RATE_HZ and handle.getnchannels() == 1
        return np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(np.float32) / 32768.0


def synthesize(text: str, voice: Voice, cache: Path) -> np.ndarray:
    """``text`` spoken by ``voice``: float32 at 16 kHz, untrimmed (cached in ``cache``)."""
    digest = hashlib.sha1(f"{voice.key}|{text}".encode()).hexdigest()[:12]
    target = Path(cache) / f"{voice.key}_{digest}.wav"
    if not target.exists():
        Path(cache).mkdir(parents=True, exist_ok=True)
        raw = target.with_suffix(".raw.wav")
        if voice.engine == "espeak-ng":
            name = f"{voice.voice}+{voice.variant}" if voice.variant else voice.voice
            command = ["espeak-ng", "-v", name, "-s", str(voice.rate_wpm), "-p", str(voice.pitch), "-w", str(raw), text]
        else:
            stretch = f"{160 / voice.rate_wpm:.3f}"
            command = [
                "flite",
                "-voice",
                voice.voice,
                "--setf",
                f"duration_stretch={stretch}",
                "-t",
                text,
                "-o",
                str(raw),
            ]
        subprocess.run(command, check=True, capture_output=True)
        partial = target.with_suffix(".part.wav")
        subprocess.run(
            ["sox", "-D", str(raw), "-r", str(SAMPLE_RATE_HZ), "-c", "1", "-b", "16", str(partial)],
            check=True,
            capture_output=True,
        )
        raw.unlink()
        partial.replace(target)
    return read_pcm16(target)


def speech_bounds(samples: np.ndarray) -> tuple[int, int]:
    """(start, end) samples of the speech: the 10 ms frames within TRIM_DB of the loudest frame."""
    frames = samples[: samples.size // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-TRIM_DB / 20))
    return int(loud[0]) * FRAME_SAMPLES, int(loud[-1] + 1) * FRAME_SAMPLES


def spoken_word(text: str, voice: Voice, cache: Path, peak: float = 0.5) -> np.ndarray:
    """One trimmed word, scaled to ``peak``."""
    samples = synthesize(text, voice, cache)
    start, end = speech_bounds(samples)
    word = samples[start:end]
    return (word * (peak / np.abs(word).max())).astype(np.float32)


def assemble(items: list[str | float], voice: Voice, cache: Path, noise_dbfs: float = -60.0, seed: int = 0) -> Clip:
    """Words (str) and silences (float seconds) end to end, over faint white noise.

    The noise (``noise_dbfs`` RMS) keeps the clip from being digital silence, which no microphone gives.
    """
    pieces, words, position = [], [], 0
    for item in items:
        if isinstance(item, str):
            piece = spoken_word(item, voice, cache)
            words.append(SpokenWord(item, position, position + piece.size))
        else:
            piece = np.zeros(round(float(item) * SAMPLE_RATE_HZ), np.float32)
        pieces.append(piece)
        position += piece.size
    samples = np.concatenate(pieces)
    noise = np.random.default_rng(seed).standard_normal(samples.size) * 10 ** (noise_dbfs / 20)
    return Clip((samples + noise).astype(np.float32), tuple(words))


def pocketsphinx_files() -> list[Path]:
    """Every 16 kHz WAV and raw file of Debian's pocketsphinx-testdata (empty if not installed)."""
    if not POCKETSPHINX_DATA.is_dir():
        return []
    return sorted(POCKETSPHINX_DATA.rglob("*.wav")) + sorted(POCKETSPHINX_DATA.rglob("*.raw"))


def read_speech_file(path: Path) -> np.ndarray:
    """A pocketsphinx test file as float32 at 16 kHz (raw files are 16-bit little-endian mono)."""
    if path.suffix == ".raw":
        return np.fromfile(path, "<i2").astype(np.float32) / 32768.0
    return read_pcm16(path)
