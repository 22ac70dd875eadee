"""Grayscale image models take RGB: a fixed luma conversion is put in front of the graph at export.

MediaPipe Tasks' image tasks accept only RGB input ("Only RGB color space is supported for now", and
a depth of 3 or 4), so a model trained on one grey channel could not run there. The exported graph
therefore starts with a 1x1 convolution whose fixed weights are the ITU-R BT.601 luma coefficients
(0.299 R + 0.587 G + 0.114 B: what edgekit's own GRAY conversion, OpenCV's ``COLOR_RGB2GRAY`` and
Pillow's ``convert("L")`` use), and the file declares an RGB input. The weights sum to 1, so the
conversion commutes with the card's one mean/std: normalizing RGB pixels and then mixing them gives
what normalizing the grey pixel gives, and the normalization metadata stays the model's own.

``CardOptions(keep_grayscale=True)`` (``edgekit convert --keep-grayscale``) keeps the 1-channel input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.metadata import ImageSpec, ModelCard

from .source import SourceModel, import_tensorflow

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, for R, G, B
CONVERSION = "RGB to grey inside the model: 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 luma)"
LAYER_NAME = "rgb_to_luma"


def needs_rgb_input(card: ModelCard, keep_grayscale: bool) -> bool:
    """True for a 1-channel image model that should be exported with an RGB input."""
    return card.image is not None and card.image.channels == 1 and not keep_grayscale


def rgb_input_model(keras_model: Any) -> Any:
    """A Keras model that takes (H, W, 3) RGB, computes BT.601 luma, and runs ``keras_model`` on it.

    Args:
        keras_model: a Keras model with one (batch, H, W, 1) float input.

    Returns:
        The wrapped model; its input keeps the original input's name (the TFLite tensor's name).
    """
    import_tensorflow()
    import keras

    original = keras_model.inputs[0]
    inputs = keras.Input(tuple(original.shape[1:3]) + (3,), name=original.name, dtype=original.dtype)
    mix = keras.layers.Conv2D(
        1,
        1,
        use_bias=False,
        trainable=False,
        kernel_initializer=keras.initializers.Constant(np.asarray(LUMA_WEIGHTS, np.float32).reshape(1, 1, 3, 1)),
        name=LAYER_NAME,
    )
    return keras.Model(inputs, keras_model(mix(inputs)), name=keras_model.name)


def to_rgb_input(source: SourceModel, card: ModelCard, notes: list[str]) -> tuple[SourceModel, ModelCard]:
    """Wrap a 1-channel Keras source so it takes RGB, and give the card the RGB input it now has.

    A SavedModel source cannot be wrapped here: it keeps its grey input, with a note saying what
    that costs and how to get RGB.
    """
    if source.keras_model is None:
        notes.append(
            "grayscale input kept (a SavedModel cannot be given an RGB input here): MediaPipe Tasks will "
            "refuse this file (RGB only); export the Keras model to get an RGB input with the conversion inside"
        )
        return source, card
    wrapped = SourceModel("keras", source.description, keras_model=rgb_input_model(source.keras_model))
    wrapped.output_keys = source.output_keys
    image = card.image
    rgb = ImageSpec(
        width=image.width,
        height=image.height,
        channels=3,
        color_order="RGB",
        resize_mode=image.resize_mode,
        mean=image.mean,
        std=image.std,
    )
    notes.append(
        "grayscale model: the export takes RGB and converts it to grey inside the graph (BT.601 luma), "
        "so MediaPipe Tasks can run it; --keep-grayscale keeps the 1-channel input"
    )
    return wrapped, card.replace(image=rgb, extra={**card.extra, "input_conversion": CONVERSION})
