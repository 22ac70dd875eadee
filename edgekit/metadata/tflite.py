"""Read and write the model card inside a .tflite file, in the standard TFLite Metadata format.

Layout (as TFLite Support's MetadataPopulator writes it, so MediaPipe Tasks and Android Studio
read it): the model's ``metadata`` list gets an entry ``TFLITE_METADATA`` pointing at a buffer that
holds a ``ModelMetadata`` flatbuffer (identifier ``M001``); associated files (labels, vocabulary,
``edgekit.json``) are stored uncompressed in a zip archive appended to the model. Reading needs
only numpy and flatbuffers, never TensorFlow.

Over 400 lines: reading and writing are kept together so the layout above is defined in one place (a
change to one side without the other would write files the reader refuses).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace
from typing import Any

import numpy as np
from flatbuffers.number_types import Int32Flags as I32

from .. import limits
from ..errors import LimitError, MetadataError
from ._flatbuf import F32, I8, U8, U32, U64, Obj, View, encode_root
from .card import ImageSpec, ModelCard, Task, TextSpec

METADATA_NAME = "TFLITE_METADATA"
CARD_FILE = "edgekit.json"
LABELS_FILE = "labels.txt"
VOCAB_FILE = "vocab.txt"

# metadata_schema.fbs enums
_FILE_DESCRIPTIONS, _FILE_AXIS_LABELS, _FILE_VOCABULARY = 1, 2, 5
_COLOR_UNKNOWN, _COLOR_RGB, _COLOR_GRAY = 0, 1, 2
_CONTENT_FEATURE, _CONTENT_IMAGE, _CONTENT_AUDIO = 1, 2, 4
_UNIT_NORMALIZATION, _UNIT_REGEX_TOKENIZER = 1, 6


# ----------------------------------------------------------------------------- reading
def find_metadata_buffer(data: bytes | memoryview, name: str = METADATA_NAME) -> bytes | None:
    """Return the bytes of the model's metadata entry ``name``, or None."""
    model = View.root(data)
    buffers = model.tables(4)
    for entry in model.tables(6):
        if entry.string(0) != name:
            continue
        index = entry.scalar(1, U32)
        if index >= len(buffers):
            raise MetadataError(f"metadata {name!r} points at buffer {index}, which does not exist")
        buffer = buffers[index]
        span = buffer.vector_span(0)
        if span is not None and span[1] > 0:
            return bytes(data[span[0] : span[0] + span[1]])
        offset, size = buffer.scalar(1, U64), buffer.scalar(2, U64)
        if offset > 1 and size:
            return bytes(data[offset : offset + size])
        return None
    return None


_REEXPORT = "re-export the model with `edgekit convert`, or download it again (the file looks damaged)"

#: zip flag bits a plain archive may carry: deflate options (2, 4), data descriptor (8), UTF-8 names (0x800)
_PLAIN_ZIP_FLAGS = 0x2 | 0x4 | 0x8 | 0x800


