"""The card of an SSD detector: labels are checked against its score output, whichever order its outputs
come in (a face detector's are boxes (anchors x 16) then scores (anchors x 1))."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ssd_like():
    import keras

    keras.utils.set_random_seed(5)
    image = keras.Input((32, 32, 3), name="image")
    features = keras.layers.Conv2D(4, 3, strides=4, padding="same")(image)  # 8x8 cells
    boxes = keras.layers.Reshape((64, 16), name="regressors")(keras.layers.Conv2D(16, 1)(features))
    scores = keras.layers.Reshape((64, 1), name="classificators")(keras.layers.Conv2D(1, 1)(features))
    return keras.Model(image, [boxes, scores], name="ssd_like")


def test_labels_match_the_score_output_not_the_first_one(ssd_like):
    from converters.source import load_source
    from converters.tflite import CardOptions, build_card

    card = build_card(load_source(ssd_like), CardOptions(task="object-detector", labels=["face"]), [])
    assert card.labels == ("face",)


def test_labels_no_output_has_are_refused_with_the_widths(ssd_like):
    from converters.source import load_source
    from converters.tflite import CardOptions, build_card
    from edgekit.errors import MetadataError

    with pytest.raises(MetadataError) as refused:
        build_card(load_source(ssd_like), CardOptions(task="object-detector", labels=["face", "cat", "dog"]), [])
    assert "3 labels" in str(refused.value) and "1, 16" in str(refused.value), refused.value


def test_a_classifier_still_checks_its_first_output():
    import keras

    from converters.source import load_source
    from converters.tflite import CardOptions, build_card
    from edgekit.errors import MetadataError

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    with pytest.raises(MetadataError, match="first output has 3 classes"):
        build_card(load_source(model), CardOptions(task="image-classifier", labels=["a", "b"]), [])
