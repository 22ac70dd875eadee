"""Text: regex tokenizer with a vocabulary, truncation and padding (numpy only)."""

from __future__ import annotations

import re

import numpy as np

from ..metadata.card import TextSpec


class Tokenizer:
    """Turns strings into fixed-length int32 token ids as ``spec`` says."""

    def __init__(self, spec: TextSpec):
        self.spec = spec
        self._ids = {token: index for index, token in enumerate(spec.vocabulary)}
        self._split = re.compile(spec.delimiter_pattern)
        self._pad = self._ids[spec.pad_token]
        self._unknown = self._ids[spec.unknown_token]
        self._start = self._ids.get(spec.start_token) if spec.start_token else None

    def words(self, text: str | bytes) -> list[str]:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")  # invalid bytes become U+FFFD, never a crash
        if self.spec.lowercase:
            text = text.lower()
        return [w for w in self._split.split(text) if w]

    def __call__(self, text: str | bytes) -> np.ndarray:
        ids = [self._start] if self._start is not None else []
        for word in self.words(text):
            if len(ids) >= self.spec.max_length:
                break
            ids.append(self._ids.get(word, self._unknown))
        out = np.full(self.spec.max_length, self._pad, np.int32)
        out[: len(ids)] = ids[: self.spec.max_length]
        return out
