"""Every demo runs without hardware, on a file source, with its default bundled model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live_fixtures import ABSENT_CAMERA_INDEX

# Each demo is a whole program in its own process, run on a video or audio file (6 s of set-up, 1-2 s each).
pytestmark = pytest.mark.slow

DEMOS = Path(__file__).resolve().parents[2] / "demos"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    from converters.zoo.samples import write_samples

    folder = tmp_path_factory.mktemp("samples")
    write_samples(folder, count=3)
    return folder


def demo(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DEMOS / name), *args], capture_output=True, text=True, timeout=300, cwd=DEMOS.parent
    )


@pytest.mark.slow
def test_live_demos_run_on_files(media):
    fashion = str(Path(__file__).resolve().parents[2] / "edgekit" / "zoo" / "fashion_int8.tflite")
    garments = str(media / "garments.mkv")
    result = demo("webcam_classify.py", "--model", fashion, "--source", garments, "--headless", "--max-frames", "60")
    assert result.returncode == 0, result.stderr
    assert "Ankle boot" in result.stdout and "Pullover" in result.stdout  # the first two garments, 1 s each
    assert len(result.stdout.splitlines()) <= 8, result.stdout  # a line per change (or 30 frames), not per frame
    assert "shown: Ankle boot (" in result.stderr or "shown: Pullover (" in result.stderr, result.stderr
    # The default model (imagenet) on the cat, coffee and rocket video: the cat and the coffee are named.
    result = demo("webcam_classify.py", "--source", str(media / "photos.mkv"), "--headless", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "cat" in result.stdout and "espresso" in result.stdout
    result = demo("webcam_detect.py", "--source", str(media / "astronaut.mkv"), "--headless", "--max-frames", "30")
    assert result.returncode == 0, result.stderr
    # A status line when what is shown changes or every 30 frames, not a line per frame; the summary counts all.
    assert 1 <= result.stdout.count("1 found: face") <= 3, result.stdout
    shown = next(line for line in result.stderr.splitlines() if line.startswith("shown: "))
    assert shown.startswith("shown: 1 found: face (") and int(shown.split("(")[1].split()[0]) >= 25, shown
    result = demo("mic_keywords.py", "--source", str(media / "keyword_stream.wav"))
    assert result.returncode == 0, result.stderr
    assert [line.split("'")[1] for line in result.stdout.splitlines()] == ["yes", "stop", "left", "go"]
    result = demo("mic_sounds.py", "--source", str(media / "keyword_stream.wav"), "--duration", "3")
    assert result.returncode == 0, result.stderr
    assert "silence" in result.stdout and "yes" in result.stdout


def test_text_demo_and_clear_errors(media):
    # A held-out line of the corpus, lower-cased as people type it (the model's accuracy is measured in
    # test_zoo; this checks the demo's wiring and output).

    result = demo("classify_text.py", "--text", "my laptop screen is black", "--max-results", "1")
    assert result.returncode == 0 and "tech support" in result.stdout
    result = demo("webcam_classify.py", "--source", str(ABSENT_CAMERA_INDEX), "--headless")  # never a real camera
    assert result.returncode == 1 and f"no camera at index {ABSENT_CAMERA_INDEX}" in result.stderr
    assert "Traceback" not in result.stderr
    result = demo("webcam_detect.py", "--model", "missing.tflite", "--source", str(media / "astronaut.mkv"))
    assert result.returncode == 1 and "not found" in result.stderr and "Traceback" not in result.stderr
