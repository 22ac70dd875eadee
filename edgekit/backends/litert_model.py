"""LiteRT models: a ``.tflite`` file behind the :class:`edgekit.Model` protocol; quantization at the boundary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flatbuffers.number_types import Int8Flags as _I8
from flatbuffers.number_types import Int32Flags as _I32
from flatbuffers.number_types import Uint32Flags as _U32

from ..errors import (
    InputError,
    InvalidModelError,
    MetadataError,
    ModelNotFoundError,
    UnsupportedModelError,
    closed_error,
)
from ..metadata import ModelCard, read_card
from ..metadata._flatbuf import View
from ..metadata.slots import ModelSlot, OperatorCodeSlot, OperatorSlot, SignatureDefSlot, SubGraphSlot, TensorMapSlot
from ..model import TensorSpec
from ._tflite_check import verify_tflite
from .litert import load_failure_hint, open_interpreter

NO_METADATA_NOTE = (
    "this model has no TFLite metadata: labels and preprocessing (size, mean/std, sample rate, "
    "vocabulary) must be given by hand, or re-export it with `edgekit convert`"
)


def _signature(data: bytes) -> tuple[dict[int, str], dict[int, str]]:
    """Tensor index → signature key, for inputs and outputs of the first signature (if any)."""
    signatures = View.root(data).tables(ModelSlot.SIGNATURE_DEFS)
    if not signatures:
        return {}, {}
    first = signatures[0]
    return (
        {
            m.scalar(TensorMapSlot.TENSOR_INDEX, _U32): m.string(TensorMapSlot.NAME) or ""
            for m in first.tables(SignatureDefSlot.INPUTS)
        },
        {
            m.scalar(TensorMapSlot.TENSOR_INDEX, _U32): m.string(TensorMapSlot.NAME) or ""
            for m in first.tables(SignatureDefSlot.OUTPUTS)
        },
    )


def _natural(key: str) -> tuple[str, int]:
    stem, _, number = key.rpartition("_")
    return (stem, int(number)) if number.isdigit() else (key, -1)


def _spec(detail: Mapping[str, Any], key: str = "") -> TensorSpec:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    quantized = bool(scale) and np.dtype(detail["dtype"]).kind in "iu"
    signature = detail.get("shape_signature")
    return TensorSpec(
        name=str(detail["name"]),
        index=int(detail["index"]),
        shape=tuple(int(d) for d in detail["shape"]),
        dtype=np.dtype(detail["dtype"]),
        scale=float(scale) if quantized else None,
        zero_point=int(zero_point) if quantized else None,
        shape_signature=tuple(int(d) for d in (signature if signature is not None else detail["shape"])),
        key=key or str(detail["name"]),
    )


def _describe_not_tflite(path: Path, head: bytes) -> str:
    if not head:
        return "the file is empty (0 bytes): it was not written completely; convert or copy it again"
    if head.startswith(b"PK"):
        return "it is a zip archive (a .keras file?); convert it first: edgekit convert MODEL --to tflite"
    if path.name == "saved_model.pb" or head[:2] == b"\x08\x01":
        return "it looks like a TensorFlow SavedModel; convert it first: edgekit convert FOLDER --to tflite"
    try:
        head.decode("ascii")
        return "it is a text file, not a model"
    except UnicodeDecodeError:
        return "give the path of a .tflite file"


def _check_file(path: Path) -> bytes:
    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}", hint="check the path (and the current folder)")
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise UnsupportedModelError(
                f"{path} is a SavedModel folder, not a runnable model",
                hint="convert it first: edgekit convert FOLDER --to tflite",
            )
        raise InvalidModelError(f"{path} is a folder, not a model file", hint="give the path of a .tflite file")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        found = data[4:8] if len(data) >= 8 else f"{len(data)} bytes in all"
        raise InvalidModelError(
            f"{path} is not a TFLite model (expected the identifier 'TFL3' at byte 4, found {found!r})",
            hint=_describe_not_tflite(path, data[:64]),
        )
    # Offsets, indices, shapes, quantization and buffers, before any interpreter trusts them.
    verify_tflite(data, str(path))
    return data


class LiteRTModel:
    """A TFLite model run by LiteRT (or tflite-runtime / tf.lite). Create with :func:`edgekit.load`.

    Attributes:
        path: the model file.
        inputs, outputs: the tensors, as :class:`TensorSpec`.
        card: the :class:`ModelCard` from the file's metadata, or None.
        metadata_note: why ``card`` is None (empty when there is a card).
        backend: the interpreter package in use (name and version).
    """

    def __init__(self, path: Path, data: bytes, num_threads: int | None):
        self.path = path
        self.size_bytes = len(data)
        self.num_threads = num_threads
        self._data = data
        # _check_file verified the flatbuffer (verify_tflite); only then is it safe to open and walk it.
        self._interpreter, self.backend = open_interpreter(str(path), num_threads, data)
        try:
            self.card: ModelCard | None = read_card(data)
            self.metadata_note = "" if self.card is not None else NO_METADATA_NOTE
        except MetadataError as exc:
            self.card, self.metadata_note = None, f"metadata ignored: {exc}"
        try:
            input_keys, output_keys = _signature(data)
            self.inputs = tuple(_spec(d, input_keys.get(d["index"], "")) for d in self._interpreter.get_input_details())
            outputs = [_spec(d, output_keys.get(d["index"], "")) for d in self._interpreter.get_output_details()]
        except (UnicodeDecodeError, ValueError, RuntimeError, TypeError) as exc:  # e.g. a name that is not UTF-8
            raise self._cannot("describe the tensors of", exc) from exc
        if len(output_keys) == len(outputs):
            # Converters order outputs by tensor name; the signature keeps the source's order (output_0, …).
            outputs.sort(key=lambda spec: _natural(spec.key))
        self.outputs = tuple(outputs)
        self._current_shapes = {spec.index: spec.shape for spec in self.inputs}
        self._remembered: dict[bytes, list[np.ndarray]] | None = None

    def remember_outputs(self, memo: dict[bytes, list[np.ndarray]] | None) -> None:
        """Share ``memo`` (None: stop) between models of one file: ``run`` reads a result from it when the
        exact input tensors (after quantization at the boundary) ran before, and adds every new one.

        For callers that run one file twice on the same inputs (the converter's verification, then its
        accuracy check through the task): one invoke per distinct input. The interpreter is deterministic
        for given input tensors (XNNPACK's results do not depend on its thread count), so an answer read
        back is the answer the invoke would give.
        """
        self._remembered = memo

    # ------------------------------------------------------------------ running
    def run(self, *inputs: Any, raw: bool = False) -> list[np.ndarray]:
        """Run the model once.

        Args:
            *inputs: one array per input, in order; or one list of them; or one dict by input name.
                Float values are quantized at the boundary for quantized inputs; arrays already in a
                quantized input's dtype are passed as they are. A missing batch axis is added.
            raw: return outputs in the model's own dtype instead of dequantized float32.

        Returns:
            One numpy array per output, in the model's output order.

        Raises:
            InputError: wrong number of inputs, shape, dtype or values (named in the message).
            ClosedError: the model was closed.
        """
        interpreter = self._interpreter
        if interpreter is None:
            raise closed_error(type(self).__name__, "run")
        prepared = [self._prepare(spec, array) for spec, array in zip(self.inputs, self._arrange(inputs))]
        memo, key = self._remembered, b""
        values = None
        if memo is not None:
            key = _input_key(prepared)
            values = memo.get(key)
        if values is None:
            for spec, array in zip(self.inputs, prepared):
                interpreter.set_tensor(spec.index, array)
            try:
                interpreter.invoke()
            except (RuntimeError, ValueError) as exc:  # e.g. XNNPACK refusing a tensor when it prepares the graph
                raise self._cannot("run", exc) from exc
            values = [interpreter.get_tensor(spec.index) for spec in self.outputs]
            if memo is not None:
                memo[key] = values
        return [
            spec.dequantize(value) if spec.quantized and not raw else value if memo is None else value.copy()
            for spec, value in zip(self.outputs, values)
        ]

    def _arrange(self, inputs: tuple[Any, ...]) -> list[Any]:
        if len(inputs) == 1 and isinstance(inputs[0], Mapping):
            given = dict(inputs[0])
            names = [spec.key for spec in self.inputs]
            if not set(names) >= set(given):
                names = [spec.name for spec in self.inputs]
            missing, extra = set(names) - set(given), set(given) - set(names)
            if missing or extra:
                raise InputError(
                    f"inputs by name do not match the model: missing {sorted(missing)}, unknown {sorted(extra)}",
                    hint=f"the model's inputs are {names}",
                )
            return [given[name] for name in names]
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) and len(self.inputs) > 1:
            inputs = tuple(inputs[0])
        if len(inputs) != len(self.inputs):
            raise InputError(
                f"the model takes {len(self.inputs)} input(s), got {len(inputs)}",
                hint="; ".join(spec.describe() for spec in self.inputs),
            )
        return list(inputs)

    def _prepare(self, spec: TensorSpec, value: Any) -> np.ndarray:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise InputError(f"input {spec.name!r} must be numeric, got an array of {array.dtype}")
        array = self._fit_shape(spec, array)
        target = spec.dtype
        if array.dtype == target:
            return np.ascontiguousarray(array)
        if spec.quantized:
            # One reduction instead of an isfinite() mask: NaN/Inf anywhere makes the sum non-finite.
            if array.dtype.kind == "f" and not np.isfinite(array.sum(dtype=np.float32)):
                raise InputError(f"input {spec.name!r} contains NaN or Inf", hint="clean the input data")
            return spec.quantize(array)
        if target.kind == "f":
            return array.astype(target)
        if target.kind in "iu" and array.dtype.kind in "iub":
            info = np.iinfo(target)
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise InputError(f"input {spec.name!r} values do not fit {target.name}")
            return array.astype(target)
        if target.kind in "iu" and array.dtype.kind == "f":
            raise InputError(
                f"input {spec.name!r} expects integers ({target.name}, e.g. token ids), got {array.dtype.name}",
                hint=f"pass an integer array of shape {list(spec.shape)}",
            )
        return array.astype(target)

    def _fit_shape(self, spec: TensorSpec, array: np.ndarray) -> np.ndarray:
        current = self._current_shapes[spec.index]
        if array.shape == current:
            return array
        if array.ndim == len(current) - 1 and current[0] == 1 and array.shape == current[1:]:
            return array[np.newaxis]
        signature = spec.shape_signature or spec.shape
        fits = array.ndim == len(signature) and all(want in (-1, got) for want, got in zip(signature, array.shape))
        if not fits:
            expected = ",".join("?" if d == -1 else str(d) for d in signature)
            raise InputError(
                f"input {spec.name!r} expects shape ({expected}) {spec.dtype.name}, "
                f"got {array.shape} {array.dtype.name}",
                hint="resize or reshape the input (see `edgekit info MODEL`)",
            )
        try:
            self._interpreter.resize_tensor_input(spec.index, list(array.shape))
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise self._cannot(f"resize input {spec.name!r} to {array.shape} for", exc) from exc
        self._current_shapes[spec.index] = array.shape
        return array

    def _cannot(self, action: str, exc: BaseException) -> InvalidModelError:
        """The error for an interpreter that refuses to run (or resize) the model: its first line, and a fix."""
        message = " ".join(str(exc).split())
        first = message[:400] or type(exc).__name__
        return InvalidModelError(
            f"{self.path}: {self.backend} cannot {action} this model: {first}",
            hint=load_failure_hint(first, self.backend),
        )

    # ------------------------------------------------------------------ describing
    def operators(self) -> dict[str, int]:
        """Operator name → how many times it appears in the main graph (before delegation)."""
        names = _builtin_names()
        root = View.root(self._data)
        codes = []
        for code in root.tables(ModelSlot.OPERATOR_CODES):
            custom = code.string(OperatorCodeSlot.CUSTOM_CODE)
            builtin = max(
                int(code.scalar(OperatorCodeSlot.DEPRECATED_BUILTIN_CODE, _I8)),
                int(code.scalar(OperatorCodeSlot.BUILTIN_CODE, _I32)),
            )
            codes.append(custom or names.get(builtin, f"BUILTIN_{builtin}"))
        counts: Counter[str] = Counter()
        subgraphs = root.tables(ModelSlot.SUBGRAPHS)
        for op in subgraphs[0].tables(SubGraphSlot.OPERATORS) if subgraphs else []:
            counts[codes[op.scalar(OperatorSlot.OPCODE_INDEX, _U32)]] += 1
        return dict(counts)

    def delegation(self) -> dict[str, int]:
        """How the interpreter runs the graph: delegate partitions (XNNPACK) vs ops left on CPU kernels."""
        try:
            details = self._interpreter._get_ops_details()
        except Exception:  # private API; absent on some interpreters
            return {}
        delegated = sum(1 for d in details if d.get("op_name") == "DELEGATE")
        return {"xnnpack_partitions": delegated, "ops_not_delegated": len(details) - delegated}

    def info(self) -> dict[str, Any]:
        """A JSON-ready description (what `edgekit info` prints)."""
        return {
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "interpreter": str(self.backend),
            "num_threads": self.num_threads,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "operators": self.operators(),
            "delegation": self.delegation(),
            "metadata": self.card.to_json_dict() | {"labels": list(self.card.labels)} if self.card else None,
            "metadata_note": self.metadata_note,
        }

    def close(self) -> None:
        self._interpreter = None

    def __enter__(self) -> LiteRTModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(s.describe() for s in self.inputs)
        return f"<edgekit.Model {self.path.name} [{self.backend}] inputs: {ins}>"


_BUILTIN_NAMES: dict[int, str] | None = None


def _builtin_names() -> dict[int, str]:
    global _BUILTIN_NAMES
    if _BUILTIN_NAMES is None:
        try:
            from ai_edge_litert.schema_py_generated import BuiltinOperator
        except ImportError:
            BuiltinOperator = None  # noqa: N806
        _BUILTIN_NAMES = (
            {
                value: name
                for name, value in vars(BuiltinOperator).items()
                if not name.startswith("_") and isinstance(value, int)
            }
            if BuiltinOperator is not None
            else {}
        )
    return _BUILTIN_NAMES


def load_litert(path: Path, num_threads: int | None = None) -> LiteRTModel:
    """Load a ``.tflite`` file with the best interpreter on this machine (XNNPACK on).

    Raises:
        ModelNotFoundError: the file does not exist.
        InvalidModelError: it is not a (complete) TFLite model.
        UnsupportedModelError: it is a SavedModel folder.
        NoInterpreterError: no interpreter package is installed.
    """
    return LiteRTModel(path, _check_file(path), num_threads)


def _input_key(arrays: list[np.ndarray]) -> bytes:
    """A digest of input tensors: dtype, shape and bytes of each."""
    import hashlib

    digest = hashlib.blake2b(digest_size=20)
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.data)
    return digest.digest()
