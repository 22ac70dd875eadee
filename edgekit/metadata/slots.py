"""Field slots of the two flatbuffer schemas edgekit reads, by name (``View.string(ModelSlot.DESCRIPTION)``).

A slot is a field's position in its table in the ``.fbs`` file, counting from 0; a union field takes two
slots (its type, then its value). ``schema.fbs`` is TensorFlow Lite's model format (identifier TFL3);
``metadata_schema.fbs`` is the TFLite Metadata format (identifier M001).
"""

from __future__ import annotations


# --------------------------------------------------------------------------- schema.fbs (the model)
class ModelSlot:
    VERSION = 0
    OPERATOR_CODES = 1
    SUBGRAPHS = 2
    DESCRIPTION = 3
    BUFFERS = 4
    METADATA_BUFFER = 5
    METADATA = 6
    SIGNATURE_DEFS = 7


class SubGraphSlot:
    TENSORS = 0
    INPUTS = 1
    OUTPUTS = 2
    OPERATORS = 3
    NAME = 4


class TensorSlot:
    SHAPE = 0
    TYPE = 1
    BUFFER = 2
    NAME = 3
    QUANTIZATION = 4


class OperatorCodeSlot:
    DEPRECATED_BUILTIN_CODE = 0  # int8: codes below 127 (older files have only this one)
    CUSTOM_CODE = 1
    VERSION = 2
    BUILTIN_CODE = 3  # int32: every code (newer files)


class OperatorSlot:
    OPCODE_INDEX = 0
    INPUTS = 1
    OUTPUTS = 2


class BufferSlot:
    DATA = 0
    OFFSET = 1  # files over 2 GB keep buffers after the flatbuffer: offset and size instead of data
    SIZE = 2


class MetadataSlot:
    NAME = 0
    BUFFER = 1


class SignatureDefSlot:
    INPUTS = 0
    OUTPUTS = 1
    SIGNATURE_KEY = 2
    SUBGRAPH_INDEX = 4


class TensorMapSlot:
    NAME = 0
    TENSOR_INDEX = 1


# --------------------------------------------------------------------------- metadata_schema.fbs
class ModelMetadataSlot:
    NAME = 0
    DESCRIPTION = 1
    VERSION = 2
    SUBGRAPH_METADATA = 3
    AUTHOR = 4
    LICENSE = 5
    ASSOCIATED_FILES = 6
    MIN_PARSER_VERSION = 7


class SubGraphMetadataSlot:
    NAME = 0
    DESCRIPTION = 1
    INPUT_TENSOR_METADATA = 2
    OUTPUT_TENSOR_METADATA = 3
    ASSOCIATED_FILES = 4


class TensorMetadataSlot:
    NAME = 0
    DESCRIPTION = 1
    DIMENSION_NAMES = 2
    CONTENT = 3
    PROCESS_UNITS = 4
    STATS = 5
    ASSOCIATED_FILES = 6


class ContentSlot:
    PROPERTIES_TYPE = 0  # the union's type
    PROPERTIES = 1
    RANGE = 2


class ImagePropertiesSlot:
    COLOR_SPACE = 0
    DEFAULT_SIZE = 1


class ImageSizeSlot:
    WIDTH = 0
    HEIGHT = 1


class AudioPropertiesSlot:
    SAMPLE_RATE = 0
    CHANNELS = 1


class ProcessUnitSlot:
    OPTIONS_TYPE = 0  # the union's type
    OPTIONS = 1


class NormalizationOptionsSlot:
    MEAN = 0
    STD = 1


class RegexTokenizerOptionsSlot:
    DELIMITER_REGEX = 0
    VOCAB_FILE = 1


class AssociatedFileSlot:
    NAME = 0
    DESCRIPTION = 1
    TYPE = 2
    LOCALE = 3
