"""Keep the interpreter's C++ chatter ("INFO: Created TensorFlow Lite XNNPACK delegate") off stderr."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

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
    with tempfile.TemporaryFile() as capture:
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