def associated_files(data: bytes) -> dict[str, bytes]:
    """The files packed in the zip archive appended to the model (empty if there is none).

    The archive's declared sizes are checked against :mod:`edgekit.limits` (``associated_files``,
    ``associated_bytes``, ``associated_ratio``) before anything is decompressed; encrypted entries,
    odd flags and compression methods other than stored/deflated are refused.

    Raises:
        MetadataError: the archive is damaged or uses a feature edgekit does not read.
        LimitError: it is bigger than a limit allows.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return {}
    except (LimitError, MetadataError):
        raise
    except Exception as exc:  # zipfile raises many types on damaged archives (ValueError, EOFError, OSError...)
        raise MetadataError(
            f"the zip archive of associated files is damaged ({type(exc).__name__}: {exc})", hint=_REEXPORT
        ) from exc
    with archive:
        infos = archive.infolist()
        where = "the model's associated files (zip appended to the .tflite)"
        limits.check("associated_files", len(infos), where)
        limits.check("associated_bytes", sum(info.file_size for info in infos), where)
        for info in infos:
            if info.flag_bits & 0x1 or info.flag_bits & ~_PLAIN_ZIP_FLAGS:
                raise MetadataError(
                    f"associated file {info.filename!r} is encrypted or has unusual zip flags (0x{info.flag_bits:x})",
                    hint="re-export the model (edgekit convert writes plain, stored associated files)",
                )
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise MetadataError(
                    f"associated file {info.filename!r} uses zip compression method {info.compress_type}",
                    hint="only stored and deflated files are read; re-export the model",
                )
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > 4096 and ratio > limits.get("associated_ratio"):
                limits.check("associated_ratio", int(ratio), f"associated file {info.filename!r}")
        try:
            return {info.filename: archive.read(info) for info in infos}
        except Exception as exc:  # CRC errors, truncated data, bad deflate streams, bad names
            raise MetadataError(
                f"the zip archive of associated files is damaged ({type(exc).__name__}: {exc})",
                hint="re-export the model or download it again",
            ) from exc


def _lines(blob: bytes, limit: str = "labels", what: str = "the model's labels") -> list[str]:
    lines = [line.rstrip("\r") for line in blob.decode("utf-8").split("\n") if line.rstrip("\r")]
    limits.check(limit, len(lines), what)
    return lines


def _read_vocabulary(blob: bytes) -> tuple[str, ...]:
    """Vocabulary files are 'token id' per line (RegexTokenizer) or one token per line.

    A 'token id' line is split at its first space, as MediaPipe's vocabulary loader splits it.
    """
    entries = []
    for position, line in enumerate(_lines(blob, "vocabulary", "the model's vocabulary")):
        token, _, index = line.partition(" ")
        if token and index.isdigit():
            entries.append((int(index), token))
        else:
            entries.append((position, line))
    entries.sort()
    if [i for i, _ in entries] != list(range(len(entries))):
        raise MetadataError("vocabulary ids in the model are not 0..N-1 without gaps")
    return tuple(token for _, token in entries)


def read_card(data: bytes) -> ModelCard | None:
    """Read the model card from a .tflite file's bytes; None if it has no TFLite metadata.

    A model with standard metadata written elsewhere (no ``edgekit.json``) gets a card built from
    the standard fields: image size and colour space, normalization, audio rate, labels,
    regex tokenizer vocabulary.

    Raises:
        MetadataError: the metadata is present but malformed.
    """
    try:
        blob = find_metadata_buffer(data)
    except MetadataError:
        raise
    except Exception as exc:  # IndexError, ValueError, struct.error... from reading untrusted offsets
        raise MetadataError(
            f"the model's metadata table is corrupt ({type(exc).__name__}: {exc})", hint=_REEXPORT
        ) from exc
    if blob is None:
        return None
    if len(blob) < 8 or blob[4:8] != b"M001":
        raise MetadataError(
            f"the TFLITE_METADATA buffer is not TFLite Metadata (identifier {blob[4:8]!r})", hint=_REEXPORT
        )
    files = associated_files(data)
    try:
        return _card_from_metadata(View.root(blob), files, _first_input_shape(data))
    except (MetadataError, LimitError):
        raise
    except Exception as exc:  # untrusted bytes: TypeError, RecursionError (deep JSON), OverflowError, re.error...
        raise MetadataError(
            f"the model's metadata is malformed ({type(exc).__name__}: {exc})",
            hint="re-export the model with `edgekit convert` (or load it without metadata and give labels by hand)",
        ) from exc


def _file_of_type(views: list[View], file_type: int) -> str | None:
    for view in views:
        if view.scalar(2, I8) == file_type:
            return view.string(0)
    return None


def _packed(files: dict[str, bytes], name: str) -> bytes:
    if name not in files:
        raise MetadataError(
            f"the metadata names associated file {name!r}, but the model does not contain it", hint=_REEXPORT
        )
    return files[name]


def _first_input_shape(data: bytes) -> tuple[int, ...]:
    """The shape of the model's first input tensor (schema.fbs: Model.subgraphs, SubGraph.inputs)."""
    subgraphs = View.root(data).tables(2)
    if not subgraphs:
        return ()
    inputs = subgraphs[0].numbers(1, I32)
    tensors = subgraphs[0].tables(0)
    if not len(inputs) or int(inputs[0]) >= len(tensors):
        return ()
    return tuple(int(v) for v in tensors[int(inputs[0])].numbers(0, I32))


