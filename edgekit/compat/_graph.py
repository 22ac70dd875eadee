"""What a .tflite file holds that decides which runtimes load it, read without any interpreter.

Slots follow ``schema.fbs`` (TFL3) and ``metadata_schema.fbs`` (M001), like edgekit/metadata/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flatbuffers import number_types as nt

from ..errors import EdgekitError, InvalidModelError
from ..metadata._flatbuf import F32, I8, U8, View
from ..metadata.slots import (
    AssociatedFileSlot,
    ContentSlot,
    ImagePropertiesSlot,
    ModelMetadataSlot,
    ModelSlot,
    NormalizationOptionsSlot,
    OperatorCodeSlot,
    ProcessUnitSlot,
    RegexTokenizerOptionsSlot,
    SubGraphMetadataSlot,
    SubGraphSlot,
    TensorMetadataSlot,
    TensorSlot,
)
from ..metadata.tflite import find_metadata_buffer

I32 = nt.Int32Flags
CUSTOM_CODE = 32
# schema.fbs TensorType, the names MediaPipe prints in its errors
TENSOR_TYPES = {
    0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 5: "STRING", 6: "BOOL", 7: "INT16",
    8: "COMPLEX64", 9: "INT8", 10: "FLOAT64", 11: "COMPLEX128", 12: "UINT64", 13: "RESOURCE", 14: "VARIANT",
    15: "UINT32", 16: "UINT16", 17: "INT4", 18: "BFLOAT16",
}  # fmt: skip
# metadata_schema.fbs enums
CONTENT_IMAGE, CONTENT_AUDIO = 2, 4
COLOR_SPACES = {0: "UNKNOWN", 1: "RGB", 2: "GRAYSCALE"}
UNIT_NORMALIZATION, UNIT_BERT, UNIT_SENTENCEPIECE, UNIT_REGEX = 1, 4, 5, 6
FILE_VOCABULARY = 5


@dataclass(frozen=True)
class OperatorCode:
    """One entry of the file's operator_codes: what the interpreter must resolve to load it."""

    builtin: int
    version: int
    custom: str = ""

    def describe(self, names: dict[int, str]) -> str:
        if self.builtin == CUSTOM_CODE:
            return f"custom op {self.custom}"
        return f"{names.get(self.builtin, f'BUILTIN_{self.builtin}')} v{self.version}"


@dataclass(frozen=True)
class TensorFacts:
    name: str
    type_name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class InputMetadata:
    """The standard metadata of input 0 (what MediaPipe Tasks reads)."""

    content: int = 0  # ContentProperties type: 2 image, 4 audio
    color_space: str = ""  # for image content
    mean: tuple[float, ...] | None = None  # NormalizationOptions, when present
    std: tuple[float, ...] | None = None
    process_units: tuple[int, ...] = ()
    regex_vocabulary: bool = False  # the RegexTokenizer names a vocabulary file


@dataclass(frozen=True)
class FileFacts:
    """Everything the verdict looks at, read from the file's bytes."""

    operator_codes: tuple[OperatorCode, ...]
    subgraph_count: int
    inputs: tuple[TensorFacts, ...]
    outputs: tuple[TensorFacts, ...]
    has_metadata: bool = False
    model_name: str = ""
    input_metadata: InputMetadata | None = None
    output_metadata_count: int = 0
    extra: dict = field(default_factory=dict)


def _tensors(subgraph: View, slot: int) -> tuple[TensorFacts, ...]:
    tensors = subgraph.tables(SubGraphSlot.TENSORS)
    facts = []
    for index in subgraph.numbers(slot, I32).tolist():
        tensor = tensors[index]
        type_code = int(tensor.scalar(TensorSlot.TYPE, I8))
        facts.append(
            TensorFacts(
                name=tensor.string(TensorSlot.NAME) or f"#{index}",
                type_name=TENSOR_TYPES.get(type_code, f"TYPE_{type_code}"),
                shape=tuple(int(d) for d in tensor.numbers(TensorSlot.SHAPE, I32).tolist()),
            )
        )
    return tuple(facts)


