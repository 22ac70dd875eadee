"""What every loaded model is: :class:`TensorSpec` and the :class:`Model` protocol. Imports no backend.

The backends (``edgekit.backends``) make the models: LiteRT for ``.tflite`` files, Core ML for
``.mlpackage`` folders on macOS, and, with the converters installed, edgekit's NumPy evaluator of
Core ML programs. Tasks and the command line see only this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from .metadata import ModelCard


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor of a model.

    ``scale`` and ``zero_point`` are set for quantized tensors (real = scale * (q - zero_point))
    and None otherwise. ``shape_signature`` has -1 where the model accepts any size.
    """

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float | None = None
    zero_point: int | None = None
    shape_signature: tuple[int, ...] = ()
    key: str = ""

    @property
    def quantized(self) -> bool:
        return self.scale is not None

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Real values → this tensor's integer dtype (rounded, clipped to the dtype's range)."""
        info = np.iinfo(self.dtype)
        scaled = np.divide(values, np.float32(self.scale), dtype=np.float32)
        scaled += np.float32(self.zero_point)
        np.rint(scaled, out=scaled)
        np.clip(scaled, info.min, info.max, out=scaled)
        return scaled.astype(self.dtype)

    def dequantize(self, values: np.ndarray) -> np.ndarray:
        """This tensor's integers → real float32 values."""
        return (values.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)

    def describe(self) -> str:
        text = f"{self.name}: {list(self.shape)} {self.dtype.name}"
        if self.quantized:
            text += f" (quantized: scale={self.scale:.6g}, zero_point={self.zero_point})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "shape": list(self.shape),
            "dtype": self.dtype.name,
            "scale": self.scale,
            "zero_point": self.zero_point,
            "shape_signature": list(self.shape_signature),
        }


ModelT = TypeVar("ModelT", bound="Model")


@runtime_checkable
class Model(Protocol):
    """A loaded model, whichever backend runs it. Create with :func:`edgekit.load`.

    Attributes:
        path: the model file (or package folder).
        size_bytes: its size on disk.
        inputs, outputs: the tensors, as :class:`TensorSpec`.
        card: the :class:`ModelCard` from the model's metadata, or None.
        metadata_note: why ``card`` is None (empty when there is a card).
        backend: the runtime in use (name and version).
        num_threads: CPU threads asked for (None: the runtime's default).
    """

    path: Path
    size_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    card: ModelCard | None
    metadata_note: str
    backend: str
    num_threads: int | None

    def run(self, *inputs: Any, raw: bool = False) -> list[np.ndarray]:
        """Run once: one array per input (or one list, or one dict by name) → one array per output."""
        ...

    def operators(self) -> dict[str, int]:
        """Operator name → count in the model's main graph."""
        ...

    def delegation(self) -> dict[str, int]:
        """How the runtime partitions the graph (empty when it does not say)."""
        ...

    def info(self) -> dict[str, Any]:
        """A JSON-ready description (what `edgekit info` prints)."""
        ...

    def close(self) -> None:
        """Release the runtime; the model cannot run afterwards."""
        ...

    def __enter__(self: ModelT) -> ModelT: ...

    def __exit__(self, *exc: object) -> None: ...
