"""Live inference: a source feeds a task, results go to sinks (print, window, web page).

Modules:
    runner:  :class:`LiveRunner` (newest frame wins while the task is busy) and :class:`LiveStats`
    sinks:   where results go: :class:`PrintSink`, :class:`WindowSink`, :class:`WebSink`
"""

from .runner import LiveRunner, LiveStats, Sink
from .sinks import PrintSink, WebSink, WindowSink

__all__ = ["LiveRunner", "LiveStats", "PrintSink", "Sink", "WebSink", "WindowSink"]
