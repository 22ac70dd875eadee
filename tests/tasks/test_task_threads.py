"""Tasks and threads (issue 14 point 5): a raising result_callback never dies silently, and one task shared
by threads gives the same results as one thread, never a raw interpreter error.

The bundled zoo models (real TFLite files made by the project's converters) on the real interpreter; the
reference for the threaded results is the same task called from one thread, one input after the other.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edgekit import zoo
from edgekit.auto import create_task
from edgekit.errors import CallbackError, ClosedError
from edgekit.live import LiveRunner
from edgekit.media import AudioBlock, Frame
from edgekit.tasks import BaseTask
from tests.support.live_fixtures import FrameList

THREADS = 4
CALLS_PER_THREAD = 12


def _images(count: int, size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(15)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]


def _inputs(kind: str) -> tuple[str, list, str]:
    """(zoo model, inputs, the task's IMAGE-mode method) for each kind of task."""
    if kind == "classifier":
        return "fashion", _images(CALLS_PER_THREAD, 28), "classify"
    if kind == "detector":
        return "faces", _images(CALLS_PER_THREAD, 128), "detect"
    if kind == "text":
        words = ["the match went to extra time", "stocks fell on monday", "a new phone was announced", "rain"]
        return "topics", [words[i % len(words)] + f" {i}" for i in range(CALLS_PER_THREAD)], "classify"
    rng = np.random.default_rng(14)
    clips = [(rng.standard_normal(16000).astype(np.float32) * 0.1, 16000) for _ in range(CALLS_PER_THREAD // 3)]
    return "keywords", clips, "classify"


def _call(task: BaseTask, method: str, item) -> str:
    fn = getattr(task, method)
    result = fn(*item) if isinstance(item, tuple) else fn(item)
    return repr(result.to_dict() if hasattr(result, "to_dict") else result)


@pytest.mark.slow  # over 0.5 s on a quiet machine
@pytest.mark.parametrize("kind", ["classifier", "detector", "text", "audio"])
def test_one_task_shared_by_four_threads_gives_the_one_thread_results(kind):
    name, inputs, method = _inputs(kind)
    path = zoo.path(name, "float32") if name == "faces" else zoo.path(name, "int8")
    with create_task(path) as task:
        assert task.thread_safe
        expected = [_call(task, method, item) for item in inputs]
        got: dict[int, list[str]] = {}
        failures: list[BaseException] = []
        start = threading.Barrier(THREADS)

        def worker(n: int) -> None:
            try:
                start.wait()
                order = list(range(len(inputs)))[n:] + list(range(len(inputs)))[:n]  # threads overlap on inputs
                got[n] = [""] * len(inputs)
                for i in order:
                    got[n][i] = _call(task, method, inputs[i])
            except BaseException as exc:  # noqa: BLE001 - every failure is the test's finding
                failures.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    assert failures == []
    assert [got[n] for n in range(THREADS)] == [expected] * THREADS


def test_closing_a_task_waits_for_the_call_in_progress_and_later_calls_raise_closed_error():
    task = create_task(zoo.path("fashion", "int8"))
    image = _images(1, 28)[0]
    errors: list[BaseException] = []
    done = []

    def classify_many() -> None:
        try:
            while True:  # until close(): the first call after it raises
                done.append(task.classify(image))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=classify_many)
    thread.start()
    while not done:  # the thread is inside its loop
        thread.join(0.001)
    task.close()
    thread.join(60)
    # The loop ends with ClosedError at the first call after close(), never an interpreter error.
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ClosedError), errors
    assert len(done) >= 1


def _live_task(callback):
    return create_task(zoo.path("fashion", "int8"), running_mode="live_stream", result_callback=callback)


def test_a_raising_callback_is_raised_by_the_next_call_and_the_stream_goes_on():
    seen = []

    def callback(result, frame, timestamp_ms):
        seen.append(timestamp_ms)
        if timestamp_ms == 1:
            raise ValueError("user bug")

    image = _images(1, 28)[0]
    with _live_task(callback) as task:
        task.run_async(Frame(image, 1, 0), 1, wait=True)
        with pytest.raises(CallbackError, match=r"result_callback raised ValueError\(user bug\).* at 1 ms") as caught:
            task.flush(30)
        assert isinstance(caught.value.__cause__, ValueError) and caught.value.hint
        task.run_async(Frame(image, 2, 1), 2, wait=True)  # told once; the stream goes on
        task.run_async(Frame(image, 3, 2), 3, wait=True)
        assert task.flush(30)
        assert task.stats["callback_errors"] == 1 and task.stats["processed"] == 3
    assert seen == [1, 2, 3]


def test_an_unreported_callback_error_is_raised_by_close():
    def callback(result, frame, timestamp_ms):
        raise RuntimeError("late")

    task = _live_task(callback)
    task.run_async(Frame(_images(1, 28)[0], 1, 0), 1)
    with pytest.raises(CallbackError, match="late"):
        task.close()
    task.close()  # closed; nothing left to report


def test_an_exception_leaving_the_with_block_is_not_replaced_by_a_callback_error():
    def callback(result, frame, timestamp_ms):
        raise RuntimeError("from the callback")

    with pytest.raises(KeyError, match="the caller's own"), _live_task(callback) as task:
        task.run_async(Frame(_images(1, 28)[0], 1, 0), 1)
        raise KeyError("the caller's own")


@pytest.mark.parametrize("way_out", [SystemExit(3), KeyboardInterrupt()], ids=["SystemExit", "KeyboardInterrupt"])
def test_a_callback_that_exits_stops_the_stream_and_the_next_call_raises_it(way_out):
    calls = []

    def callback(result, frame, timestamp_ms):
        calls.append(timestamp_ms)
        raise way_out

    image = _images(1, 28)[0]
    with _live_task(callback) as task:
        task.run_async(Frame(image, 1, 0), 1, wait=True)
        with pytest.raises(type(way_out)) as caught:
            task.flush(30)  # returns as soon as the worker stopped, then raises the callback's way out
        assert caught.value is way_out
        with pytest.raises(ClosedError, match=f"stream stopped: its result_callback raised {type(way_out).__name__}"):
            task.run_async(Frame(image, 2, 1), 2)
        assert task.stats["callback_errors"] == 1
    assert calls == [1]


def test_the_live_runner_stops_with_the_callbacks_system_exit():
    frames = [np.zeros((28, 28, 3), np.uint8)] * 20
    runner = LiveRunner(FrameList(frames))
    closed = []

    class Sink:
        def handle(self, result, item, stats):
            return None

        def close(self):
            closed.append(True)

    runner.sinks = [Sink()]

    def callback(result, item, timestamp_ms):
        runner.on_result(result, item, timestamp_ms)
        if item.index == 2:
            raise SystemExit(4)

    with _live_task(callback) as task, pytest.raises(SystemExit) as caught:
        runner.run(task)
    assert caught.value.code == 4
    assert closed == [True]  # the runner cleaned up on the way out
    assert 3 <= runner.stats.frames_read < 20  # it stopped early rather than reading the whole file


def test_audio_blocks_follow_the_same_rule():
    def callback(result, block, timestamp_ms):
        raise RuntimeError("audio callback")

    with create_task(zoo.path("keywords", "int8"), running_mode="live_stream", result_callback=callback) as task:
        task.run_async(AudioBlock(np.zeros(1600, np.float32), 16000, 100.0), 100.0, wait=True)
        with pytest.raises(CallbackError, match="audio callback"):
            task.flush(30)
