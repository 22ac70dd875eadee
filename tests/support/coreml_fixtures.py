"""Keras models for the Core ML tests: the layer families the zoo models use, built small.

Random weights, fixed seeds. The last Dense layer is scaled up so the classes are far apart: with
near-uniform random scores, float16 rounding alone could swap the top class, and the agreement
checks would measure luck instead of the export.
"""

from __future__ import annotations

import numpy as np


def _decisive(model, factor: float = 8.0):
    dense = model.layers[-1]
    kernel, *rest = dense.get_weights()
    dense.set_weights([kernel * factor, *rest])
    return model


def sequential_model():
    """A Keras 3 Sequential CNN (coremltools 9.0's Keras path fails on these: no ``output_names``)."""
    import keras

    keras.utils.set_random_seed(11)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(6, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ],
        name="sequential_cnn",
    )
    return _decisive(model)


def coverage_cnn():
    """Rescaling, Conv2D, BatchNormalization, ReLU6, DepthwiseConv2D, ZeroPadding2D, Add, Concatenate,
    AveragePooling2D, Dropout, GlobalMaxPooling2D, Dense: the MobileNet/Fashion family."""
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(12)
    inputs = keras.Input((20, 20, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    branch = layers.ZeroPadding2D(1)(x)
    branch = layers.Conv2D(8, 3, dilation_rate=1)(branch)
    x = layers.Add()([x, branch])
    x = layers.Concatenate()([x, layers.Conv2D(4, 1, activation="sigmoid")(x)])
    x = layers.AveragePooling2D(2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.GlobalMaxPooling2D()(x)
    outputs = layers.Dense(5, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="coverage_cnn")
    # Non-trivial BatchNormalization statistics, so folding them is actually checked.
    rng = np.random.default_rng(12)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape),
                    rng.normal(0, 0.2, beta.shape),
                    rng.normal(0, 0.2, mean.shape),
                    rng.uniform(0.5, 2.0, variance.shape),
                ]
            )
    return _decisive(model)


def keyword_like():
    """The keyword spotter's shape: raw samples → fixed DFT Conv1D (strided frames) → real/imaginary
    slices → |re|, |im|, max, min, scale, add → 1x1 Conv1D mel → log → concatenate → a nested
    classifier model (BatchNormalization on features, Conv1D 'same' stride 2, GAP1D, Dropout, Dense)."""
    import keras

    layers, ops = keras.layers, keras.ops
    keras.utils.set_random_seed(13)
    samples = keras.Input((4000,), name="samples")
    x = layers.Reshape((4000, 1))(samples)
    groups = []
    for index in range(2):
        stft = layers.Conv1D(16, 200, strides=100, use_bias=False, trainable=False, name=f"dft_{index}")(x)
        real, imag = stft[..., :8], stft[..., 8:]
        real, imag = ops.abs(real), ops.abs(imag)
        spectrum = ops.add(ops.maximum(real, imag), ops.multiply(ops.minimum(real, imag), 0.4))
        mel = layers.Conv1D(6, 1, use_bias=False, trainable=False, name=f"mel_{index}")(spectrum)
        groups.append(ops.log(ops.add(ops.abs(mel), 1e-3)))
    features = ops.concatenate(groups, axis=-1)

    inner_in = keras.Input(features.shape[1:], name="log_mel")
    y = layers.BatchNormalization()(inner_in)
    y = layers.Conv1D(12, 5, strides=2, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.GlobalAveragePooling1D()(y)
    y = layers.Dropout(0.2)(y)
    classifier = _decisive(keras.Model(inner_in, layers.Dense(4, activation="softmax")(y), name="classifier"))
    return keras.Model(samples, classifier(features), name="keyword_like")


def text_extended():
    """Embedding → LayerNormalization → Conv1D → GlobalMaxPooling1D → Dense(relu) → Dropout → Dense."""
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(14)
    tokens = keras.Input((10,), dtype="int32", name="tokens")
    x = layers.Embedding(50, 16)(tokens)
    x = layers.LayerNormalization()(x)
    x = layers.Conv1D(16, 3, padding="same", activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(16, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(4, activation="softmax")(x)
    return _decisive(keras.Model(tokens, outputs, name="text_extended"))


def mobilenet_v2(size: int = 96, alpha: float = 0.35):
    """keras.applications.MobileNetV2 (weights=None: no download) with variance-preserving random
    kernels. Its default initialization makes every activation vanish (outputs all 1/1000), which
    would make any comparison pass."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3), alpha=alpha)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            kernel = layer.kernel
            depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
            fan_in = int(np.prod(kernel.shape[:2])) * (1 if depthwise else int(kernel.shape[2]))
            kernel.assign(rng.normal(0, np.sqrt(2.0 / fan_in), kernel.shape).astype(np.float32))
    return model


def unsupported_model():
    """A custom layer calling tf.math.lgamma, which coremltools 9.0 cannot convert."""
    import keras
    import tensorflow as tf

    class LogGamma(keras.layers.Layer):
        def call(self, x):
            return tf.math.lgamma(x)

    inputs = keras.Input((8,), name="values")
    x = LogGamma(name="log_gamma")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(x))
