"""The web view for real: HTTP clients reading the MJPEG stream and the server-sent events, and Debian's
headless Chromium opening the page (screenshot checked, results rendered from the event stream), both
against WebView in this process and against `edgekit serve` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest
from display_fixtures import chromium  # noqa: F401
from live_fixtures import free_port, wait_until

from edgekit import zoo
from edgekit.views.web import PortInUseError, WebView

pytestmark = pytest.mark.display


def coloured_frame(serial: int) -> np.ndarray:
    """640x480 grey with a magenta square whose position encodes ``serial``."""
    frame = np.full((480, 640, 3), 60, np.uint8)
    left = 40 + 20 * (serial % 10)
    frame[100:300, left : left + 200] = (255, 0, 255)
    return frame


def read_mjpeg(url: str, count: int, out: list) -> None:
    import cv2

    with urllib.request.urlopen(url, timeout=10) as stream:
        assert "multipart/x-mixed-replace" in stream.headers["Content-Type"]
        while len(out) < count:
            line = stream.readline()
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
                stream.readline()  # the blank line before the JPEG
                out.append(cv2.imdecode(np.frombuffer(stream.read(length), np.uint8), cv2.IMREAD_COLOR))


def read_events(url: str, count: int, out: list) -> None:
    with urllib.request.urlopen(url, timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        while len(out) < count:
            line = stream.readline().decode()
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))


def result(label: str) -> dict:
    categories = [{"index": 0, "score": 0.875, "label": label}]
    return {"type": "classification", "timestamp_ms": 1.0, "classifications": [{"categories": categories}]}


def test_stream_and_events_deliver_what_was_published():
    with WebView(port=0) as view:
        frames, events = [], []
        readers = [
            threading.Thread(target=read_mjpeg, args=(view.url + "stream.mjpg", 3, frames), daemon=True),
            threading.Thread(target=read_events, args=(view.url + "events", 3, events), daemon=True),
        ]
        for reader in readers:
            reader.start()
        assert wait_until(lambda: view.stream_clients >= 1)
        published = []
        for serial in range(40):
            published.append(coloured_frame(serial))
            view.publish(published[-1], result(f"label{serial}"), {"fps": 30.0})
            time.sleep(0.03)
            if len(frames) >= 3 and len(events) >= 3:
                break
        for reader in readers:
            reader.join(10)
        for frame in frames:  # each decoded frame is one of the published ones, within JPEG error
            errors = [np.abs(frame.astype(int) - p).mean() for p in published]
            assert min(errors) < 3.0
        labels = [e["result"]["classifications"][0]["categories"][0]["label"] for e in events]
        assert all(label.startswith("label") for label in labels) and labels == sorted(labels, key=lambda s: int(s[5:]))
        with urllib.request.urlopen(view.url + "result.json", timeout=5) as reply:
            latest = json.load(reply)
        assert latest["stats"]["fps"] == 30.0 and latest["result"]["type"] == "classification"
        with urllib.request.urlopen(view.url + "healthz", timeout=5) as reply:
            assert reply.read() == b"ok\n"


def test_a_port_in_use_is_named():
    with WebView(port=0) as first, pytest.raises(PortInUseError, match=f"port {first.port} .*in use") as error:
        WebView(port=first.port).start()
    assert "--port" in error.value.hint


def test_listens_on_localhost_by_default():
    with WebView(port=0) as view:
        assert view._server.server_address[0] == "127.0.0.1"


def test_chromium_shows_the_video_and_the_results(chromium):  # noqa: F811
    import cv2
    from selenium.webdriver.common.by import By

    with WebView(port=0) as view:
        stop = threading.Event()

        def publish():
            while not stop.is_set():
                view.publish(coloured_frame(0), result("magenta square"), {"fps": 12.5, "latency_ms_p50": 4.0})
                time.sleep(0.05)

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        try:
            chromium.get(view.url)
            assert wait_until(lambda: "magenta square" in chromium.find_element(By.ID, "results").text, 15)
            assert "12.5 fps" in chromium.find_element(By.ID, "stats").text
            video = chromium.find_element(By.ID, "video")
            assert wait_until(lambda: chromium.execute_script("return arguments[0].naturalWidth", video) == 640, 10)
            time.sleep(0.3)
            shot = cv2.imdecode(np.frombuffer(chromium.get_screenshot_as_png(), np.uint8), cv2.IMREAD_COLOR)
        finally:
            stop.set()
            publisher.join(5)
    rect = video.rect
    scale = shot.shape[1] / chromium.execute_script("return window.innerWidth")
    x, y = int(rect["x"] * scale), int(rect["y"] * scale)
    shown = shot[y : y + int(rect["height"] * scale), x : x + int(rect["width"] * scale)]
    magenta = (shown[:, :, 0] > 200) & (shown[:, :, 1] < 60) & (shown[:, :, 2] > 200)
    # The square is 200x200 of 640x480 = 13 % of the picture; JPEG and scaling blur only its edges.
    assert 0.10 < magenta.mean() < 0.16, magenta.mean()


@pytest.mark.slow
def test_edgekit_serve_end_to_end_in_chromium(chromium, tmp_path):  # noqa: F811
    from live_fixtures import write_ffv1_video
    from selenium.webdriver.common.by import By

    from converters.zoo.fashion import LABELS, load

    images, labels = load("t10k")
    import cv2

    frames = [cv2.resize(images[0][:, :, ::-1], (448, 448), interpolation=cv2.INTER_NEAREST)] * 30
    video = write_ffv1_video(tmp_path / "boot.mkv", frames, 30.0)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "edgekit", "serve", str(zoo.path("fashion")), "--source", str(video), "--loop",
         "--port", str(port), "--duration", "40"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        assert wait_until(lambda: _answers(url + "healthz"), 30), "edgekit serve did not come up"
        chromium.get(url)
        truth = LABELS[labels[0]]
        assert wait_until(lambda: truth in chromium.find_element(By.ID, "results").text, 20)
        assert wait_until(lambda: "fps" in chromium.find_element(By.ID, "stats").text, 10)
    finally:
        server.terminate()
        server.wait(20)
    assert server.returncode == 0, server.stderr.read()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False
