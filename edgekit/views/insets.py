"""What the web page shows beside the results: the model's input as it sees it, and for audio a level
meter and a scrolling spectrogram with the keyword events on it.

Kept apart from the HTTP server (``web.py``): the server hands ``/insets.json`` and ``/input.png`` to
:func:`serve_inset`, and the sink feeds :class:`Insets` through ``WebView.publish_input`` /
``publish_audio``. Everything here is bounded: one input picture, the last few seconds of spectrogram.

``/insets.json?since=SEQ`` → ``{"input": null | {"seq", "caption", "width", "height"},
"audio": null | {"level_db", "peak_db", "column_ms", "bands", "seq", "columns": [[seq, t_ms, base64 bands]],
"keywords": [{"label", "score", "t_ms"}]}}``; columns newer than ``SEQ`` only. Band values are bytes,
0 = -90 dBFS and 255 = -10 dBFS, lowest band first. Times are stream time (ms since the source started),
the clock keyword events use.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from typing import Any
from urllib.parse import parse_qs

import numpy as np

from ..errors import require

SPECTROGRAM_BANDS = 64
SPECTROGRAM_COLUMNS = 600  # about 10 s at 16 ms a column; the page shows what fits its width
FLOOR_DB, CEILING_DB = -90.0, -10.0
KEYWORDS_KEPT = 20
INSET_PATHS = ("/insets.json", "/input.png")


class InputInset:
    """The newest model input picture (RGB uint8), encoded to PNG only when a viewer asks."""

    def __init__(self) -> None:
        self.image: np.ndarray | None = None
        self.caption = ""
        self.seq = 0
        self._png: tuple[int, bytes] | None = None

    def set(self, image_rgb: np.ndarray, caption: str) -> None:
        self.image, self.caption = image_rgb, caption
        self.seq += 1

    def describe(self) -> dict[str, Any] | None:
        if self.image is None:
            return None
        height, width = self.image.shape[:2]
        return {"seq": self.seq, "caption": self.caption, "width": width, "height": height}

    def png(self) -> bytes | None:
        if self.image is None:
            return None
        if self._png is None or self._png[0] != self.seq:
            cv2 = require("cv2", "live", "encoding the web view's model input")
            ok, encoded = cv2.imencode(".png", np.ascontiguousarray(self.image[:, :, ::-1]))
            self._png = (self.seq, encoded.tobytes() if ok else b"")
        return self._png[1] or None


def mel_filters(rate_hz: int, fft_size: int, bands: int = SPECTROGRAM_BANDS, low_hz: float = 60.0) -> np.ndarray:
    """(bands, fft_size // 2 + 1) triangular filters evenly spaced on the mel scale up to half the rate."""

    def mel(hz: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    edges_mel = np.linspace(mel(low_hz), mel(rate_hz / 2), bands + 2)
    edges_hz = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    bins_hz = np.linspace(0, rate_hz / 2, fft_size // 2 + 1)
    filters = np.zeros((bands, bins_hz.size), np.float32)
    for band in range(bands):
        low, mid, high = edges_hz[band : band + 3]
        rising = (bins_hz - low) / max(mid - low, 1e-9)
        falling = (high - bins_hz) / max(high - mid, 1e-9)
        filters[band] = np.clip(np.minimum(rising, falling), 0, None)
    # Narrow low bands may fall between FFT bins: give each at least its nearest bin.
    for band in map(int, np.flatnonzero(filters.sum(axis=1) == 0)):
        filters[band, int(np.argmin(np.abs(bins_hz - edges_hz[band + 1])))] = 1.0
    return filters / filters.sum(axis=1, keepdims=True)


class AudioMonitor:
    """Level and spectrogram of the audio a live task hears, with its keyword events.

    Columns are 32 ms Hann windows every 16 ms (at 16 kHz: 512 samples, hop 256), power averaged into
    64 mel bands, in dB relative to a full-scale sine.
    """

    def __init__(self) -> None:
        self.level_db = FLOOR_DB
        self.peak_db = FLOOR_DB
        self.columns: deque[tuple[int, float, bytes]] = deque(maxlen=SPECTROGRAM_COLUMNS)
        self.keywords: deque[dict[str, Any]] = deque(maxlen=KEYWORDS_KEPT)
        self.seq = 0
        self.rate_hz = 0
        self._pending = np.zeros(0, np.float32)
        self._pending_start_ms = 0.0

    def _configure(self, rate_hz: int) -> None:
        self.rate_hz = rate_hz
        self.fft_size = 1 << int(np.ceil(np.log2(max(rate_hz * 0.032, 64))))
        self.hop = self.fft_size // 2
        self.window = np.hanning(self.fft_size).astype(np.float32)
        self.scale = 2.0 / float(self.window.sum())  # a full-scale sine's peak bin reads 1.0 (0 dB)
        self.filters = mel_filters(rate_hz, self.fft_size)
        self._pending = np.zeros(0, np.float32)

    @property
    def column_ms(self) -> float:
        return 1000.0 * self.hop / self.rate_hz if self.rate_hz else 0.0

    def add(self, samples: np.ndarray, rate_hz: int, position_ms: float, keywords: Any = ()) -> None:
        """One source block (its first sample at stream time ``position_ms``) and the keywords its result found."""
        mono = np.asarray(samples)
        if mono.dtype.kind in "iu":
            mono = mono / float(np.iinfo(mono.dtype).max)
        mono = mono.astype(np.float32).reshape(len(mono), -1).mean(axis=1) if mono.size else mono.astype(np.float32)
        if rate_hz != self.rate_hz:
            self._configure(int(rate_hz))
        if mono.size:
            rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64))))
            peak = float(np.max(np.abs(mono)))
            self.level_db = max(FLOOR_DB, 20 * np.log10(rms + 1e-12))
            self.peak_db = max(FLOOR_DB, 20 * np.log10(peak + 1e-12))
        expected_ms = self._pending_start_ms + 1000.0 * self._pending.size / self.rate_hz
        if not self._pending.size or abs(position_ms - expected_ms) > 1.0:  # a gap (dropped block): restart
            self._pending, self._pending_start_ms = np.zeros(0, np.float32), float(position_ms)
        self._pending = np.concatenate([self._pending, mono])
        count = 0 if self._pending.size < self.fft_size else 1 + (self._pending.size - self.fft_size) // self.hop
        if count:
            frames = np.lib.stride_tricks.sliding_window_view(self._pending, self.fft_size)[:: self.hop][:count]
            power = np.square(np.abs(np.fft.rfft(frames * self.window, axis=1)) * self.scale)
            decibels = 10 * np.log10(power @ self.filters.T + 1e-12)
            levels = np.clip((decibels - FLOOR_DB) * (255.0 / (CEILING_DB - FLOOR_DB)), 0, 255).astype(np.uint8)
            for index, column in enumerate(levels):
                end_ms = self._pending_start_ms + 1000.0 * (index * self.hop + self.fft_size) / self.rate_hz
                self.seq += 1
                self.columns.append((self.seq, end_ms, column.tobytes()))
            consumed = count * self.hop
            self._pending = self._pending[consumed:]
            self._pending_start_ms += 1000.0 * consumed / self.rate_hz
        for keyword in keywords or ():
            self.keywords.append(
                {"label": keyword.get("label"), "score": keyword.get("score"), "t_ms": keyword.get("timestamp_ms")}
            )

    def describe(self, since: int) -> dict[str, Any] | None:
        if not self.rate_hz:
            return None
        return {
            "level_db": round(self.level_db, 1),
            "peak_db": round(self.peak_db, 1),
            "column_ms": self.column_ms,
            "bands": SPECTROGRAM_BANDS,
            "seq": self.seq,
            "columns": [
                [seq, round(t_ms, 1), base64.b64encode(values).decode()]
                for seq, t_ms, values in self.columns
                if seq > since
            ],
            "keywords": list(self.keywords),
        }


class Insets:
    """The model-input picture and the audio monitor, behind one lock (fed by the sink, read by the server)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.input = InputInset()
        self.audio = AudioMonitor()

    def publish_input(self, image_rgb: np.ndarray, caption: str = "") -> None:
        image = np.asarray(image_rgb)
        if image.ndim == 2 or image.shape[-1] == 1:
            image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
        with self.lock:
            self.input.set(np.ascontiguousarray(image, np.uint8), caption)

    def publish_audio(self, samples: np.ndarray, rate_hz: int, position_ms: float, keywords: Any = ()) -> None:
        with self.lock:
            self.audio.add(samples, rate_hz, position_ms, keywords)

    def respond(self, path: str, query: str) -> tuple[bytes, str, int]:
        """(body, content type, status) for one of :data:`INSET_PATHS`."""
        with self.lock:
            if path == "/input.png":
                png = self.input.png()
                return (png, "image/png", 200) if png else (b"no model input yet\n", "text/plain", 404)
            try:
                since = int(parse_qs(query).get("since", ["0"])[0])
            except ValueError:
                since = 0
            body = {"input": self.input.describe(), "audio": self.audio.describe(since)}
        return json.dumps(body, separators=(",", ":")).encode(), "application/json", 200
