"""Text → token ids exactly as the standard metadata's RegexTokenizer says (numpy only).

This is the reading of MediaPipe Tasks' RegexPreprocessorCalculator (and TFLite Support's before
it), which is what an Android or iOS app runs on the same file:

- the text ends at its first NUL character (MediaPipe builds its view of the text from a C string);
- it is split on the RE2 delimiter pattern (see :mod:`.re2_pattern`); the pieces between matches
  are the words, empty pieces dropped; nothing is lower-cased or normalized;
- ids: ``<START>``'s id first **if and only if** the vocabulary has ``<START>``, then each word's id,
  ``<UNKNOWN>``'s id for words not in the vocabulary, truncated to the model's input length and
  padded at the end with ``<PAD>``'s id. The three names are fixed by the standard.
- the length is the model's input tensor length (its shape ``[1, N]``), not a metadata field.
"""

from __future__ import annotations

import numpy as np

from ..errors import MetadataError
from ..metadata.card import TextSpec
from .re2_pattern import compile_delimiter

START, PAD, UNKNOWN = "<START>", "<PAD>", "<UNKNOWN>"


def standard_differences(spec: TextSpec, input_length: int | None = None) -> list[str]:
    """What in ``spec`` a runtime reading only the standard metadata would do differently.

    Each entry is one reason, phrased for a person. An empty list means MediaPipe Tasks, TFLite
    Support and edgekit all produce the same token ids from this spec.

    Args:
        spec: the text preprocessing of a model card.
        input_length: the model's token input length (its shape ``[1, N]``), if known.
    """
    reasons = []
    if spec.lowercase:
        reasons.append(
            "lowercase=True: the standard RegexTokenizer never lowercases, so MediaPipe and other runtimes "
            "would feed 'Hello' where the model was trained on 'hello'"
        )
    if spec.pad_token != PAD or spec.unknown_token != UNKNOWN:
        reasons.append(
            f"pad/unknown tokens {spec.pad_token!r}/{spec.unknown_token!r}: the standard names are {PAD!r} and "
            f"{UNKNOWN!r} (MediaPipe looks them up by these names only)"
        )
    has_start = START in spec.vocabulary
    if has_start and spec.start_token != START:
        reasons.append(
            f"the vocabulary contains {START!r}, so the standard RegexTokenizer puts it first in every input, "
            f"but the spec says start_token={spec.start_token!r}"
        )
    elif not has_start and spec.start_token is not None:
        reasons.append(
            f"start_token={spec.start_token!r}: the standard RegexTokenizer prepends only {START!r}, and only "
            "when the vocabulary contains it"
        )
    if input_length is not None and input_length != spec.max_length:
        reasons.append(
            f"max_length={spec.max_length}, but the model's input holds {input_length} tokens, which is the "
            "length MediaPipe uses"
        )
    bad = [token for token in spec.vocabulary if not token or any(c in token for c in " \n\r\0")]
    if bad:
        reasons.append(
            f"vocabulary tokens {bad[:3]!r} contain a space, line break or NUL (or are empty): the standard "
            "vocabulary file is one 'token id' per line, split at the first space"
        )
    try:
        compile_delimiter(spec.delimiter_pattern)
    except MetadataError as exc:
        reasons.append(str(exc))
    return reasons


class Tokenizer:
    """Turns strings into fixed-length int32 token ids, as the standard RegexTokenizer does.

    Args:
        spec: the card's text spec (vocabulary and delimiter are used; see the module docstring).
        max_length: the model's input length; defaults to ``spec.max_length``.

    Raises:
        MetadataError: the vocabulary lacks ``<PAD>`` or ``<UNKNOWN>`` (MediaPipe refuses such a
            model too), or the delimiter cannot be read as RE2 reads it.
    """

    def __init__(self, spec: TextSpec, max_length: int | None = None):
        self.spec = spec
        self.max_length = int(max_length or spec.max_length)
        self._ids = {token: index for index, token in enumerate(spec.vocabulary)}
        for name in (PAD, UNKNOWN):
            if name not in self._ids:
                raise MetadataError(
                    f"the vocabulary has no {name} token", hint=f"add {PAD} and {UNKNOWN} to the vocabulary"
                )
        self._delimiter = compile_delimiter(spec.delimiter_pattern)
        self._pad, self._unknown = self._ids[PAD], self._ids[UNKNOWN]
        self._start = self._ids.get(START)

    def words(self, text: str | bytes) -> list[str]:
        """The pieces of ``text`` between delimiter matches, in order, empty pieces dropped."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")  # invalid bytes become U+FFFD, never a crash
        text = text.split("\0", 1)[0]
        pieces, last_end = [], 0
        for match in self._delimiter.finditer(text):
            if match.start() > last_end:
                pieces.append(text[last_end : match.start()])
            last_end = match.end()
        if last_end < len(text):
            pieces.append(text[last_end:])
        return pieces

    def __call__(self, text: str | bytes) -> np.ndarray:
        """``max_length`` int32 ids: [<START>] word ids... then <PAD> ids."""
        ids = [] if self._start is None else [self._start]
        for word in self.words(text):
            if len(ids) >= self.max_length:
                break
            ids.append(self._ids.get(word, self._unknown))
        out = np.full(self.max_length, self._pad, np.int32)
        out[: len(ids)] = ids[: self.max_length]
        return out
