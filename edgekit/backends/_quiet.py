"""Keep native console noise off the terminal: the interpreter's C++ chatter ("INFO: Created TensorFlow
Lite XNNPACK delegate") at run time, and TensorFlow's logs and prints while the converters export."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO

_NOISE = ("INFO: Created TensorFlow Lite", "INFO: Initialized TensorFlow Lite")


@contextlib.contextmanager
def quiet_native_stderr(drop_all: bool = False) -> Iterator[None]:
    """Capture file descriptor 2 during the block; re-emit every line that is not known noise.

    Args:
        drop_all: re-emit nothing (for imports whose every native line is noise, e.g. TensorFlow's logger).
    """
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreters): nothing to filter
        yield
        return
    with _scratch_file() as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not drop_all and not line.startswith(_NOISE):
                    print(line, file=sys.stderr)


def _scratch_file() -> IO[bytes]:
    """An anonymous file: memfd on Linux (no tempfile import, about 15 ms of a cold start), else tempfile."""
    if hasattr(os, "memfd_create"):
        try:
            return open(os.memfd_create("edgekit-stderr"), "w+b")  # noqa: SIM115 (closed by the caller's with)
        except OSError:
            pass
    import tempfile

    return tempfile.TemporaryFile()


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[list[str]]:
    """Send fd 1/2 output (C++ logs, "Saved artifact at ..." prints) to a buffer during the block.

    Yields a list that receives the captured lines, so an error can show them.
    """
    import logging
    import tempfile

    captured: list[str] = []
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = os.dup(1), os.dup(2)
    except OSError:
        yield captured
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.extend(sink.read().decode("utf-8", "replace").splitlines())
