"""A bounded ring of audio samples between the capture callback and the consumer."""

from __future__ import annotations

import threading

import numpy as np

from ._errors import SourceTimeoutError
from ._types import monotonic_ms


class AudioRing:
    """Float32 samples with absolute stream positions. When the consumer falls behind by more than the
    capacity, the oldest unread samples are overwritten: counted, and the consumer's position jumps.

    Args:
        capacity_samples: how much unread audio is kept.
    """

    def __init__(self, capacity_samples: int):
        self.capacity_samples = int(capacity_samples)
        self.samples_written = 0  # stream position one past the newest sample
        self.read_position = 0  # stream position of the next sample the consumer gets
        self.overflows = 0
        self.samples_dropped = 0
        self._buffer = np.zeros(self.capacity_samples, np.float32)
        self._condition = threading.Condition()
        self._closed = False

    def write(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, np.float32).reshape(-1)
        if samples.size == 0:
            return
        with self._condition:
            end = self.samples_written + samples.size
            kept = samples[-self.capacity_samples :]
            start = end - kept.size
            first = start % self.capacity_samples
            split = min(kept.size, self.capacity_samples - first)
            self._buffer[first : first + split] = kept[:split]
            self._buffer[: kept.size - split] = kept[split:]
            self.samples_written = end
            if end - self.read_position > self.capacity_samples:
                self.overflows += 1
                self.samples_dropped += end - self.capacity_samples - self.read_position
                self.read_position = end - self.capacity_samples
            self._condition.notify_all()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def read(self, count: int, timeout_s: float | None = None) -> tuple[int, np.ndarray] | None:
        """The next ``count`` unread samples and the stream position of the first; None once closed.

        Raises:
            SourceTimeoutError: fewer than ``count`` samples arrived within ``timeout_s``.
        """
        deadline = None if timeout_s is None else monotonic_ms() + timeout_s * 1000.0
        with self._condition:
            while self.samples_written - self.read_position < count:
                if self._closed:
                    return None
                remaining_s = None if deadline is None else (deadline - monotonic_ms()) / 1000.0
                if remaining_s is not None and remaining_s <= 0:
                    raise SourceTimeoutError(
                        f"no audio block within {timeout_s:g} s",
                        hint="the microphone delivers nothing: check it is not muted or used by another program",
                    )
                self._condition.wait(remaining_s)
            start = self.read_position
            indices = np.arange(start, start + count) % self.capacity_samples
            self.read_position += count
            return start, self._buffer[indices]
