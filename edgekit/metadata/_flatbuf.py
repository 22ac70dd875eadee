"""A small reader and writer for the flatbuffer tables edgekit needs, without generated code.

Slot numbers follow the public schemas: ``schema.fbs`` (the TFLite model, identifier TFL3) and
``metadata_schema.fbs`` (TFLite Metadata, identifier M001). A union field takes two slots: its
type (ubyte) and then its value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import flatbuffers
import numpy as np
from flatbuffers import number_types as nt
from flatbuffers.table import Table


class View:
    """Read-only view of one flatbuffer table."""

    __slots__ = ("buf", "tab")

    def __init__(self, buf: bytes | bytearray | memoryview, pos: int):
        self.buf = buf
        self.tab = Table(buf, pos)

    @classmethod
    def root(cls, buf: bytes | bytearray | memoryview) -> View:
        (offset,) = struct.unpack_from("<I", buf, 0)
        if offset >= len(buf):
            raise ValueError("root offset outside the buffer")
        return cls(buf, offset)

    def _offset(self, slot: int) -> int:
        return self.tab.Offset(4 + 2 * slot)

    def string(self, slot: int) -> str | None:
        off = self._offset(slot)
        return self.tab.String(off + self.tab.Pos).decode("utf-8", "replace") if off else None

    def scalar(self, slot: int, flags: Any, default: int | float = 0) -> Any:
        off = self._offset(slot)
        return self.tab.Get(flags, off + self.tab.Pos) if off else default

    def table(self, slot: int) -> View | None:
        off = self._offset(slot)
        return View(self.buf, self.tab.Indirect(off + self.tab.Pos)) if off else None

    def tables(self, slot: int) -> list[View]:
        off = self._offset(slot)
        if not off:
            return []
        start, count = self.tab.Vector(off), self.tab.VectorLen(off)
        return [View(self.buf, self.tab.Indirect(start + 4 * i)) for i in range(count)]

    def strings(self, slot: int) -> list[str]:
        off = self._offset(slot)
        if not off:
            return []
        start, count = self.tab.Vector(off), self.tab.VectorLen(off)
        return [self.tab.String(start + 4 * i).decode("utf-8", "replace") for i in range(count)]

    def numbers(self, slot: int, flags: Any) -> np.ndarray:
        off = self._offset(slot)
        if not off:
            return np.zeros(0, dtype=flags.N_Numpy)  # type: ignore[attr-defined]
        return self.tab.GetVectorAsNumpy(flags, off)

    def vector_span(self, slot: int) -> tuple[int, int] | None:
        """(start, length) in bytes of a [ubyte] vector, without copying it."""
        off = self._offset(slot)
        if not off:
            return None
        return self.tab.Vector(off), self.tab.VectorLen(off)


# ----------------------------------------------------------------------------- writing
@dataclass
class Obj:
    """A table to encode: ``slots`` maps slot number -> value.

    Values: ``str``; ``Obj``; a list of ``Obj`` or of ``str``; ``np.ndarray`` (a numeric vector);
    ``bytes`` (a ubyte vector); or ``(flatbuffers.number_types flags, number)`` for a scalar.
    """

    num_slots: int
    slots: dict[int, Any]


def _encode(builder: flatbuffers.Builder, value: Any) -> Any:
    if isinstance(value, str):
        return builder.CreateString(value)
    if isinstance(value, bytes):
        return builder.CreateByteVector(value)
    if isinstance(value, np.ndarray):
        return builder.CreateNumpyVector(value)
    if isinstance(value, list):
        offsets = [_encode(builder, item) for item in value]
        builder.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            builder.PrependUOffsetTRelative(off)
        return builder.EndVector()
    if isinstance(value, Obj):
        return _encode_table(builder, value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _encode_table(builder: flatbuffers.Builder, obj: Obj) -> int:
    children = {
        slot: _encode(builder, value)
        for slot, value in obj.slots.items()
        if value is not None and not isinstance(value, tuple)
    }
    builder.StartObject(obj.num_slots)
    for slot, value in sorted(obj.slots.items()):
        if value is None:
            continue
        if isinstance(value, tuple):
            flags, number = value
            builder.PrependSlot(flags, slot, number, None)
        else:
            builder.PrependUOffsetTRelativeSlot(slot, children[slot], 0)
    return builder.EndObject()


def encode_root(obj: Obj, file_identifier: bytes) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(_encode_table(builder, obj), file_identifier=file_identifier)
    return bytes(builder.Output())


U8, I8, U32, U64 = nt.Uint8Flags, nt.Int8Flags, nt.Uint32Flags, nt.Uint64Flags
F32 = nt.Float32Flags