def _card_from_metadata(meta: View, files: dict[str, bytes], input_shape: tuple[int, ...] = ()) -> ModelCard:
    subgraphs = meta.tables(3)
    inputs = subgraphs[0].tables(2) if subgraphs else []
    outputs = subgraphs[0].tables(3) if subgraphs else []

    labels: tuple[str, ...] = ()
    if outputs:
        label_file = _file_of_type(outputs[0].tables(6), _FILE_AXIS_LABELS)
        if label_file:
            labels = tuple(_lines(_packed(files, label_file)))

    image: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    vocabulary: tuple[str, ...] = ()
    delimiter: str | None = None
    if inputs:
        for unit in inputs[0].tables(4):
            options = unit.table(1)
            if options is None:
                continue
            if unit.scalar(0, U8) == _UNIT_NORMALIZATION:
                mean, std = tuple(options.numbers(0, F32).tolist()), tuple(options.numbers(1, F32).tolist())
            elif unit.scalar(0, U8) == _UNIT_REGEX_TOKENIZER:
                delimiter = options.string(0)
                vocab_file = next((f.string(0) for f in options.tables(1)), None)
                if vocab_file:
                    vocabulary = _read_vocabulary(_packed(files, vocab_file))
        content = inputs[0].table(3)
        kind = content.scalar(0, U8) if content else 0
        properties = content.table(1) if content else None
        if kind == _CONTENT_IMAGE and properties is not None:
            color = properties.scalar(0, I8)
            size = properties.table(1)
            width, height = (size.scalar(0, U32), size.scalar(1, U32)) if size else (0, 0)
            gray = color == _COLOR_GRAY
            image = dict(
                width=width,
                height=height,
                channels=1 if gray else 3,
                color_order="GRAY" if gray else "RGB",
                mean=mean,
                std=std,
            )
        elif kind == _CONTENT_AUDIO and properties is not None:
            audio = dict(sample_rate_hz=properties.scalar(0, U32), channels=properties.scalar(1, U32) or 1)

    card_name = _file_of_type(meta.tables(6), _FILE_DESCRIPTIONS)
    if card_name == CARD_FILE and CARD_FILE in files:
        card = ModelCard.from_json_dict(json.loads(files[CARD_FILE].decode("utf-8")), vocabulary=vocabulary)
        if card.text is not None and delimiter and delimiter != card.text.delimiter_pattern:
            # The standard field is what every other runtime splits on, so it wins.
            card = card.replace(text=replace(card.text, delimiter_pattern=delimiter))
        return card.replace(labels=labels or card.labels)

    # A standard model from elsewhere: what the standard fields say, nothing guessed beyond them.
    extra: dict[str, Any] = {"metadata_source": "standard TFLite Metadata (no edgekit.json)"}
    task = Task.CUSTOM
    spec: dict[str, Any] = {}
    if image and image["width"] and image["height"]:
        spec["image"] = ImageSpec(**image)
        task = Task.IMAGE_CLASSIFIER if labels else Task.CUSTOM
    elif audio and audio["sample_rate_hz"]:
        extra["audio"] = audio  # window/hop come from the input shape; the task fills them in
        task = Task.AUDIO_CLASSIFIER if labels else Task.CUSTOM
    elif vocabulary and delimiter is not None:
        length = input_shape[1] if len(input_shape) == 2 and input_shape[1] > 0 else 1
        try:
            spec["text"] = TextSpec(vocabulary=vocabulary, max_length=length, delimiter_pattern=delimiter)
            task = Task.TEXT_CLASSIFIER if labels else Task.CUSTOM
        except MetadataError as exc:  # e.g. no <PAD>: MediaPipe refuses such a model too
            extra["text"] = {"delimiter_pattern": delimiter, "vocabulary_size": len(vocabulary), "problem": str(exc)}
    return ModelCard(
        task=task,
        name=meta.string(0) or "model",
        labels=labels,
        description=meta.string(1) or "",
        version=meta.string(2) or "",
        author=meta.string(4) or "",
        license=meta.string(5) or "",
        extra=extra,
        **spec,
    )


