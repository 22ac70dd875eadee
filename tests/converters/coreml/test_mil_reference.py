"""The NumPy ML Program evaluator, op by op, against TensorFlow and NumPy references.

Each family of ops is built as one small MIL program with the coremltools builder, converted with
no graph passes (so every op stays as built), saved as a real .mlpackage, loaded back by the
evaluator and run once; every op's output is then compared with an independent reference.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("coremltools")
tf = pytest.importorskip("tensorflow")

from converters.coreml.reference import SUPPORTED_OPS, ReferenceProgram  # noqa: E402
from edgekit.backends._coremltools import import_coremltools  # noqa: E402
from edgekit.errors import InputError, UnsupportedModelError  # noqa: E402

ct = import_coremltools()
from coremltools.converters.mil import Builder as mb  # noqa: E402
from coremltools.converters.mil.mil import Function, Program, types  # noqa: E402

RNG = np.random.default_rng(7)
X4 = RNG.standard_normal((1, 4, 7, 7)).astype(np.float32)  # NCHW; 7 is odd so "same" pads unevenly
X3 = RNG.standard_normal((1, 4, 9)).astype(np.float32)  # NCW
A = RNG.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)  # positive: log, sqrt, pow, division
B = (3 * RNG.standard_normal((2, 3, 4))).astype(np.float32)  # both signs, beyond relu6's 6
S = RNG.standard_normal((2, 1, 4)).astype(np.float32)
IDX = RNG.integers(0, 4, (2, 3)).astype(np.int32)
INPUTS = {"x4": X4, "x3": X3, "a": A, "b": B, "s": S, "idx": IDX}

W_CONV = RNG.standard_normal((6, 4, 3, 3)).astype(np.float32)
W_EVEN = RNG.standard_normal((6, 4, 2, 2)).astype(np.float32)
W_GROUPED = RNG.standard_normal((6, 2, 3, 3)).astype(np.float32)
W_DEPTHWISE = RNG.standard_normal((8, 1, 3, 3)).astype(np.float32)  # 4 channels x multiplier 2
W_CONV1D = RNG.standard_normal((5, 4, 3)).astype(np.float32)
BIAS6 = RNG.standard_normal(6).astype(np.float32)
CH = [RNG.standard_normal(4).astype(np.float32) for _ in range(3)]  # per-channel mean, gamma, beta
VAR4 = RNG.uniform(0.5, 2.0, 4).astype(np.float32)
W_LINEAR = RNG.standard_normal((5, 4)).astype(np.float32)
B_EQUAL = np.where(RNG.random(B.shape) < 0.5, B, 0.25).astype(np.float32)  # equal to B in about half the cells
TAKE = RNG.integers(0, 4, (2, 3, 4)).astype(np.int32)


# ----------------------------------------------------------------------------- references
def nhwc(x):
    return np.transpose(x, (0, 2, 3, 1))


def nchw(x):
    return np.transpose(np.asarray(x), (0, 3, 1, 2))


def tf_conv(x, w, **kwargs):
    """TensorFlow conv2d on NCHW data with an MIL (O, I, kh, kw) weight."""
    return nchw(tf.nn.conv2d(nhwc(x), np.transpose(w, (2, 3, 1, 0)), **kwargs))


def tf_grouped(x, w, groups, padding):
    per_in, per_out = x.shape[1] // groups, w.shape[0] // groups
    parts = [
        tf_conv(x[:, g * per_in : (g + 1) * per_in], w[g * per_out : (g + 1) * per_out], strides=1, padding=padding)
        for g in range(groups)
    ]
    return np.concatenate(parts, axis=1)


def tf_depthwise(x, w, strides, padding):
    channels, multiplier = x.shape[1], w.shape[0] // x.shape[1]
    filters = np.transpose(w.reshape(channels, multiplier, 3, 3), (2, 3, 0, 1))  # (kh, kw, C, M)
    return nchw(tf.nn.depthwise_conv2d(nhwc(x), filters, strides=[1, strides, strides, 1], padding=padding))


def tf_pool(kind, x, k, s, padding):
    pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    return nchw(pool(nhwc(x), k, s, padding))


def ncw_tf(function, x, *args, **kwargs):
    return np.transpose(np.asarray(function(np.transpose(x, (0, 2, 1)), *args, **kwargs)), (0, 2, 1))


def layer_norm_keras(x, gamma, beta):
    import keras

    layer = keras.layers.LayerNormalization(epsilon=1e-5)
    layer.build(x.shape)
    layer.set_weights([gamma, beta])
    return np.asarray(layer(x))


def instance_norm_tf(x, gamma, beta, epsilon):
    mean, variance = tf.nn.moments(tf.constant(x), axes=[2, 3], keepdims=True)
    shape = (1, -1, 1, 1)
    return np.asarray(tf.nn.batch_normalization(x, mean, variance, beta.reshape(shape), gamma.reshape(shape), epsilon))


# ----------------------------------------------------------------------------- cases
# name → (builder(inputs) → var named `name`, reference() → array, absolute tolerance, op type under test)
Case = tuple[Callable[[dict], object], Callable[[], np.ndarray], float, str]
CASES: dict[str, Case] = {
    # convolution (NCHW): every padding type, stride, dilation, groups, depthwise, 1-D
    "conv_same_stride2": (
        lambda v: mb.conv(x=v["x4"], weight=W_CONV, strides=[2, 2], pad_type="same", name="conv_same_stride2"),
        lambda: tf_conv(X4, W_CONV, strides=2, padding="SAME"),
        1e-4,
        "conv",
    ),
    "conv_valid_bias": (
        lambda v: mb.conv(x=v["x4"], weight=W_CONV, bias=BIAS6, pad_type="valid", name="conv_valid_bias"),
        lambda: tf_conv(X4, W_CONV, strides=1, padding="VALID") + BIAS6.reshape(1, -1, 1, 1),
        1e-4,
        "conv",
    ),
    "conv_custom_pad": (
        lambda v: mb.conv(x=v["x4"], weight=W_CONV, pad_type="custom", pad=[1, 0, 2, 1], name="conv_custom_pad"),
        lambda: tf_conv(X4, W_CONV, strides=1, padding=[[0, 0], [1, 0], [2, 1], [0, 0]]),
        1e-4,
        "conv",
    ),
    "conv_dilated": (
        lambda v: mb.conv(x=v["x4"], weight=W_CONV, dilations=[2, 2], pad_type="valid", name="conv_dilated"),
        lambda: tf_conv(X4, W_CONV, strides=1, padding="VALID", dilations=2),
        1e-4,
        "conv",
    ),
    "conv_same_lower": (  # an even kernel: the odd padding row goes before
        lambda v: mb.conv(x=v["x4"], weight=W_EVEN, pad_type="same_lower", name="conv_same_lower"),
        lambda: tf_conv(X4, W_EVEN, strides=1, padding=[[0, 0], [1, 0], [1, 0], [0, 0]]),
        1e-4,
        "conv",
    ),
    "conv_grouped": (
        lambda v: mb.conv(x=v["x4"], weight=W_GROUPED, groups=2, pad_type="same", name="conv_grouped"),
        lambda: tf_grouped(X4, W_GROUPED, 2, "SAME"),
        1e-4,
        "conv",
    ),
    "conv_depthwise": (
        lambda v: mb.conv(
            x=v["x4"], weight=W_DEPTHWISE, groups=4, strides=[2, 2], pad_type="same", name="conv_depthwise"
        ),
        lambda: tf_depthwise(X4, W_DEPTHWISE, 2, "SAME"),
        1e-4,
        "conv",
    ),
    "conv_1d": (
        lambda v: mb.conv(x=v["x3"], weight=W_CONV1D, strides=[2], pad_type="same", name="conv_1d"),
        lambda: ncw_tf(tf.nn.conv1d, X3, np.transpose(W_CONV1D, (2, 1, 0)), stride=2, padding="SAME"),
        1e-4,
        "conv",
    ),
    # pooling
    "max_pool_same": (
        lambda v: mb.max_pool(x=v["x4"], kernel_sizes=[3, 3], strides=[2, 2], pad_type="same", name="max_pool_same"),
        lambda: tf_pool("max", X4, 3, 2, "SAME"),
        0.0,
        "max_pool",
    ),
    "max_pool_valid": (
        lambda v: mb.max_pool(x=v["x4"], kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid", name="max_pool_valid"),
        lambda: tf_pool("max", X4, 2, 2, "VALID"),
        0.0,
        "max_pool",
    ),
    "max_pool_ceil": (  # 7 cells, window 2, stride 2: ceil mode adds a 4th window over the last cell alone
        lambda v: mb.max_pool(
            x=v["x4"], kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid", ceil_mode=True, name="max_pool_ceil"
        ),
        lambda: tf_pool("max", np.pad(X4, [(0, 0), (0, 0), (0, 1), (0, 1)], constant_values=-np.inf), 2, 2, "VALID"),
        0.0,
        "max_pool",
    ),
    "avg_pool_same_excluding_padding": (  # TensorFlow's SAME average ignores the padding too
        lambda v: mb.avg_pool(
            x=v["x4"],
            kernel_sizes=[3, 3],
            strides=[2, 2],
            pad_type="same",
            exclude_padding_from_average=True,
            name="avg_pool_same_excluding_padding",
        ),
        lambda: tf_pool("avg", X4, 3, 2, "SAME"),
        1e-5,
        "avg_pool",
    ),
    "avg_pool_padding_counted": (
        lambda v: mb.avg_pool(
            x=v["x4"],
            kernel_sizes=[3, 3],
            strides=[1, 1],
            pad_type="custom",
            pad=[1, 1, 1, 1],
            exclude_padding_from_average=False,
            name="avg_pool_padding_counted",
        ),
        lambda: tf_pool("avg", np.pad(X4, [(0, 0), (0, 0), (1, 1), (1, 1)]), 3, 1, "VALID"),
        1e-5,
        "avg_pool",
    ),
    "max_pool_1d": (
        lambda v: mb.max_pool(x=v["x3"], kernel_sizes=[2], strides=[2], pad_type="valid", name="max_pool_1d"),
        lambda: ncw_tf(tf.nn.max_pool1d, X3, 2, 2, "VALID"),
        0.0,
        "max_pool",
    ),
    # normalization
    "batch_norm": (
        lambda v: mb.batch_norm(
            x=v["x4"], mean=CH[0], variance=VAR4, gamma=CH[1], beta=CH[2], epsilon=1e-3, name="batch_norm"
        ),
        lambda: np.asarray(
            tf.nn.batch_normalization(
                X4, *(c.reshape(1, -1, 1, 1) for c in (CH[0], VAR4, CH[2], CH[1])), variance_epsilon=1e-3
            )
        ),
        1e-5,
        "batch_norm",
    ),
    "instance_norm": (
        lambda v: mb.instance_norm(x=v["x4"], gamma=CH[1], beta=CH[2], epsilon=1e-5, name="instance_norm"),
        lambda: instance_norm_tf(X4, CH[1], CH[2], 1e-5),
        1e-5,
        "instance_norm",
    ),
    "layer_norm": (
        lambda v: mb.layer_norm(x=v["b"], axes=[-1], gamma=CH[1], beta=CH[2], epsilon=1e-5, name="layer_norm"),
        lambda: layer_norm_keras(B, CH[1], CH[2]),
        1e-5,
        "layer_norm",
    ),
    "l2_norm": (
        lambda v: mb.l2_norm(x=v["x4"], epsilon=1e-6, name="l2_norm"),
        lambda: X4 / np.sqrt((X4.astype(np.float64) ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-6),
        1e-6,
        "l2_norm",
    ),
    # linear algebra
    "matmul_transpose_y": (
        lambda v: mb.matmul(x=v["a"], y=v["b"], transpose_y=True, name="matmul_transpose_y"),
        lambda: np.asarray(tf.linalg.matmul(A, B, transpose_b=True)),
        1e-4,
        "matmul",
    ),
    "matmul_const": (
        lambda v: mb.matmul(x=v["b"], y=W_LINEAR.T.copy(), name="matmul_const"),
        lambda: B.astype(np.float64) @ W_LINEAR.T,
        1e-4,
        "matmul",
    ),
    "linear": (
        lambda v: mb.linear(x=v["b"], weight=W_LINEAR, bias=BIAS6[:5], name="linear"),
        lambda: B.astype(np.float64) @ W_LINEAR.T + BIAS6[:5],
        1e-4,
        "linear",
    ),
}


def _elementwise(name: str, op: str, build_args, reference, atol: float = 1e-5) -> None:
    CASES[name] = (lambda v: getattr(mb, op)(**build_args(v), name=name), reference, atol, op)


_binary = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "less": np.less,
    "less_equal": np.less_equal,
}
for _op, _reference in _binary.items():
    _elementwise(f"{_op}_ab", _op, lambda v: {"x": v["a"], "y": v["b"]}, lambda r=_reference: r(A, B))
_elementwise("add_broadcast", "add", lambda v: {"x": v["b"], "y": CH[0]}, lambda: B + CH[0])
_elementwise("real_div", "real_div", lambda v: {"x": v["b"], "y": v["a"]}, lambda: B / A)
_elementwise("floor_div", "floor_div", lambda v: {"x": v["b"], "y": v["a"]}, lambda: np.floor(B / A))
_elementwise("pow", "pow", lambda v: {"x": v["a"], "y": v["b"]}, lambda: np.asarray(tf.pow(A, B)), 1e-4)
_elementwise("equal", "equal", lambda v: {"x": v["b"], "y": B_EQUAL}, lambda: B == B_EQUAL)
_elementwise("not_equal", "not_equal", lambda v: {"x": v["b"], "y": B_EQUAL}, lambda: B != B_EQUAL)
_unary_b = {
    "abs": np.abs,
    "exp": lambda x: np.asarray(tf.exp(x)),
    "square": np.square,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.round,
    "sign": np.sign,
    "tanh": lambda x: np.asarray(tf.tanh(x)),
    "erf": lambda x: np.asarray(tf.math.erf(x)),
    "sin": np.sin,
    "cos": np.cos,
    "relu": lambda x: np.asarray(tf.nn.relu(x)),
    "relu6": lambda x: np.asarray(tf.nn.relu6(x)),
    "sigmoid": lambda x: np.asarray(tf.sigmoid(x)),
    "softplus": lambda x: np.asarray(tf.math.softplus(x)),
    "silu": lambda x: np.asarray(tf.nn.silu(x)),
}
for _op, _reference in _unary_b.items():
    _tolerance = 1e-4 if _op == "exp" else 1e-5
    _elementwise(f"{_op}_b", _op, lambda v: {"x": v["b"]}, lambda r=_reference: r(B), _tolerance)
# MIL adds epsilon before inverting: inverse(x) = 1 / (x + 1e-4), rsqrt(x) = 1 / sqrt(x + 1e-12)
_unary_a = {"log": np.log, "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x), "inverse": lambda x: 1 / (x + 1e-4)}
for _op, _reference in _unary_a.items():
    _elementwise(f"{_op}_a", _op, lambda v: {"x": v["a"]}, lambda r=_reference: r(A))
_elementwise("clip", "clip", lambda v: {"x": v["b"], "alpha": -0.5, "beta": 0.5}, lambda: np.clip(B, -0.5, 0.5))
_elementwise("leaky_relu", "leaky_relu", lambda v: {"x": v["b"], "alpha": 0.1}, lambda: tf.nn.leaky_relu(B, 0.1))
_elementwise("elu", "elu", lambda v: {"x": v["b"], "alpha": 1.0}, lambda: tf.nn.elu(B))
_elementwise("gelu_exact", "gelu", lambda v: {"x": v["b"]}, lambda: tf.nn.gelu(B, approximate=False))
_elementwise(
    "gelu_tanh", "gelu", lambda v: {"x": v["b"], "mode": "TANH_APPROXIMATION"}, lambda: tf.nn.gelu(B, approximate=True)
)
_elementwise(
    "sigmoid_hard",
    "sigmoid_hard",
    lambda v: {"x": v["b"], "alpha": 0.2, "beta": 0.5},
    lambda: np.clip(0.2 * B + 0.5, 0, 1),
)
_elementwise(
    "prelu",
    "prelu",
    lambda v: {"x": v["x4"], "alpha": CH[0]},
    lambda: np.where(X4 > 0, X4, X4 * CH[0].reshape(1, 4, 1, 1)),
)
_elementwise("softmax", "softmax", lambda v: {"x": v["b"], "axis": -1}, lambda: tf.nn.softmax(B, axis=-1))
_elementwise(
    "logical_and",
    "logical_and",
    lambda v: {"x": mb.greater(x=v["b"], y=0.0), "y": mb.less(x=v["b"], y=2.0)},
    lambda: (B > 0) & (B < 2),
)
_elementwise(
    "logical_or",
    "logical_or",
    lambda v: {"x": mb.greater(x=v["b"], y=2.0), "y": mb.less(x=v["b"], y=-2.0)},
    lambda: (B > 2) | (B < -2),
)
_elementwise("logical_not", "logical_not", lambda v: {"x": mb.greater(x=v["b"], y=0.0)}, lambda: ~(B > 0))
# reductions
_reductions = {
    "reduce_mean": (dict(axes=[1]), lambda: tf.reduce_mean(B, axis=1)),
    "reduce_sum": (dict(axes=[-1], keep_dims=True), lambda: tf.reduce_sum(B, axis=-1, keepdims=True)),
    "reduce_max": (dict(axes=[0, 2]), lambda: tf.reduce_max(B, axis=[0, 2])),
    "reduce_min": (dict(axes=[1]), lambda: tf.reduce_min(B, axis=1)),
    "reduce_prod": (dict(axes=[2]), lambda: tf.reduce_prod(B, axis=2)),
    "reduce_l2_norm": (dict(axes=[2]), lambda: tf.norm(B, axis=2)),
    "reduce_sum_square": (dict(axes=[1]), lambda: tf.reduce_sum(tf.square(B), axis=1)),
    "reduce_log_sum_exp": (dict(axes=[-1]), lambda: tf.reduce_logsumexp(B, axis=-1)),
}
for _op, (_kwargs, _reference) in _reductions.items():
    _elementwise(_op, _op, lambda v, k=_kwargs: {"x": v["b"], **k}, _reference, 1e-4)
_elementwise("reduce_argmax", "reduce_argmax", lambda v: {"x": v["b"], "axis": -1}, lambda: tf.argmax(B, axis=-1), 0)
# shapes and data movement
_moves = {
    "reshape": (lambda v: {"x": v["b"], "shape": [6, 4]}, lambda: B.reshape(6, 4)),
    "transpose": (lambda v: {"x": v["b"], "perm": [2, 0, 1]}, lambda: np.transpose(B, (2, 0, 1))),
    "squeeze": (lambda v: {"x": v["s"], "axes": [1]}, lambda: S[:, 0]),
    "expand_dims": (lambda v: {"x": v["b"], "axes": [1]}, lambda: B[:, None]),
    "concat": (lambda v: {"values": [v["a"], v["b"]], "axis": 1}, lambda: np.concatenate([A, B], axis=1)),
    "stack": (lambda v: {"values": [v["a"], v["b"]], "axis": 0}, lambda: np.stack([A, B])),
    "slice_by_index": (
        lambda v: {"x": v["b"], "begin": [0, 1, 0], "end": [2, 3, 4], "stride": [1, 1, 2]},
        lambda: B[:, 1:3, ::2],
    ),
    "slice_squeezed": (
        lambda v: {"x": v["b"], "begin": [1, 0, 0], "end": [2, 3, 4], "squeeze_mask": [True, False, False]},
        lambda: B[1],
    ),
    "slice_by_size": (lambda v: {"x": v["b"], "begin": [0, 1, 1], "size": [2, 2, -1]}, lambda: B[:, 1:3, 1:]),
    "gather": (lambda v: {"x": v["b"], "indices": v["idx"], "axis": 2}, lambda: tf.gather(B, IDX, axis=2)),
    "gather_axis0": (lambda v: {"x": v["b"], "indices": [1, 0, 1], "axis": 0}, lambda: B[[1, 0, 1]]),
    "gather_along_axis": (
        lambda v: {"x": v["b"], "indices": TAKE, "axis": 2},
        lambda: np.take_along_axis(B, TAKE, axis=2),
    ),
    "pad": (
        lambda v: {"x": v["b"], "pad": [0, 0, 1, 2, 0, 1], "constant_val": 0.5},
        lambda: np.pad(B, [(0, 0), (1, 2), (0, 1)], constant_values=0.5),
    ),
    "pad_reflect": (
        lambda v: {"x": v["b"], "pad": [0, 0, 1, 1, 2, 1], "mode": "reflect"},
        lambda: np.pad(B, [(0, 0), (1, 1), (2, 1)], mode="reflect"),
    ),
    "pad_replicate": (
        lambda v: {"x": v["b"], "pad": [0, 0, 1, 1, 2, 1], "mode": "replicate"},
        lambda: np.pad(B, [(0, 0), (1, 1), (2, 1)], mode="edge"),
    ),
    "tile": (lambda v: {"x": v["b"], "reps": [1, 2, 1]}, lambda: np.tile(B, (1, 2, 1))),
    "cast_to_fp16": (lambda v: {"x": v["b"], "dtype": "fp16"}, lambda: B.astype(np.float16)),
    "cast_int_to_fp32": (lambda v: {"x": v["idx"], "dtype": "fp32"}, lambda: IDX.astype(np.float32)),
    "select": (
        lambda v: {"cond": mb.greater(x=v["b"], y=0.0), "a": v["a"], "b": v["b"]},
        lambda: tf.where(B > 0, A, B),
    ),
    "identity": (lambda v: {"x": v["b"]}, lambda: B),
    "flatten2d": (lambda v: {"x": v["b"], "axis": 1}, lambda: B.reshape(2, 12)),
    "cumsum": (
        lambda v: {"x": v["b"], "axis": 1, "exclusive": True},
        lambda: tf.math.cumsum(B, axis=1, exclusive=True),
    ),
    "cumsum_reverse": (
        lambda v: {"x": v["b"], "axis": -1, "reverse": True},
        lambda: tf.math.cumsum(B, axis=-1, reverse=True),
    ),
    "shape": (lambda v: {"x": v["b"]}, lambda: np.array(B.shape)),
    "fill": (lambda v: {"shape": mb.shape(x=v["b"]), "value": 2.5}, lambda: np.full(B.shape, 2.5)),
    "range_1d": (lambda v: {"start": 0.0, "end": 4.0, "step": 1.5}, lambda: np.arange(0.0, 4.0, 1.5)),
}
for _name, (_build, _reference) in _moves.items():
    _op = {
        "slice_squeezed": "slice_by_index",
        "gather_axis0": "gather",
        "pad_reflect": "pad",
        "pad_replicate": "pad",
        "cast_to_fp16": "cast",
        "cast_int_to_fp32": "cast",
        "cumsum_reverse": "cumsum",
    }.get(_name, _name)
    _elementwise(_name, _op, _build, _reference, 1e-5 if _op == "cumsum" else 0.0)


# ----------------------------------------------------------------------------- building and running
def save_program(
    folder: Path, name: str, inputs: dict[str, np.ndarray], build, opset=None, precision="float32"
) -> ReferenceProgram:
    """Build ``build(input_vars) → [vars]`` as a MIL program, convert it with no graph passes, save it
    as a real .mlpackage and load it back with the evaluator."""
    opset = opset or ct.target.iOS16
    dtypes = {np.dtype(np.float32): types.fp32, np.dtype(np.int32): types.int32}
    placeholders = {k: mb.placeholder(shape=v.shape, dtype=dtypes[v.dtype]) for k, v in inputs.items()}
    with Function(placeholders, opset_version=opset) as function:
        function.set_outputs(list(build(dict(function.inputs))))
    program = Program()
    program.add_function("main", function)
    model = ct.convert(
        program,
        convert_to="mlprogram",
        pass_pipeline=ct.PassPipeline.EMPTY,
        compute_precision=ct.precision.FLOAT32 if precision == "float32" else ct.precision.FLOAT16,
        minimum_deployment_target=opset,
    )
    path = folder / f"{name}.mlpackage"
    model.save(str(path))
    return ReferenceProgram(path)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> tuple[ReferenceProgram, dict[str, np.ndarray]]:
    """Every case in one program (each op reads the inputs directly), evaluated once."""

    def build(v):
        outputs = [builder(v) for builder, _, _, _ in CASES.values()]
        return outputs + list(mb.split(x=v["b"], num_splits=2, axis=2, name="split"))

    program = save_program(tmp_path_factory.mktemp("mil"), "cases", INPUTS, build)
    return program, program.run(INPUTS)


@pytest.mark.parametrize("name", list(CASES))
def test_op_matches_reference(name, evaluated):
    program, outputs = evaluated
    _, reference, atol, op_type = CASES[name]
    assert program.op_counts().get(op_type, 0) >= 1, f"{op_type} was folded away; the case tests nothing"
    expected = np.asarray(reference())
    got = outputs[name]
    assert got.shape == expected.shape
    if expected.dtype.kind in "biu" or atol == 0:
        np.testing.assert_array_equal(got, expected.astype(got.dtype))
    else:
        np.testing.assert_allclose(got.astype(np.float64), expected, atol=atol, rtol=1e-5)


def test_split_has_two_outputs(evaluated):
    program, outputs = evaluated
    halves = [outputs[name] for name in program.outputs[-2:]]
    np.testing.assert_array_equal(halves[0], B[:, :, :2])
    np.testing.assert_array_equal(halves[1], B[:, :, 2:])


def test_every_supported_op_has_a_reference_test():
    tested = {op for _, _, _, op in CASES.values()} | {"split", "const", "classify"} | set(CONSTEXPR_TESTED)
    assert not SUPPORTED_OPS - tested, sorted(SUPPORTED_OPS - tested)


# ----------------------------------------------------------------------------- float16 emulation
def test_float16_program_rounds_every_op_output(tmp_path):
    """fp16 ops see fp16 inputs and round their results: add then mul in fp16 is not the fp32 result."""
    c1, c2 = np.float16(0.1), np.float16(3.3)

    def build(v):
        half = mb.cast(x=v["b"], dtype="fp16", name="half")
        added = mb.add(x=half, y=c1, name="added")
        scaled = mb.mul(x=added, y=c2, name="scaled")
        return [mb.cast(x=scaled, dtype="fp32", name="out")]

    program = save_program(tmp_path, "fp16", {"b": B}, build)
    got = program.run({"b": B})["out"]
    step = (B.astype(np.float16) + c1).astype(np.float16)  # numpy rounds each float16 op's result
    np.testing.assert_array_equal(got, (step * c2).astype(np.float16).astype(np.float32))
    assert not np.array_equal(got, (B + np.float32(c1)) * np.float32(c2))


def test_float16_conv_within_one_half_ulp_of_exact(tmp_path):
    weight = W_CONV.astype(np.float16)

    def build(v):
        half = mb.cast(x=v["x4"], dtype="fp16")
        out = mb.conv(x=half, weight=weight, pad_type="same", name="conv16")
        return [mb.cast(x=out, dtype="fp32", name="out")]

    got = save_program(tmp_path, "conv16", {"x4": X4}, build).run({"x4": X4})["out"]
    exact = tf_conv(X4.astype(np.float16).astype(np.float64), weight.astype(np.float64), strides=1, padding="SAME")
    assert np.array_equal(got, got.astype(np.float16).astype(np.float32))  # the result is float16
    spacing = np.spacing(np.abs(exact).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(got - exact) <= spacing * 0.5 + 1e-6)


# ----------------------------------------------------------------------------- weight decompression
CONSTEXPR_TESTED = ("constexpr_affine_dequantize", "constexpr_lut_to_dense", "constexpr_blockwise_shift_scale")
Q_WEIGHT = RNG.integers(-128, 128, (5, 4)).astype(np.int8)
Q_SCALE = RNG.uniform(0.01, 0.05, 5).astype(np.float32)
LUT16 = np.sort(RNG.standard_normal(16)).astype(np.float32)
INDICES4 = RNG.integers(0, 16, (5, 4)).astype(np.uint8)


def pack_lsb_first(indices: np.ndarray, bits: int) -> np.ndarray:
    """Pack indices as the MIL spec describes: bit fields filled from each byte's least significant bit."""
    stream = [(int(value) >> bit) & 1 for value in indices.reshape(-1) for bit in range(bits)]
    stream += [0] * (-len(stream) % 8)
    return np.array([sum(b << i for i, b in enumerate(stream[k : k + 8])) for k in range(0, len(stream), 8)], np.uint8)


