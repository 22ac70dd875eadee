"""The model card: task, labels and the preprocessing spec, declared once at conversion.

It is written into the model file (standard TFLite Metadata plus an ``edgekit.json`` associated
file for what the standard cannot say) and read back by the runtime.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import Any

from .. import limits
from ..errors import MetadataError

CARD_FORMAT_VERSION = 1


class Task(str, Enum):
    """What a model does; chooses the task class and the `edgekit run` behaviour."""

    IMAGE_CLASSIFIER = "image-classifier"
    OBJECT_DETECTOR = "object-detector"
    AUDIO_CLASSIFIER = "audio-classifier"
    TEXT_CLASSIFIER = "text-classifier"
    CUSTOM = "custom"

    @classmethod
    def parse(cls, value: str | Task) -> Task:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise MetadataError(f"unknown task {value!r}", hint=f"use one of: {allowed}") from None


RESIZE_MODES = ("stretch", "letterbox", "center_crop")
#: "mediapipe": MediaPipe's image-to-tensor resampling (the default, what other runtimes do);
#: "area": the older area-averaging resampler, only when asked for (recorded in the card).
RESAMPLINGS = ("mediapipe", "area")
COLOR_ORDERS = ("RGB", "BGR", "GRAY")


def _floats(values: Any, what: str) -> tuple[float, ...]:
    if isinstance(values, (int, float)):
        values = (values,)
    try:
        result = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise MetadataError(f"{what} must be numbers, got {values!r}") from None
    if not result or not all(math.isfinite(v) for v in result):
        raise MetadataError(f"{what} must be finite numbers, got {values!r}")
    return result


@dataclass(frozen=True)
class ImageSpec:
    """How a frame becomes the model's input tensor.

    The runtime converts the frame to ``color_order``, resizes it to ``width`` x ``height`` with
    ``resize_mode``, then computes ``(pixel - mean) / std`` per channel (pixels in 0..255) before
    quantizing at the model boundary. A model with a Rescaling layer inside has mean 0, std 1.
    ``resampling`` is "mediapipe" (MediaPipe Tasks' exact geometry and bilinear kernel) unless the
    export asked for "area" (then other runtimes see slightly different pixels).
    """

    width: int
    height: int
    channels: int = 3
    color_order: str = "RGB"
    resize_mode: str = "stretch"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    resampling: str = "mediapipe"

    def __post_init__(self):
        if self.resampling not in RESAMPLINGS:
            raise MetadataError(f"resampling must be one of {RESAMPLINGS}, got {self.resampling!r}")
        if int(self.width) < 1 or int(self.height) < 1:
            raise MetadataError(f"image size must be positive, got {self.width}x{self.height}")
        if self.channels not in (1, 3):
            raise MetadataError(f"image channels must be 1 or 3, got {self.channels}")
        if self.color_order not in COLOR_ORDERS:
            raise MetadataError(f"color_order must be one of {COLOR_ORDERS}, got {self.color_order!r}")
        if self.resize_mode not in RESIZE_MODES:
            raise MetadataError(f"resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}")
        mean, std = _floats(self.mean, "mean"), _floats(self.std, "std")
        for name, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, self.channels):
                raise MetadataError(f"{name} needs 1 or {self.channels} values (one per channel), got {len(values)}")
        if any(v == 0 for v in std):
            raise MetadataError(f"std must not be zero, got {std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))


@dataclass(frozen=True)
class AudioSpec:
    """How audio becomes the model's input: mono float samples in [-1, 1] at ``sample_rate_hz``.

    ``window_samples`` is the model's input length; a stream is cut into windows every
    ``hop_samples``. ``features`` says what the graph expects: ``"waveform"`` (features computed
    inside the graph) or the name of an edgekit feature extractor with ``feature_params``.
    """

    sample_rate_hz: int
    window_samples: int
    hop_samples: int
    channels: int = 1
    features: str = "waveform"
    feature_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("sample_rate_hz", "window_samples", "hop_samples", "channels"):
            if int(getattr(self, name)) < 1:
                raise MetadataError(f"{name} must be positive, got {getattr(self, name)}")
        object.__setattr__(self, "feature_params", dict(self.feature_params))


@dataclass(frozen=True)
class TextSpec:
    """How text becomes token ids, in the terms of the standard metadata's RegexTokenizer.

    Split on ``delimiter_pattern`` (an RE2 pattern), map each word through ``vocabulary`` (index =
    id; unknown words get ``<UNKNOWN>``'s id), put ``<START>``'s id first when the vocabulary has
    it, then truncate or pad with ``<PAD>`` to ``max_length`` (the model's input length). Case is
    kept as written: a case-insensitive model folds case in its vocabulary or graph, not here.

    ``lowercase``, ``pad_token``, ``unknown_token`` and ``start_token`` exist to read cards written
    by older edgekit versions; the standard cannot express other values than the defaults, so the
    converter refuses them and the runtime follows the standard reading (and says so).
    ``start_token="auto"`` resolves to ``"<START>"`` when the vocabulary has it, else None.
    """

    vocabulary: tuple[str, ...]
    max_length: int
    lowercase: bool = False
    delimiter_pattern: str = r"[^\w']+"
    pad_token: str = "<PAD>"
    unknown_token: str = "<UNKNOWN>"
    start_token: str | None = "auto"
    tokenizer: str = "regex"

    def __post_init__(self):
        vocabulary = tuple(str(v) for v in self.vocabulary)
        object.__setattr__(self, "vocabulary", vocabulary)
        if self.start_token == "auto":
            object.__setattr__(self, "start_token", "<START>" if "<START>" in vocabulary else None)
        if int(self.max_length) < 1:
            raise MetadataError(f"max_length must be positive, got {self.max_length}")
        limits.check("text_max_length", int(self.max_length), "the text model's max_length")
        limits.check("vocabulary", len(vocabulary), "the text model's vocabulary")
        if self.tokenizer != "regex":
            raise MetadataError(f"tokenizer must be 'regex', got {self.tokenizer!r}")
        for name in ("pad_token", "unknown_token"):
            if getattr(self, name) not in vocabulary:
                raise MetadataError(f"vocabulary must contain the {name} {getattr(self, name)!r}")
        if len(set(vocabulary)) != len(vocabulary):
            raise MetadataError("vocabulary has duplicate entries")


@dataclass(frozen=True)
class ModelCard:
    """Everything the runtime needs to use a model, and what a person needs to trust it."""

    task: Task = Task.CUSTOM
    name: str = "model"
    labels: tuple[str, ...] = ()
    image: ImageSpec | None = None
    audio: AudioSpec | None = None
    text: TextSpec | None = None
    description: str = ""
    author: str = ""
    license: str = ""
    version: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "task", Task.parse(self.task))
        if hasattr(self.labels, "__len__"):  # counted before converting: a huge list is refused quickly
            limits.check("labels", len(self.labels), f"the labels of model card {self.name!r}")
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        object.__setattr__(self, "extra", dict(self.extra))
        if any("\n" in x for x in self.labels):
            raise MetadataError("labels must not contain newlines")
        if sum(spec is not None for spec in (self.image, self.audio, self.text)) > 1:
            raise MetadataError("a model card has at most one of image, audio or text preprocessing")

    @property
    def preprocessing(self) -> ImageSpec | AudioSpec | TextSpec | None:
        return self.image or self.audio or self.text

    def replace(self, **changes: Any) -> ModelCard:
        return replace(self, **changes)

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``edgekit.json`` file inside the model)."""
        data = asdict(self)
        data["task"] = self.task.value
        data["format_version"] = CARD_FORMAT_VERSION
        if self.image is not None and self.image.resampling == "mediapipe":
            data["image"].pop("resampling")  # the default: files stay readable by older edgekit
        if self.text is not None:
            # The vocabulary travels as the standard VOCABULARY associated file, not twice.
            data["text"].pop("vocabulary")
        return data

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any], vocabulary: tuple[str, ...] = ()) -> ModelCard:
        """Inverse of :meth:`to_json_dict`; ``vocabulary`` comes from the associated file."""
        data = dict(data)
        data.pop("format_version", None)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            data.setdefault("extra", {})
            data["extra"] = {**data["extra"], **{k: data.pop(k) for k in unknown}}
        try:
            if data.get("image"):
                data["image"] = ImageSpec(
                    **{
                        **data["image"],
                        "mean": tuple(data["image"].get("mean", (0.0,))),
                        "std": tuple(data["image"].get("std", (1.0,))),
                    }
                )
            if data.get("audio"):
                data["audio"] = AudioSpec(**data["audio"])
            if data.get("text"):
                data["text"] = TextSpec(vocabulary=vocabulary, **data["text"])
            return cls(**data)
        except TypeError as exc:
            raise MetadataError(f"edgekit.json in the model is malformed: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2, sort_keys=True)
