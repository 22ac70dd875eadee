"""Frames that are not uint8 0..255 are converted with one warning line per run, never silently: uint16 is
scaled (value / 257), out-of-range values (e.g. ±1e30) are clipped. Real bundled models, real inference."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

from edgekit import zoo
from edgekit.processing import image as image_proc
from edgekit.vision import ImageClassifier

MODELS = [zoo.path("fashion", "int8"), zoo.path("fashion", "float16")]


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(image_proc, "_warned", set())


def scores(result) -> list[tuple[str, float]]:
    return [(c.label, round(c.score, 6)) for c in result.classifications[0].categories]


def pattern(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (56, 56, 3), np.uint8)


def warnings_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "edgekit.processing" and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_uint16_frames_are_scaled_with_one_warning(model, caplog):
    caplog.set_level(logging.WARNING, logger="edgekit.processing")
    with ImageClassifier.create_from_model_path(model, max_results=3) as classifier:
        for seed in range(5):
            frame8 = pattern(seed)
            frame16 = frame8.astype(np.uint16) * 257  # the same picture at 16 bits: 255 → 65535
            assert scores(classifier.classify(frame16)) == scores(classifier.classify(frame8))
    messages = warnings_in(caplog)
    assert len(messages) == 1, messages  # once per run, not once per frame
    assert "uint16" in messages[0] and "/ 257" in messages[0]


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_out_of_range_floats_are_clipped_with_one_warning(model, caplog):
    caplog.set_level(logging.WARNING, logger="edgekit.processing")
    with ImageClassifier.create_from_model_path(model, max_results=3) as classifier:
        for seed in range(5):
            frame8 = pattern(seed)
            wild = frame8.astype(np.float32)
            wild[frame8 == 0] = -1e30  # far outside 0..255, where the uint8 frame is black …
            wild[frame8 == 255] = 1e30  # … and white
            wild[frame8 == 1] = -3.0
            clipped = frame8.copy()
            clipped[frame8 == 1] = 0
            assert scores(classifier.classify(wild)) == scores(classifier.classify(clipped.astype(np.float32)))
    messages = warnings_in(caplog)
    assert len(messages) == 1, messages
    assert "-1e+30" in messages[0] and "1e+30" in messages[0] and "clipped" in messages[0]


def test_frames_in_range_pass_without_a_word(caplog):
    caplog.set_level(logging.WARNING, logger="edgekit.processing")
    frame8 = pattern(9)
    with ImageClassifier.create_from_model_path(MODELS[0], max_results=3) as classifier:
        expected = scores(classifier.classify(frame8))
        assert scores(classifier.classify(frame8.astype(np.int32))) == expected
        assert scores(classifier.classify(frame8.astype(np.float32))) == expected
    assert warnings_in(caplog) == []


def test_a_large_integer_range_is_clipped_not_wrapped():
    frame = np.array([[[-5, 300, 70000]]], np.int32)
    assert image_proc.as_image(frame).tolist() == [[[0, 255, 255]]]
    assert image_proc.as_image(frame).dtype == np.uint8


def test_one_warning_line_on_stderr_in_a_real_process():
    code = (
        "import numpy as np; from edgekit import zoo; from edgekit.vision import ImageClassifier\n"
        "c = ImageClassifier.create_from_model_path(zoo.path('fashion', 'int8'))\n"
        "for i in range(20): c.classify(np.full((28, 28, 3), 1000 * i, np.uint16))\n"
        "for i in range(20): c.classify(np.full((28, 28, 3), 1e30 * (i - 10), np.float32))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 2, result.stderr  # one for uint16, one for the out-of-range floats; not 40
