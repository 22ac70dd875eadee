"""The public contracts between layers (issue 15): what a live runner, the CLI and auto.py rely on.

Every test uses the bundled zoo models (real TFLite files made by the project's converters) and the real
interpreter; nothing is trained here.
"""

from __future__ import annotations

import numpy as np
import pytest

import edgekit
from edgekit import zoo
from edgekit.auto import create_task, task_class_for
from edgekit.errors import ClosedError, UnsupportedModelError
from edgekit.media import AudioBlock, Frame, InputFormat
from edgekit.vision import ImageClassifier, ObjectDetector


def test_each_task_declares_what_it_consumes():
    with create_task(zoo.path("fashion", "int8")) as images:
        assert images.input_format == InputFormat("video", channels=images.image_spec.channels)
    with create_task(zoo.path("keywords", "int8")) as audio:
        card = audio.model.card
        # The rate comes from the model's metadata, read independently here.
        assert audio.input_format == InputFormat("audio", sample_rate_hz=card.audio.sample_rate_hz, channels=1)
        assert audio.required_sample_rate_hz == card.audio.sample_rate_hz
    with create_task(zoo.path("topics", "int8")) as text:
        assert text.input_format.kind == "text" and text.input_format.sample_rate_hz is None


def test_probing_a_model_builds_no_task_and_leaves_the_model_open():
    with edgekit.load(zoo.path("faces")) as model:
        ObjectDetector.check_fits(model)  # fits: no error
        with pytest.raises(UnsupportedModelError, match="ImageClassifier expects"):
            ImageClassifier.check_fits(model)
        assert task_class_for(model) is ObjectDetector
        assert model.run(np.zeros(model.inputs[0].shape, np.float32))  # still open after the probes


def test_run_async_is_the_one_live_entry_point_for_frames_and_audio_blocks():
    received = []

    def keep(result, item, timestamp_ms):
        received.append((type(result).__name__, item, timestamp_ms))

    image = np.zeros((28, 28, 3), np.uint8)
    with create_task(zoo.path("fashion", "int8"), running_mode="live_stream", result_callback=keep) as task:
        task.run_async(Frame(image, 5.0, 0), 5.0, wait=True)
        assert task.flush(30)
    block = AudioBlock(np.zeros(1600, np.float32), 16000, 100.0)
    with create_task(zoo.path("keywords", "int8"), running_mode="live_stream", result_callback=keep) as task:
        task.run_async(block, 100.0, wait=True)
        assert task.flush(30)
    assert [(name, t) for name, _, t in received] == [("ClassificationResult", 5.0), ("AudioClassifierResult", 100.0)]
    assert isinstance(received[0][1], Frame) and received[1][1] is block  # the source's item, passed whole


def test_a_closed_model_or_task_raises_a_clear_error():
    model = edgekit.load(zoo.path("fashion", "int8"))
    model.close()
    with pytest.raises(ClosedError, match=r"LiteRTModel.run\(\) was called after close\(\)") as caught:
        model.run(np.zeros(model.inputs[0].shape, np.float32))
    assert "load or create a new" in caught.value.hint
    task = create_task(zoo.path("fashion", "int8"))
    task.close()
    task.close()  # twice is fine
    with pytest.raises(ClosedError, match=r"classify\(\) was called after close\(\)"):
        task.classify(np.zeros((28, 28, 3), np.uint8))


def test_every_task_entry_point_raises_closed_error_after_close():
    block = AudioBlock(np.zeros(1600, np.float32), 16000, 100.0)
    live = create_task(zoo.path("keywords", "int8"), running_mode="live_stream", result_callback=print)
    live.close()
    with pytest.raises(ClosedError, match=r"run_async\(\) was called after close\(\)"):
        live.run_async(block, 100.0)
    for name, call in [
        ("keywords", lambda task: task.classify(block.samples, 16000)),
        ("topics", lambda task: task.classify("a closed task")),
        ("faces", lambda task: task.detect(np.zeros((128, 128, 3), np.uint8))),
    ]:
        task = create_task(zoo.path(name, "float32") if name == "faces" else zoo.path(name, "int8"))
        task.close()
        with pytest.raises(ClosedError, match=r"after close\(\)"):
            call(task)


def test_one_audio_block_type_and_the_old_name_warns():
    import edgekit.audio
    import edgekit.sources

    assert edgekit.audio.AudioBlock is edgekit.sources.AudioBlock is AudioBlock  # one class, three import paths
    assert "AudioInput" not in edgekit.audio.__all__
    with pytest.warns(DeprecationWarning, match=r"AudioInput is deprecated: it is edgekit\.media\.AudioBlock"):
        from edgekit.audio import AudioInput
    assert AudioInput is AudioBlock
    with pytest.raises(AttributeError, match="no attribute 'AudioBlocks'"):
        edgekit.audio.AudioBlocks  # noqa: B018 (a typo is still an AttributeError)
