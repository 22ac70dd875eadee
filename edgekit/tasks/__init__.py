"""The task framework: options, running modes, the live-stream worker."""

from ._base import BaseTask, TaskOptions
from ._modes import RunningMode, StreamWorker, TimestampClock

__all__ = ["BaseTask", "RunningMode", "StreamWorker", "TaskOptions", "TimestampClock"]
