"""TextClassifier: a string → ranked categories, with the tokenizer from the model's metadata."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..metadata.card import Task
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


class TextClassifier(BaseTask):
    """Classifies text with a model whose metadata carries a regex tokenizer and vocabulary.

    Tensor contract: one int32 input (1, N) of token ids, made exactly as MediaPipe's RegexTokenizer
    makes them from the standard metadata (``<START>`` first if the vocabulary has it, unknown words
    → ``<UNKNOWN>``, padded with ``<PAD>`` to N, no lowercasing; see edgekit.processing.text); one
    output (1, C) of class scores named by the labels. Text past N tokens is dropped.
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
        shape = inputs[0].shape
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