# ----------------------------------------------------------------------------- writing
def _associated(name: str, description: str, file_type: int) -> Obj:
    return Obj(5, {0: name, 1: description, 2: (I8, file_type)})


def _input_tensor_metadata(card: ModelCard, name: str) -> tuple[Obj, str]:
    """TensorMetadata for input 0 and the minimum parser version its fields need."""
    version = "1.0.0"
    slots: dict[int, Any] = {0: name}
    if card.image is not None:
        image = card.image
        color = {"RGB": _COLOR_RGB, "GRAY": _COLOR_GRAY}.get(image.color_order, _COLOR_UNKNOWN)
        size = Obj(2, {0: (U32, image.width), 1: (U32, image.height)})
        slots[1] = f"{image.color_order} image, {image.width}x{image.height}, resized by {image.resize_mode}"
        if card.extra.get("input_conversion"):  # e.g. a grey model's luma mix inside the graph
            slots[1] += f"; {card.extra['input_conversion']}"
        slots[3] = Obj(3, {0: (U8, _CONTENT_IMAGE), 1: Obj(2, {0: (I8, color), 1: size})})
        norm = Obj(2, {0: np.asarray(image.mean, np.float32), 1: np.asarray(image.std, np.float32)})
        slots[4] = [Obj(2, {0: (U8, _UNIT_NORMALIZATION), 1: norm})]
        channels = image.channels
        mean = np.broadcast_to(np.asarray(image.mean, np.float32), (channels,))
        std = np.broadcast_to(np.asarray(image.std, np.float32), (channels,))
        low, high = (0.0 - mean) / std, (255.0 - mean) / std
        slots[5] = Obj(2, {0: np.maximum(low, high).astype(np.float32), 1: np.minimum(low, high).astype(np.float32)})
    elif card.audio is not None:
        audio = card.audio
        slots[1] = (
            f"mono audio in [-1, 1] at {audio.sample_rate_hz} Hz, {audio.window_samples} samples "
            f"per window, features: {audio.features}"
        )
        slots[3] = Obj(
            3, {0: (U8, _CONTENT_AUDIO), 1: Obj(2, {0: (U32, audio.sample_rate_hz), 1: (U32, audio.channels)})}
        )
        version = "1.3.0"
    elif card.text is not None:
        text = card.text
        slots[1] = f"token ids, {text.max_length} per text, padded with {text.pad_token}"
        slots[3] = Obj(3, {0: (U8, _CONTENT_FEATURE), 1: Obj(0, {})})
        vocab = _associated(VOCAB_FILE, "Vocabulary: one 'token id' per line", _FILE_VOCABULARY)
        tokenizer = Obj(2, {0: text.delimiter_pattern, 1: [vocab]})
        slots[4] = [Obj(2, {0: (U8, _UNIT_REGEX_TOKENIZER), 1: tokenizer})]
        version = "1.2.1"
    else:
        slots[3] = Obj(3, {0: (U8, _CONTENT_FEATURE), 1: Obj(0, {})})
    return Obj(7, slots), version


