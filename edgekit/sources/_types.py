"""What every source hands out (Frame, AudioBlock) and the interface every source has (Source)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np


def monotonic_ms() -> float:
    """Now on the clock every timestamp_ms uses (time.monotonic, in milliseconds)."""
    return time.monotonic() * 1000.0


# eq=False: fields hold numpy arrays, which have no single truth value; frames compare by identity.
@dataclass(frozen=True, eq=False)
class Frame:
    """One camera or video frame.

    Attributes:
        image: (H, W, 3) uint8 pixels in ``color_order`` (BGR, as OpenCV delivers them).
        timestamp_ms: capture time on the time.monotonic() clock, in ms (compare with monotonic_ms() for latency).
        index: frame counter from the source start; gaps are frames the consumer never took.
        color_order: "BGR" (OpenCV and Picamera2's RGB888 both lay pixels out as B, G, R).
    """

    image: np.ndarray
    timestamp_ms: float
    index: int
    color_order: str = "BGR"


@dataclass(frozen=True, eq=False)
class AudioBlock:
    """One block of mono audio, already at the rate the consumer asked for.

    Attributes:
        samples: (N,) float32 in [-1, 1] at ``sample_rate_hz``.
        sample_rate_hz: rate of ``samples``.
        timestamp_ms: capture time (monotonic ms) of the block's last sample.
        position_ms: stream position of the block's first sample since the stream start (sample-accurate:
            ``position_ms * sample_rate_hz / 1000`` is a whole number of samples; audio lost to an overflow
            still advances it).
        index: block counter from the source start.
    """

    samples: np.ndarray
    sample_rate_hz: int
    timestamp_ms: float
    position_ms: float
    index: int

    @property
    def duration_ms(self) -> float:
        return self.samples.size * 1000.0 / self.sample_rate_hz


@runtime_checkable
class Source(Protocol):
    """A camera, microphone, file or network stream: start it, read until None, stop it.

    ``read(timeout_s)`` returns the next Frame or AudioBlock, None once the source has ended, and raises
    SourceTimeoutError when nothing new came within ``timeout_s`` (None waits for ever). Video sources
    hand out the newest frame (older unread frames are dropped and counted); audio sources hand out
    every block in order. Using a source as a context manager starts it on enter and stops it on exit.
    """

    kind: Literal["video", "audio"]
    description: str

    def start(self) -> Source: ...

    def stop(self) -> None: ...

    def read(self, timeout_s: float | None = None) -> Frame | AudioBlock | None: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __enter__(self) -> Source: ...

    def __exit__(self, *exc_info: object) -> None: ...

    @property
    def stats(self) -> dict[str, Any]: ...
