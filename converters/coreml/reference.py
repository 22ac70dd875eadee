"""A NumPy reference evaluator for Core ML ML Programs, so an export can be checked on Linux.

``MLModel.predict`` exists only on macOS. This module loads the MIL program from a saved
``.mlpackage`` (coremltools' milproto loader) and evaluates it op by op: with edgekit's own NumPy
kernels for the ops coremltools cannot evaluate (convolution, pooling, normalization, classify),
and with each op's own ``value_inference`` for the rest. Every op output is rounded to the dtype
the program declares, so a float16 program is evaluated with float16 tensors between ops (the
arithmetic inside an op is float32). It is a reference check of what the program computes, not
Apple's runtime: fused kernels and accumulation order on a device differ slightly.

Only ops in :data:`SUPPORTED_OPS` (each checked against NumPy/TensorFlow in the tests) are
evaluated; a program with any other op is refused when it is loaded, naming the op.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends import register
from edgekit.backends._coremltools import load_program
from edgekit.backends.coreml import CoreMLModel, check_package, describe_package
from edgekit.errors import InputError, UnsupportedModelError

from ._kernels import KERNELS

# Ops whose coremltools value_inference is used as it is (inputs patched in as values).
VALUE_INFERENCE_OPS = frozenset(
    {
        # elementwise, two inputs with broadcasting
        "add", "sub", "mul", "real_div", "floor_div", "pow", "maximum", "minimum",
        "equal", "not_equal", "greater", "greater_equal", "less", "less_equal",
        "logical_and", "logical_or", "logical_not",
        # elementwise, one input
        "abs", "exp", "log", "sqrt", "rsqrt", "square", "inverse", "floor", "ceil", "round", "sign",
        "tanh", "erf", "clip", "sin", "cos",
        # activations
        "relu", "relu6", "sigmoid", "sigmoid_hard", "softmax", "gelu", "leaky_relu", "elu", "softplus", "prelu",
        # reductions
        "reduce_mean", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_argmax",
        "reduce_l2_norm", "reduce_sum_square", "reduce_log_sum_exp",
        # linear algebra and normalization
        "matmul", "linear", "layer_norm", "l2_norm",
        # shapes and data movement
        "reshape", "transpose", "squeeze", "expand_dims", "concat", "split", "stack", "slice_by_index",
        "slice_by_size", "gather", "gather_along_axis", "pad", "tile", "cast", "select", "identity", "flatten2d",
        "fill", "range_1d", "shape",
    }
)  # fmt: skip

# Weight decompression: materialized once when the program is loaded.
CONSTEXPR_OPS = frozenset(
    {
        "constexpr_affine_dequantize",
        "constexpr_blockwise_shift_scale",
        "constexpr_lut_to_dense",
    }
)

REFERENCE_BACKEND = "edgekit MIL reference evaluator (NumPy, not Apple's runtime)"

SUPPORTED_OPS = frozenset({"const"} | set(KERNELS) | VALUE_INFERENCE_OPS | CONSTEXPR_OPS)


def _numpy_dtype(var: Any) -> np.dtype | None:
    from coremltools.converters.mil.mil import types

    if not (types.is_tensor(var.sym_type) or types.is_scalar(var.sym_type)):
        return None  # strings, dicts, lists (classify's outputs)
    return np.dtype(types.nptype_from_builtin(var.dtype))


def _flat_inputs(op: Any) -> list[Any]:
    flat = []
    for value in op.inputs.values():
        flat.extend(value if isinstance(value, (list, tuple)) else [value])
    return flat


class ReferenceProgram:
    """The ``main`` function of an ML Program, evaluated with NumPy.

    Attributes:
        inputs: input name → (shape, numpy dtype), as the program declares them (images arrive
            channel-first, (1, C, H, W), as float pixels).
        outputs: output names in order.
        spec: the package's Core ML model spec (protobuf).
    """

    def __init__(self, package: str | os.PathLike):
        """Load the program and refuse it at once if it holds an op this evaluator cannot run.

        Raises:
            UnsupportedModelError: an op outside :data:`SUPPORTED_OPS`, or control flow.
        """
        self.path = Path(package)
        self.spec, self.program = load_program(self.path)
        if "main" not in self.program.functions:
            raise UnsupportedModelError(f"{self.path} has no 'main' function")
        self.function = self.program.functions["main"]
        self.inputs = {
            name: (tuple(int(d) for d in var.shape), _numpy_dtype(var)) for name, var in self.function.inputs.items()
        }
        # Values are keyed by Var identity, never by var.name: coremltools' loader renames vars to keep
        # names unique across every program loaded in the process, so names are not stable keys.
        # The output names are the package's own (the proto's), matched by position.
        main = self.spec.mlProgram.functions["main"]
        self.outputs = list(main.block_specializations[main.opset].outputs)
        self._output_vars = list(self.function.outputs)
        self._check_supported()
        # Called with (MIL variable name, value) for every op output of each run, in schedule order.
        self.observer: Any = None
        self._constants: dict[int, Any] = {}
        self._schedule = []
        for op in self.function.operations:
            if op.op_type == "const":
                self._constants[id(op.outputs[0])] = op.outputs[0].val
            elif op.op_type in CONSTEXPR_OPS:
                self._constants[id(op.outputs[0])] = np.asarray(op.materialized_val_inference())
            else:
                self._schedule.append(op)

    def _check_supported(self) -> None:
        for op in self.function.operations:
            if op.blocks:
                raise UnsupportedModelError(
                    f"the reference evaluator cannot evaluate control flow: op {op.name!r} ({op.op_type})",
                    hint="check this model on macOS with Core ML itself",
                )
            if op.op_type not in SUPPORTED_OPS:
                raise UnsupportedModelError(
                    f"the reference evaluator cannot evaluate op {op.name!r} of type '{op.op_type}' "
                    f"in {self.path.name}",
                    hint="check this model on macOS (Core ML predict), or report the op so it can be added",
                )

    def op_counts(self) -> dict[str, int]:
        """MIL op type → how many times it appears in ``main``."""
        return dict(Counter(op.op_type for op in self.function.operations))

    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        """Evaluate once.

        Args:
            feeds: input name → array of the declared shape (cast to the declared dtype).

        Returns:
            Output name → value (arrays; for classifiers a label and a {label: probability} dict).

        Raises:
            InputError: a missing input or a wrong shape.
            UnsupportedModelError: an op failed to evaluate (names it).
        """
        env: dict[int, Any] = dict(self._constants)
        for name, (shape, dtype) in self.inputs.items():
            if name not in feeds:
                raise InputError(f"missing input {name!r}", hint=f"the program's inputs are {list(self.inputs)}")
            value = np.asarray(feeds[name])
            if value.shape != shape:
                raise InputError(f"input {name!r} needs shape {shape}, got {value.shape}")
            env[id(self.function.inputs[name])] = value.astype(dtype)
        for op in self._schedule:
            try:
                result = self._evaluate(op, env)
            except Exception as exc:
                raise UnsupportedModelError(
                    f"the reference evaluator failed on op {op.name!r} ({op.op_type}): {type(exc).__name__}: {exc}",
                    hint="report it with the model; check the model on macOS meanwhile",
                ) from exc
            values = result if len(op.outputs) > 1 else (result,)
            for var, value in zip(op.outputs, values):
                env[id(var)] = _as_declared(var, value)
                if self.observer is not None:  # a debugger looking at intermediate values (costs nothing otherwise)
                    self.observer(var.name, env[id(var)])
        return {name: env[id(var)] for name, var in zip(self.outputs, self._output_vars)}

    def _evaluate(self, op: Any, env: dict[int, Any]) -> Any:
        kernel = KERNELS.get(op.op_type)
        if kernel is not None:
            return kernel({name: _resolve(value, env) for name, value in op.inputs.items()})
        return _value_inference(op, env)


def _resolve(value: Any, env: dict[int, Any]) -> Any:
    if isinstance(value, (list, tuple)):
        return [_resolve(v, env) for v in value]
    return env.get(id(value), value.val)


def _value_inference(op: Any, env: dict[int, Any]) -> Any:
    """Run the op's own value_inference with this run's values patched into its input vars.

    float16 values are widened to float32 first: the op computes in float32 and the caller rounds
    the result to the declared dtype, like a float16 kernel that accumulates in float32.
    """
    patched = []
    try:
        for var in _flat_inputs(op):
            if var.val is not None:
                if not isinstance(var.val, np.bool_):
                    continue  # constants already hold their value
                # numpy 2 refuses a numpy bool where it wants a Python one (keepdims=np.True_).
                value = bool(var.val)
            elif id(var) in env:
                value = env[id(var)]
            else:
                continue
            if isinstance(value, np.ndarray) and value.dtype == np.float16:
                value = value.astype(np.float32)
            holder = var.sym_type()
            holder.val = value
            patched.append((var, var._sym_val))
            var._sym_val = holder
        result = op.value_inference()
    finally:
        for var, saved in reversed(patched):
            var._sym_val = saved
    return result


def _as_declared(var: Any, value: Any) -> Any:
    dtype = _numpy_dtype(var)
    if dtype is None:
        return value
    array = np.asarray(value).astype(dtype, copy=False)
    shape = tuple(var.shape)
    if array.shape != shape and all(isinstance(d, int) for d in shape):
        if array.size == int(np.prod(shape)):
            return array.reshape(shape)  # a scalar held as (1,) and the like
        raise ValueError(f"computed shape {array.shape}, but the program declares {shape}")
    return array


class _ReferenceEngine:
    """Feeds the NumPy evaluator: images as channel-first float pixels, as Core ML hands them on."""

    def __init__(self, path: Path):
        self.program = ReferenceProgram(path)

    def predict(self, feeds: dict[str, np.ndarray], images: set[str]) -> dict[str, Any]:
        ready = {name: (np.transpose(v, (0, 3, 1, 2)) if name in images else v) for name, v in feeds.items()}
        return self.program.run(ready)


def load_reference(path: str | Path) -> CoreMLModel:
    """Load a ``.mlpackage`` to run with the NumPy reference evaluator (any platform; needs coremltools).

    Raises:
        UnsupportedModelError: the program holds an op the evaluator cannot run (named).
        MissingDependencyError: coremltools is not installed (``pip install -e ".[convert]" in a checkout``).
    """
    path = Path(path)
    check_package(path)
    description = describe_package(path)
    return CoreMLModel(description, _ReferenceEngine(path), REFERENCE_BACKEND)


register("coreml-reference", load_reference)
