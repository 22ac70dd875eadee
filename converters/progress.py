"""Progress lines on the terminal, even while TensorFlow's own output is being silenced."""

from __future__ import annotations

import os
import sys
import time

_stream = None


def _out():
    global _stream
    if _stream is None:
        try:
            _stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
        except (OSError, ValueError, AttributeError):
            _stream = sys.stderr
    return _stream


class Progress:
    """``with Progress("calibrating", total) as p: p.update()`` → one line updated in place."""

    def __init__(self, label: str, total: int, enabled: bool = True):
        self.label, self.total, self.done = label, max(1, total), 0
        self.enabled = enabled
        self._started = time.perf_counter()
        self._last = 0.0
        self._tty = hasattr(_out(), "isatty") and _out().isatty()

    def update(self, count: int = 1) -> None:
        self.done += count
        now = time.perf_counter()
        if self.enabled and self._tty and (now - self._last > 0.2 or self.done >= self.total):
            self._last = now
            _out().write(f"\r  {self.label}: {self.done}/{self.total}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            seconds = time.perf_counter() - self._started
            prefix = "\r" if self._tty else ""
            _out().write(f"{prefix}  {self.label}: {min(self.done, self.total)}/{self.total} done in {seconds:.1f} s\n")


def say(message: str, enabled: bool = True) -> None:
    if enabled:
        _out().write(message + "\n")
