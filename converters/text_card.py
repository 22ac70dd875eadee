"""Checks that a text model's tokenizer is fully said by the standard metadata, before any export work.

The standard TFLite Metadata describes a RegexTokenizer with two fields: the delimiter (an RE2
pattern) and the vocabulary file. MediaPipe Tasks adds fixed rules (``<START>`` first when the
vocabulary has it, ``<UNKNOWN>``/``<PAD>`` by name, no lowercasing, the length of the model's input
tensor). Anything in edgekit's own ``edgekit.json`` that would tokenize differently from those
rules would give one answer in edgekit and another on a phone, so it is refused here with the
reason; what only stops a runtime from loading the file is a note.
"""

from __future__ import annotations

from edgekit.errors import MetadataError
from edgekit.metadata import TextSpec
from edgekit.processing.text import standard_differences

from .source import SourceInput

_FIX = (
    "make the model's tokenizer the standard one: keep case in the vocabulary (or fold case inside the "
    "model), name the specials <PAD>, <UNKNOWN> (and <START> if the model expects it first), and set "
    "max_length to the model's input length"
)


def check_text_spec(spec: TextSpec, first_input: SourceInput, notes: list[str]) -> None:
    """Refuse a text spec the standard cannot express; note what MediaPipe's TextClassifier cannot load.

    Args:
        spec: the text preprocessing the card will carry.
        first_input: the source model's first input (its shape gives the token length).
        notes: where notes for the user go (appended).

    Raises:
        MetadataError: the standard reading of the exported file would produce other token ids
            than ``spec`` describes; the message gives every reason.
    """
    shape = first_input.shape
    if len(shape) != 2 or not shape[1]:
        raise MetadataError(
            f"a text model needs a fixed-length token input (batch, N); this one's input shape is {shape}",
            hint="give the Keras Input a fixed length, e.g. keras.Input((32,), dtype='int32')",
        )
    reasons = standard_differences(spec, int(shape[1]))
    if reasons:
        listed = "; ".join(reasons)
        raise MetadataError(
            f"the text preprocessing cannot be said in the standard metadata, so MediaPipe and other runtimes "
            f"would tokenize differently from edgekit: {listed}",
            hint=_FIX,
        )
    start = "<START> first (it is in the vocabulary), " if spec.start_token else "no <START> token, "
    # The converter cannot see how the model was trained: say the one reading every runtime will use.
    notes.append(
        f"text: tokenized as the standard RegexTokenizer does: split on {spec.delimiter_pattern} (RE2, ASCII \\w), "
        f"{start}case kept, <UNKNOWN> for other words, <PAD> to {int(shape[1])} tokens; the model must have been "
        "trained on these ids"
    )
    if first_input.dtype != "int32":
        notes.append(
            f"token input is {first_input.dtype}: MediaPipe's TextClassifier loads only int32 token inputs "
            "(edgekit reads it; use dtype='int32' for phones)"
        )