def test_affine_dequantize_per_channel(tmp_path):
    def build(v):
        weight = mb.constexpr_affine_dequantize(
            quantized_data=Q_WEIGHT, zero_point=np.int8(3), scale=Q_SCALE, axis=0, name="weight"
        )
        return [mb.linear(x=v["b"], weight=weight, name="out")]

    program = save_program(tmp_path, "affine", {"b": B}, build)
    assert program.op_counts()["constexpr_affine_dequantize"] == 1
    dense = (Q_WEIGHT.astype(np.float64) - 3) * Q_SCALE[:, None]  # hand dequantization, per output channel
    np.testing.assert_allclose(program.run({"b": B})["out"], B @ dense.T, atol=1e-4)


def test_lut_to_dense_4_bit(tmp_path):
    def build(v):
        weight = mb.constexpr_lut_to_dense(
            lut=LUT16, indices=pack_lsb_first(INDICES4, 4), shape=np.array([5, 4], np.uint32), name="weight"
        )
        return [mb.linear(x=v["b"], weight=weight, name="out")]

    program = save_program(tmp_path, "lut4", {"b": B}, build)
    assert program.op_counts()["constexpr_lut_to_dense"] == 1
    np.testing.assert_allclose(program.run({"b": B})["out"], B @ LUT16[INDICES4].T, atol=1e-4)


