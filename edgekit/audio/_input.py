"""Audio blocks as callers give them → mono float32 samples in [-1, 1] (or a clear error)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InputError

MAX_CHANNELS = 16  # the smaller axis of a 2-D block is channels only if it is at most this


def finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)


def prepare_samples(samples: Any) -> np.ndarray:
    """Any sensible block of audio → mono float32 in [-1, 1].

    Args:
        samples: (frames,) mono, or (frames, channels) / (channels, frames) with at most 16 channels
            (mixed down by averaging); float in [-1, 1], or int16/int32/uint8 PCM (scaled).

    Raises:
        InputError: not numeric, NaN/Inf, floats far outside [-1, 1], or a shape that is not audio.
    """
    array = np.asarray(samples)
    if array.dtype.kind not in "iuf":
        raise InputError(f"audio samples must be numbers, got {array.dtype}")
    if array.ndim == 2:
        mono = _scaled(array).mean(axis=1 - _frames_axis(array.shape))
    elif array.ndim == 1 and array.dtype == np.float32:
        mono = array  # already the model's type: float64 and back would give the same values, in two copies
    elif array.ndim == 1:
        mono = _scaled(array)
    else:
        raise InputError(
            f"audio must be (frames,) or (frames, channels), got shape {array.shape}",
            hint="pass one block of mono or multichannel samples per call",
        )
    if mono.size and not np.isfinite(mono.sum(dtype=np.float64)):
        raise InputError("audio samples contain NaN or Inf", hint="clean the audio block")
    peak = max(float(mono.max()), -float(mono.min())) if mono.size else 0.0  # no |x| temporary
    if peak > 2.0:
        raise InputError(
            f"float samples must be in [-1, 1], got a peak of {peak:.4g}",
            hint="pass int16 PCM as an int16 array, or divide by 32768",
        )
    return mono.astype(np.float32, copy=False)  # read, never written, downstream


def _frames_axis(shape: tuple[int, ...]) -> int:
    rows, columns = shape
    if columns <= MAX_CHANNELS < rows or (columns <= MAX_CHANNELS and rows == columns == 1):
        return 0
    if rows <= MAX_CHANNELS < columns:
        return 1
    raise InputError(
        f"cannot tell frames from channels in an audio block of shape {shape}",
        hint=f"pass (frames, channels) with at most {MAX_CHANNELS} channels and more frames than that, or mono",
    )


def _scaled(array: np.ndarray) -> np.ndarray:
    kind, dtype = array.dtype.kind, array.dtype
    if kind == "f":
        return array.astype(np.float64)
    if dtype == np.int16:
        return array.astype(np.float64) / 32768.0
    if dtype == np.int32:
        return array.astype(np.float64) / 2147483648.0
    if dtype == np.uint8:
        return (array.astype(np.float64) - 128.0) / 128.0
    raise InputError(f"integer audio must be int16, int32 or uint8 PCM, got {dtype}", hint="or pass floats in [-1, 1]")


def check_rate(sample_rate_hz: Any) -> int:
    if isinstance(sample_rate_hz, bool) or not finite(sample_rate_hz) or sample_rate_hz != int(sample_rate_hz):
        raise InputError(f"sample_rate_hz must be a whole number of Hz, got {sample_rate_hz!r}")
    if not 1000 <= int(sample_rate_hz) <= 384000:
        raise InputError(f"sample_rate_hz must be between 1000 and 384000, got {sample_rate_hz}")
    return int(sample_rate_hz)