def build_metadata(card: ModelCard, input_names: list[str], output_names: list[str]) -> tuple[bytes, dict]:
    """Encode ``card`` as a ModelMetadata flatbuffer; return it with the files to pack beside it."""
    files: dict[str, bytes] = {CARD_FILE: card.to_json().encode("utf-8")}
    first_input, version = _input_tensor_metadata(card, input_names[0] if input_names else "input")
    inputs = [first_input] + [Obj(7, {0: name}) for name in input_names[1:]]
    outputs = []
    for position, name in enumerate(output_names):
        slots: dict[int, Any] = {0: name, 3: Obj(3, {0: (U8, _CONTENT_FEATURE), 1: Obj(0, {})})}
        if position == 0 and card.labels:
            slots[1] = f"scores for {len(card.labels)} classes"
            slots[6] = [_associated(LABELS_FILE, "Labels for the classes of the output", _FILE_AXIS_LABELS)]
            files[LABELS_FILE] = ("\n".join(card.labels) + "\n").encode("utf-8")
        outputs.append(Obj(7, slots))
    if card.text is not None:
        files[VOCAB_FILE] = "".join(f"{token} {i}\n" for i, token in enumerate(card.text.vocabulary)).encode()
        version = max(version, "1.0.1", key=_version_key)
    subgraph = Obj(10, {0: card.name, 2: inputs, 3: outputs})
    root = Obj(
        8,
        {
            0: card.name,
            1: card.description or f"{card.task.value} exported by edgekit",
            2: card.version or None,
            3: [subgraph],
            4: card.author or None,
            5: card.license or None,
            6: [_associated(CARD_FILE, "edgekit model card: task, preprocessing, provenance", _FILE_DESCRIPTIONS)],
            7: version,
        },
    )
    return encode_root(root, b"M001"), files


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # tensorflow carries the same generated module
        from tensorflow.lite.python import schema_py_generated as schema  # type: ignore
    return schema


def _aligned_buffer_class(schema):
    """BufferT whose data vector starts on a 16-byte boundary, as the TFLite schema asks."""

    class AlignedBufferT(schema.BufferT):
        def Pack(self, builder):  # noqa: N802 (flatbuffers naming)
            data_offset = None
            if self.data is not None and len(self.data):
                raw = np.asarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(raw), 16)
                builder.head = builder.head - len(raw)
                builder.Bytes[builder.head : builder.head + len(raw)] = raw
                data_offset = builder.EndVector()
            schema.BufferStart(builder)
            if data_offset is not None:
                schema.BufferAddData(builder, data_offset)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBufferT


def embed_card(model_data: bytes, card: ModelCard) -> bytes:
    """Return a copy of the .tflite ``model_data`` with ``card`` written in as TFLite Metadata.

    Any existing TFLITE_METADATA entry and associated files are replaced; other metadata entries
    (conversion metadata, minimum runtime version) are kept.
    """
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model_data, 0))
    graph = model.subgraphs[0]

    def name_of(index):
        raw = graph.tensors[index].name
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    metadata_blob, files = build_metadata(card, [name_of(i) for i in graph.inputs], [name_of(i) for i in graph.outputs])
    aligned = _aligned_buffer_class(schema)
    model.buffers = [_rebuffer(aligned, b) for b in model.buffers]
    new_buffer = aligned()
    new_buffer.data = np.frombuffer(metadata_blob, dtype=np.uint8)
    entries = [m for m in (model.metadata or []) if _name(m.name) != METADATA_NAME]
    model.buffers.append(new_buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = entries + [entry]
    builder = flatbuffers.Builder(max(1024, len(model_data) + len(metadata_blob) + 1024))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    stream = io.BytesIO()
    stream.write(bytes(builder.Output()))
    # Appending to a non-zip stream writes the archive after the model with absolute offsets, so the
    # file is both a valid flatbuffer and a valid zip. Stored, not deflated: readers mmap the files.
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, blob in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), blob)
    return stream.getvalue()


def _name(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _rebuffer(aligned, buffer):
    new = aligned()
    new.data, new.offset, new.size = buffer.data, buffer.offset, buffer.size
    return new
