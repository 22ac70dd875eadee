"""Where an export stops answering like its source: layer-by-layer comparison, as LiteRT's
quantization debugger does it.

When an export misses its tolerance, the final outputs say only *that* it differs. Here every
top-level Keras layer's output is computed with a Keras sub-model and compared with the tensor the
exported graph holds for that layer (a TFLite interpreter that keeps every intermediate tensor, or
the NumPy ML Program evaluator's values for Core ML), on the same verification inputs. The first
layer whose relative error exceeds the recipe's tolerance is where the export diverges.

Matching is by name and shape: the TFLite converter names each tensor after the TensorFlow ops it
came from (``<model>_1/<layer>_1/<op>``, several joined by ``;`` when ops were fused), so a tensor
belongs to the latest layer its name mentions; a layer's output is the last tensor of that layer,
in execution order, with the layer's output shape. Layers fused into a later one (a convolution
folded with its batch normalization and activation) have no tensor of their own and are listed as
not compared. The model's outputs are matched through the serving signature.

Over 400 lines: the TFLite and Core ML comparisons share the layer matching and the report, and are
kept beside them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.backends._quiet import quiet_tensorflow

MAX_SAMPLES = 32  # enough to see a divergence; the interpreter keeps every tensor of one run at a time


@dataclass(frozen=True)
class LayerError:
    """One compared layer: how far the export's tensor is from the Keras layer's output.

    ``relative_error`` is the recipe tolerance's measure applied to this layer, input by input: the
    largest absolute difference divided by the largest absolute value of the Keras output on the
    same input, worst input (inf when the export holds NaN or Inf there).
    """

    name: str
    kind: str  # the Keras class name, e.g. "MelSpectrogram"
    relative_error: float
    max_abs_error: float
    tensor: str  # the exported graph's tensor (TFLite name or MIL variable) it was compared with

    def to_dict(self) -> dict:
        return {
            "layer": self.name,
            "kind": self.kind,
            "relative_error": _json_float(self.relative_error),
            "max_abs_error": _json_float(self.max_abs_error),
            "tensor": self.tensor,
        }


@dataclass(frozen=True)
class Divergence:
    """The layer-by-layer comparison of one export (``layers`` in graph order)."""

    tolerance: float
    layers: tuple[LayerError, ...] = ()
    not_compared: tuple[str, ...] = ()  # layers with no tensor of their own in the export
    unavailable: str = ""  # why no comparison could be made (then ``layers`` is empty)

    @property
    def first(self) -> LayerError | None:
        """The first layer whose relative error exceeds the tolerance, or None."""
        return next((layer for layer in self.layers if not layer.relative_error <= self.tolerance), None)

    @property
    def worst(self) -> LayerError | None:
        """The layer with the largest relative error, or None when nothing was compared."""
        return max(self.layers, key=lambda layer: np.nan_to_num(layer.relative_error, nan=np.inf), default=None)

    def describe(self) -> str:
        """One clause for an error message: where the export diverges and by how much."""
        if self.unavailable:
            return f"no layer-by-layer comparison: {self.unavailable}"
        first = self.first
        if first is None:
            worst = self.worst
            if worst is None:
                return "no layer of the model could be matched to a tensor of the export"
            return (
                f"no layer's relative error exceeds the tolerance {self.tolerance:.3g} (largest: layer "
                f"'{worst.name}' ({worst.kind}), {_error(worst.relative_error)}): the outputs miss it on "
                "another measure, or the error builds up gradually"
            )
        text = (
            f"first divergence at layer '{first.name}' ({first.kind}): relative error "
            f"{_error(first.relative_error)} (tolerance {self.tolerance:.3g})"
        )
        before = self.layers[: self.layers.index(first)]
        if before:
            agree = max(layer.relative_error for layer in before)
            return text + f"; the {len(before)} layer(s) before it agree within {agree:.1g}"
        return text + "; no compared layer precedes it"

    def to_dict(self) -> dict:
        first = self.first
        return {
            "first_layer": None if first is None else first.name,
            "tolerance": self.tolerance,
            "layers": [layer.to_dict() for layer in self.layers],
            "not_compared": list(self.not_compared),
            "unavailable": self.unavailable,
            "summary": self.describe(),
        }


def _error(value: float) -> str:
    return "inf (NaN or Inf in the export)" if not np.isfinite(value) else f"{value:.3g}"


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def relative_error(reference: np.ndarray, exported: np.ndarray) -> tuple[float, float]:
    """(relative error, max abs error) of ``exported`` against ``reference``, one input per first-axis row."""
    stats = _ErrorStats()
    for row in range(len(reference)):
        stats.add(reference[row : row + 1], exported[row : row + 1])
    return stats.relative, stats.max_abs


class _ErrorStats:
    """Running error of one layer over inputs, added one input at a time (nothing kept per input).

    ``relative`` is the worst input's max |difference| / max |source value|: per input, because an
    activation whose range varies across inputs by orders of magnitude (an exponential, a power
    spectrum) can be destroyed on the quiet inputs while looking fine against the loudest one.
    """

    def __init__(self):
        self.max_abs = 0.0
        self.relative = 0.0

    def add(self, reference: np.ndarray, exported: np.ndarray) -> None:
        reference = np.asarray(reference, np.float64)
        exported = np.asarray(exported, np.float64).reshape(reference.shape)
        finite = np.isfinite(reference)  # a source that overflows itself is compared where it is finite
        if not np.isfinite(exported[finite]).all():
            self.max_abs = self.relative = float("inf")
        elif finite.any():
            diff = float(np.abs(exported[finite] - reference[finite]).max())
            peak = float(np.abs(reference[finite]).max())
            self.max_abs = max(self.max_abs, diff)
            self.relative = max(self.relative, diff / peak if peak > 0 else diff)


# ---------------------------------------------------------------------------------------- Keras side
class LayerProbe:
    """A Keras sub-model giving every top-level layer's output (graph order), one input at a time.

    Shared layers (called more than once) and layers with several outputs have no single output
    to compare and are listed in ``skipped``.
    """

    def __init__(self, model: Any):
        import keras

        names, kinds, tensors, skipped = [], [], [], []
        for layer in model.layers:
            if type(layer).__name__ == "InputLayer":
                continue
            try:
                output = layer.output  # raises for a layer called more than once
            except (AttributeError, ValueError):
                skipped.append(layer.name)
                continue
            if isinstance(output, (list, tuple, dict)):
                skipped.append(layer.name)
                continue
            names.append(layer.name)
            kinds.append(type(layer).__name__)
            tensors.append(output)
        self.model_name = model.name
        self.names, self.kinds, self.skipped = tuple(names), tuple(kinds), tuple(skipped)
        self.output_layers = tuple(tensor._keras_history[0].name for tensor in model.outputs)
        self._probe = keras.Model(model.inputs, tensors) if tensors else None

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each layer's output for one batch (``inputs``: one array per model input)."""
        if self._probe is None:
            return []
        with quiet_tensorflow():
            values = self._probe.predict_on_batch(list(inputs) if len(inputs) > 1 else inputs[0])
        values = values if isinstance(values, (list, tuple)) else [values]
        return [np.asarray(value) for value in values]


