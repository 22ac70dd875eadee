"""Running modes and the live-stream worker shared by every task.

IMAGE: one independent input per call, on the caller's thread. VIDEO: a stream given synchronously,
with timestamps that must increase. LIVE_STREAM: inputs are handed to a worker thread that calls the
user's ``result_callback(result, input, timestamp_ms)``; when inference is busy the newest input
replaces the waiting one (or, for audio, a short FIFO drops its oldest block) and the drop is counted,
unless the caller asks to wait for room (lossless: a file read as fast as the machine allows).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Any

from ..errors import CallbackError, ClosedError, InputError, closed_error

log = logging.getLogger("edgekit.tasks")


class RunningMode(str, Enum):
    """How a task is fed. Audio and text use the same three modes (IMAGE = one clip or string per call)."""

    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"

    @classmethod
    def parse(cls, value: str | RunningMode) -> RunningMode:
        if isinstance(value, RunningMode):
            return value
        text = str(value).strip().lower().replace("-", "_")
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(m.name for m in cls)
            import difflib  # only for a misspelt mode

            close = difflib.get_close_matches(text, [m.value for m in cls], n=1)
            hint = f"did you mean {close[0].upper()}? " if close else ""
            raise InputError(f"unknown running mode {value!r}", hint=f"{hint}use one of: {allowed}") from None


class TimestampClock:
    """Checks that stream timestamps increase, as VIDEO and LIVE_STREAM modes require."""

    def __init__(self, method: str):
        self.method = method
        self.last_ms: float | None = None

    def check(self, timestamp_ms: float) -> float:
        try:
            value = float(timestamp_ms)
        except (TypeError, ValueError):
            raise InputError(f"{self.method}: timestamp_ms must be a number, got {timestamp_ms!r}") from None
        if value != value:  # NaN
            raise InputError(f"{self.method}: timestamp_ms is NaN")
        if self.last_ms is not None and value <= self.last_ms:
            raise InputError(
                f"{self.method}: timestamp_ms must increase, got {value:g} after {self.last_ms:g}",
                hint="pass each frame's capture time in milliseconds (e.g. time.monotonic() * 1000)",
            )
        self.last_ms = value
        return value


class StreamWorker:
    """Runs ``process(input, timestamp_ms)`` on one worker thread and hands results to ``callback``.

    ``max_pending=1`` is the latest-frame policy: a new input replaces the one waiting (counted in
    ``dropped``). A larger ``max_pending`` keeps a bounded FIFO (audio blocks must stay in order)
    and drops the oldest when full. An exception from ``process`` (a bad input) is logged and counted,
    and the stream goes on.

    A ``callback`` that raises never dies silently: the exception is logged, counted and recorded, and
    the caller's next call (``submit``, ``flush`` or ``close``) raises it in the caller's thread: an
    ``Exception`` as :class:`CallbackError` (the stream goes on), ``SystemExit`` and ``KeyboardInterrupt``
    (any ``BaseException``) as themselves, after which the stream has stopped (later calls raise
    :class:`ClosedError` naming why).
    """

    def __init__(
        self,
        process: Callable[[Any, float], Any],
        callback: Callable[[Any, Any, float], None],
        name: str,
        max_pending: int = 1,
    ):
        self._process = process
        self._callback = callback
        self._name = name
        self._pending: deque[tuple[Any, float]] = deque()
        self._max_pending = max_pending
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False
        #: the first callback exception the caller has not been told about yet, and where it happened
        self._failure: tuple[BaseException, float] | None = None
        self._unreported = 0
        #: why the stream stopped (a callback raised SystemExit, KeyboardInterrupt, ...), or None
        self._stopped_by: BaseException | None = None
        self.submitted = 0
        self.processed = 0
        self.dropped = 0
        self.errors = 0
        self.callback_errors = 0
        self._thread = threading.Thread(target=self._loop, name=f"edgekit-{name}", daemon=True)
        self._thread.start()

    def submit(self, item: Any, timestamp_ms: float, wait: bool = False) -> None:
        """Queue ``item``; when the queue is full, drop its oldest input, or with ``wait`` block until there is room.

        Raises:
            CallbackError (or the callback's SystemExit/KeyboardInterrupt): the callback raised since the
                last call; ``item`` was not queued.
            ClosedError: the stream was closed, or stopped by a callback's SystemExit/KeyboardInterrupt.
        """
        with self._cond:
            self._raise_failure()
            while wait and len(self._pending) >= self._max_pending and not self._closed:
                self._cond.wait()
                self._raise_failure()
            if self._closed:
                raise self._closed_error("submit")
            self.submitted += 1
            while len(self._pending) >= self._max_pending:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append((item, timestamp_ms))
            self._cond.notify()

    def report(self) -> None:
        """Raise a callback exception the caller was not told about yet (see the class docstring)."""
        with self._cond:
            self._raise_failure()

    def _closed_error(self, method: str) -> ClosedError:
        reason = self._stopped_by
        if reason is None:
            return closed_error(f"the {self._name} stream", method)
        return ClosedError(
            f"the {self._name} stream stopped: its result_callback raised {_describe(reason)}",
            hint="create a new task; the callback's exception was raised by the call after it",
        )

    def _raise_failure(self) -> None:
        """Raise the recorded callback exception once, in the caller's thread (called holding ``_cond``)."""
        if self._failure is None:
            return
        exc, timestamp_ms = self._failure
        more = f" (and {self._unreported} more time(s) since)" if self._unreported else ""
        self._failure, self._unreported = None, 0
        if not isinstance(exc, Exception):  # SystemExit, KeyboardInterrupt: the user's way out, as they raised it
            raise exc
        raise CallbackError(
            f"result_callback raised {_describe(exc)} for the input at {timestamp_ms:g} ms{more}",
            hint="the stream goes on; fix the callback, or catch its errors inside it",
        ) from exc

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                item, timestamp_ms = self._pending.popleft()
                self._busy = True
                self._cond.notify_all()  # room in the queue: a waiting submit may go on
            stop = True
            try:
                stop = self._handle(item, timestamp_ms)
            finally:
                with self._cond:
                    self._busy = False
                    if stop:  # a SystemExit/KeyboardInterrupt ended the stream (or _handle itself failed)
                        self._closed = True
                        self.dropped += len(self._pending)
                        self._pending.clear()
                    self._cond.notify_all()
            if stop:
                return

    def _handle(self, item: Any, timestamp_ms: float) -> bool:
        """Process one input and call back; True when the stream must stop."""
        try:
            result = self._process(item, timestamp_ms)
        except Exception as exc:  # one bad frame must not end the stream
            self.errors += 1
            log.warning("inference failed at %s ms: %s", timestamp_ms, exc)
            return False
        except BaseException as exc:  # SystemExit/KeyboardInterrupt from a task's code: stop, and tell the caller
            self._record(exc, timestamp_ms, stop=True)
            return True
        self.processed += 1
        try:
            self._callback(result, item, timestamp_ms)
        except Exception as exc:
            self.callback_errors += 1
            log.exception("result_callback raised at %s ms; the stream goes on", timestamp_ms)
            self._record(exc, timestamp_ms, stop=False)
        except BaseException as exc:
            self.callback_errors += 1
            log.error("result_callback raised %s at %s ms; the stream stops", _describe(exc), timestamp_ms)
            self._record(exc, timestamp_ms, stop=True)
            return True
        return False

    def _record(self, exc: BaseException, timestamp_ms: float, stop: bool) -> None:
        with self._cond:
            if stop:
                self._stopped_by = exc
                self._failure = (exc, timestamp_ms)  # the way out wins over an earlier ordinary error
            elif self._failure is None:
                self._failure = (exc, timestamp_ms)
            else:
                self._unreported += 1
            self._cond.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every submitted input is processed; False on timeout.

        Raises:
            CallbackError (or the callback's SystemExit/KeyboardInterrupt): the callback raised.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            self._raise_failure()
        return True

    def close(self, timeout_s: float = 5.0, report: bool = True) -> None:
        """Finish what is waiting, then stop the thread.

        Args:
            report: raise a callback exception the caller was not told about yet (False: only log it,
                e.g. while another exception is on its way out).
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        with self._cond:
            if report:
                self._raise_failure()
            self._failure = None

    @property
    def stopped_by(self) -> BaseException | None:
        """The callback's SystemExit/KeyboardInterrupt (or other BaseException) that stopped the stream, or None."""
        return self._stopped_by

    @property
    def stats(self) -> dict[str, int]:
        return {
            "submitted": self.submitted,
            "processed": self.processed,
            "dropped": self.dropped,
            "errors": self.errors,
            "callback_errors": self.callback_errors,
        }


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}({text})" if text else type(exc).__name__
