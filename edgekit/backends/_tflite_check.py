"""Check a .tflite file's flatbuffer before any interpreter reads it.

The interpreters (ai-edge-litert, tflite-runtime, tf.lite) trust the file: an offset past its end, a
tensor index out of range or an int8 zero point of 200 can crash the process (segfault, heap corruption)
instead of raising. :func:`verify_tflite` walks every table the interpreter reads (schema.fbs: Model,
OperatorCode, SubGraph, Tensor, QuantizationParameters, SparsityParameters, Operator and the options
that hold vectors or subgraph indices, Buffer, Metadata, SignatureDef) and checks:

- every offset, table, vtable, vector and string lies inside the file (strings NUL-terminated);
- counts within :mod:`edgekit.limits` (``model_tensors``, ``model_operators``, ...), shapes non-negative
  and of sane rank, a non-constant tensor at most ``tensor_bytes``; a graph input's shape agreeing with
  its shape_signature (the interpreter sizes every activation from the inputs);
- tensor, buffer, operator-code, subgraph and signature indices in range;
- quantization: scales finite and positive, zero points within the tensor's dtype, per-axis arrays
  as long as the quantized dimension;
- buffers (inline data or offset/size, as files over 2 GB store them) inside the file, and a constant
  tensor's buffer exactly as long as its shape and dtype need.

A failure raises :class:`~edgekit.errors.CorruptModelError` naming the table and field. The walk reads
numbers through ``numpy`` views of the file (no copy of the weights; an unaligned strided view per type
reads numbers at any byte in one gather), many tables at once: its cost does not grow with the weights.
It is a few hundred numpy calls per model whatever its size, 4-8 ms of CPU on a loaded 2-core machine,
25-75 % of a load there: over the 5 % target (``python -m benchmarks.verifier``).

Over 400 lines because it is one algorithm end to end: the schema's tables, walked in one pass, read
better whole than split by table.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from .. import limits
from ..errors import CorruptModelError
from ..metadata.slots import (
    BufferSlot,
    MetadataSlot,
    ModelSlot,
    OperatorCodeSlot,
    OperatorSlot,
    SignatureDefSlot,
    SubGraphSlot,
    TensorMapSlot,
    TensorSlot,
)

HINT = (
    "the file is damaged (truncated, bit-flipped) or was not written by a TFLite converter: "
    "re-export it (edgekit convert) or download it again"
)
MAX_RANK = 16  # TFLite kernels handle up to 6 dimensions; anything past 16 is corruption
MAX_OPERATOR_IO = 100_000  # inputs or outputs of one operator

# schema.fbs TensorType → bytes per element (0: not a fixed-size type), and zero-point range
_ELEMENT_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: 0, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 13: 0, 14: 0}
_ELEMENT_BYTES |= {15: 4, 16: 2, 17: -2, 18: 2, 19: -4, 20: -2, 21: 1, 22: 1}  # negative: elements per byte
_TYPE_NAMES = [
    "FLOAT32",
    "FLOAT16",
    "INT32",
    "UINT8",
    "INT64",
    "STRING",
    "BOOL",
    "INT16",
    "COMPLEX64",
    "INT8",
    "FLOAT64",
    "COMPLEX128",
    "UINT64",
    "RESOURCE",
    "VARIANT",
    "UINT32",
    "UINT16",
    "INT4",
    "BFLOAT16",
    "INT2",
    "UINT4",
    "FLOAT8_E4M3FN",
    "FLOAT8_E5M2",
]
_INT32 = (-(1 << 31), (1 << 31) - 1)
_ZERO_POINT_RANGE = {
    3: (0, 255),
    9: (-128, 127),
    7: (-32768, 32767),
    16: (0, 65535),
    17: (-8, 7),
    20: (0, 15),
    19: (-2, 1),
    2: _INT32,
    15: (0, (1 << 32) - 1),
}

# Options tables (BuiltinOptions / BuiltinOptions2 union members) holding vectors or subgraph indices:
# union type → ([(slot, element bytes)], [subgraph-index slots], [subgraph-index-vector slots])
_OPTIONS: dict[int, tuple[list[tuple[int, int]], list[int], list[int]]] = {
    3: ([(1, 4), (2, 4)], [], []),  # ConcatEmbeddingsOptions
    8: ([(5, 1)], [], []),  # FullyConnectedOptions.quant_spec... (ubyte vector)
    16: ([], [0], []),  # CallOptions.subgraph
    17: ([(0, 4)], [], []),  # ReshapeOptions.new_shape
    30: ([(0, 4)], [], []),  # SqueezeOptions.squeeze_dims
    92: ([], [0, 1], []),  # IfOptions
    93: ([], [0, 1], []),  # WhileOptions
    103: ([], [0], []),  # CallOnceOptions
    115: ([(0, 4)], [], []),  # BucketizeOptions.boundaries
}
_OPTIONS_2: dict[int, tuple[list[tuple[int, int]], list[int], list[int]]] = {
    2: ([(0, 8)], [], []),
    3: ([(0, 8), (1, 8), (2, 8)], [], []),
    4: ([(0, 8), (1, 8), (2, 8), (3, 8), (4, 1), (7, 8), (10, 8), (13, 8), (16, 4)], [], []),
    5: ([(4, 4), (5, 1), (0, -1), (2, -1)], [], []),  # -1: a string
    6: ([(0, 8)], [1], []),
    7: ([(1, 8), (2, 8), (3, 8)], [6], []),
    9: ([(0, 8)], [], []),
    10: ([(0, 8), (1, 8), (2, 8)], [], []),
    12: ([(0, 8), (1, 8), (2, 8), (3, 8), (4, 4)], [], []),
    13: ([(0, 8), (1, 8), (2, 8), (3, 8), (4, 8)], [5], []),
    14: ([], [2], []),
    15: ([], [0, 1], []),
    16: ([(0, 8), (1, 8), (2, 8), (4, 8)], [], []),
    17: ([(0, 8)], [], []),
    21: ([(2, 1), (0, -1)], [1], []),
    23: ([], [], [0]),
}


_CHECKED_OPTIONS = {
    field: np.isin(np.arange(256), list(known))
    for field, known in (("builtin_options", _OPTIONS), ("builtin_options_2", _OPTIONS_2))
}


class _Table:
    """A verified table: its position, byte size and vtable field offsets."""

    __slots__ = ("pos", "size", "fields", "where")

    def __init__(self, pos: int, size: int, fields: tuple[int, ...], where: str):
        self.pos, self.size, self.fields, self.where = pos, size, fields, where


class _Checker:
    def __init__(self, data: bytes | bytearray | memoryview, name: str):
        self.data = data
        self.end = len(data)
        self.name = name
        self.u8 = np.frombuffer(data, np.uint8)
        self._views: dict[str, np.ndarray] = {}

    def view(self, dtype: str) -> np.ndarray:
        """The file as numbers of ``dtype`` starting at *every* byte (element i = the number at byte i): an
        unaligned strided view, made once, no copy, so one fancy index reads numbers at any positions."""
        view = self._views.get(dtype)
        if view is None:
            dt = np.dtype(dtype)
            count = max(self.end - dt.itemsize + 1, 0)
            view = np.ndarray((count,), dt, buffer=self.data, strides=(1,))
            self._views[dtype] = view
        return view

    def get(self, positions: np.ndarray, dtype: str) -> np.ndarray:
        """Numbers of ``dtype`` at byte ``positions`` (already checked to lie in the file)."""
        return _get(self, positions, dtype)

    # ------------------------------------------------------------------ failures
    def fail(self, table: str, field: str, problem: str, where: str = "") -> CorruptModelError:
        place = f" ({where})" if where else ""
        return CorruptModelError(
            f"{self.name}: corrupt TFLite model: {table}.{field}{place}: {problem}", hint=HINT, table=table, field=field
        )

    # ------------------------------------------------------------------ raw structure
    def table(self, pos: int, table: str, where: str) -> _Table:
        end = self.end
        if pos < 0 or pos + 4 > end:
            raise self.fail(table, "(table)", f"starts at byte {pos}, outside the file of {end} bytes", where)
        (back,) = struct.unpack_from("<i", self.data, pos)
        vtable = pos - back
        if vtable < 0 or vtable + 4 > end:
            raise self.fail(table, "(vtable)", f"at byte {vtable}, outside the file", where)
        vsize, tsize = struct.unpack_from("<HH", self.data, vtable)
        if vsize < 4 or vsize & 1 or vtable + vsize > end:
            raise self.fail(table, "(vtable)", f"size {vsize} is not a valid vtable size here", where)
        if tsize < 4 or pos + tsize > end:
            raise self.fail(table, "(table)", f"size {tsize} reaches past the end of the file", where)
        fields = struct.unpack_from(f"<{(vsize - 4) // 2}H", self.data, vtable + 4)
        for slot, offset in enumerate(fields):
            if offset and (offset < 4 or offset >= tsize):
                raise self.fail(table, f"(field {slot})", f"offset {offset} outside the table of {tsize} bytes", where)
        return _Table(pos, tsize, fields, where)

    def field(self, t: _Table, slot: int, width: int, table: str, name: str) -> int:
        """Absolute position of a field (0 when absent), checked to fit in the table."""
        offset = t.fields[slot] if slot < len(t.fields) else 0
        if offset and offset + width > t.size:
            raise self.fail(table, name, f"a {width}-byte field at offset {offset} runs past the table", t.where)
        return t.pos + offset if offset else 0

    def scalar(self, t: _Table, slot: int, fmt: str, table: str, name: str, default: Any = 0) -> Any:
        pos = self.field(t, slot, struct.calcsize(fmt), table, name)
        return struct.unpack_from(fmt, self.data, pos)[0] if pos else default

    def vector(self, t: _Table, slot: int, element: int, table: str, name: str, limit: int = 0) -> tuple[int, int]:
        """(start, count) of a vector field ((0, 0) when absent), checked to lie in the file."""
        pos = self.field(t, slot, 4, table, name)
        if not pos:
            return 0, 0
        return self.vector_at(pos, element, table, name, t.where, limit)

    def vector_at(self, pos: int, element: int, table: str, name: str, where: str, limit: int = 0) -> tuple[int, int]:
        (relative,) = struct.unpack_from("<I", self.data, pos)
        start = pos + relative
        if start + 4 > self.end:
            raise self.fail(table, name, f"points at byte {start}, outside the file of {self.end} bytes", where)
        (count,) = struct.unpack_from("<I", self.data, start)
        if start + 4 + count * max(element, 1) > self.end:
            raise self.fail(table, name, f"{count} elements of {element} bytes run past the end of the file", where)
        if limit:
            limits.check(_LIMIT_OF[limit], count, f"{self.name}: {table}.{name}")
        return start + 4, count

    def string(self, t: _Table, slot: int, table: str, name: str) -> None:
        pos = self.field(t, slot, 4, table, name)
        if pos:
            self.string_at(pos, table, name, t.where)

    def string_at(self, pos: int, table: str, name: str, where: str) -> None:
        start, count = self.vector_at(pos, 1, table, name, where)
        if start + count >= self.end or self.data[start + count] != 0:
            raise self.fail(table, name, "the string is not NUL-terminated inside the file", where)

    def numbers(self, t: _Table, slot: int, dtype: str, table: str, name: str) -> np.ndarray | None:
        start, count = self.vector(t, slot, np.dtype(dtype).itemsize, table, name)
        if not start:
            return None
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start)

    def tables(self, t: _Table, slot: int, table: str, name: str, limit: int = 0) -> list[int]:
        """Positions of the tables a vector field points at (each target checked to lie in the file)."""
        start, count = self.vector(t, slot, 4, table, name, limit)
        if not count:
            return []
        relative = np.frombuffer(self.data, dtype="<u4", count=count, offset=start).astype(np.int64)
        targets = relative + (start + 4 * np.arange(count, dtype=np.int64))
        if int(targets.max()) + 4 > self.end:
            bad = int(np.argmax(targets + 4 > self.end))
            raise self.fail(table, f"{name}[{bad}]", "points outside the file", t.where)
        return targets.tolist()

    def union(self, t: _Table, type_slot: int, table: str, name: str) -> tuple[int, _Table | None]:
        kind = self.scalar(t, type_slot, "<B", table, f"{name}_type")
        pos = self.field(t, type_slot + 1, 4, table, name)
        if not pos or not kind:
            return kind, None
        (relative,) = struct.unpack_from("<I", self.data, pos)
        return kind, self.table(pos + relative, f"{table}.{name}", t.where)


_any = np.count_nonzero  # of a boolean array: much cheaper than .any() on the small arrays walked here

_LIMIT_OF = {1: "model_subgraphs", 2: "model_tensors", 3: "model_operators", 4: "model_buffers"}
_SUBGRAPHS, _TENSORS, _OPERATORS, _BUFFERS = 1, 2, 3, 4
_SLOTS = 13  # the most fields edgekit reads of one table (Operator.builtin_options_2 is slot 12)
_COLUMNS = 4 + 2 * np.arange(_SLOTS, dtype=np.int64)
_ELEMENT_TABLE = np.array([_ELEMENT_BYTES[k] for k in range(len(_TYPE_NAMES))], np.int64)
_ZP_LOW = np.array([_ZERO_POINT_RANGE.get(k, (-(1 << 63), 0))[0] for k in range(len(_TYPE_NAMES))], np.int64)
_ZP_HIGH = np.array([_ZERO_POINT_RANGE.get(k, (0, (1 << 63) - 1))[1] for k in range(len(_TYPE_NAMES))], np.int64)


class _Tables:
    """Many tables of one type checked at once (numpy over their positions): what keeps the check fast."""

    def __init__(self, c: _Checker, pos: np.ndarray, table: str, where: Any):
        self.c, self.pos, self.table, self.where = c, pos.astype(np.int64), table, where
        self.n = n = self.pos.size
        if not n:
            self.vt = self.vsize = self.tsize = self.pos
            self.offsets = self.absolute = np.zeros((0, _SLOTS), np.int64)
            self.room = [1 << 16] * _SLOTS
            return
        end = c.end
        # One pass with positions clamped into the file (so every read is safe), one test of all conditions;
        # only a failing group is walked again, condition by condition, to name what is wrong.
        pos = self.pos
        safe = np.minimum(np.maximum(pos, 0), end - 4)
        vt = safe - c.get(safe, "<i4")
        vt_safe = np.minimum(np.maximum(vt, 0), end - 4)
        vsize, tsize = c.get(vt_safe, "<u2").astype(np.int64), c.get(vt_safe + 2, "<u2").astype(np.int64)
        # only as many columns as the widest vtable has (up to the slots read): small tables cost less
        columns = _COLUMNS[: max(1, min(_SLOTS, (int(vsize.max()) - 4) // 2))]
        present = (vsize[:, None] > columns) & (vt_safe[:, None] + columns + 2 <= end)
        at = np.where(present, vt_safe[:, None] + columns, 0)
        offsets = c.get(at, "<u2").astype(np.int64) * present
        self.vt, self.vsize, self.tsize, self.offsets = vt, vsize, tsize, offsets
        bad_field = (offsets != 0) & ((offsets < 4) | (offsets >= tsize[:, None]))
        bad = (pos != safe) | (vt != vt_safe) | (vsize < 4) | (vsize & 1 == 1) | (vt + vsize > end)
        if _any(bad | (tsize < 4) | (pos + tsize > end)) or _any(bad_field):
            self.fail_if((pos < 0) | (pos + 4 > end), "(table)", "starts outside the file")
            self.fail_if((vt < 0) | (vt + 4 > end), "(vtable)", "lies outside the file")
            self.fail_if((vsize < 4) | (vsize & 1 == 1) | (vt + vsize > end), "(vtable)", "has an invalid size")
            self.fail_if((tsize < 4) | (pos + tsize > end), "(table)", "reaches past the end of the file")
            self.fail_if(bad_field.any(axis=1), "(field)", "a field offset lies outside its table")
        # Every field's absolute position (0 where absent), and per slot the fewest bytes any row's field has
        # before its table ends: field() then checks a width against one number instead of every row.
        has = offsets != 0
        self.absolute = np.where(has, pos[:, None] + offsets, 0)
        self.room = np.where(has, tsize[:, None] - offsets, 1 << 16).min(axis=0).tolist()

    def fail_if(self, bad: np.ndarray, field: str, problem: str, detail: Any = None) -> None:
        if _any(bad):
            i = int(np.argmax(bad))
            extra = f" ({detail(i)})" if detail is not None else ""
            raise self.c.fail(self.table, field, problem + extra, self.where(i))

    def field(self, slot: int, width: int, name: str) -> np.ndarray:
        """Absolute positions of a field (0 where absent), each checked to fit in its table."""
        if slot >= len(self.room):  # no row's vtable reaches this slot: absent everywhere
            return np.zeros(self.n, np.int64)
        if width > self.room[slot]:
            offsets = self.offsets[:, slot]
            self.fail_if((offsets != 0) & (offsets + width > self.tsize), name, "runs past its table")
        return self.absolute[:, slot]

    def scalar(self, slot: int, dtype: str, name: str, default: int = 0) -> np.ndarray:
        where = self.field(slot, np.dtype(dtype).itemsize, name)
        return np.where(where != 0, self.c.get(where, dtype).astype(np.int64), default)

    def vector(self, slot: int, element: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(starts, counts) of a vector field (0, 0 where absent), each checked to lie in the file."""
        where = self.field(slot, 4, name)
        has = where != 0
        end = self.c.end
        target = where + self.c.get(where, "<u4")
        counts = self.c.get(np.minimum(target, end - 4), "<u4").astype(np.int64)
        counts *= has
        starts = np.where(has, target + 4, 0)
        if _any(starts + counts * element > end):  # also catches a target past end - 4 (counts >= 0)
            self.fail_if(has & (target + 4 > end), name, "points outside the file")
            self.fail_if(starts + counts * element > end, name, "runs past the end of the file")
        return starts, counts

    def strings(self, slot: int, name: str) -> None:
        starts, counts = self.vector(slot, 1, name)
        ends = starts + counts
        outside = ends >= self.c.end
        terminator = self.c.u8[np.where(outside, 0, ends)]
        self.fail_if((starts != 0) & (outside | (terminator != 0)), name, "the string is not NUL-terminated")

    def numbers(self, slot: int, dtype: str, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All elements of a numeric vector field, concatenated: (values, owner row of each, counts)."""
        size = np.dtype(dtype).itemsize
        starts, counts = self.vector(slot, size, name)
        positions, owners = _segments(starts, counts, size)
        return self.c.get(positions, dtype), owners, counts

    def children(self, slot: int, table: str, name: str, limit: int = 0) -> tuple[_Tables, np.ndarray]:
        """The tables of a vector-of-tables field, all rows together, and the owner row of each."""
        starts, counts = self.vector(slot, 4, name)
        if limit and counts.size:
            limits.check(_LIMIT_OF[limit], int(counts.max()), f"{self.c.name}: {self.table}.{name}")
        positions, owners = _segments(starts, counts, 4)
        targets = positions + self.c.get(positions, "<u4")
        first = counts.cumsum() - counts
        where = self.where
        return _Tables(
            self.c, targets, table, lambda i: f"{where(int(owners[i]))}.{name}[{i - int(first[owners[i]])}]"
        ), owners

    def child(self, slot: int, table: str, name: str) -> tuple[_Tables, np.ndarray]:
        """The table a table field points at, for the rows that have it (and those rows)."""
        where = self.field(slot, 4, name)
        rows = np.nonzero(where)[0]
        targets = where[rows] + self.c.get(where[rows], "<u4")
        parent = self.where
        return _Tables(self.c, targets, table, lambda i: f"{parent(int(rows[i]))}.{name}"), rows

    def one(self, i: int) -> _Table:
        """Row ``i`` as a single table (for the rare parts checked one by one)."""
        return self.c.table(int(self.pos[i]), self.table, self.where(i))


def _segments(starts: np.ndarray, counts: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Byte positions of every element of many vectors, and the vector (row) each belongs to."""
    total = int(counts.sum())
    if not total:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    owners = np.arange(counts.size).repeat(counts)
    # Positions as a running sum: +size within a vector, a jump from the previous vector's last element to
    # the next vector's first (a few whole-length passes instead of gathers per element).
    rows = np.flatnonzero(counts)
    first, begin = (counts.cumsum() - counts)[rows], starts[rows]
    step = np.full(total, size, np.int64)
    step[first[0]] = begin[0]
    step[first[1:]] = begin[1:] - (begin[:-1] + (counts[rows[:-1]] - 1) * size)
    return step.cumsum(), owners


def _get(c: _Checker, positions: np.ndarray, dtype: str) -> np.ndarray:
    return c.view(dtype)[positions]


def verify_tflite(data: bytes | bytearray | memoryview, name: str = "model") -> None:
    """Check the flatbuffer of a .tflite file (see the module docstring); ``name`` prefixes errors.

    Raises:
        CorruptModelError: naming the table and field that is wrong.
        LimitError: a count or tensor size over a limit of :mod:`edgekit.limits`.
    """
    c = _Checker(data, name)
    if c.end < 8 or bytes(data[4:8]) != b"TFL3":
        raise c.fail("Model", "(file identifier)", "expected 'TFL3' at byte 4")
    (root,) = struct.unpack_from("<I", data, 0)
    model = _Tables(c, np.array([root]), "Model", lambda i: "root")
    model.strings(ModelSlot.DESCRIPTION, "description")

    codes, _ = model.children(ModelSlot.OPERATOR_CODES, "OperatorCode", "operator_codes")
    codes.strings(OperatorCodeSlot.CUSTOM_CODE, "custom_code")
    builtin = codes.scalar(OperatorCodeSlot.BUILTIN_CODE, "<i4", "builtin_code")
    deprecated = codes.scalar(OperatorCodeSlot.DEPRECATED_BUILTIN_CODE, "<i1", "deprecated_builtin_code")
    codes.fail_if((builtin < 0) | (deprecated < 0), "builtin_code", "is negative")
    codes.fail_if(codes.scalar(OperatorCodeSlot.VERSION, "<i4", "version", 1) < 1, "version", "is below 1")

    buffers, _ = model.children(ModelSlot.BUFFERS, "Buffer", "buffers", _BUFFERS)
    buffer_sizes = _buffer_sizes(c, buffers)

    subgraphs, _ = model.children(ModelSlot.SUBGRAPHS, "SubGraph", "subgraphs", _SUBGRAPHS)
    if not subgraphs.n:
        raise c.fail("Model", "subgraphs", "the model has no subgraph", "root")
    subgraphs.strings(SubGraphSlot.NAME, "name")
    tensor_counts = [_subgraph(c, subgraphs, s, codes.n, buffer_sizes) for s in range(subgraphs.n)]

    metadata_buffer, _, _ = model.numbers(ModelSlot.METADATA_BUFFER, "<i4", "metadata_buffer")
    _indices(c, metadata_buffer, buffer_sizes.size, "Model", "metadata_buffer", "root", low=0)
    metadata, _ = model.children(ModelSlot.METADATA, "Metadata", "metadata")
    metadata.strings(MetadataSlot.NAME, "name")
    metadata.fail_if(
        metadata.scalar(MetadataSlot.BUFFER, "<u4", "buffer") >= buffer_sizes.size, "buffer", "no such buffer"
    )

    signatures, _ = model.children(ModelSlot.SIGNATURE_DEFS, "SignatureDef", "signature_defs")
    signatures.strings(SignatureDefSlot.SIGNATURE_KEY, "signature_key")
    signatures.strings(3, "deprecated_tag")
    graph_of = signatures.scalar(SignatureDefSlot.SUBGRAPH_INDEX, "<u4", "subgraph_index")
    signatures.fail_if(graph_of >= subgraphs.n, "subgraph_index", "no such subgraph")
    for slot, field in ((SignatureDefSlot.INPUTS, "inputs"), (SignatureDefSlot.OUTPUTS, "outputs")):
        maps, owners = signatures.children(slot, "TensorMap", field)
        maps.strings(TensorMapSlot.NAME, "name")
        index = maps.scalar(TensorMapSlot.TENSOR_INDEX, "<u4", "tensor_index")
        available = np.array(tensor_counts, np.int64)[graph_of[owners]] if maps.n else index
        maps.fail_if(index >= available, "tensor_index", "no such tensor in the signature's subgraph")


def _buffer_sizes(c: _Checker, buffers: _Tables) -> np.ndarray:
    """Bytes of each buffer (inline data, or offset/size past the flatbuffer); -1 when empty."""
    starts, counts = buffers.vector(BufferSlot.DATA, 1, "data")
    offsets = buffers.scalar(BufferSlot.OFFSET, "<u8", "offset").astype(np.uint64)
    sizes = buffers.scalar(BufferSlot.SIZE, "<u8", "size").astype(np.uint64)
    external = (counts == 0) & (offsets > 1)
    buffers.fail_if(
        external & ((offsets + sizes < offsets) | (offsets + sizes > c.end)), "offset", "reaches past the file"
    )
    buffers.fail_if((counts == 0) & (offsets <= 1) & (sizes > 0), "size", "is set without a data offset")
    result = np.where(counts > 0, counts, -1)
    return np.where(external & (sizes > 0), sizes.astype(np.int64), result)


def _indices(c: _Checker, values: np.ndarray, count: int, table: str, field: str, where: str, low: int) -> None:
    if values.size and (int(values.min()) < low or int(values.max()) >= count):
        bad = int(values[(values < low) | (values >= count)][0])
        raise c.fail(table, field, f"index {bad} out of range (valid: {low}..{count - 1})", where)


def _subgraph(c: _Checker, subgraphs: _Tables, s: int, codes: int, buffer_sizes: np.ndarray) -> int:
    graph = subgraphs.one(s)
    _, count = c.vector(graph, SubGraphSlot.TENSORS, 4, "SubGraph", "tensors", _TENSORS)
    inputs = np.zeros(0, np.int64)
    for slot, field in ((SubGraphSlot.INPUTS, "inputs"), (SubGraphSlot.OUTPUTS, "outputs")):
        values = c.numbers(graph, slot, "<i4", "SubGraph", field)
        if values is not None:
            _indices(c, values, count, "SubGraph", field, graph.where, low=0)
            if slot == SubGraphSlot.INPUTS:
                inputs = values.astype(np.int64)
    prefix = f"subgraphs[{s}]"
    one = _Tables(c, np.array([graph.pos]), "SubGraph", lambda i: prefix)
    tensors, _ = one.children(SubGraphSlot.TENSORS, "Tensor", "tensors")
    _tensors(c, tensors, buffer_sizes, inputs)
    operators, _ = one.children(SubGraphSlot.OPERATORS, "Operator", "operators", _OPERATORS)
    _operators(c, operators, codes, count, subgraphs.n)
    return count


def _tensors(c: _Checker, tensors: _Tables, buffer_sizes: np.ndarray, inputs: np.ndarray) -> None:
    if not tensors.n:
        return
    tensors.strings(TensorSlot.NAME, "name")
    kind = tensors.scalar(TensorSlot.TYPE, "<i1", "type")
    tensors.fail_if((kind < 0) | (kind >= len(_TYPE_NAMES)), "type", "is not a known tensor type")
    dims, owners, rank = tensors.numbers(TensorSlot.SHAPE, "<i4", "shape")
    tensors.fail_if(rank > MAX_RANK, "shape", f"has a rank over {MAX_RANK}")
    if dims.size and dims.min() < 0:
        tensors.fail_if(np.isin(np.arange(tensors.n), owners[dims < 0]), "shape", "has a negative dimension")
    signature, sig_owners, sig_rank = tensors.numbers(7, "<i4", "shape_signature")
    tensors.fail_if((sig_rank > 0) & (sig_rank != rank), "shape_signature", "has another rank than shape")
    if signature.size and signature.min() < -1:
        tensors.fail_if(np.isin(np.arange(tensors.n), sig_owners[signature < -1]), "shape_signature", "is below -1")
    if signature.size and inputs.size:
        _input_shapes(tensors, inputs, dims, owners, signature, sig_owners, sig_rank)
    # elements per tensor (float64 first: a corrupt shape can overflow int64)
    approx = np.ones(tensors.n)
    np.multiply.at(approx, owners, dims.astype(np.float64))
    elements = np.ones(tensors.n, np.int64)
    safe = approx < 2.0**62
    np.multiply.at(elements, owners[safe[owners]], dims[safe[owners]].astype(np.int64))
    per = _ELEMENT_TABLE[kind]
    nbytes = np.where(per > 0, elements * per, np.where(per < 0, -(-elements // np.minimum(-per, -1)), 0))
    nbytes_approx = approx * np.abs(per)
    buffer = tensors.scalar(TensorSlot.BUFFER, "<u4", "buffer")
    tensors.fail_if(buffer >= buffer_sizes.size, "buffer", "no such buffer")
    constant = (buffer > 0) & (buffer_sizes[buffer] >= 0)
    sparse = tensors.field(6, 4, "sparsity") != 0
    tensors.fail_if(
        constant & (per != 0) & ~sparse & (~safe | (nbytes != buffer_sizes[buffer])),
        "buffer",
        "does not hold the bytes its shape and type need",
        lambda i: (
            f"{_TYPE_NAMES[kind[i]]} {_shape(dims, owners, i)} needs {nbytes[i]} bytes, "
            f"buffer {buffer[i]} holds {buffer_sizes[buffer[i]]}"
        ),
    )
    big = ~constant & (nbytes_approx > limits.get("tensor_bytes"))
    if _any(big):
        i = int(np.argmax(big))
        where = f"{c.name}: Tensor.shape ({tensors.where(i)}, {_TYPE_NAMES[kind[i]]} {_shape(dims, owners, i)})"
        limits.check("tensor_bytes", int(nbytes_approx[i]), where)
    for i in np.nonzero(sparse)[0].tolist():
        _sparsity(c, tensors.one(i), int(rank[i]), tensors.where(i))
    variants, _ = tensors.children(9, "VariantSubType", "variant_tensors")
    variants.vector(0, 4, "shape")
    quantization, rows = tensors.child(TensorSlot.QUANTIZATION, "QuantizationParameters", "quantization")
    if quantization.n:
        dim_first = rank.cumsum() - rank
        _quantization(quantization, kind[rows], rank[rows], dims, dim_first[rows])


def _input_shapes(
    tensors: _Tables,
    inputs: np.ndarray,
    dims: np.ndarray,
    owners: np.ndarray,
    signature: np.ndarray,
    sig_owners: np.ndarray,
    sig_rank: np.ndarray,
) -> None:
    """A graph input's shape must agree with its shape_signature (fixed dimensions equal, dynamic ones 1, as
    converters write them): the interpreter sizes every activation from the inputs' shapes, so one changed
    dimension there (a 224 turned 8416, a batch of 1 turned 257) makes loading take gigabytes, far beyond
    what ``tensor_bytes`` bounds per stored tensor."""
    is_input = np.zeros(tensors.n, bool)
    is_input[inputs] = True
    aligned = dims[sig_rank[owners] > 0]  # ranks are equal where a signature exists (checked before)
    bad = is_input[sig_owners] & np.where(signature == -1, aligned > 1, signature != aligned)
    if _any(bad):
        i = int(sig_owners[int(np.argmax(bad))])
        tensors.fail_if(
            np.arange(tensors.n) == i,
            "shape",
            "of a graph input does not match its shape_signature (the interpreter sizes every activation from it)",
            lambda i: f"shape {_shape(dims, owners, i)}, shape_signature {signature[sig_owners == i].tolist()}",
        )


def _shape(dims: np.ndarray, owners: np.ndarray, i: int) -> list[int]:
    return dims[owners == i].tolist()


def _quantization(q: _Tables, kind: np.ndarray, rank: np.ndarray, dims: np.ndarray, dim_first: np.ndarray) -> None:
    """QuantizationParameters of many tensors (``kind``, ``rank``... are those tensors' rows)."""
    q.vector(0, 4, "min")
    q.vector(1, 4, "max")
    scale, scale_owners, scales = q.numbers(2, "<f4", "scale")
    zero_point, zp_owners, zero_points = q.numbers(3, "<i8", "zero_point")
    details_type = q.scalar(4, "<u1", "details_type")
    details, _ = q.child(5, "QuantizationParameters.details", "details")
    del details_type, details
    axis = q.scalar(6, "<i4", "quantized_dimension")
    q.fail_if(zero_points != scales, "zero_point", "count differs from the scale count")
    if scale.size:
        bad = ~np.isfinite(scale) | (scale <= 0)  # XNNPACK refuses a 0 even in a constant's channel
        if _any(bad):
            i = int(np.argmax(bad))
            q.fail_if(np.arange(q.n) == scale_owners[i], "scale", f"{float(scale[i])!r} is not finite and positive")
    if zero_point.size:
        bad = (zero_point < _ZP_LOW[kind[zp_owners]]) | (zero_point > _ZP_HIGH[kind[zp_owners]])
        if _any(bad):
            i = int(np.argmax(bad))
            t = int(kind[zp_owners[i]])
            q.fail_if(
                np.arange(q.n) == zp_owners[i],
                "zero_point",
                f"{int(zero_point[i])} is outside {_TYPE_NAMES[t]} ({_ZP_LOW[t]}..{_ZP_HIGH[t]})",
            )
    per_axis = np.nonzero(scales > 1)[0]
    if per_axis.size:
        a = axis[per_axis]
        q.fail_if(
            np.isin(np.arange(q.n), per_axis[(a < 0) | (a >= rank[per_axis])]), "quantized_dimension", "is not an axis"
        )
        size = dims[dim_first[per_axis] + a]
        q.fail_if(
            np.isin(np.arange(q.n), per_axis[size != scales[per_axis]]),
            "scale",
            "count differs from the size of the quantized dimension",
        )


def _operators(c: _Checker, ops: _Tables, codes: int, tensors: int, subgraphs: int) -> None:
    if not ops.n:
        return
    ops.fail_if(ops.scalar(OperatorSlot.OPCODE_INDEX, "<u4", "opcode_index") >= codes, "opcode_index", "no such code")
    for slot, field in ((OperatorSlot.INPUTS, "inputs"), (OperatorSlot.OUTPUTS, "outputs"), (8, "intermediates")):
        values, owners, counts = ops.numbers(slot, "<i4", field)
        ops.fail_if(counts > MAX_OPERATOR_IO, field, f"lists over {MAX_OPERATOR_IO} tensors")
        if values.size:
            bad = (values < -1) | (values >= tensors)
            if _any(bad):
                ops.fail_if(
                    np.arange(ops.n) == owners[int(np.argmax(bad))],
                    field,
                    f"tensor {int(values[int(np.argmax(bad))])} does not exist ({tensors} tensors)",
                )
    ops.vector(5, 1, "custom_options")
    ops.vector(7, 1, "mutating_variable_inputs")
    large_offset = ops.scalar(9, "<u8", "large_custom_options_offset").astype(np.uint64)
    large_size = ops.scalar(10, "<u8", "large_custom_options_size").astype(np.uint64)
    ops.fail_if(
        (large_offset > 0) & ((large_offset + large_size < large_offset) | (large_offset + large_size > c.end)),
        "large_custom_options_offset",
        "the custom options reach past the file",
    )
    for type_slot, field, known in ((3, "builtin_options", _OPTIONS), (11, "builtin_options_2", _OPTIONS_2)):
        kinds = ops.scalar(type_slot, "<u1", f"{field}_type")
        ops.field(type_slot + 1, 4, field)
        rows = np.flatnonzero(_CHECKED_OPTIONS[field][kinds])  # kinds are ubytes: a 256-entry lookup
        for i in rows.tolist():
            op = ops.one(i)
            kind, options = c.union(op, type_slot, "Operator", field)
            if options is not None:
                _options(c, options, known[kind], field, op.where, subgraphs)


def _options(c: _Checker, options: _Table, layout: Any, field: str, where: str, subgraphs: int) -> None:
    vectors, graph_slots, graph_vectors = layout
    for slot, element in vectors:
        pos = c.field(options, slot, 4, "Operator", field)
        if pos:
            if element < 0:
                c.string_at(pos, "Operator", f"{field}[{slot}]", where)
            else:
                c.vector_at(pos, element, "Operator", f"{field}[{slot}]", where)
    for slot in graph_slots:
        graph = c.scalar(options, slot, "<i", "Operator", f"{field}.subgraph_index")
        if not 0 <= graph < subgraphs:
            raise c.fail("Operator", f"{field}.subgraph_index", f"subgraph {graph} does not exist", where)
    for slot in graph_vectors:
        values = c.numbers(options, slot, "<i4", "Operator", f"{field}.subgraph_indices")
        if values is not None:
            _indices(c, values, subgraphs, "Operator", f"{field}.subgraph_indices", where, low=0)


def _sparsity(c: _Checker, tensor: _Table, rank: int, where: str) -> None:
    pos = tensor.pos + tensor.fields[6]
    (relative,) = struct.unpack_from("<I", c.data, pos)
    table = "SparsityParameters"
    sparsity = c.table(pos + relative, table, where)
    order = c.numbers(sparsity, 0, "<i4", table, "traversal_order")
    block_map = c.numbers(sparsity, 1, "<i4", table, "block_map")
    dims = c.tables(sparsity, 2, table, "dim_metadata")
    n_order = 0 if order is None else order.size
    if n_order != len(dims) or n_order < rank:
        raise c.fail(table, "traversal_order", f"{n_order} entries, {len(dims)} dim_metadata, rank {rank}", where)
    if order is not None and order.size:
        _indices(c, order, n_order, table, "traversal_order", where, low=0)
    if block_map is not None and block_map.size:
        _indices(c, block_map, rank, table, "block_map", where, low=0)
        if block_map.size != n_order - rank:
            raise c.fail(table, "block_map", f"{block_map.size} entries for {n_order - rank} block dimensions", where)
    for d, dim_pos in enumerate(dims):
        dim = c.table(dim_pos, "DimensionMetadata", f"{where}.dim_metadata[{d}]")
        if c.scalar(dim, 1, "<i", "DimensionMetadata", "dense_size") < 0:
            raise c.fail("DimensionMetadata", "dense_size", "negative", dim.where)
        for type_slot, field in ((2, "array_segments"), (4, "array_indices")):
            kind, values = c.union(dim, type_slot, "DimensionMetadata", field)
            if values is not None:
                if kind not in (1, 2, 3):
                    raise c.fail("DimensionMetadata", f"{field}_type", f"unknown vector type {kind}", dim.where)
                c.vector(values, 0, {1: 4, 2: 2, 3: 1}[kind], "DimensionMetadata", f"{field}.values")