def _input_metadata(tensor: View) -> InputMetadata:
    content = tensor.table(TensorMetadataSlot.CONTENT)
    kind = int(content.scalar(ContentSlot.PROPERTIES_TYPE, U8)) if content else 0
    properties = content.table(ContentSlot.PROPERTIES) if content else None
    color = ""
    if kind == CONTENT_IMAGE and properties is not None:
        color = COLOR_SPACES.get(int(properties.scalar(ImagePropertiesSlot.COLOR_SPACE, I8)), "UNKNOWN")
    mean = std = None
    units, regex_vocabulary = [], False
    for unit in tensor.tables(TensorMetadataSlot.PROCESS_UNITS):
        unit_type = int(unit.scalar(ProcessUnitSlot.OPTIONS_TYPE, U8))
        units.append(unit_type)
        options = unit.table(ProcessUnitSlot.OPTIONS)
        if options is None:
            continue
        if unit_type == UNIT_NORMALIZATION and mean is None:  # MediaPipe takes the first one
            mean = tuple(options.numbers(NormalizationOptionsSlot.MEAN, F32).tolist())
            std = tuple(options.numbers(NormalizationOptionsSlot.STD, F32).tolist())
        elif unit_type == UNIT_REGEX:
            files = options.tables(RegexTokenizerOptionsSlot.VOCAB_FILE)
            regex_vocabulary = any(f.scalar(AssociatedFileSlot.TYPE, I8) == FILE_VOCABULARY for f in files)
    return InputMetadata(kind, color, mean, std, tuple(units), regex_vocabulary)


def read_facts(data: bytes) -> FileFacts:
    """Read operator codes, subgraph 0's inputs/outputs and the standard metadata of a .tflite file.

    Raises:
        InvalidModelError: the bytes are not a readable TFLite flatbuffer.
    """
    try:
        root = View.root(data)
        codes = tuple(
            OperatorCode(
                builtin=max(
                    int(code.scalar(OperatorCodeSlot.DEPRECATED_BUILTIN_CODE, I8)),
                    int(code.scalar(OperatorCodeSlot.BUILTIN_CODE, I32)),
                ),
                version=int(code.scalar(OperatorCodeSlot.VERSION, I32, 1)),
                custom=code.string(OperatorCodeSlot.CUSTOM_CODE) or "",
            )
            for code in root.tables(ModelSlot.OPERATOR_CODES)
        )
        subgraphs = root.tables(ModelSlot.SUBGRAPHS)
        inputs = _tensors(subgraphs[0], SubGraphSlot.INPUTS) if subgraphs else ()
        outputs = _tensors(subgraphs[0], SubGraphSlot.OUTPUTS) if subgraphs else ()
        blob = find_metadata_buffer(data)
    except EdgekitError:
        raise
    except Exception as exc:  # untrusted offsets: IndexError, struct.error, flatbuffers' TypeError...
        raise InvalidModelError(
            f"the file's TFLite tables cannot be read ({exc})",
            hint="check that the file is a complete .tflite model (re-export or re-download it)",
        ) from exc
    facts = FileFacts(codes, len(subgraphs), inputs, outputs)
    if blob is None or blob[4:8] != b"M001":
        return facts
    try:
        meta = View.root(blob)
        graphs = meta.tables(ModelMetadataSlot.SUBGRAPH_METADATA)
        tensors_in = graphs[0].tables(SubGraphMetadataSlot.INPUT_TENSOR_METADATA) if graphs else []
        return FileFacts(
            codes,
            len(subgraphs),
            inputs,
            outputs,
            has_metadata=True,
            model_name=meta.string(ModelMetadataSlot.NAME) or "",
            input_metadata=_input_metadata(tensors_in[0]) if tensors_in else None,
            output_metadata_count=len(graphs[0].tables(SubGraphMetadataSlot.OUTPUT_TENSOR_METADATA)) if graphs else 0,
        )
    except Exception:  # noqa: BLE001 (any damage in the metadata flatbuffer, which no check has verified)
        return facts  # malformed metadata: as if there were none (the card reader reports it)
