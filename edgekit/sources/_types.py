"""The interface every source has (Source); what sources hand out (Frame, AudioBlock) is in edgekit.media."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from ..media import AudioBlock, Frame


def monotonic_ms() -> float:
    """Now on the clock every timestamp_ms uses (time.monotonic, in milliseconds)."""
    return time.monotonic() * 1000.0


SourceT = TypeVar("SourceT", bound="Source")


@runtime_checkable
class Source(Protocol):
    """A camera, microphone, file or network stream: start it, read until None, stop it.

    ``read(timeout_s)`` returns the next Frame or AudioBlock, None once the source has ended, and raises
    SourceTimeoutError when nothing new came within ``timeout_s`` (None waits for ever). Video sources
    hand out the newest frame (older unread frames are dropped and counted); audio sources hand out
    every block in order. Using a source as a context manager starts it on enter and stops it on exit.
    """

    @property
    def kind(self) -> Literal["video", "audio"]: ...

    @property
    def description(self) -> str: ...

    @property
    def lossless(self) -> bool:
        """True when every frame or block is handed out in order (a file read as fast as the consumer goes);
        False for live sources (cameras, streams, microphones) and paced files."""
        ...

    def start(self: SourceT) -> SourceT: ...

    def stop(self) -> None: ...

    def read(self, timeout_s: float | None = None) -> Frame | AudioBlock | None: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __enter__(self: SourceT) -> SourceT: ...

    def __exit__(self, *exc_info: object) -> None: ...

    @property
    def stats(self) -> dict[str, Any]: ...
