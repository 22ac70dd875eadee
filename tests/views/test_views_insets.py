"""The live page's insets: the model's input as the model sees it (image tasks), and the level meter and
scrolling spectrogram with keyword marks (audio). The numpy parts against independent arithmetic; the
page for real, in Debian's headless Chromium against `edgekit serve` as a user runs it."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from edgekit import zoo
from edgekit.metadata.card import ImageSpec
from edgekit.processing.image import fit_placed
from edgekit.processing.image_plan import ImagePlan
from edgekit.views.insets import CEILING_DB, FLOOR_DB, AudioMonitor, Insets
from tests.support.display_fixtures import chromium  # noqa: F401
from tests.support.live_fixtures import free_port, wait_until

RATE = 16_000


@pytest.mark.parametrize(
    "spec, dtype, scale, zero_point, tolerance",
    [
        (ImageSpec(width=32, height=24, mean=(127.5,), std=(127.5,)), np.float32, None, None, 0),
        (ImageSpec(width=32, height=24, mean=(127.5,), std=(127.5,)), np.uint8, 1 / 127.5, 127, 0),  # pixels as-is
        (ImageSpec(width=32, height=24), np.uint8, None, None, 0),
        # int8: codes stand for (pixel - 127.5) / 127.5 at scale 1/127.5, so a code spans 1 pixel value
        (ImageSpec(width=32, height=24, mean=(127.5,), std=(127.5,)), np.int8, 1 / 127.5, -1, 1),
        (ImageSpec(width=32, height=24, mean=(124, 116, 104), std=(58, 57, 57), resize_mode="letterbox"),
         np.float32, None, None, 0),
        (ImageSpec(width=24, height=24, mean=(0,), std=(255,), color_order="BGR", resize_mode="center_crop"),
         np.float32, None, None, 0),
    ],
)  # fmt: skip
def test_the_input_picture_is_the_resized_frame_the_model_was_fed(spec, dtype, scale, zero_point, tolerance):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (120, 120, 3), np.uint8)  # square: a 32x24 letterbox has bars left and right
    plan = ImagePlan(spec, dtype, scale, zero_point)
    tensor, _ = plan.prepare(frame, "RGB")
    picture = plan.pixels(tensor)
    # The reference resampler's pixels, before normalization, in RGB (what a person should see).
    resized, _ = fit_placed(frame, spec.width, spec.height, spec.resize_mode, spec.resampling, None)
    assert picture.shape == (spec.height, spec.width, 3) and picture.dtype == np.uint8
    assert np.abs(picture.astype(int) - np.rint(resized).astype(int)).max() <= tolerance
    if spec.resize_mode == "letterbox":  # the bars the model sees are in the picture too
        assert (picture[:, :3] == 0).all() and (picture[:, -3:] == 0).all() and picture[:, 4:-4].std() > 30


def test_an_image_task_shows_its_last_input_only_when_asked(tmp_path):
    from edgekit.vision import ImageClassifier

    frame = np.zeros((280, 280, 3), np.uint8)
    frame[40:240, 100:180] = 255  # a white bar: 28x28 after a 10x stretch, columns 10..17
    with ImageClassifier.create_from_model_path(str(zoo.path("fashion"))) as task:
        task.classify(frame)
        assert task.last_input_image() is None  # nothing is copied unless someone looks
        task.keep_last_input = True
        task.classify(frame)
        picture = task.last_input_image()
    assert picture.shape == (28, 28, 3)
    assert (picture[5:23, 11:17] == 255).all() and (picture[:, :9] == 0).all() and (picture[:, 19:] == 0).all()


def _sine(frequency_hz: float, amplitude: float, seconds: float) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency_hz * np.arange(int(RATE * seconds)) / RATE)).astype(np.float32)


def _feed(monitor: AudioMonitor, samples: np.ndarray, block: int = 1600, start_ms: float = 0.0) -> None:
    for offset in range(0, len(samples), block):
        monitor.add(samples[offset : offset + block], RATE, start_ms + 1000.0 * offset / RATE)


def test_the_level_meter_reads_a_sine_in_dbfs():
    monitor = AudioMonitor()
    _feed(monitor, _sine(1000, 0.1, 0.5))
    # A sine of peak 0.1: RMS 0.1/sqrt(2) = -23.0 dBFS, peak -20.0 dBFS.
    assert monitor.level_db == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.05)
    assert monitor.peak_db == pytest.approx(-20.0, abs=0.05)
    _feed(monitor, np.zeros(1600, np.float32), start_ms=500.0)
    assert monitor.level_db == FLOOR_DB


def test_the_spectrogram_puts_each_tone_in_its_band_every_16_ms():
    heard = {}
    for frequency in (300, 1000, 4000):
        monitor = AudioMonitor()
        _feed(monitor, _sine(frequency, 0.5, 1.0))
        described = monitor.describe(since=0)
        columns = [np.frombuffer(base64.b64decode(values), np.uint8) for _, _, values in described["columns"]]
        times = [t for _, t, _ in described["columns"]]
        # 1 s at 16 kHz in 512-sample windows every 256 samples: (16000 - 512) // 256 + 1 columns, 16 ms apart.
        assert len(columns) == 61 and np.allclose(np.diff(times), 16.0) and times[0] == pytest.approx(32.0)
        loudest = {int(np.argmax(column)) for column in columns}
        assert len(loudest) == 1
        heard[frequency] = loudest.pop()
        peak = columns[10][heard[frequency]] / 255 * (CEILING_DB - FLOOR_DB) + FLOOR_DB
        assert -20 < peak < -4, peak  # a -6 dBFS tone, spread over its mel band's bins
        assert columns[10][-1] < 40 if frequency < 4000 else columns[10][0] < 40  # far bands stay near the floor
    # Mel bands: 300 Hz low, 4 kHz high; the mel scale of 1 kHz sits at 0.34 of 60 Hz..8 kHz's.
    mel = lambda hz: 2595 * np.log10(1 + hz / 700)  # noqa: E731
    assert heard[300] < heard[1000] < heard[4000]
    assert heard[1000] == pytest.approx(64 * (mel(1000) - mel(60)) / (mel(8000) - mel(60)), abs=1.5)


def test_a_dropped_block_restarts_the_spectrogram_at_the_new_time_and_keywords_are_kept():
    monitor = AudioMonitor()
    _feed(monitor, _sine(1000, 0.5, 0.2))
    before = monitor.seq
    keyword = {"label": "yes", "score": 0.9, "timestamp_ms": 1500.0}
    monitor.add(_sine(1000, 0.5, 0.1), RATE, 1000.0, [keyword])  # 800 ms were lost
    described = monitor.describe(since=before)
    assert described["columns"][0][1] == pytest.approx(1032.0)
    assert described["keywords"] == [{"label": "yes", "score": 0.9, "t_ms": 1500.0}]


def test_insets_json_and_input_png():
    import cv2

    insets = Insets()
    body, kind, status = insets.respond("/insets.json", "")
    assert status == 200 and json.loads(body) == {"input": None, "audio": None}
    assert insets.respond("/input.png", "")[2] == 404
    picture = np.zeros((24, 32), np.uint8)
    picture[:, 16:] = 200
    insets.publish_input(picture, "model input 32×24")
    body, kind, status = insets.respond("/input.png", "")
    decoded = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert kind == "image/png" and decoded.shape == (24, 32, 3) and (decoded[:, 16:] == 200).all()
    described = json.loads(insets.respond("/insets.json", "since=x")[0])
    assert described["input"] == {"seq": 1, "caption": "model input 32×24", "width": 32, "height": 24}


# ------------------------------------------------------------------------------ in Chromium, for real
def _serve(model, source, port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgekit", "serve", str(model), "--source", str(source), "--port", str(port), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def _region(chromium, element) -> np.ndarray:  # noqa: F811
    import cv2

    shot = cv2.imdecode(np.frombuffer(chromium.get_screenshot_as_png(), np.uint8), cv2.IMREAD_COLOR)
    scale = shot.shape[1] / chromium.execute_script("return window.innerWidth")
    rect = element.rect
    x, y = int(rect["x"] * scale), int(rect["y"] * scale)
    return shot[y : y + int(rect["height"] * scale), x : x + int(rect["width"] * scale)]


@pytest.mark.slow
@pytest.mark.display
@pytest.mark.network
def test_chromium_shows_the_model_input_as_the_model_sees_it(chromium, tmp_path):  # noqa: F811
    import cv2
    from selenium.webdriver.common.by import By

    from converters.zoo.fashion import load
    from tests.support.live_fixtures import write_ffv1_video

    images, _ = load("t10k")
    item = images[0]  # 28x28: the video shows it 16x larger; the model's stretch brings it back to 28x28
    frames = [cv2.resize(item[:, :, ::-1], (448, 448), interpolation=cv2.INTER_NEAREST)] * 30
    video = write_ffv1_video(tmp_path / "item.mkv", frames, 30.0)
    port = free_port()
    server = _serve(zoo.path("fashion"), video, port, "--loop", "--duration", "60")
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_until(lambda: _answers(url + "healthz"), 30), "edgekit serve did not come up"
        chromium.get(url)
        inset = chromium.find_element(By.ID, "model-input")
        assert wait_until(lambda: chromium.execute_script("return arguments[0].naturalWidth", inset) == 28, 30)
        assert "28×28" in chromium.find_element(By.ID, "inset-caption").text
        assert not chromium.find_element(By.ID, "audio").is_displayed()  # no audio parts for a video model
        time.sleep(0.5)
        shown = _region(chromium, inset)
        with urllib.request.urlopen(url + "input.png", timeout=5) as reply:
            served = cv2.imdecode(np.frombuffer(reply.read(), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    finally:
        server.terminate()
        server.wait(20)
    assert server.returncode == 0, server.stderr.read()
    # What the page serves is the item itself (FFV1 is lossless; the 16x nearest upscale resamples back).
    assert np.abs(served.astype(int) - item.astype(int)).mean() < 6
    # And the page shows it: the inset is not blank and, scaled down, looks like the item.
    assert shown.std() > 30
    small = cv2.resize(shown[2:-2, 2:-2], (28, 28), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    assert np.corrcoef(small.mean(axis=2).ravel(), item.mean(axis=2).ravel())[0, 1] > 0.9


@pytest.mark.slow
@pytest.mark.display
@pytest.mark.network
def test_chromium_shows_a_moving_level_meter_and_a_spectrogram_with_the_keywords(chromium, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    from tests.support.audio_fixtures import Voice, assemble, tools_available
    from tests.support.fixtures import write_wav

    if not tools_available():
        pytest.skip("espeak-ng, flite and sox are needed (apt)")
    # Real speech (a voice held out of the keyword model's training) with silences between the words.
    clip = assemble([0.6, "yes", 1.0, "table", 1.0, "stop", 1.5], Voice("espeak-ng", "en-us", "m3"), tmp_path)
    wav = write_wav(tmp_path / "speech.wav", clip.samples, RATE)
    port = free_port()
    server = _serve(zoo.path("keywords", "int8"), wav, port, "--loop", "--duration", "60")
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_until(lambda: _answers(url + "healthz"), 30), "edgekit serve did not come up"
        chromium.get(url)
        audio = chromium.find_element(By.ID, "audio")
        assert wait_until(audio.is_displayed, 20)
        meter = chromium.find_element(By.ID, "meter")
        levels = []
        for _ in range(40):  # 6 s: the clip is 5.1 s of words and silences, read in real time
            levels.append(float(meter.get_attribute("data-level") or "nan"))
            time.sleep(0.15)
        spectrogram = chromium.find_element(By.ID, "spectrogram")
        assert wait_until(lambda: int(spectrogram.get_attribute("data-marks") or 0) >= 1, 20)
        region = _region(chromium, spectrogram)
        assert not chromium.find_element(By.ID, "inset").is_displayed()  # no model input picture for audio
    finally:
        server.terminate()
        server.wait(20)
    assert server.returncode == 0, server.stderr.read()
    levels = np.array([value for value in levels if np.isfinite(value)])
    # The meter follows the speech: loud words and near-silent gaps (the clip's noise floor is -60 dBFS).
    assert len(levels) > 20 and levels.max() > -35 and levels.min() < -50, levels
    assert len(np.unique(np.round(levels))) >= 5, levels
    # The spectrogram is drawn: most of it is painted (the empty canvas is black), with speech in it.
    painted = region.max(axis=2) > 20
    assert painted.mean() > 0.5 and region.std() > 15, (painted.mean(), region.std())
