"""Stateless window models: a fixed window of samples in, one score per label out, run every hop."""

from __future__ import annotations

import numpy as np

from ..metadata.card import AudioSpec
from ..model import Model, TensorSpec
from ..processing.streaming import HopScheduler, RingBuffer


class QuantizedInput:
    """Quantizes a float buffer into the input's codes as :meth:`TensorSpec.quantize` does, in place.

    Same float32 operations in the same order (divide, add the zero point, round half to even, clip),
    so the same codes, without the four temporaries a window would otherwise allocate.
    """

    def __init__(self, spec: TensorSpec, values: np.ndarray):
        info = np.iinfo(spec.dtype)
        self._values, self._limits = values, (info.min, info.max)
        self._scale, self._zero_point = np.float32(spec.scale), np.float32(spec.zero_point)
        self._scratch = np.empty(values.shape, np.float32)
        self.codes = np.empty(values.shape, spec.dtype)

    def quantize(self) -> np.ndarray:
        scratch = self._scratch
        np.divide(self._values, self._scale, out=scratch)
        scratch += self._zero_point
        np.rint(scratch, out=scratch)
        np.clip(scratch, *self._limits, out=scratch)
        np.copyto(self.codes, scratch, casting="unsafe")
        return self.codes


class WindowModelEngine:
    """Samples at the model's rate → (window end in stream ms, scores) for every window that completes.

    Windows of ``spec.window_samples`` end at ``window + i * hop_samples`` from the stream's first
    sample. The model keeps no state between calls, so only the ring buffer carries the stream.
    """

    def __init__(self, model: Model, spec: AudioSpec, labels: tuple[str, ...], hop_samples: int):
        self.model = model
        self.spec = spec
        self.labels = labels
        self.sample_rate_hz = spec.sample_rate_hz
        self.window_samples = spec.window_samples
        self.hop_samples = hop_samples
        self._input_shape = model.inputs[0].shape
        # One window buffer (and, for a quantized input, its codes) reused by every call.
        self._window = np.empty(self._input_shape, np.float32)
        self._input = QuantizedInput(model.inputs[0], self._window) if model.inputs[0].quantized else None
        self.reset()

    @property
    def window_ms(self) -> float:
        return self.window_samples * 1000.0 / self.sample_rate_hz

    @property
    def hop_ms(self) -> float:
        return self.hop_samples * 1000.0 / self.sample_rate_hz

    def reset(self) -> None:
        self._ring = RingBuffer(self.window_samples + self.hop_samples)
        self._scheduler = HopScheduler(self.window_samples, self.hop_samples, self.sample_rate_hz)

    def feed(self, samples: np.ndarray) -> list[tuple[float, np.ndarray]]:
        results = []
        # In pieces of at most one hop, so the ring buffer still holds every window that ends inside.
        for start in range(0, samples.size, self.hop_samples):
            self._ring.extend(samples[start : start + self.hop_samples])
            for window in self._scheduler.due(self._ring.total_samples):
                tensor = self._ring.span(window.end_sample, self.window_samples, out=self._window)
                if self._input is not None:
                    tensor = self._input.quantize()
                scores = self.model.run(tensor)[0].reshape(-1).astype(np.float32)
                results.append((window.timestamp_ms, scores))
        return results

    def finish(self) -> list[tuple[float, np.ndarray]]:
        """End of a clip: pad with silence until a window covers its last sample."""
        total = self._ring.total_samples
        padding = self._scheduler.padding_to_cover(total) if total else 0
        return self.feed(np.zeros(padding, np.float32)) if padding else []
