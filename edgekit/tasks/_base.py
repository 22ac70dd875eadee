"""What every task shares: options validated on creation, model loading, the three running modes.

A task is ``postprocess(model.run(preprocess(x)))``; subclasses implement ``check_fits`` (a classmethod:
do a model's tensors and metadata fit this task?), ``_configure`` (set up pre- and postprocessing for the
loaded model), ``input_format`` (what the task consumes) and ``_process(item, timestamp_ms, **call_options)``
(one input → one result). ``run_async`` is the one entry point a live runner needs, whatever the task.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Generic, TypeVar

from ..backends import load
from ..errors import InputError, UnsupportedModelError, closed_error
from ..media import InputFormat
from ..model import Model
from ..processing.classification import check_category_names
from ._modes import RunningMode, StreamWorker, TimestampClock

ResultCallback = Callable[[Any, Any, float], None]
TaskT = TypeVar("TaskT", bound="BaseTask[Any]")


def _names(value: Any, field_name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        raise InputError(f"{field_name} must be a list of label names, got {value!r}") from None
    if not all(isinstance(n, str) for n in names):
        raise InputError(f"{field_name} must contain label names (strings), got {list(names)!r}")
    return names


@dataclass(frozen=True)
class TaskOptions:
    """Options every task has. Subclasses add their own fields; all are validated on creation.

    Attributes:
        model_path: the .tflite file.
        running_mode: IMAGE (one input per call), VIDEO (a synchronous stream with increasing
            timestamps) or LIVE_STREAM (asynchronous; results go to ``result_callback``).
        max_results: keep at most this many categories or detections; -1 keeps all.
        score_threshold: drop results scoring below this.
        category_allowlist: when not empty, keep only these labels.
        category_denylist: drop these labels (cannot be combined with an allowlist).
        num_threads: interpreter threads (>= 1).
        result_callback: ``callback(result, input, timestamp_ms)``; required in LIVE_STREAM mode
            and rejected in the others. Called on the task's worker thread.
    """

    model_path: str | os.PathLike = ""
    running_mode: RunningMode | str = RunningMode.IMAGE
    max_results: int = -1
    score_threshold: float = 0.0
    category_allowlist: Sequence[str] = ()
    category_denylist: Sequence[str] = ()
    num_threads: int = 1
    result_callback: ResultCallback | None = None

    def __post_init__(self):
        name = type(self).__name__
        if not self.model_path:
            raise InputError(f"{name}: model_path is empty", hint="give the path of a .tflite file")
        object.__setattr__(self, "model_path", os.fspath(self.model_path))
        object.__setattr__(self, "running_mode", RunningMode.parse(self.running_mode))
        if isinstance(self.max_results, bool) or not isinstance(self.max_results, int):
            raise InputError(f"{name}: max_results must be an integer, got {self.max_results!r}")
        if self.max_results == 0 or self.max_results < -1:
            raise InputError(f"{name}: max_results must be a positive integer or -1 (all), got {self.max_results}")
        try:
            threshold = float(self.score_threshold)
        except (TypeError, ValueError):
            threshold = math.nan
        if not math.isfinite(threshold):
            raise InputError(f"{name}: score_threshold must be a finite number, got {self.score_threshold!r}")
        object.__setattr__(self, "score_threshold", threshold)
        allow = _names(self.category_allowlist, "category_allowlist")
        deny = _names(self.category_denylist, "category_denylist")
        if allow and deny:
            raise InputError(
                f"{name}: category_allowlist and category_denylist were both given",
                hint="use one of them: an allowlist keeps only its labels, a denylist drops its labels",
            )
        object.__setattr__(self, "category_allowlist", allow)
        object.__setattr__(self, "category_denylist", deny)
        if isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int) or self.num_threads < 1:
            raise InputError(f"{name}: num_threads must be an integer >= 1, got {self.num_threads!r}")
        live = self.running_mode is RunningMode.LIVE_STREAM
        if live and self.result_callback is None:
            raise InputError(
                f"{name}: running_mode LIVE_STREAM needs a result_callback",
                hint="pass result_callback=fn, where fn(result, input, timestamp_ms) receives each result",
            )
        if not live and self.result_callback is not None:
            raise InputError(
                f"{name}: result_callback is only used in LIVE_STREAM mode, but running_mode is "
                f"{self.running_mode.name}",
                hint="use running_mode=LIVE_STREAM, or drop the callback",
            )
        if self.result_callback is not None and not callable(self.result_callback):
            raise InputError(f"{name}: result_callback must be callable, got {self.result_callback!r}")

    @property
    def filters(self) -> dict[str, Any]:
        """The category filters, as keyword arguments of ``rank_categories``."""
        return {
            "max_results": self.max_results,
            "score_threshold": self.score_threshold,
            "allowlist": self.category_allowlist,
            "denylist": self.category_denylist,
        }


OptionsT = TypeVar("OptionsT", bound=TaskOptions)


class BaseTask(Generic[OptionsT]):
    """Loads the model once and runs it in the options' running mode. Use as a context manager.

    Generic in its options class, so ``task.options`` has the subclass's fields for an editor and mypy.

    Thread safety: a task may be shared by threads (``thread_safe``). Its calls take a lock around
    preprocessing, the interpreter and postprocessing, so they run one at a time (for inference in
    parallel, create one task per thread); in VIDEO mode the timestamps must increase in the order the
    calls take the lock. ``close()`` waits for the call in progress.

    A LIVE_STREAM ``result_callback`` that raises is recorded: the task's next call (``run_async``, the
    ``*_async`` methods, ``flush``, ``close``) raises it in the caller's thread, as
    :class:`~edgekit.errors.CallbackError` for an ``Exception`` (the stream goes on), or as the
    ``SystemExit``/``KeyboardInterrupt`` it was (the stream has stopped).
    """

    options_class: ClassVar[type[TaskOptions]] = TaskOptions
    #: calls from several threads are safe: a lock makes them take turns (see the class docstring)
    thread_safe: ClassVar[bool] = True
    task_name: ClassVar[str] = "task"
    #: how many inputs may wait in LIVE_STREAM mode (1: the newest replaces the waiting one)
    live_max_pending: ClassVar[int] = 1
    #: set True to keep a copy of each input tensor, so :meth:`last_input_image` can show it (the web
    #: view's inset); off by default: the copy costs a few microseconds a frame nobody asked for
    keep_last_input: bool = False
    _last_input: Any = None

    #: one input → one result: ``_process(item, timestamp_ms, **call_options)``; each task defines it
    #: with its own keyword options (a region of interest, a colour order, clip=True for audio).
    _process: Callable[..., Any]

    def __init__(self, options: OptionsT, model: Model | None = None):
        if not isinstance(options, self.options_class):
            raise InputError(f"{type(self).__name__} needs {self.options_class.__name__}, got {type(options).__name__}")
        self.options = options
        self.model = model if model is not None else load(options.model_path, num_threads=options.num_threads)
        self.card = self.model.card
        self.labels: tuple[str, ...] = self.card.labels if self.card else ()
        self._closed = False
        self._lock = threading.Lock()  # one call at a time through the interpreter and the task's buffers
        self._submit_lock = threading.Lock()  # LIVE_STREAM: the clock check and the queueing, together
        try:
            self.check_fits(self.model, options)
            self._configure()
            if options.category_allowlist or options.category_denylist:
                check_category_names(
                    options.category_allowlist, options.category_denylist, self.labels, self.model.path.name
                )
        except Exception:
            self.model.close()
            raise
        self._clock = TimestampClock(self.task_name)
        self._worker: StreamWorker | None = None
        if options.running_mode is RunningMode.LIVE_STREAM:
            assert options.result_callback is not None  # TaskOptions refuses LIVE_STREAM without one
            self._worker = StreamWorker(
                self._process_locked, options.result_callback, self.task_name, max_pending=self.live_max_pending
            )

    @classmethod
    def create_from_model_path(cls: type[TaskT], model_path: str | os.PathLike, **options: Any) -> TaskT:
        """Create the task in IMAGE mode (or as ``options`` say) from a model file."""
        return cls(cls.options_class(model_path=model_path, **options))

    @classmethod
    def create_from_options(cls: type[TaskT], options: Any) -> TaskT:
        return cls(options)

    # --- what subclasses implement -------------------------------------------------------------
    @classmethod
    def check_fits(cls, model: Model, options: TaskOptions | None = None) -> None:
        """Does ``model`` (its tensors and metadata) fit this task? Builds nothing and keeps the model open.

        Args:
            model: a loaded model.
            options: the options the task would get (None: the defaults); some change what fits.

        Raises:
            UnsupportedModelError: why the model does not fit, naming its tensors and task.
        """
        raise NotImplementedError

    def _configure(self) -> None:
        """Set up pre- and postprocessing for ``self.model`` (which ``check_fits`` accepted)."""
        raise NotImplementedError

    @property
    def input_format(self) -> InputFormat:
        """What this task consumes: video frames, audio (at which rate) or text."""
        raise NotImplementedError

    def last_input_image(self) -> Any:
        """The newest input as the model saw it, as an (H, W, 3) uint8 RGB picture: after crop, letterbox,
        resize, colour order, and back from normalization. Image tasks with ``keep_last_input`` set; None
        for other tasks or before the first input."""
        return None

    def _keep_input(self, tensor: Any) -> None:
        if self.keep_last_input:
            self._last_input = tensor.copy()  # the plan's buffer is overwritten by the next frame

    # --- the three running modes ---------------------------------------------------------------
    def _require_mode(self, mode: RunningMode, method: str) -> None:
        current = RunningMode.parse(self.options.running_mode)  # a RunningMode since validation
        if current is not mode:
            raise InputError(
                f"{type(self).__name__}.{method}() is for running_mode {mode.name}, "
                f"but this task was created with {current.name}",
                hint=f"create the task with running_mode={mode.name}, or call the method for {current.name}",
            )

    def _require_open(self, method: str) -> None:
        if self._closed:
            raise closed_error(type(self).__name__, method)

    def _process_locked(self, item: Any, timestamp_ms: float, **call_options: Any) -> Any:
        with self._lock:
            return self._process(item, timestamp_ms, **call_options)

    def _run_once(self, item: Any, method: str, **call_options: Any) -> Any:
        self._require_mode(RunningMode.IMAGE, method)
        with self._lock:
            self._require_open(method)  # under the lock: close() may have run while this call waited
            return self._process(item, 0, **call_options)

    def _run_stream(self, item: Any, timestamp_ms: float, method: str, **call_options: Any) -> Any:
        self._require_mode(RunningMode.VIDEO, method)
        with self._lock:
            self._require_open(method)
            return self._process(item, self._clock.check(timestamp_ms), **call_options)

    def _run_async(self, item: Any, timestamp_ms: float, method: str, wait: bool = False) -> None:
        self._require_open(method)
        self._require_mode(RunningMode.LIVE_STREAM, method)
        assert self._worker is not None  # created with the mode; not user input
        with self._submit_lock:  # threads submitting at once: timestamps increase in the order they are queued
            self._worker.report()  # a callback's error first: the timestamp is not used up by a refused input
            self._worker.submit(item, self._clock.check(timestamp_ms), wait=wait)

    def run_async(self, item: Any, timestamp_ms: float, *, wait: bool = False) -> None:
        """LIVE_STREAM mode, for any task: queue one input (a source's Frame or AudioBlock, a numpy frame,
        a string); ``result_callback(result, item, timestamp_ms)`` receives its result.

        This is what a live runner calls; the task-named methods (``classify_async``, ``detect_async``)
        do the same with their own argument lists.

        Args:
            item: the input, as the task's other methods take it.
            timestamp_ms: its capture time; must increase.
            wait: when inputs are waiting, block until there is room instead of dropping one (lossless:
                every input is processed, in order; for files read as fast as the machine allows).

        Raises:
            InputError: wrong running mode, a timestamp that does not increase, or a bad input.
            CallbackError: ``result_callback`` raised since the last call (``item`` was not queued; the
                stream goes on). A callback's SystemExit or KeyboardInterrupt is raised as itself.
            ClosedError: the task was closed, or its stream stopped.
        """
        self._run_async(item, timestamp_ms, "run_async", wait=wait)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """LIVE_STREAM: wait until every submitted input has been processed (False on timeout).

        Raises:
            CallbackError: ``result_callback`` raised (or its SystemExit/KeyboardInterrupt, as itself).
        """
        return self._worker.flush(timeout_s) if self._worker else True

    @property
    def stats(self) -> dict[str, int]:
        """LIVE_STREAM counters: submitted, processed, dropped, errors, callback_errors."""
        return self._worker.stats if self._worker else {}

    def close(self) -> None:
        """Finish what is queued, stop the worker and release the model; later calls raise ClosedError.

        Raises:
            CallbackError: ``result_callback`` raised and no call has reported it yet (the task is closed).
        """
        self._close(report=True)

    def _close(self, report: bool) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._worker is not None:
                self._worker.close(report=report)
        finally:
            with self._lock:  # a call in progress on another thread finishes first
                self.model.close()

    def __enter__(self: TaskT) -> TaskT:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # While an exception leaves the block, a callback error only goes to the log (it must not replace it).
        self._close(report=exc_type is None)

    @classmethod
    def _unfit(cls, model: Model, expected: str) -> UnsupportedModelError:
        """The error for a model whose tensors don't fit this task."""
        inputs = ", ".join(f"{s.shape} {s.dtype}" for s in model.inputs)
        outputs = ", ".join(f"{s.shape} {s.dtype}" for s in model.outputs)
        task = f" (its metadata says {model.card.task.value})" if model.card else ""
        return UnsupportedModelError(
            f"{cls.__name__} expects {expected}; {model.path.name} has inputs [{inputs}] and outputs [{outputs}]{task}",
            hint="use the task that matches the model (edgekit info MODEL shows its tensors and task)",
        )


def option_names(options_class: type[TaskOptions]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(options_class))
