"""Streaming polyphase resampler (numpy only): audio arrives in blocks of any size, state carries over.

The filter is the one ``scipy.signal.resample_poly`` designs (Kaiser-windowed sinc, beta 5, cutoff at the
lower Nyquist, half length 10 * max(up, down)), and the output is aligned the same way (group delay removed),
so feeding a signal block by block then calling :meth:`flush` gives resample_poly's output for the whole
signal. Block edges cannot click: each output sample sees exactly the inputs it would see in one pass.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from ..errors import InputError

# Rate pairs whose reduced ratio needs more phases than this would need a filter of millions of taps.
MAX_PHASES = 2000
KAISER_BETA = 5.0
# Outputs computed per vectorised step; bounds the (outputs x taps) gather matrix to a few MB.
OUTPUTS_PER_STEP = 8192


def lowpass_filter(up: int, down: int) -> np.ndarray:
    """The anti-aliasing FIR (gain ``up``) for rational resampling by up/down, as resample_poly designs it."""
    max_rate = max(up, down)
    half_length = 10 * max_rate
    taps = np.arange(2 * half_length + 1) - half_length
    cutoff = 1.0 / max_rate  # relative to Nyquist
    prototype = cutoff * np.sinc(cutoff * taps) * np.kaiser(2 * half_length + 1, KAISER_BETA)
    return prototype / prototype.sum() * up


class StreamingResampler:
    """Resample mono audio from ``source_rate_hz`` to ``target_rate_hz`` across successive blocks.

    Output sample ``k`` is the band-limited signal at input time ``k / target_rate_hz``: there is no delay
    to compensate downstream, but each output needs ``lookahead_samples`` future inputs, so output lags
    input by that much until :meth:`flush`.

    Args:
        source_rate_hz: rate of the samples given to :meth:`process`.
        target_rate_hz: rate of the samples returned.

    Raises:
        InputError: a rate is not a positive integer, or their ratio is too unusual (e.g. 44100 → 16001).
    """

    def __init__(self, source_rate_hz: int, target_rate_hz: int):
        for name, rate in (("source_rate_hz", source_rate_hz), ("target_rate_hz", target_rate_hz)):
            if int(rate) != rate or rate <= 0:
                raise InputError(f"{name} must be a positive whole number of Hz, got {rate!r}")
        self.source_rate_hz, self.target_rate_hz = int(source_rate_hz), int(target_rate_hz)
        divisor = gcd(self.source_rate_hz, self.target_rate_hz)
        self.up, self.down = self.target_rate_hz // divisor, self.source_rate_hz // divisor
        if max(self.up, self.down) > MAX_PHASES:
            raise InputError(
                f"cannot resample {source_rate_hz} Hz to {target_rate_hz} Hz: the ratio {self.up}/{self.down} "
                f"needs more than {MAX_PHASES} filter phases",
                hint="use common rates (8000, 16000, 22050, 32000, 44100, 48000 Hz)",
            )
        self.half_length = 10 * max(self.up, self.down)
        prototype = lowpass_filter(self.up, self.down)
        self.taps_per_phase = -(-prototype.size // self.up)
        padded = np.zeros(self.taps_per_phase * self.up)
        padded[: prototype.size] = prototype
        # phases[p, m] = h[p + m * up]: the taps that meet input sample (newest - m) for output phase p.
        self.phases = padded.reshape(self.taps_per_phase, self.up).T.copy()
        self.lookahead_samples = 0 if self.up == self.down else self.half_length // self.up + 1
        self.reset()

    def reset(self) -> None:
        """Forget all input (start a new stream)."""
        # Samples before the stream start are zeros, as in resample_poly's padding.
        self._history = np.zeros(self.taps_per_phase)
        self._history_start = -self.taps_per_phase  # stream index of _history[0]
        self.samples_in = 0
        self.samples_out = 0

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Push input samples; return every output sample that they complete (float32, possibly empty)."""
        samples = np.asarray(samples, np.float64).reshape(-1)
        if self.up == self.down:  # same rate: the filter is a unit impulse
            self.samples_in += samples.size
            self.samples_out += samples.size
            return samples.astype(np.float32)
        self._history = np.concatenate([self._history, samples])
        self.samples_in += samples.size
        # Output k needs inputs up to (k * down + half_length) // up.
        ready = ((self.samples_in - 1) * self.up - self.half_length) // self.down + 1
        return self._emit(max(ready, self.samples_out))

    def flush(self) -> np.ndarray:
        """End of stream: return the outputs still pending (total = ceil(inputs * up / down)), then reset."""
        total = -(-self.samples_in * self.up // self.down)
        self._history = np.concatenate([self._history, np.zeros(self.lookahead_samples + 1)])
        pending = self._emit(total)
        self.reset()
        return pending

    def _emit(self, end: int) -> np.ndarray:
        pieces = []
        while self.samples_out < end:
            outputs = np.arange(self.samples_out, min(end, self.samples_out + OUTPUTS_PER_STEP))
            positions = outputs * self.down + self.half_length
            newest = positions // self.up - self._history_start
            gather = newest[:, None] - np.arange(self.taps_per_phase)[None, :]
            values = np.einsum("km,km->k", self.phases[positions % self.up], self._history[gather])
            pieces.append(values.astype(np.float32))
            self.samples_out = int(outputs[-1]) + 1
        # Keep only what the next output still needs.
        next_oldest = (self.samples_out * self.down + self.half_length) // self.up - self.taps_per_phase + 1
        drop = min(max(0, next_oldest - self._history_start), self._history.size)
        self._history = self._history[drop:]
        self._history_start += drop
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
