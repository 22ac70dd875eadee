"""SIGTERM and SIGHUP end a CLI command as cleanly as Ctrl-C does.

The handler raises :class:`Stopped` (a KeyboardInterrupt, so every ``finally`` and ``except BaseException``
that cleans up after Ctrl-C runs for it too: atomic writes remove their ``.part`` temporaries); the CLI then
prints one line and exits 128 + the signal number (143 for SIGTERM, 129 for SIGHUP), as shells report it.
A second signal while the first is being cleaned up is ignored, so the clean-up itself is not cut short
(SIGKILL still ends the process; the next run removes what it left, see :mod:`edgekit.io`).

A signal handled while an extension module initialises is raised inside its init function; pybind11 turns it
into ``ImportError("initialization failed")`` with the Stopped as cause, which the interpreter search took for a
broken install (it tried the next interpreter and the signal was lost). Code that catches import errors calls
:func:`edgekit.errors.raise_interruption` first (tests/cli/test_signals_import.py). As a safety net for any other
code that swallows it, a repeated signal more than :data:`SECOND_SIGNAL_GRACE_S` after the first raises again:
`systemctl stop` or a second Ctrl-C always ends the command.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

#: A repeated signal within this many seconds of the first is ignored (the clean-up is running).
SECOND_SIGNAL_GRACE_S = 1.0

#: The signals handled here (SIGINT keeps Python's own KeyboardInterrupt). SIGHUP does not exist on Windows.
HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """The process got SIGTERM or SIGHUP; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Stopped` in the main thread (once)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised_at: float | None = None

    def handler(signum, frame):
        nonlocal raised_at
        now = time.monotonic()
        # Already stopping: let the clean-up finish. But a clean-up takes milliseconds; a second signal a
        # second later means the first was lost (caught by code it interrupted), so raise it again.
        if raised_at is not None and now - raised_at < SECOND_SIGNAL_GRACE_S:
            return
        raised_at = now
        raise Stopped(signum)

    previous = {}
    for sig in HANDLED:
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, old)
