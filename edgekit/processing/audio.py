"""Audio: read WAV files, mix down to mono, resample, cut into model windows (numpy only)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import limits
from ..errors import InputError
from ..io import check_input_file

#: audio files edgekit reads (FLAC through soundfile or ffmpeg: :mod:`edgekit.processing.audio_decode`)
AUDIO_SUFFIXES = (".wav", ".flac")


#: sample rates a WAV header may state (as the audio tasks accept them)
MIN_RATE_HZ, MAX_RATE_HZ = 1000, 384_000
_PCM, _EXTENSIBLE = 1, 0xFFFE


@dataclass(frozen=True)
class WavHeader:
    """What a WAV file's header says, checked: PCM, sane rate, channels and bits, data inside the file."""

    channels: int
    rate_hz: int
    bytes_per_sample: int
    data_offset: int
    data_bytes: int  # whole frames, at most what the file holds after the data chunk's start

    @property
    def frames(self) -> int:
        return self.data_bytes // (self.channels * self.bytes_per_sample)


def _not_wav(path: Path, problem: str) -> InputError:
    return InputError(f"{path} is not a usable PCM WAV file: {problem}", hint="convert it: sox IN -b 16 OUT.wav")


def wav_header(path: str | Path) -> WavHeader:
    """Read and check a WAV file's header (RIFF chunks 'fmt ' and 'data') without reading the samples.

    Checks: 8/16/24/32-bit integer PCM; a rate of 1000..384000 Hz; 1 to ``audio_channels`` channels; a
    block alignment that matches. A data chunk declaring more bytes than the file holds (streamed files
    write 0 or 0xFFFFFFFF there) is read up to the end of the file.

    Raises:
        InputError: not a RIFF/WAVE file, not integer PCM, or a value out of range (named).
        LimitError: more channels than the ``audio_channels`` limit.
    """
    path = Path(path)
    size = path.stat().st_size
    fmt = None
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise _not_wav(path, "no RIFF/WAVE header")
        pos = 12
        for _ in range(10_000):
            handle.seek(pos)
            chunk = handle.read(8)
            if len(chunk) < 8:
                break
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt ":
                if length < 16:
                    raise _not_wav(path, f"its 'fmt ' chunk has {length} bytes (at least 16 needed)")
                fmt = struct.unpack("<HHIIHH", handle.read(16))
                if fmt[0] == _EXTENSIBLE and length >= 40:
                    handle.read(8)  # cbSize, valid bits, channel mask
                    fmt = (struct.unpack("<H", handle.read(2))[0],) + fmt[1:]
            elif name == b"data":
                if fmt is None:
                    raise _not_wav(path, "its 'data' chunk comes before the 'fmt ' chunk")
                return _checked(path, fmt, pos + 8, min(length, size - pos - 8))
            pos += 8 + length + (length & 1)
    raise _not_wav(path, "no 'fmt ' and 'data' chunks")


def _checked(path: Path, fmt: tuple[int, ...], offset: int, available: int) -> WavHeader:
    kind, channels, rate, _, align, bits = fmt
    if kind != _PCM:
        raise _not_wav(path, f"format code {kind} (only integer PCM, code 1, is read)")
    if channels < 1:
        raise _not_wav(path, f"the header says {channels} channels")
    limits.check("audio_channels", channels, f"{path}")
    if bits not in (8, 16, 24, 32):
        raise _not_wav(path, f"{bits} bits per sample (8, 16, 24 or 32 are read)")
    if align != channels * bits // 8:
        raise _not_wav(path, f"block alignment {align} does not match {channels} channels of {bits} bits")
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise _not_wav(path, f"a sample rate of {rate} Hz (expected {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz)")
    return WavHeader(channels, rate, bits // 8, offset, max(0, available) // align * align)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file → (float32 samples in [-1, 1] of shape (frames, channels), rate in Hz).

    The header is checked first (:func:`wav_header`), and the duration against the ``audio_seconds`` limit.

    Raises:
        InputError: the file is missing or is not 8/16/24/32-bit PCM WAV with a sane header.
        LimitError: longer than ``audio_seconds`` or more channels than ``audio_channels``.
    """
    path = Path(path)
    check_input_file(path, "audio")
    header = wav_header(path)
    limits.check("audio_seconds", header.frames // header.rate_hz, f"{path} ({header.rate_hz} Hz)")
    with open(path, "rb") as handle:
        handle.seek(header.data_offset)
        raw = handle.read(header.data_bytes)
    raw = raw[: len(raw) - len(raw) % (header.channels * header.bytes_per_sample)]
    channels, width, rate = header.channels, header.bytes_per_sample, header.rate_hz
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
