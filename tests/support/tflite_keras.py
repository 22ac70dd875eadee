"""A Keras model rebuilt from a .tflite file's graph, for the Core ML cell of a bundled model that has no
Keras source (the face detector: Google's own file).

Only the ops such plain convolutional graphs use (CONV_2D, DEPTHWISE_CONV_2D, RELU, ADD, PAD, MAX_POOL_2D,
RESHAPE, CONCATENATION; float16 weights through DEQUANTIZE) are understood; any other op raises with its
name. Options (strides, padding, fused activations, axes) come from the file's flatbuffer as TensorFlow's
own schema reads it. The caller checks the rebuild against the file under ai-edge-litert.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64}
_ACTIVATIONS = {0: None, 1: "relu", 3: "relu6"}


def keras_from_tflite(path: str | Path, name: str = "rebuilt"):
    """The Keras functional model computing what the single-subgraph float .tflite at ``path`` computes."""
    import keras

    from converters.source import import_tensorflow

    import_tensorflow()
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    names = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    constants: dict[int, np.ndarray] = {}
    for index, tensor in enumerate(graph.tensors):
        data = model.buffers[tensor.buffer].data
        if data is not None and len(data):
            array = np.frombuffer(np.asarray(data, np.uint8).tobytes(), _DTYPES[tensor.type])
            constants[index] = array.reshape([int(n) for n in tensor.shape])
    values = {}
    inputs = []
    for index in graph.inputs:
        tensor = graph.tensors[index]
        values[index] = keras.Input([int(n) for n in tensor.shape[1:]], name=_name(tensor.name))
        inputs.append(values[index])
    for number, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        kind = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        options = op.builtinOptions
        out = int(op.outputs[0])
        layer_name = f"{kind.lower()}_{number}"
        if kind == "DEQUANTIZE":
            constants[out] = constants[int(op.inputs[0])].astype(np.float32)
            continue
        x = values.get(int(op.inputs[0]))
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            weights = constants[int(op.inputs[1])]
            bias = constants[int(op.inputs[2])] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            common = dict(
                strides=(options.strideH, options.strideW),
                padding="same" if options.padding == 0 else "valid",
                dilation_rate=(options.dilationHFactor, options.dilationWFactor),
                activation=_ACTIVATIONS[options.fusedActivationFunction],
                use_bias=bias is not None,
                name=layer_name,
            )
            if kind == "CONV_2D":
                layer = keras.layers.Conv2D(weights.shape[0], weights.shape[1:3], **common)
                kernel = weights.transpose(1, 2, 3, 0)
            else:
                channels = int(x.shape[-1])
                multiplier = weights.shape[3] // channels
                layer = keras.layers.DepthwiseConv2D(weights.shape[1:3], depth_multiplier=multiplier, **common)
                kernel = weights.reshape(weights.shape[1], weights.shape[2], channels, multiplier)
            values[out] = layer(x)
            layer.set_weights([kernel, bias] if bias is not None else [kernel])
        elif kind == "RELU":
            values[out] = keras.layers.ReLU(name=layer_name)(x)
        elif kind == "ADD":
            added = keras.layers.Add(name=layer_name)([x, values[int(op.inputs[1])]])
            activation = _ACTIVATIONS[options.fusedActivationFunction]
            values[out] = keras.layers.Activation(activation)(added) if activation else added
        elif kind == "PAD":
            values[out] = _pad(x, constants[int(op.inputs[1])].astype(int), layer_name)
        elif kind == "MAX_POOL_2D":
            values[out] = keras.layers.MaxPooling2D(
                (options.filterHeight, options.filterWidth),
                (options.strideH, options.strideW),
                "same" if options.padding == 0 else "valid",
                name=layer_name,
            )(x)
        elif kind == "RESHAPE":
            shape = [int(n) for n in graph.tensors[out].shape[1:]]
            values[out] = keras.layers.Reshape(shape, name=layer_name)(x)
        elif kind == "CONCATENATION":
            parts = [values[int(i)] for i in op.inputs]
            axis = options.axis if options.axis >= 0 else options.axis + len(graph.tensors[out].shape)
            values[out] = keras.layers.Concatenate(axis=axis, name=layer_name)(parts)
        else:
            raise NotImplementedError(f"{path}: op {kind} (number {number}) is not rebuilt")
    outputs = {_name(graph.tensors[i].name): values[int(i)] for i in graph.outputs}
    outputs = {key: keras.layers.Identity(name=key)(value) for key, value in outputs.items()}
    return keras.Model(inputs, list(outputs.values()), name=name)


def _pad(x, paddings: np.ndarray, name: str):
    """Zero padding of NHWC ``x``: spatial as ZeroPadding2D; channels (BlazeFace widens its residual path
    this way) as a 1x1 convolution with an identity kernel, exact in float. A channel Pad feeding an Add
    crashes TensorFlow 2.21's oneDNN graph (segfault in predict), and Core ML has no reason to mind."""
    import keras

    if paddings[0].any():
        raise NotImplementedError(f"{name}: padding along the batch axis")
    if paddings[1:3].any():
        x = keras.layers.ZeroPadding2D(((paddings[1][0], paddings[1][1]), (paddings[2][0], paddings[2][1])), name=name)(
            x
        )
    if paddings[3].any():
        channels = int(x.shape[-1])
        before, after = (int(n) for n in paddings[3])
        widen = keras.layers.Conv2D(channels + before + after, 1, use_bias=False, name=f"{name}_channels")
        x = widen(x)
        kernel = np.zeros((1, 1, channels, channels + before + after), np.float32)
        kernel[0, 0, np.arange(channels), before + np.arange(channels)] = 1.0
        widen.set_weights([kernel])
    return x


def _name(raw) -> str:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return "".join(c if c.isalnum() or c == "_" else "_" for c in text)
