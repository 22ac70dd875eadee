"""The exporter's accuracy check reads the outputs its verification already computed for the same input
tensors (int16x8 runs on reference kernels, 433 ms an EfficientNet image), and never a wrong one."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.labelled_fixtures import build_trap


@pytest.fixture(scope="module")
def small_tflite(tmp_path_factory):
    """A tiny float image classifier converted by TensorFlow."""
    import keras

    from converters.source import import_tensorflow

    tf = import_tensorflow()
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))
    folder = tmp_path_factory.mktemp("memo")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    (folder / "float.tflite").write_bytes(converter.convert())
    return folder / "float.tflite"


def test_a_remembered_input_is_answered_without_an_invoke(small_tflite):
    import edgekit

    memo: dict = {}
    first, second = edgekit.load(small_tflite), edgekit.load(small_tflite)
    first.remember_outputs(memo)
    second.remember_outputs(memo)
    rng = np.random.default_rng(0)
    seen, fresh = rng.random((1, 8, 8, 3), np.float32), rng.random((1, 8, 8, 3), np.float32)
    expected = first.run(seen)[0]
    assert len(memo) == 1

    def refuse():
        raise AssertionError("invoked for an input it had the answer to")

    interpreter = second._interpreter
    real_invoke = interpreter.invoke
    interpreter.invoke = refuse
    np.testing.assert_array_equal(second.run(seen)[0], expected)
    interpreter.invoke = real_invoke
    # Another input is run, and its answer is its own, not the remembered one.
    other = second.run(fresh)[0]
    assert len(memo) == 2 and not np.array_equal(other, expected)
    # The caller may write into what it got: the memo keeps its own copy.
    got = second.run(seen)[0]
    got[:] = -1
    np.testing.assert_array_equal(second.run(seen)[0], expected)
    # Without a memo nothing is kept.
    second.remember_outputs(None)
    np.testing.assert_array_equal(second.run(seen)[0], expected)
    first.close()
    second.close()


def test_the_accuracy_check_reuses_verification_runs(tmp_path_factory):
    """On the trap model's labelled folder (300 PNG images), the accuracy of the float32 export is the same
    with and without the memo, and the accuracy check adds no invoke for the images verification ran."""
    from converters.evaluate import evaluate_file
    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter

    trap = build_trap(tmp_path_factory.mktemp("trap"))
    labels = trap["labels"].read_text().split()
    exporter = Exporter(str(trap["keras"]), CardOptions(labels=labels), str(trap["data"]), show_progress=False)
    out = tmp_path_factory.mktemp("memo_export") / "trap_float32.tflite"
    sizes = {}
    exporter.prepare_data()
    original_of_file = exporter.accuracy.of_file

    def measured_of_file(path, recipe=None, memo=None):
        sizes["after verification"] = len(memo)
        accuracy = original_of_file(path, recipe, memo)
        sizes["after the accuracy check"] = len(memo)
        return accuracy

    exporter.accuracy.of_file = measured_of_file
    result = exporter.export(RecipeConfig("float32"), out)
    verified, checked = len(exporter.verification_set), len(exporter.accuracy.data)
    assert sizes["after verification"] == verified, (sizes, verified)
    # Every verified image is among the checked ones and reached the interpreter as the same tensor: the
    # memo grew only by the images verification did not run (else it would hold verified + checked).
    assert verified < checked and sizes["after the accuracy check"] == checked, (sizes, verified, checked)
    without = evaluate_file(out, exporter.accuracy.data)
    assert result.row.accuracy == pytest.approx(without.accuracy), (result.row.accuracy, without.accuracy)


def test_the_memo_keeps_no_more_than_its_budget():
    from converters.evaluate import OutputsMemo

    memo = OutputsMemo(max_bytes=1000)
    memo[b"a"] = [np.zeros(100, np.float32)]  # 400 bytes
    memo[b"b"] = [np.zeros(100, np.float32)]  # 800
    memo[b"c"] = [np.zeros(100, np.float32)]  # would be 1200: not kept
    memo[b"a"] = [np.ones(100, np.float32)]  # already there: the first answer stays
    assert sorted(memo) == [b"a", b"b"] and memo.held_bytes == 800
    assert memo[b"a"][0].sum() == 0
