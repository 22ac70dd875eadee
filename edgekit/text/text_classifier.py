"""TextClassifier: a string → ranked categories, with the tokenizer from the model's metadata."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..media import InputFormat
from ..metadata.card import Task
from ..model import Model
from ..processing.classification import classify_outputs
from ..processing.text import Tokenizer, standard_differences
from ..results import ClassificationResult
from ..tasks import BaseTask, TaskOptions

log = logging.getLogger(__name__)

#: Longer inputs are refused rather than tokenized: the model reads max_length tokens anyway, and
#: splitting 100 MB with a regex would stall a live app.
MAX_TEXT_BYTES = 10_000_000


@dataclass(frozen=True)
class TextClassifierOptions(TaskOptions):
    """Options for :class:`TextClassifier` (the common ones are in :class:`edgekit.tasks.TaskOptions`)."""


def as_text(text: Any) -> str:
    """A str, or UTF-8 bytes (invalid bytes become U+FFFD), checked for size.

    Raises:
        InputError: not text, or larger than MAX_TEXT_BYTES.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        if len(raw) > MAX_TEXT_BYTES:
            raise InputError(f"text is {len(raw):,} bytes; the limit is {MAX_TEXT_BYTES:,}")
        return raw.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise InputError(f"text must be str or UTF-8 bytes, got {type(text).__name__}")
    if len(text) > MAX_TEXT_BYTES:
        raise InputError(f"text is {len(text):,} characters; the limit is {MAX_TEXT_BYTES:,}")
    return text


class TextClassifier(BaseTask[TextClassifierOptions]):
    """Classifies text with a model whose metadata carries a regex tokenizer and vocabulary.

    Tensor contract: one int32 input (1, N) of token ids, made exactly as MediaPipe's RegexTokenizer
    makes them from the standard metadata (``<START>`` first if the vocabulary has it, unknown words
    → ``<UNKNOWN>``, padded with ``<PAD>`` to N, no lowercasing; see edgekit.processing.text); one
    output (1, C) of class scores named by the labels. Text past N tokens is dropped.
    """

    options_class = TextClassifierOptions
    task_name = "text-classifier"

    @classmethod
    def check_fits(cls, model: Model, options: TaskOptions | None = None) -> None:
        card = model.card
        if card is None or card.text is None:
            raise cls._unfit(model, "a text model with a tokenizer (vocabulary, max length) in its metadata")
        if card.task not in (Task.TEXT_CLASSIFIER, Task.CUSTOM):
            raise cls._unfit(model, "a text classification model")
        inputs = model.inputs
        if len(inputs) != 1 or inputs[0].dtype not in ("int32", "int64", "float32"):
            raise cls._unfit(model, "one token-id input (1, max_length)")
        if card.labels and int(np.prod(model.outputs[0].shape[1:])) != len(card.labels):
            raise cls._unfit(model, f"{len(card.labels)} scores (one per label in its metadata)")

    @property
    def input_format(self) -> InputFormat:
        return InputFormat("text")

    def _configure(self) -> None:
        assert self.card is not None and self.card.text is not None  # check_fits refused the others
        shape = self.model.inputs[0].shape
        # Like MediaPipe, the length is the input tensor's, not a metadata field.
        length = int(shape[1]) if len(shape) == 2 and shape[1] and shape[1] > 0 else None
        self.tokenizer = Tokenizer(self.card.text, max_length=length)
        for reason in standard_differences(self.card.text, length):
            # Old exports only (today's converter refuses these): edgekit follows the standard
            # reading, so its answer is the one MediaPipe and other runtimes give on this file.
            log.warning(
                "%s: %s; edgekit tokenizes as the standard metadata says (re-export to fix)",
                self.options.model_path or self.card.name,
                reason,
            )

    def _process(self, text: Any, timestamp_ms: float) -> ClassificationResult:
        ids = self.tokenizer(as_text(text))
        outputs = self.model.run(ids[None])
        names = [spec.key for spec in self.model.outputs]
        heads = [o[0] for o in outputs]
        return ClassificationResult(classify_outputs(heads, self.labels, names, **self.options.filters), timestamp_ms)

    def classify(self, text: str | bytes) -> ClassificationResult:
        """IMAGE mode (one string per call): classify ``text``.

        Raises:
            InputError: not a string/bytes, over the size limit, or the wrong running mode.
        """
        return self._run_once(text, "classify")

    def classify_for_stream(self, text: str | bytes, timestamp_ms: float) -> ClassificationResult:
        """VIDEO mode: classify one message of a stream; ``timestamp_ms`` must increase."""
        return self._run_stream(text, timestamp_ms, "classify_for_stream")

    def classify_async(self, text: str | bytes, timestamp_ms: float) -> None:
        """LIVE_STREAM mode: the result goes to ``result_callback(result, text, timestamp_ms)``."""
        self._run_async(text, timestamp_ms, "classify_async")
