"""microWakeWord streaming models: recognise them, read their JSON, and run them block by block.

The models (github.com/kahrendt/microWakeWord, published by ESPHome) take ``(1, stride, 40)`` int8
frames of the TFLite-Micro audio frontend (10 ms steps) and return one uint8 probability per call.
They are *streaming*: their convolution buffers live in resource variables inside the interpreter,
so one interpreter must see the whole stream, call after call. ai-edge-litert's
``reset_all_variables()`` does not clear those buffers (measured), so starting a new stream means
loading the model again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backends import load
from ..errors import MetadataError, UnsupportedModelError
from ..media import DEFAULT_SAMPLE_RATE_HZ
from ..model import Model
from ..processing.micro_frontend import FEATURE_SCALE, MicroFrontend, MicroFrontendConfig

FEATURE_CHANNELS = 40
FEATURE_STEP_MS = 10
SAMPLE_RATE_HZ = DEFAULT_SAMPLE_RATE_HZ  # microWakeWord models are trained at 16 kHz
# Used only without a JSON next to the model. ESPHome takes both from the model's JSON and has no
# model-independent default: every published v2 JSON has a window of 5; cutoffs range 0.85-0.97.
DEFAULT_SLIDING_WINDOW_SIZE = 5
DEFAULT_PROBABILITY_CUTOFF = 0.9


def looks_like_micro_wake_word(model: Model) -> bool:
    """One quantized int8 input (1, stride, 40) and one quantized (1, 1) output: microWakeWord's contract."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return False
    source, target = model.inputs[0], model.outputs[0]
    return (
        len(source.shape) == 3
        and source.shape[0] == 1
        and source.shape[2] == FEATURE_CHANNELS
        and source.dtype == np.int8
        and source.quantized
        and int(np.prod(target.shape)) == 1
        and target.quantized
    )


@dataclass(frozen=True)
class MicroWakeWordConfig:
    """What the model's JSON says (``micro`` section), or the defaults above without one."""

    wake_word: str
    probability_cutoff: float = DEFAULT_PROBABILITY_CUTOFF
    sliding_window_size: int = DEFAULT_SLIDING_WINDOW_SIZE
    source: str = "defaults"

    @classmethod
    def for_model(cls, model_path: Path) -> MicroWakeWordConfig:
        """Read ``<model>.json`` next to the model if it exists.

        Raises:
            MetadataError: the JSON exists but is malformed.
            UnsupportedModelError: it asks for a feature step other than 10 ms.
        """
        path = Path(model_path).with_suffix(".json")
        if not path.is_file():
            return cls(wake_word=Path(model_path).stem.replace("_", " "))
        try:
            data = json.loads(path.read_text("utf-8"))
            micro = data.get("micro", {})
            step_ms = int(micro.get("feature_step_size", FEATURE_STEP_MS))
            config = cls(
                wake_word=str(data.get("wake_word") or Path(model_path).stem),
                probability_cutoff=float(micro.get("probability_cutoff", DEFAULT_PROBABILITY_CUTOFF)),
                sliding_window_size=int(micro.get("sliding_window_size", DEFAULT_SLIDING_WINDOW_SIZE)),
                source=str(path),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise MetadataError(f"{path} is not a valid microWakeWord JSON ({exc})") from exc
        if step_ms != FEATURE_STEP_MS:
            raise UnsupportedModelError(
                f"{path} asks for {step_ms} ms feature steps; edgekit computes {FEATURE_STEP_MS} ms steps",
                hint="use a model trained on 10 ms steps (microWakeWord v2)",
            )
        return config


class MicroWakeWordEngine:
    """Samples (16 kHz, float in [-1, 1]) → one wake-word probability every ``stride`` feature steps.

    Each probability is stamped with the end of the last 30 ms frontend window it saw, in stream time.
    """

    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, model: Model, num_threads: int):
        self.model = model
        self.num_threads = num_threads
        self.config = MicroWakeWordConfig.for_model(model.path)
        self.labels = (self.config.wake_word,)
        self.stride = model.inputs[0].shape[1]
        self.frontend = MicroFrontend(MicroFrontendConfig())
        self._used = False
        self.reset()

    @property
    def window_ms(self) -> float:
        return self.frontend.config.window_ms

    @property
    def hop_ms(self) -> float:
        return self.stride * FEATURE_STEP_MS

    def reset(self) -> None:
        """Start a new stream: fresh frontend state and, if it has run, a freshly loaded interpreter."""
        self.frontend.reset()
        self._pending = np.zeros((0, FEATURE_CHANNELS), np.int8)
        self._frames_done = 0
        if self._used:
            self.model.close()
            self.model = load(self.model.path, num_threads=self.num_threads)
            self._used = False

    def _quantize(self, values: np.ndarray) -> np.ndarray:
        # In float64 from the frontend's integers, as microWakeWord's own inference code does.
        spec = self.model.inputs[0]
        assert spec.scale is not None and spec.zero_point is not None  # looks_like_micro_wake_word: int8 input
        real = values.astype(np.float64) * FEATURE_SCALE
        return np.clip(np.rint(real / spec.scale + spec.zero_point), -128, 127).astype(np.int8)

    def feed(self, samples: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """Consume samples; return (timestamp_ms, probabilities of shape (1,)) per model call."""
        features = self._quantize(self.frontend.process(samples, raw=True))
        pending = np.concatenate([self._pending, features]) if self._pending.size else features
        results = []
        calls = len(pending) // self.stride
        step = self.frontend.config.step_samples
        window = self.frontend.config.window_samples
        for call in range(calls):
            block = pending[call * self.stride : (call + 1) * self.stride]
            probability = self.model.run(block[None])[0].reshape(-1)
            self._used = True
            self._frames_done += self.stride
            end_sample = (self._frames_done - 1) * step + window
            results.append((end_sample * 1000.0 / SAMPLE_RATE_HZ, probability.astype(np.float32)))
        self._pending = pending[calls * self.stride :]
        return results

    def finish(self) -> list[tuple[float, np.ndarray]]:
        """End of a clip: nothing to pad (a partial stride is not a model input)."""
        return []