def test_blockwise_shift_scale_ios18(tmp_path):
    scale = Q_SCALE.reshape(5, 1)

    def build(v):
        weight = mb.constexpr_blockwise_shift_scale(data=Q_WEIGHT, scale=scale, name="weight")
        return [mb.linear(x=v["b"], weight=weight, name="out")]

    program = save_program(tmp_path, "blockwise", {"b": B}, build, opset=ct.target.iOS18)
    assert program.op_counts()["constexpr_blockwise_shift_scale"] == 1
    np.testing.assert_allclose(program.run({"b": B})["out"], B @ (Q_WEIGHT * scale).T, atol=1e-4)


# ----------------------------------------------------------------------------- refusals and errors
def test_unsupported_op_is_refused_at_load_with_its_name(tmp_path):
    def build(v):
        return [mb.argsort(x=v["b"], axis=-1, name="my_sort")]

    with pytest.raises(UnsupportedModelError, match=r"op 'my_sort' of type 'argsort'"):
        save_program(tmp_path, "unsupported", {"b": B}, build)


def test_wrong_input_shape_and_missing_input(evaluated):
    program, _ = evaluated
    with pytest.raises(InputError, match="needs shape"):
        program.run({**INPUTS, "b": B[0]})
    with pytest.raises(InputError, match="missing input 'idx'"):
        program.run({k: v for k, v in INPUTS.items() if k != "idx"})


def test_classify_kernel_by_hand():
    from converters.coreml._kernels import classify

    label, scores = classify({"probabilities": np.array([[0.1, 0.7, 0.2]]), "classes": ["cat", "dog", "fox"]})
    assert label == "dog"
    assert scores == pytest.approx({"cat": 0.1, "dog": 0.7, "fox": 0.2})


def test_not_a_package(tmp_path):
    from edgekit.errors import InvalidModelError, ModelNotFoundError

    with pytest.raises(ModelNotFoundError):
        ReferenceProgram(tmp_path / "missing.mlpackage")
    (tmp_path / "empty.mlpackage").mkdir()
    with pytest.raises(InvalidModelError, match="no Manifest.json"):
        ReferenceProgram(tmp_path / "empty.mlpackage")
