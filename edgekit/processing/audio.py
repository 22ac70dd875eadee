"""Audio: read WAV files, mix down to mono, resample, cut into model windows (numpy only)."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import check_input_file

AUDIO_SUFFIXES = (".wav",)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file → (float32 samples in [-1, 1] of shape (frames, channels), rate in Hz).

    Raises:
        InputError: the file is missing or is not 8/16/24/32-bit PCM WAV.
    """
    path = Path(path)
    check_input_file(path, "audio")
    try:
        with wave.open(str(path), "rb") as handle:
            channels, width, rate = handle.getnchannels(), handle.getsampwidth(), handle.getframerate()
            raw = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError, struct.error, ValueError, OverflowError) as exc:
        detail = str(exc) or type(exc).__name__
        raise InputError(f"{path} is not a PCM WAV file ({detail})", hint="convert it: sox IN -b 16 OUT.wav") from exc
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        bytes3 = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        ints = (
            bytes3[:, 0].astype(np.int32) | (bytes3[:, 1].astype(np.int32) << 8) | (bytes3[:, 2].astype(np.int32) << 16)
        )
        samples = (np.where(ints >= 1 << 23, ints - (1 << 24), ints)).astype(np.float32) / float(1 << 23)
    elif width == 4:
        samples = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise InputError(f"{path}: unsupported sample width {width} bytes")
    return samples.reshape(-1, channels), rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) → (frames,) by averaging channels."""
    samples = np.asarray(samples, np.float32)
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def resample(samples: np.ndarray, source_rate_hz: int, target_rate_hz: int) -> np.ndarray:
    """Band-limited resampling of mono audio (FFT method; fine for clips and windows)."""
    if source_rate_hz == target_rate_hz or samples.size == 0:
        return samples.astype(np.float32)
    count = int(round(samples.size * target_rate_hz / source_rate_hz))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    bins = count // 2 + 1
    if bins <= spectrum.size:
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - spectrum.size, spectrum.dtype)])
    return (np.fft.irfft(spectrum, n=count) * (count / samples.size)).astype(np.float32)


def fit_window(samples: np.ndarray, length: int) -> np.ndarray:
    """Centre-crop or zero-pad mono samples to ``length``."""
    if samples.size >= length:
        start = (samples.size - length) // 2
        return samples[start : start + length]
    padded = np.zeros(length, np.float32)
    start = (length - samples.size) // 2
    padded[start : start + samples.size] = samples
    return padded


def windows(samples: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Cut mono samples into (N, length) windows every ``hop`` samples (last one zero-padded)."""
    if samples.size <= length:
        return fit_window(samples, length)[None]
    starts = range(0, samples.size - length + hop, hop)
    out = np.zeros((len(starts), length), np.float32)
    for row, start in enumerate(starts):
        chunk = samples[start : start + length]
        out[row, : chunk.size] = chunk
    return out
