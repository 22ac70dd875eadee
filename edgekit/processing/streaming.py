"""Streaming audio building blocks (pure numpy): ring buffer, resampler, window scheduler, smoothing,
keyword detection. Each keeps its state across blocks, so a stream cut into blocks of any size gives
the same result as the whole signal at once.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..results import KeywordDetection


class RingBuffer:
    """The newest ``capacity`` samples of a stream, addressed by absolute stream position.

    Positions count samples from the stream's first sample; :attr:`total_samples` is how many were
    written. Writing never allocates: old samples are overwritten in place.
    """

    def __init__(self, capacity: int, dtype: np.dtype | type = np.float32):
        if capacity < 1:
            raise InputError(f"ring buffer capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self._data = np.zeros(self.capacity, dtype)
        self.total_samples = 0

    def extend(self, samples: np.ndarray) -> None:
        """Append samples (only the last ``capacity`` of a longer block are kept)."""
        samples = np.asarray(samples, self._data.dtype).reshape(-1)
        self.total_samples += samples.size
        samples = samples[-self.capacity :]
        start = (self.total_samples - samples.size) % self.capacity
        first = min(samples.size, self.capacity - start)
        self._data[start : start + first] = samples[:first]
        self._data[: samples.size - first] = samples[first:]

    def span(self, end_sample: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
        """The samples at stream positions ``[end_sample - count, end_sample)``, copied (into ``out`` if given).

        Positions before the stream's start read as zeros.

        Args:
            end_sample, count: the span.
            out: optional preallocated array of ``count`` elements (any shape) to write into and return.

        Raises:
            InputError: the span is not held any more (too old), or is in the future.
        """
        start = end_sample - count
        if end_sample > self.total_samples or count > self.capacity or start < self.total_samples - self.capacity:
            raise InputError(
                f"samples [{start}, {end_sample}) are not in the ring buffer "
                f"(it holds [{max(0, self.total_samples - self.capacity)}, {self.total_samples}))"
            )
        result = np.empty(count, self._data.dtype) if out is None else out
        flat = result.reshape(-1)  # a view for a contiguous ``out``: written in place
        first = max(start, 0)
        flat[: first - start] = 0
        # At most two slices of the circular storage (no index arrays, no temporaries).
        begin, length = first % self.capacity, end_sample - first
        head = min(length, self.capacity - begin)
        flat[first - start : first - start + head] = self._data[begin : begin + head]
        flat[first - start + head :] = self._data[: length - head]
        return result

    def latest(self, count: int) -> np.ndarray:
        """The newest ``count`` samples, oldest first."""
        return self.span(self.total_samples, count)


def _kaiser_lowpass(half_length: int, cutoff: float, beta: float = 5.0) -> np.ndarray:
    """scipy.signal.firwin(2 * half_length + 1, cutoff, window=("kaiser", beta)): unit gain at DC."""
    taps = np.arange(2 * half_length + 1) - half_length
    response = cutoff * np.sinc(cutoff * taps) * np.kaiser(2 * half_length + 1, beta)
    return response / response.sum()


class StreamingResampler:
    """Polyphase resampling with the filter of ``scipy.signal.resample_poly`` (Kaiser, beta 5), by blocks.

    Output sample k sits at source position ``k * source_rate / target_rate``. It is emitted once the
    source samples its filter reaches have arrived (a delay of :attr:`latency_samples`);
    :meth:`flush` emits the rest as if zeros followed. Blocks + flush equal ``resample_poly`` on the
    whole signal, to float rounding.
    """

    def __init__(self, source_rate_hz: int, target_rate_hz: int):
        for name, rate in (("source_rate_hz", source_rate_hz), ("target_rate_hz", target_rate_hz)):
            if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate < 1:
                raise InputError(f"{name} must be a positive integer, got {rate!r}")
        divisor = math.gcd(int(source_rate_hz), int(target_rate_hz))
        self.up, self.down = int(target_rate_hz) // divisor, int(source_rate_hz) // divisor
        self.identity = self.up == self.down
        self._half = 10 * max(self.up, self.down)
        taps = _kaiser_lowpass(self._half, 1.0 / max(self.up, self.down)) * self.up
        self._taps_per_phase = -(-(2 * self._half + 1) // self.up)
        padded = np.zeros(self._taps_per_phase * self.up)
        padded[: taps.size] = taps
        # polyphase[phase, j] multiplies source sample (n_last - j), where n_last = (k*down + half) // up
        self._polyphase = padded.reshape(self._taps_per_phase, self.up).T.copy()
        self.reset()

    @property
    def latency_samples(self) -> int:
        """Source samples an output waits for beyond its own position."""
        return 0 if self.identity else -(-self._half // self.up)

    def reset(self) -> None:
        self._history = np.zeros(0, np.float64)  # source samples from position _history_start on
        self._history_start = 0
        self._received = 0
        self._next_output = 0

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Take a block of source samples; return every output sample now computable (float32)."""
        if self.identity:  # float32 in, float32 out: no float64 round trip (it gives the same values)
            samples = np.asarray(samples, np.float32).reshape(-1)
            self._received += samples.size
            return samples
        samples = np.asarray(samples, np.float64).reshape(-1)
        self._history = np.concatenate([self._history, samples])
        self._received += samples.size
        # Output k needs source samples up to (k*down + half) // up.
        ready = (self._received * self.up - self._half - 1) // self.down + 1
        return self._emit(max(ready, self._next_output))

    def flush(self) -> np.ndarray:
        """The outputs still owed for the source received so far (zeros assumed after its end)."""
        if self.identity:
            return np.zeros(0, np.float32)
        total = -(-self._received * self.up // self.down)
        return self._emit(max(total, self._next_output))

    def _emit(self, stop: int) -> np.ndarray:
        outputs = np.arange(self._next_output, stop)
        if outputs.size == 0:
            return np.zeros(0, np.float32)
        position = outputs * self.down + self._half
        last, phase = position // self.up, position % self.up
        source = last[:, None] - np.arange(self._taps_per_phase)[None, :]
        local = source - self._history_start
        history = np.append(self._history, 0.0)  # the last slot reads as zero: before the start, after the end
        inside = (local >= 0) & (source < self._received)
        values = history[np.where(inside, local, history.size - 1)]
        result = (values * self._polyphase[phase]).sum(axis=1)
        self._next_output = stop
        # Keep only what the next output can still reach.
        keep_from = (stop * self.down + self._half) // self.up - self._taps_per_phase + 1
        drop = min(max(keep_from - self._history_start, 0), self._history.size)
        self._history, self._history_start = self._history[drop:], self._history_start + drop
        return result.astype(np.float32)


@dataclass(frozen=True)
class ScheduledWindow:
    """One model window: it ends at stream position ``end_sample`` (exclusive), i.e. at ``timestamp_ms``."""

    end_sample: int
    timestamp_ms: float


class HopScheduler:
    """Windows of ``window_samples`` every ``hop_samples``, stamped with their end in stream time.

    With ``pad_start`` (the default) the i-th window ends at ``(i + 1) * hop``: the stream is taken to
    be preceded by silence, so a sound near the start is seen by as many windows, as early, as one
    anywhere else. Without it, the first window is the first full one: it ends at ``window``.
    """

    def __init__(self, window_samples: int, hop_samples: int, sample_rate_hz: int, pad_start: bool = True):
        if window_samples < 1 or hop_samples < 1 or sample_rate_hz < 1:
            raise InputError(
                f"window, hop and rate must be positive, got {window_samples}, {hop_samples}, {sample_rate_hz}"
            )
        self.window_samples, self.hop_samples, self.sample_rate_hz = window_samples, hop_samples, sample_rate_hz
        self._first_end = min(hop_samples, window_samples) if pad_start else window_samples
        self._next_end = self._first_end

    def due(self, total_samples: int) -> list[ScheduledWindow]:
        """The windows that became complete now that ``total_samples`` samples have arrived."""
        windows = []
        while self._next_end <= total_samples:
            windows.append(ScheduledWindow(self._next_end, self._next_end * 1000.0 / self.sample_rate_hz))
            self._next_end += self.hop_samples
        return windows

    def padding_to_cover(self, total_samples: int) -> int:
        """Zeros to append so that a window ends at or after ``total_samples`` (ends a clip cleanly).

        Call it after :meth:`due` has returned every window up to ``total_samples``.
        """
        emitted_any = self._next_end > self._first_end
        if emitted_any and self._next_end - self.hop_samples >= total_samples:
            return 0
        return max(self._next_end - total_samples, 0)

    def reset(self) -> None:
        self._next_end = self._first_end


class ScoreSmoother:
    """Moving average of the last ``window_count`` score vectors (1: no smoothing).

    Until ``window_count`` vectors have arrived, the average is over those there are.
    """

    def __init__(self, window_count: int):
        if isinstance(window_count, bool) or not isinstance(window_count, int) or window_count < 1:
            raise InputError(f"smoothing window count must be an integer >= 1, got {window_count!r}")
        self.window_count = window_count
        self._recent: deque[np.ndarray] = deque(maxlen=window_count)

    def update(self, scores: np.ndarray) -> np.ndarray:
        self._recent.append(np.asarray(scores, np.float64).reshape(-1))
        return np.mean(self._recent, axis=0).astype(np.float32)

    def reset(self) -> None:
        self._recent.clear()


class KeywordDetector:
    """Turns a stream of score vectors into keyword detections, one per utterance.

    A label fires when its (smoothed) score reaches ``threshold``, it is the best such label, it was
    below the threshold on the previous window (an utterance stays above it across overlapping
    windows), and ``refractory_ms`` have passed since the last detection of any label (the same
    utterance seen through later windows, cut by the window's edge, may score as another word).
    Labels in ``ignore_labels`` never fire. A detection is stamped with the end of the window that
    decided it.
    """

    def __init__(self, labels: Sequence[str], threshold: float, refractory_ms: float, ignore_labels=()):
        if not 0.0 < threshold <= 1.0:
            raise InputError(f"keyword threshold must be in (0, 1], got {threshold}")
        if refractory_ms < 0:
            raise InputError(f"refractory_ms must be >= 0, got {refractory_ms}")
        self.labels = tuple(labels)
        self.threshold, self.refractory_ms = float(threshold), float(refractory_ms)
        ignored = set(ignore_labels)
        self._eligible = np.array([label not in ignored for label in self.labels], bool)
        self.reset()

    def reset(self) -> None:
        self._armed = np.ones(len(self.labels), bool)
        self._last_ms: float | None = None

    def update(self, scores: np.ndarray, timestamp_ms: float) -> KeywordDetection | None:
        """Feed one window's scores (one per label), ending at ``timestamp_ms``; return a detection or None."""
        scores = np.asarray(scores, np.float64).reshape(-1)
        if scores.size != len(self.labels):
            raise InputError(f"expected {len(self.labels)} scores (one per label), got {scores.size}")
        above = scores >= self.threshold
        candidates = np.flatnonzero(above & self._eligible & self._armed)
        self._armed = ~above
        if candidates.size == 0:
            return None
        if self._last_ms is not None and timestamp_ms - self._last_ms < self.refractory_ms:
            return None
        best = int(candidates[np.argmax(scores[candidates])])
        self._last_ms = float(timestamp_ms)
        return KeywordDetection(self.labels[best], float(scores[best]), float(timestamp_ms), best)