BATCH_TOLERANCE = 1e-4  # float32 batched vs single matmuls differ by ~1e-7; a batch reduction by far more
BATCH_SAMPLES = 8


def batch_dependence(keras_model: Any, inputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> str:
    """A note when the source answers differently in a batch than one input at a time, naming the
    first layer that does (empty string when it does not, or for a SavedModel).

    The exported file always runs one input at a time, so that is what it is verified against;
    a user who runs the Keras model in batches should know that it then answers differently.

    Args:
        keras_model: the source model (None for a SavedModel).
        inputs: verification inputs, one array per model input.
        reference: the source's outputs on them, computed one input at a time.
    """
    if keras_model is None or len(inputs[0]) < 2:
        return ""
    inputs = [np.asarray(array[:BATCH_SAMPLES]) for array in inputs]
    with quiet_tensorflow():
        batched = keras_model.predict_on_batch(list(inputs) if len(inputs) > 1 else inputs[0])
    batched = batched if isinstance(batched, (list, tuple)) else [batched]
    if all(relative_error(ref[:BATCH_SAMPLES], got)[0] <= BATCH_TOLERANCE for ref, got in zip(reference, batched)):
        return ""
    probe = LayerProbe(keras_model)
    together = probe.run(inputs)
    stats = [_ErrorStats() for _ in probe.names]
    for sample in range(len(inputs[0])):
        for stat, alone, batch in zip(stats, probe.run([a[sample : sample + 1] for a in inputs]), together):
            stat.add(alone, batch[sample : sample + 1])
    for name, kind, stat in zip(probe.names, probe.kinds, stats):
        if stat.relative > BATCH_TOLERANCE:
            return (
                f"the source model answers differently in a batch than one input at a time, from layer "
                f"'{name}' ({kind}; relative difference {stat.relative:.3g}): the export runs one input at a "
                "time and is verified against the source run the same way"
            )
    return ""


# --------------------------------------------------------------------------------------- TFLite side
def _interpreter(model_content: bytes):
    """An interpreter that keeps every tensor and runs the reference kernels, not a delegate:
    a delegated partition hides its intermediate tensors (the quantization debugger does the same)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # converters always have TensorFlow
        from .source import import_tensorflow

        tf = import_tensorflow()
        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging": that is the point
        interpreter = Interpreter(
            model_content=model_content,
            experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
    interpreter.allocate_tensors()
    return interpreter


def _scope_owner(tensor_name: str, layer_scopes: dict[str, int]) -> int | None:
    """The latest layer (index) whose name scope appears in a tensor's name, or None."""
    segments = (segment for part in tensor_name.split(";") for segment in part.split("/")[1:-1])
    owners = [layer_scopes[segment] for segment in segments if segment in layer_scopes]
    return max(owners) if owners else None


def _layer_scopes(model_name: str, tensor_names: Iterable[str], layer_names: Sequence[str]) -> dict[str, int]:
    """Name scope → layer index. Keras 3 suffixes every scope the same way as the model's own
    (``functional`` → ``functional_1``, so layer ``dense`` → ``dense_1`` and ``dense_1`` → ``dense_1_1``)."""
    suffix = ""
    for name in tensor_names:
        head = name.split(";")[0].split("/")[0]
        match = re.fullmatch(re.escape(model_name) + r"(_\d+)?", head)
        if match and "/" in name:
            suffix = match.group(1) or ""
            break
    return {layer + suffix: index for index, layer in enumerate(layer_names)}


def _quantize_input(value: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    scale, zero_point = detail["quantization"]
    if np.issubdtype(dtype, np.integer) and scale:
        info = np.iinfo(dtype)
        return np.clip(np.round(value / scale + zero_point), info.min, info.max).astype(dtype)
    return np.asarray(value).astype(dtype)


def _dequantize(value: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.issubdtype(value.dtype, np.integer) and scale:
        return (value.astype(np.float64) - zero_point) * scale
    return value


def locate_tflite(
    keras_model: Any,
    model_content: bytes,
    inputs: Sequence[np.ndarray],
    tolerance: float,
    input_keys: Sequence[str] = (),
    max_samples: int = MAX_SAMPLES,
) -> Divergence:
    """Compare every top-level Keras layer with its tensor in a TFLite flatbuffer.

    Args:
        keras_model: the source Keras model (None for a SavedModel: no layers to compare).
        model_content: the exported .tflite bytes.
        inputs: verification inputs, one array per model input, in ``input_keys`` order.
        tolerance: the recipe's maximum relative error.
        input_keys: the source's input names (matched to the signature; positional otherwise).
        max_samples: compare on at most this many inputs.

    Returns:
        A :class:`Divergence`; ``.describe()`` is the clause for the error message.
    """
    if keras_model is None:
        return Divergence(tolerance, unavailable="the source is a SavedModel, which has no Keras layers to compare")
    count = min(len(inputs[0]), max_samples)
    probe = LayerProbe(keras_model)
    interpreter = _interpreter(model_content)
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    signature = interpreter._get_full_signature_list().get("serving_default", {})
    input_indices = _ordered(
        signature.get("inputs", {}), input_keys, [d["index"] for d in interpreter.get_input_details()]
    )
    output_indices = [d["index"] for d in interpreter.get_output_details()]
    if signature.get("outputs"):
        output_indices = [signature["outputs"][key] for key in sorted(signature["outputs"], key=_natural)]
    chosen: dict[int, int] = {}
    stats = [_ErrorStats() for _ in probe.names]
    for sample in range(count):
        feed = [np.asarray(array[sample : sample + 1]) for array in inputs]
        expected = probe.run(feed)
        for index, array in zip(input_indices, feed):
            interpreter.set_tensor(index, _quantize_input(array, details[index]))
        interpreter.invoke()
        if sample == 0:  # shapes of dynamic tensors are known only after a run
            details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
            shapes = [value.shape for value in expected]
            chosen = _match_tensors(probe, shapes, interpreter, details, output_indices)
        for position, index in chosen.items():
            stats[position].add(expected[position], _dequantize(interpreter.get_tensor(index), details[index]))
    layers, not_compared = [], []
    for position, name in enumerate(probe.names):
        index = chosen.get(position)
        if index is None:
            not_compared.append(name)
            continue
        stat = stats[position]
        layers.append(LayerError(name, probe.kinds[position], stat.relative, stat.max_abs, details[index]["name"]))
    return Divergence(tolerance, tuple(layers), tuple(not_compared + list(probe.skipped)))


def layers_with_op(keras_model: Any, float_content: bytes, op_name: str) -> list[str]:
    """The top-level Keras layers (``name (Kind)``, graph order) whose part of the float graph holds an operator
    of type ``op_name`` (e.g. ``FLOOR_DIV``): where a converter failure that names only the operator comes from.

    Args:
        keras_model: the source Keras model.
        float_content: the same model converted without quantization (its tensors keep the layers' names).
        op_name: the TFLite builtin operator name the converter named.
    """
    layers = [layer for layer in keras_model.layers if type(layer).__name__ != "InputLayer"]
    interpreter = _interpreter(float_content)
    names = {detail["index"]: detail["name"] for detail in interpreter.get_tensor_details()}
    scopes = _layer_scopes(keras_model.name, names.values(), [layer.name for layer in layers])
    found: list[int] = []
    for op in interpreter._get_ops_details():
        if op["op_name"] != op_name:
            continue
        for index in op["outputs"]:
            owner = _scope_owner(names.get(index, ""), scopes)
            if owner is not None and owner not in found:
                found.append(owner)
    return [f"{layers[i].name} ({type(layers[i]).__name__})" for i in sorted(found)]


def _natural(key: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key))


def _ordered(by_key: dict[str, int], keys: Sequence[str], fallback: list[int]) -> list[int]:
    if keys and set(keys) <= set(by_key):
        return [by_key[key] for key in keys]
    return fallback


def _match_tensors(
    probe: LayerProbe, shapes: list[tuple[int, ...]], interpreter: Any, details: dict, output_indices: list[int]
) -> dict[int, int]:
    """Layer position → index of the TFLite tensor holding that layer's output."""
    scopes = _layer_scopes(probe.model_name, (d["name"] for d in details.values()), probe.names)
    chosen: dict[int, int] = {}
    for op in interpreter._get_ops_details():  # execution order: a later tensor of a layer replaces an earlier one
        if op["op_name"] == "DELEGATE":
            continue
        for index in op["outputs"]:
            owner = _scope_owner(details[index]["name"], scopes)
            if owner is not None and _same_shape(details[index]["shape"], shapes[owner]):
                chosen[owner] = int(index)
    for layer_name, index in zip(probe.output_layers, output_indices):
        if layer_name in probe.names:
            position = probe.names.index(layer_name)
            if _same_shape(details[index]["shape"], shapes[position]):
                chosen[position] = int(index)
    return chosen


def _same_shape(tensor_shape: Iterable[int], batch_shape: tuple[int, ...]) -> bool:
    return tuple(int(d) for d in tensor_shape) == (1, *batch_shape[1:])


def safely(locate: Callable[[], Divergence], tolerance: float) -> Divergence:
    """Run a comparison; a failure inside it must never hide the verification failure it explains."""
    try:
        return locate()
    except Exception as exc:  # the debugger is a diagnosis: report its own failure in one clause
        return Divergence(tolerance, unavailable=f"the comparison itself failed ({type(exc).__name__}: {exc})")
