"""Newest-frame hand-over from a reader thread to a consumer, and the thread plumbing cameras share."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any, Literal, TypeVar

import numpy as np

from ..errors import EdgekitError, InputError
from ._errors import SourceTimeoutError, StreamError
from ._types import Frame, monotonic_ms

log = logging.getLogger("edgekit.sources")


class LatestFrameSlot:
    """Holds one frame. A new frame replaces an unread one (counted as dropped), so nothing queues.

    In lossless mode (video files read as fast as the consumer goes) ``put`` waits for the consumer
    instead of replacing, so every frame of the file is delivered.
    """

    def __init__(self, lossless: bool = False):
        self.lossless = lossless
        self.frames_dropped = 0
        self.frames_delivered = 0
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self._last_taken_index = -1
        self._ended = False
        self._error: BaseException | None = None

    def _has_unread(self) -> bool:
        return self._frame is not None and self._frame.index > self._last_taken_index

    def put(self, frame: Frame) -> None:
        with self._condition:
            while self.lossless and self._has_unread() and not self._ended:
                self._condition.wait()
            if self._ended:  # stopped: a frame captured after the end is neither handed out nor dropped
                return
            if self._has_unread():
                self.frames_dropped += 1
            self._frame = frame
            self._condition.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        """No more frames will come (after ``error``, if given: read() raises it once the slot is empty)."""
        with self._condition:
            self._ended = True
            if error is not None and self._error is None:
                self._error = error
            self._condition.notify_all()

    def take(self, timeout_s: float | None = None) -> Frame | None:
        """The newest frame not yet taken; None once ended. Raises SourceTimeoutError, or the reader's error."""
        deadline = None if timeout_s is None else monotonic_ms() + timeout_s * 1000.0
        with self._condition:
            while not self._has_unread():
                if self._ended:
                    if self._error is not None:
                        raise self._error
                    return None
                remaining_s = None if deadline is None else (deadline - monotonic_ms()) / 1000.0
                if remaining_s is not None and remaining_s <= 0:
                    raise SourceTimeoutError(
                        f"no new frame within {timeout_s:g} s",
                        hint="the camera or stream is stalled, or a longer timeout_s is needed",
                    )
                self._condition.wait(remaining_s)
            frame = self._frame
            assert frame is not None  # _has_unread() says a frame is there
            self._last_taken_index = frame.index
            self.frames_delivered += 1
            self._condition.notify_all()
            return frame


FrameSourceT = TypeVar("FrameSourceT", bound="ThreadedFrameSource")


class ThreadedFrameSource:
    """Base of the video sources: ``_open`` runs in start() (so errors reach the caller), ``_run`` in a
    daemon reader thread that calls ``_publish`` per image; ``_release`` runs on that thread at the end.
    """

    kind: Literal["video"] = "video"
    join_timeout_s = 3.0

    def __init__(
        self, description: str, *, lossless: bool = False, width: int | None = None, height: int | None = None
    ):
        for name, value in (("width", width), ("height", height)):
            if value is not None and (int(value) != value or value <= 0):
                raise InputError(f"{name} must be a positive number of pixels, got {value!r}")
        self.description = description
        self.width, self.height = width, height
        self.reconnects = 0
        self._slot = LatestFrameSlot(lossless)
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_index = 0

    # -- for subclasses ------------------------------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        pass

    def _publish(self, image: np.ndarray, timestamp_ms: float | None = None) -> None:
        if self.width and self.height and image.shape[:2] != (self.height, self.width):
            import cv2  # only reached when a resize is needed, by which point cv2 is loaded

            image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)
        frame = Frame(image, monotonic_ms() if timestamp_ms is None else timestamp_ms, self._next_index)
        self._next_index += 1
        self._slot.put(frame)

    # -- the Source interface ------------------------------------------------------------------------
    @property
    def lossless(self) -> bool:
        """Every frame in order (a file read as fast as the consumer goes), rather than the newest."""
        return self._slot.lossless

    def start(self: FrameSourceT) -> FrameSourceT:
        """Open the camera, file or stream and start the reader thread.

        Returns:
            The source itself.

        Raises:
            DeviceNotFoundError, SourceNotFoundError, StreamError, InputError: it cannot be opened.
        """
        if self._thread is not None:
            if self._stop_event.is_set():
                raise InputError(f"{self.description} was stopped; open a new source to read it again")
            return self
        self._open()
        self._thread = threading.Thread(target=self._reader, name=f"edgekit-{self.description}", daemon=True)
        self._thread.start()
        return self

    def _reader(self) -> None:
        try:
            self._run()
        except EdgekitError as error:
            self._slot.end(error)
        except Exception as error:  # a reader thread must not die silently: the consumer gets the error
            log.exception("reader thread of %s failed", self.description)
            self._slot.end(StreamError(f"{self.description} failed: {error}"))
        finally:
            try:
                self._release()
            finally:
                self._slot.end()

    def stop(self) -> None:
        """Stop the reader thread (waits at most ``join_timeout_s``; a stuck native read is left to finish)."""
        self._stop_event.set()
        self._slot.end()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.join_timeout_s)
            if thread.is_alive():
                log.warning(
                    "%s: reader thread still busy after %.1f s; left to finish", self.description, self.join_timeout_s
                )

    def read(self, timeout_s: float | None = None) -> Frame | None:
        """The newest frame newer than the last one returned (waits for it); None once the source ended.

        Raises:
            SourceTimeoutError: nothing new within ``timeout_s``.
            StreamError, DeviceNotFoundError: the reader thread failed (camera gone, file unreadable).
            InputError: the source was never started.
        """
        if self._thread is None:
            raise InputError(f"{self.description} is not started", hint="call start() or use it in a with block")
        return self._slot.take(timeout_s)

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self: FrameSourceT) -> FrameSourceT:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def stats(self) -> dict[str, Any]:
        """frames_captured, frames_delivered, frames_dropped (replaced before anyone read them), reconnects,
        overflows (always 0 for video), running."""
        return {
            "frames_captured": self._next_index,
            "frames_delivered": self._slot.frames_delivered,
            "frames_dropped": self._slot.frames_dropped,
            "reconnects": self.reconnects,
            "overflows": 0,
            "running": self._thread is not None and self._thread.is_alive(),
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"
