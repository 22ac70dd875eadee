"""The runtime matrix's tf.lite column: TensorFlow's own TFLite interpreter against ai-edge-litert.

Every bundled model gets the same input bytes (real photos, real speech, the sentences; made once by
``sample_inputs`` from the file's own metadata) in both interpreters, each with its default kernels; the
tolerances are those of the rest of the matrix (``agreement``): one quantization step for integer
outputs, 1e-4 for float (1e-3 for the float outputs of a quantized graph), top-1 >= 99 % for classifiers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import edgekit
from tests.support.runtime_matrix import TOP1_MIN, agreement, litert_outputs, sample_inputs, tf_lite_outputs

# TensorFlow's import alone is several seconds: the column runs with the slow tests.
pytestmark = pytest.mark.slow

ZOO = sorted((Path(__file__).resolve().parents[2] / "edgekit" / "zoo").glob("*.tflite"))


@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_tf_lite_gives_ai_edge_litert_outputs_on_every_bundled_model(path):
    tf = pytest.importorskip("tensorflow", reason="the tf.lite column needs the convert extra (TensorFlow)")
    if not hasattr(tf, "lite") or not hasattr(tf.lite, "Interpreter"):
        pytest.skip(f"TensorFlow {tf.__version__} no longer ships tf.lite.Interpreter")
    inputs = sample_inputs(path)
    card = edgekit.load(path).card
    classifier = card is not None and card.task.value.endswith("classifier")
    quantized = card is not None and card.extra.get("recipe") in ("dynamic", "int8", "int16x8")
    cell = agreement(litert_outputs(path, inputs), tf_lite_outputs(path, inputs), classifier, quantized)
    assert cell["inputs"] >= 2  # the speech clip gives 2 windows of the 2 s keyword model
    assert cell["within_tolerance"], (path.name, cell)
    if classifier:
        assert cell["top1_agreement"] >= TOP1_MIN, (path.name, cell)
