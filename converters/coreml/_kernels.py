"""NumPy kernels for the ML Program ops that coremltools gives no ``value_inference`` for.

Each kernel follows the op's definition in the MIL op reference (coremltools
``converters/mil/mil/ops/defs``): channel-first layout (N, C, *spatial), the same padding rules,
the same defaults. They compute in float32; the evaluator rounds the result to the op's declared
dtype afterwards (that is how float16 programs are emulated).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Kernel = Callable[[dict[str, Any]], Any]


def _tuple(value: Any, count: int, default: int) -> tuple[int, ...]:
    if value is None:
        return (default,) * count
    return tuple(int(v) for v in np.asarray(value).reshape(-1))


def spatial_padding(
    pad_type: str,
    spatial: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    custom: Sequence[int] | None,
) -> list[tuple[int, int]]:
    """(before, after) padding per spatial axis, as the MIL spec defines each ``pad_type``.

    ``same`` puts the odd extra row/column after (like TensorFlow's SAME), ``same_lower`` before.
    """
    if pad_type == "valid":
        return [(0, 0)] * len(spatial)
    if pad_type == "custom":
        values = [int(v) for v in (custom if custom is not None else [0] * (2 * len(spatial)))]
        return [(values[2 * i], values[2 * i + 1]) for i in range(len(spatial))]
    if pad_type not in ("same", "same_lower"):
        raise ValueError(f"unknown pad_type {pad_type!r}")
    result = []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        effective = (k - 1) * d + 1
        total = max(0, (math.ceil(size / s) - 1) * s + effective - size)
        small, large = total // 2, total - total // 2
        result.append((small, large) if pad_type == "same" else (large, small))
    return result


def conv(args: dict[str, Any]) -> np.ndarray:
    """``conv``: x (N, C_in, *D), weight (C_out, C_in/groups, *K), optional bias (C_out,)."""
    x = np.asarray(args["x"], np.float32)
    weight = np.asarray(args["weight"], np.float32)
    rank = x.ndim - 2
    strides = _tuple(args.get("strides"), rank, 1)
    dilations = _tuple(args.get("dilations"), rank, 1)
    groups = int(args.get("groups") if args.get("groups") is not None else 1)
    kernel = weight.shape[2:]
    pads = spatial_padding(str(args.get("pad_type", "valid")), x.shape[2:], kernel, strides, dilations, args.get("pad"))
    x = np.pad(x, [(0, 0), (0, 0)] + pads)
    out = tuple((size - ((k - 1) * d + 1)) // s + 1 for size, k, s, d in zip(x.shape[2:], kernel, strides, dilations))
    c_in, c_out = x.shape[1], weight.shape[0]
    in_per_group, out_per_group = c_in // groups, c_out // groups
    if groups == c_in and in_per_group == 1:
        result = _depthwise(x, weight.reshape((c_in, out_per_group) + kernel), out, strides, dilations)
    else:
        # One matrix product per kernel offset (and group): faster than an im2col copy of a strided view.
        batch, positions = x.shape[0], int(np.prod(out))
        result = np.zeros((batch, c_out, positions), np.float32)
        for offset in np.ndindex(*kernel):
            window = _offset_window(offset, out, strides, dilations)
            for g in range(groups):
                channels = slice(g * in_per_group, (g + 1) * in_per_group)
                taps = weight[(slice(g * out_per_group, (g + 1) * out_per_group), slice(None)) + offset]
                patch = x[(slice(None), channels) + window].reshape(batch, in_per_group, positions)
                result[:, g * out_per_group : (g + 1) * out_per_group] += np.matmul(taps, patch)
        result = result.reshape((batch, c_out) + out)
    bias = args.get("bias")
    if bias is not None:
        result = result + np.asarray(bias, np.float32).reshape((1, -1) + (1,) * rank)
    return np.ascontiguousarray(result, dtype=np.float32)


def _offset_window(
    offset: Sequence[int], out: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> tuple[slice, ...]:
    """The input cells that kernel position ``offset`` meets, for every output position."""
    return tuple(slice(o * d, o * d + (n - 1) * s + 1, s) for o, d, n, s in zip(offset, dilations, out, strides))


def _depthwise(
    x: np.ndarray, filters: np.ndarray, out: Sequence[int], strides: Sequence[int], dilations: Sequence[int]
) -> np.ndarray:
    """Depthwise conv as a sum over kernel offsets: each channel meets only its own filters."""
    batch, channels, multiplier = x.shape[0], x.shape[1], filters.shape[1]
    result = np.zeros((batch, channels, multiplier) + tuple(out), np.float32)
    for offset in np.ndindex(*filters.shape[2:]):
        window = tuple(slice(o * d, o * d + (n - 1) * s + 1, s) for o, d, n, s in zip(offset, dilations, out, strides))
        taps = filters[(slice(None), slice(None)) + offset].reshape((1, channels, multiplier) + (1,) * len(out))
        result += x[(slice(None), slice(None)) + window][:, :, None] * taps
    return result.reshape((batch, channels * multiplier) + tuple(out))


def _pool(args: dict[str, Any], mode: str) -> np.ndarray:
    x = np.asarray(args["x"], np.float32)
    rank = x.ndim - 2
    kernel = _tuple(args["kernel_sizes"], rank, 1)
    strides = _tuple(args.get("strides"), rank, 1)
    ones = (1,) * rank
    pads = spatial_padding(str(args.get("pad_type", "valid")), x.shape[2:], kernel, strides, ones, args.get("pad"))
    if bool(args.get("ceil_mode", False)):
        # Extra cells at the end so a last partial window exists, as ceil_mode asks.
        extended = []
        for (before, after), size, k, s in zip(pads, x.shape[2:], kernel, strides):
            padded = size + before + after
            out = math.ceil((padded - k) / s) + 1
            if (out - 1) * s >= size + before and (before > 0 or after > 0):
                out -= 1
            extended.append((before, max(after, (out - 1) * s + k - size - before)))
        pads = extended
    padding = [(0, 0), (0, 0)] + pads
    fill = -np.inf if mode == "max" else 0.0
    padded = np.pad(x, padding, constant_values=fill)
    out = tuple((size - k) // s + 1 for size, k, s in zip(padded.shape[2:], kernel, strides))
    slices = [_offset_window(offset, out, strides, ones) for offset in np.ndindex(*kernel)]
    if mode == "max":
        result = padded[(slice(None), slice(None)) + slices[0]].copy()
        for window in slices[1:]:
            np.maximum(result, padded[(slice(None), slice(None)) + window], out=result)
        return result
    result = np.zeros(x.shape[:2] + out, np.float32)
    for window in slices:
        result += padded[(slice(None), slice(None)) + window]
    if bool(args.get("exclude_padding_from_average", False)):
        inside = np.pad(np.ones((1, 1) + x.shape[2:], np.float32), padding)
        counts = sum(inside[(slice(None), slice(None)) + window] for window in slices)
        return (result / counts).astype(np.float32)
    return (result / float(np.prod(kernel))).astype(np.float32)


def max_pool(args: dict[str, Any]) -> np.ndarray:
    """``max_pool``: padding never wins (it is -inf)."""
    return _pool(args, "max")


def avg_pool(args: dict[str, Any]) -> np.ndarray:
    """``avg_pool``: padding counts as zeros unless ``exclude_padding_from_average``."""
    return _pool(args, "avg")


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(args: dict[str, Any]) -> np.ndarray:
    """``batch_norm`` (inference): channel axis 1."""
    x = np.asarray(args["x"], np.float32)
    shape = _channel_shape(x)
    mean = np.asarray(args["mean"], np.float32).reshape(shape)
    variance = np.asarray(args["variance"], np.float32).reshape(shape)
    epsilon = np.float32(args.get("epsilon", 1e-5) if args.get("epsilon") is not None else 1e-5)
    out = (x - mean) / np.sqrt(variance + epsilon)
    if args.get("gamma") is not None:
        out = out * np.asarray(args["gamma"], np.float32).reshape(shape)
    if args.get("beta") is not None:
        out = out + np.asarray(args["beta"], np.float32).reshape(shape)
    return out.astype(np.float32)


def instance_norm(args: dict[str, Any]) -> np.ndarray:
    """``instance_norm``: per sample and channel, over the spatial axes."""
    x = np.asarray(args["x"], np.float32)
    axes = tuple(range(2, x.ndim))
    epsilon = np.float32(args.get("epsilon") if args.get("epsilon") is not None else 1e-5)
    out = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + epsilon)
    shape = _channel_shape(x)
    if args.get("gamma") is not None:
        out = out * np.asarray(args["gamma"], np.float32).reshape(shape)
    if args.get("beta") is not None:
        out = out + np.asarray(args["beta"], np.float32).reshape(shape)
    return out.astype(np.float32)


def silu(args: dict[str, Any]) -> np.ndarray:
    """``silu``: x * sigmoid(x)."""
    x = np.asarray(args["x"], np.float32)
    return (x / (1.0 + np.exp(-x))).astype(np.float32)


def cumsum(args: dict[str, Any]) -> np.ndarray:
    """``cumsum`` along ``axis``; ``exclusive`` leaves each element out of its own sum, ``reverse``
    sums from the end. (coremltools' own value_inference breaks on ``exclusive``.)"""
    x = np.asarray(args["x"])
    axis = int(args.get("axis") if args.get("axis") is not None else 0) % x.ndim
    reverse = bool(args.get("reverse", False))
    data = np.flip(x, axis) if reverse else x
    total = np.cumsum(data, axis=axis, dtype=np.float32 if x.dtype.kind == "f" else x.dtype)
    if bool(args.get("exclusive", False)):
        before = [slice(None)] * x.ndim
        before[axis] = slice(0, -1)
        zeros = np.zeros_like(np.take(total, [0], axis=axis))
        total = np.concatenate([zeros, total[tuple(before)]], axis=axis)
    return np.flip(total, axis) if reverse else total


def classify(args: dict[str, Any]) -> tuple[Any, dict[Any, float]]:
    """``classify``: the top class and a {class: probability} dict (Core ML's classifier outputs)."""
    probabilities = np.asarray(args["probabilities"], np.float32).reshape(-1)
    classes = list(args["classes"])
    if len(classes) != len(probabilities):
        raise ValueError(f"classify has {len(classes)} classes for {len(probabilities)} probabilities")
    return classes[int(np.argmax(probabilities))], {c: float(p) for c, p in zip(classes, probabilities)}


KERNELS: dict[str, Kernel] = {
    "conv": conv,
    "max_pool": max_pool,
    "avg_pool": avg_pool,
    "batch_norm": batch_norm,
    "instance_norm": instance_norm,
    "silu": silu,
    "classify": classify,
    "cumsum": cumsum,
}
