"""TextClassifier: a string → ranked categories, with the tokenizer from the model's metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..metadata.card import Task
from ..processing.classification import classify_outputs
from ..processing.text import Tokenizer
from ..results import ClassificationResult
from ..tasks import BaseTask, TaskOptions

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


class TextClassifier(BaseTask):
    """Classifies text with a model whose metadata carries a regex tokenizer and vocabulary.

    Tensor contract: one int32 input (1, max_length) of token ids (unknown words → the unknown
    token, padded with the pad token); one output (1, N) of class scores named by the labels.
    Empty strings give a pad-only input; text longer than ``max_length`` tokens is truncated.
    """

    options_class = TextClassifierOptions
    task_name = "text-classifier"

    def _check_model(self) -> None:
        if self.card is None or self.card.text is None:
            raise self._unfit("a text model with a tokenizer (vocabulary, max length) in its metadata")
        if self.card.task not in (Task.TEXT_CLASSIFIER, Task.CUSTOM):
            raise self._unfit("a text classification model")
        inputs = self.model.inputs
        if len(inputs) != 1 or inputs[0].dtype not in ("int32", "int64", "float32"):
            raise self._unfit("one token-id input (1, max_length)")
        if self.labels and int(np.prod(self.model.outputs[0].shape[1:])) != len(self.labels):
            raise self._unfit(f"{len(self.labels)} scores (one per label in its metadata)")
        self.tokenizer = Tokenizer(self.card.text)

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
