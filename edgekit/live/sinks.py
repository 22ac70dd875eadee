"""Where live results go: stdout (text or JSON lines), a window, the web view.

Each sink has ``handle(result, item, stats)`` (False stops the run) and ``close()``. Video sinks draw
the overlay on the frame the result belongs to; audio results are drawn on a plain panel.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

import numpy as np

from ..media import AudioBlock

AUDIO_PANEL_SHAPE = (240, 480, 3)


def frame_of(item: Any) -> np.ndarray:
    """The BGR picture to annotate for a result: the frame itself, or a blank panel for audio and text."""
    image = getattr(item, "image", None)
    if image is None:
        return np.full(AUDIO_PANEL_SHAPE, 32, np.uint8)
    if getattr(item, "color_order", "BGR") == "RGB":
        return np.ascontiguousarray(image[:, :, ::-1])
    return image


def summary(result_dict: dict[str, Any]) -> str:
    """One human line for a result."""
    kind = result_dict.get("type")
    if kind == "detection":
        found = [
            f"{d['categories'][0]['label'] or d['categories'][0]['index']} {d['categories'][0]['score']:.2f}"
            f" at ({d['box']['x']:.0f},{d['box']['y']:.0f} {d['box']['width']:.0f}x{d['box']['height']:.0f})"
            for d in result_dict["detections"]
            if d["categories"]
        ]
        return f"{len(found)} found" + (": " + "; ".join(found) if found else "")
    if kind == "audio" and not result_dict.get("windows"):
        return "(listening: the first window is not full yet)"
    heads = result_dict.get("classifications") or []
    categories = heads[0]["categories"] if heads else []
    text = ", ".join(f"{c['label'] or c['index']} {c['score']:.2f}" for c in categories) or "(nothing above threshold)"
    for keyword in result_dict.get("keywords", []):
        text += f"  KEYWORD {keyword['label']} {keyword['score']:.2f} at {keyword['timestamp_ms'] / 1000:.2f} s"
    return text


def gist(result_dict: dict[str, Any]) -> str:
    """What a result shows, without scores and boxes: the top label, or the labels detected (for change lines)."""
    if result_dict.get("type") == "detection":
        labels = sorted(
            str(d["categories"][0]["label"] or d["categories"][0]["index"])
            for d in result_dict["detections"]
            if d["categories"]
        )
        return f"{len(labels)} found" + (": " + ", ".join(labels) if labels else "")
    heads = result_dict.get("classifications") or []
    categories = heads[0]["categories"] if heads else []
    return str(categories[0]["label"] or categories[0]["index"]) if categories else "(nothing)"


class PrintSink:
    """Prints results: a JSON object per result (``json=True``), or text status lines.

    In text mode a line is printed when what is shown changes (another top label, other objects found), and
    otherwise every ``every`` results (a status line, not one line per frame); audio windows without a keyword
    are printed at most every ``text_interval_s``, so a keyword spotter's console shows the detections, not
    10 lines a second of "silence". :meth:`shown` sums up what was shown, for the closing summary.
    """

    def __init__(
        self,
        json_lines: bool = False,
        stream: TextIO | None = None,
        text_interval_s: float = 1.0,
        every: int = 30,
        min_interval_s: float = 0.0,
    ):
        self.json_lines = json_lines
        self.stream = stream or sys.stdout
        self.text_interval_s = text_interval_s
        self.every = max(1, every)
        self.min_interval_s = min_interval_s  # a service's journal: at most one line this often (keywords always)
        self._last_line_s = -float("inf")
        self._last_text_s = 0.0
        self._last_gist: str | None = None
        self._since_line = 0
        self._shown: dict[str, int] = {}

    def handle(self, result: Any, item: Any, stats: Any) -> None:
        data = result.to_dict()
        index = getattr(item, "index", None)
        if self.json_lines:
            data["latency_ms"] = round(stats.latencies_ms[-1], 2) if stats.latencies_ms else None
            if index is not None:
                data["frame"] = index
            print(json.dumps(data), file=self.stream, flush=True)
            return
        if data.get("type") == "audio":
            for keyword in data.get("keywords", []):
                self._shown[f"keyword {keyword['label']}"] = self._shown.get(f"keyword {keyword['label']}", 0) + 1
            now = time.monotonic()
            if not data.get("keywords") and now - self._last_text_s < self.text_interval_s:
                return
            self._last_text_s = now
        else:
            shown = gist(data)
            self._shown[shown] = self._shown.get(shown, 0) + 1
            self._since_line += 1
            if shown == self._last_gist and self._since_line < self.every:
                return
            if time.monotonic() - self._last_line_s < self.min_interval_s:
                return
            self._last_gist, self._since_line = shown, 0
        self._last_line_s = time.monotonic()
        where = f"[{index}] " if index is not None else ""
        print(f"{where}{summary(data)}  ({stats.fps:.1f} fps)", file=self.stream, flush=True)

    def shown(self, top: int = 5) -> str:
        """What the run showed most, e.g. ``Ankle boot (30 results), Pullover (30)``; "" when nothing was counted."""
        ranked = sorted(self._shown.items(), key=lambda kv: -kv[1])[:top]
        unit = ("result", "results")
        return ", ".join(
            f"{name} ({count}{' ' + unit[count != 1] if i == 0 else ''})" for i, (name, count) in enumerate(ranked)
        )

    def close(self) -> None:
        pass


class WindowSink:
    """Shows each annotated frame in a window; closing it (or q / Esc) stops the run."""

    def __init__(self, title: str = "edgekit"):
        from ..views.window import WindowView

        self.view = WindowView(title)

    def handle(self, result: Any, item: Any, stats: Any) -> bool:
        from ..views.overlay import draw_overlay

        return self.view.show(draw_overlay(frame_of(item), result.to_dict(), fps=stats.fps))

    def close(self) -> None:
        self.view.close()


class WebSink:
    """Publishes each annotated frame and result to the browser view (``edgekit serve``).

    With the ``task``, the page also shows the model's input as the model sees it (image tasks, at
    most ``INPUT_INSET_PER_S`` pictures a second); audio blocks feed its level meter and spectrogram.
    """

    INPUT_INSET_PER_S = 5.0

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        task: Any = None,
        allow_hosts: Any = (),
        max_viewers: int | None = None,
    ):
        from ..views.web import WebView

        limits = {"max_viewers": max_viewers} if max_viewers is not None else {}
        self.view = WebView(host=host, port=port, allow_hosts=allow_hosts or (), **limits)
        self.task = task
        self._caption = _input_caption(task)
        self._last_input_s = 0.0
        if task is not None:
            task.keep_last_input = True
        self.view.start()

    @property
    def url(self) -> str:
        return self.view.url

    def handle(self, result: Any, item: Any, stats: Any) -> None:
        from ..views.overlay import draw_overlay

        data = result.to_dict()
        figures = stats.to_dict()
        figures.pop("source", None)
        figures["fps"] = round(stats.fps, 2)
        self.view.publish(draw_overlay(frame_of(item), data, fps=stats.fps), data, figures)
        self._publish_insets(item, data)

    def _publish_insets(self, item: Any, data: dict[str, Any]) -> None:
        if isinstance(item, AudioBlock):
            self.view.publish_audio(item.samples, item.sample_rate_hz, item.position_ms, data.get("keywords"))
            return
        now = time.monotonic()
        if self.task is None or now - self._last_input_s < 1.0 / self.INPUT_INSET_PER_S:
            return
        image = self.task.last_input_image()
        if image is not None:
            self._last_input_s = now
            self.view.publish_input(image, self._caption)

    def close(self) -> None:
        self.view.stop()


def _input_caption(task: Any) -> str:
    spec = getattr(task, "image_spec", None)
    if spec is None:
        return ""
    return f"model input {spec.width}×{spec.height}, {spec.resize_mode}, as the model sees it"
