"""edgekit.load / Model: tensor specs, quantization at the boundary, input checking."""

from __future__ import annotations

import numpy as np
import pytest

import edgekit
from edgekit.errors import InputError
from tests.support.fixtures import held_out_images

pytestmark = pytest.mark.slow


def tf_interpreter(path):
    """TensorFlow's own interpreter: an independent reading of the same file."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


@pytest.mark.parametrize("recipe", ["float32", "int8", "int16x8"])
def test_tensor_specs_match_tensorflow_interpreter(recipe, digits_exports):
    model = edgekit.load(digits_exports[recipe])
    reference = tf_interpreter(digits_exports[recipe])
    for specs, details in (
        (model.inputs, reference.get_input_details()),
        (model.outputs, reference.get_output_details()),
    ):
        assert {s.index for s in specs} == {d["index"] for d in details}
        for spec in specs:
            detail = next(d for d in details if d["index"] == spec.index)
            assert spec.name == detail["name"]
            assert spec.shape == tuple(detail["shape"])
            assert spec.dtype == np.dtype(detail["dtype"])
            scale, zero_point = detail["quantization"]
            if np.dtype(detail["dtype"]).kind in "iu" and scale:
                assert spec.scale == pytest.approx(scale) and spec.zero_point == zero_point
            else:
                assert spec.scale is None and spec.zero_point is None
    assert str(model.backend).startswith("ai-edge-litert 2.")


def test_float_model_matches_keras(digits_exports, digits, digits_keras_model):
    images, _ = held_out_images(digits, 40)
    model = edgekit.load(digits_exports["float32"])
    got = np.concatenate([model.run(image.astype(np.float32)[None])[0] for image in images])
    golden = digits_keras_model.predict(images.astype(np.float32), verbose=0)
    np.testing.assert_allclose(got, golden, atol=1e-5)


def test_quantization_at_the_boundary_matches_hand_quantization(digits_exports, digits):
    """Float in → edgekit quantizes; compared with quantizing by hand and invoking TF's interpreter."""
    images, _ = held_out_images(digits, 5)
    model = edgekit.load(digits_exports["int8"])
    reference = tf_interpreter(digits_exports["int8"])
    (inp,), (out,) = reference.get_input_details(), reference.get_output_details()
    in_scale, in_zero = inp["quantization"]
    out_scale, out_zero = out["quantization"]
    info = np.iinfo(inp["dtype"])
    for image in images:
        real = image.astype(np.float32)[None] + 0.3  # off-grid values so rounding matters
        by_hand = np.clip(np.round(real / in_scale + in_zero), info.min, info.max).astype(inp["dtype"])
        reference.set_tensor(inp["index"], by_hand)
        reference.invoke()
        raw_reference = reference.get_tensor(out["index"])
        np.testing.assert_array_equal(model.run(real, raw=True)[0], raw_reference)
        dequantized = (raw_reference.astype(np.float32) - out_zero) * out_scale
        np.testing.assert_allclose(model.run(real)[0], dequantized, rtol=0, atol=1e-7)
    assert model.run(images[0][None], raw=True)[0].dtype == np.uint8  # uint8 passes through untouched


def test_int8_model_is_close_to_keras_on_held_out_images(digits_exports, digits, digits_keras_model):
    images, labels = held_out_images(digits, 200)
    golden = digits_keras_model.predict(images.astype(np.float32), verbose=0)
    model = edgekit.load(digits_exports["int8"])
    got = np.concatenate([model.run(image[None])[0] for image in images])
    assert np.mean(got.argmax(1) == golden.argmax(1)) >= 0.97
    # Per image, the largest score difference: under 0.1 on 95 % of images and under 0.35 on every one (the
    # digits model is retrained in each fresh cache, and one borderline image of 200 has measured 0.22).
    worst = np.abs(got - golden).max(axis=1)
    assert np.quantile(worst, 0.95) < 0.1 and worst.max() < 0.35, np.sort(worst)[-5:]
    assert np.mean(got.argmax(1) == labels) >= np.mean(golden.argmax(1) == labels) - 0.02


def test_missing_batch_axis_and_dict_inputs(digits_exports, digits):
    images, _ = held_out_images(digits, 1)
    model = edgekit.load(digits_exports["float32"])
    with_batch = model.run(images[:1].astype(np.float32))[0]
    np.testing.assert_array_equal(model.run(images[0].astype(np.float32))[0], with_batch)
    key = model.inputs[0].key
    np.testing.assert_array_equal(model.run({key: images[:1].astype(np.float32)})[0], with_batch)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((1, 28, 28, 3), np.float32), "expects shape (?,32,32,3) float32, got (1, 28, 28, 3)"),
        (np.zeros((32, 32), np.float32), "expects shape"),
        (np.array([["a"]]), "must be numeric"),
    ],
)
def test_wrong_inputs_say_what_was_expected(bad, message, digits_exports):
    model = edgekit.load(digits_exports["float32"])
    with pytest.raises(InputError, match=None) as error:
        model.run(bad)
    assert message in str(error.value)


def test_nan_into_quantized_model_is_refused(digits_exports):
    model = edgekit.load(digits_exports["int8"])
    image = np.zeros((1, 32, 32, 3), np.float32)
    image[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        model.run(image)


def test_wrong_number_of_inputs(digits_exports):
    model = edgekit.load(digits_exports["float32"])
    with pytest.raises(InputError, match="takes 1 input"):
        model.run(np.zeros((1, 32, 32, 3), np.float32), np.zeros(3))


def test_dynamic_batch_is_resized(digits_exports, digits, digits_keras_model):
    images, _ = held_out_images(digits, 7)
    model = edgekit.load(digits_exports["float32"])
    batch = model.run(images.astype(np.float32))[0]
    assert batch.shape == (7, 10)
    np.testing.assert_allclose(batch, digits_keras_model.predict(images.astype(np.float32), verbose=0), atol=1e-5)


def test_num_threads_validated(digits_exports):
    with pytest.raises(InputError, match="num_threads"):
        edgekit.load(digits_exports["float32"], num_threads=0)
    assert edgekit.load(digits_exports["float32"], num_threads=2).num_threads == 2


def test_operators_and_xnnpack_reported(digits_exports):
    model = edgekit.load(digits_exports["int8"])
    operators = model.operators()
    assert operators.get("CONV_2D") == 3 and operators.get("DEPTHWISE_CONV_2D") == 1
    assert model.delegation()["xnnpack_partitions"] >= 1
