"""The live runner: source → task in LIVE_STREAM mode → sinks, with statistics.

The main thread reads the source and submits to the task; the task's worker runs inference and
hands each result back through a short queue, so sinks (window, web view, stdout) run on the main
thread: OpenCV's window must be driven from one thread, and a slow sink never stalls inference.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..media import AudioBlock, Frame
from ..sources import SourceTimeoutError
from ..tasks import BaseTask

log = logging.getLogger("edgekit.live")


class Sink(Protocol):
    """Receives each result on the runner's thread. ``handle`` returns False to stop the run."""

    def handle(self, result: Any, item: Any, stats: LiveStats) -> bool | None: ...

    def close(self) -> None: ...


@dataclass
class LiveStats:
    """Counters and timings of one live run; ``to_dict()`` is what ``--json`` prints at the end."""

    started_s: float = field(default_factory=time.monotonic)
    frames_read: int = 0
    results: int = 0
    sink_errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    result_times_s: list[float] = field(default_factory=list)
    source_stats: dict[str, Any] = field(default_factory=dict)
    task_stats: dict[str, Any] = field(default_factory=dict)

    def record(self, capture_ms: float, now_s: float) -> None:
        self.results += 1
        self.latencies_ms.append(now_s * 1000 - capture_ms)
        self.result_times_s.append(now_s)
        if len(self.latencies_ms) > 20_000:  # bounded: a run of days must not grow memory
            del self.latencies_ms[:10_000], self.result_times_s[:10_000]

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_s

    @property
    def fps(self) -> float:
        """Results per second over the last 2 s (the on-screen figure)."""
        if len(self.result_times_s) < 2:
            return 0.0
        recent = [t for t in self.result_times_s[-120:] if t >= self.result_times_s[-1] - 2.0]
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        latencies = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        elapsed = self.elapsed_s
        return {
            "type": "stats",
            "elapsed_s": round(elapsed, 3),
            "frames_read": self.frames_read,
            "results": self.results,
            "results_per_s": round(self.results / elapsed, 2) if elapsed > 0 else 0.0,
            "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
            "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2),
            "dropped_by_task": int(self.task_stats.get("dropped", 0)),
            "dropped_by_source": int(self.source_stats.get("frames_dropped", 0)),
            "inference_errors": int(self.task_stats.get("errors", 0)),
            "callback_errors": int(self.task_stats.get("callback_errors", 0)) + self.sink_errors,
            "source": dict(self.source_stats),
        }


class LiveRunner:
    """Runs ``task`` (created in LIVE_STREAM mode with ``runner.on_result`` as its callback) on ``source``.

    Args:
        source: an edgekit source (camera, microphone, file, stream): ``read()`` → Frame/AudioBlock/None.
        sinks: where results go, in order.
        max_frames: stop after this many frames/blocks were read (None: no limit).
        duration_s: stop after this many seconds (None: no limit).
    """

    def __init__(
        self, source: Any, sinks: Sequence[Sink] = (), max_frames: int | None = None, duration_s: float | None = None
    ):
        self.source = source
        self.sinks = list(sinks)
        self.max_frames = max_frames
        self.duration_s = duration_s
        self.stats = LiveStats()
        self._results: queue.Queue = queue.Queue(maxsize=64)
        self._stop = threading.Event()

    def on_result(self, result: Any, item: Any, timestamp_ms: float) -> None:
        """The task's ``result_callback`` (worker thread): pass the result to the runner's thread."""
        entry = (result, item, timestamp_ms, time.monotonic())  # latency ends when the result exists
        try:
            self._results.put_nowait(entry)
        except queue.Full:  # sinks are behind: the oldest undisplayed result is the one to lose
            with contextlib.suppress(queue.Empty):
                self._results.get_nowait()
            self._results.put_nowait(entry)

    def stop(self) -> None:
        self._stop.set()

    def run(self, task: BaseTask) -> LiveStats:
        """Read, submit and dispatch until the source ends, a limit is reached, a sink asks to stop or
        Ctrl-C. Always stops the source and closes the sinks (not the task: the caller owns it)."""
        previous = _install_sigint(self._stop)
        self.stats = LiveStats()
        try:
            with self.source:
                self._loop(task)
                task.flush(timeout_s=10)
                self._dispatch(task)
        finally:
            _restore_sigint(previous)
            self.stats.source_stats = dict(getattr(self.source, "stats", {}) or {})
            self.stats.task_stats = dict(task.stats)
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception:
                    log.exception("closing a sink failed")
        return self.stats

    def _loop(self, task: BaseTask) -> None:
        # A file read as fast as possible is lossless end to end: the source hands out every frame or
        # block and the task waits for room rather than dropping; live sources keep newest-frame-wins.
        lossless = bool(self.source.lossless)
        deadline = None if self.duration_s is None else time.monotonic() + self.duration_s
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if self.max_frames is not None and self.stats.frames_read >= self.max_frames:
                break
            try:
                item = self.source.read(timeout_s=0.05)  # short: results are dispatched between reads
            except SourceTimeoutError:  # nothing new yet (or a stream reconnecting): keep serving results
                self._dispatch(task)
                continue
            self._dispatch(task)
            if item is None:  # the source ended
                break
            self.stats.frames_read += 1
            submit(task, item, wait=lossless)

    def _dispatch(self, task: BaseTask) -> None:
        while True:
            try:
                result, item, timestamp_ms, done_s = self._results.get_nowait()
            except queue.Empty:
                return
            self.stats.record(capture_ms=timestamp_ms, now_s=done_s)  # from capture to the result
            for sink in self.sinks:
                try:
                    if sink.handle(result, item, self.stats) is False:
                        self._stop.set()
                except Exception:
                    self.stats.sink_errors += 1
                    log.exception("a result sink raised; the stream goes on")


def submit(task: BaseTask, item: Frame | AudioBlock, wait: bool = False) -> None:
    """Hand a source's Frame or AudioBlock to a LIVE_STREAM task, stamped with its capture time.

    Items travel whole (pixels and colour order, or samples and rate, and the capture time) through the
    task's public ``run_async``, so the callback and the sinks see what the source read. ``wait``: block
    until the task has room instead of letting it drop an input (lossless sources).
    """
    task.run_async(item, item.timestamp_ms, wait=wait)


def _install_sigint(stop: threading.Event):
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        if stop.is_set():  # a second Ctrl-C: the user really wants out
            raise KeyboardInterrupt
        stop.set()

    # SIGTERM too: `systemctl stop` and `docker stop` should end a run as cleanly as Ctrl-C.
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_sigint(previous) -> None:
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)
