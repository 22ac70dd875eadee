"""Keep native console noise off the terminal: the interpreter's C++ chatter ("INFO: Created TensorFlow
Lite XNNPACK delegate") at run time, and TensorFlow's logs and prints while the converters export.

One helper does the work (:func:`capture_native_output`: point file descriptors at a temporary file for
the block, collect the lines); the two callers decide what to do with the lines.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO

_NOISE = ("INFO: Created TensorFlow Lite", "INFO: Initialized TensorFlow Lite")
STDOUT_FD, STDERR_FD = 1, 2


@contextlib.contextmanager
def capture_native_output(fds: Sequence[int] = (STDERR_FD,)) -> Iterator[list[str]]:
    """Send what C/C++ code writes to ``fds`` into a buffer during the block; yield the list that gets its lines.

    The list is filled when the block ends. Without real file descriptors (embedded interpreters) the block
    runs unchanged and the list stays empty.
    """
    captured: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = [os.dup(fd) for fd in fds]
    except OSError:  # no real stdout/stderr: nothing to capture
        yield captured
        return
    with _scratch_file() as sink:
        for fd in fds:
            os.dup2(sink.fileno(), fd)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip(fds, saved):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.extend(sink.read().decode("utf-8", "replace").splitlines())


def _scratch_file() -> IO[bytes]:
    """An anonymous file: memfd on Linux (no tempfile import, about 15 ms of a cold start), else tempfile."""
    if hasattr(os, "memfd_create"):
        try:
            return open(os.memfd_create("edgekit-output"), "w+b")  # noqa: SIM115 (closed by the caller's with)
        except OSError:
            pass
    import tempfile

    return tempfile.TemporaryFile()


@contextlib.contextmanager
def quiet_native_stderr(drop_all: bool = False) -> Iterator[None]:
    """Capture stderr during the block; re-emit every line that is not known noise.

    Args:
        drop_all: re-emit nothing (for imports whose every native line is noise, e.g. TensorFlow's logger).
    """
    lines: list[str] = []
    try:
        with capture_native_output((STDERR_FD,)) as lines:
            yield
    finally:  # also when the block raised: the interpreter's own words about the failure stay visible
        for line in lines:
            if line.strip() and not drop_all and not line.startswith(_NOISE):
                print(line, file=sys.stderr)


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[list[str]]:
    """Send stdout and stderr output (C++ logs, "Saved artifact at ..." prints) to a buffer during the block.

    Yields a list that receives the captured lines, so an error can show them.
    """
    import logging  # here, not at the top: only TensorFlow's exports need it (cold start of the runtime)

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    with capture_native_output((STDOUT_FD, STDERR_FD)) as captured:
        yield captured
