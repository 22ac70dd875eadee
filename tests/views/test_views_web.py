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

from edgekit import zoo
from edgekit.views.web import PortInUseError, WebView
from tests.support.display_fixtures import chromium  # noqa: F401
from tests.support.live_fixtures import free_port, wait_until

pytestmark = pytest.mark.network  # and display, for the tests that drive Chromium


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
        view.publish(None, result("before"))  # what a client that connects now sees first
        frames, events = [], []
        readers = [
            threading.Thread(target=read_mjpeg, args=(view.url + "stream.mjpg", 3, frames), daemon=True),
            threading.Thread(target=read_events, args=(view.url + "events", 4, events), daemon=True),
        ]
        for reader in readers:
            reader.start()
        assert wait_until(lambda: view.stream_clients >= 1 and len(events) == 1)
        published = []
        for serial in range(40):
            published.append(coloured_frame(serial))
            view.publish(published[-1], result(f"label{serial}"), {"fps": 30.0})
            time.sleep(0.03)
            if len(frames) >= 3 and len(events) >= 4:
                break
        for reader in readers:
            reader.join(10)
        assert len(frames) == 3
        for frame in frames:  # each decoded frame is one of the published ones, within JPEG error
            errors = [np.abs(frame.astype(int) - p).mean() for p in published]
            assert min(errors) < 3.0
        labels = [e["result"]["classifications"][0]["categories"][0]["label"] for e in events]
        assert labels == ["before", "label0", "label1", "label2"]  # every result, in order, none merged
        assert [e["seq"] for e in events] == [1, 2, 3, 4]
        with urllib.request.urlopen(view.url + "result.json", timeout=5) as reply:
            latest = json.load(reply)
        assert latest["stats"]["fps"] == 30.0 and latest["result"]["type"] == "classification"
        with urllib.request.urlopen(view.url + "healthz", timeout=5) as reply:
            assert reply.read() == b"ok\n"


def test_a_stuck_viewer_neither_slows_publish_nor_stops_the_others_nor_hangs_stop():
    import socket

    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)  # ~200 KB JPEGs fill buffers fast
    view = WebView(port=0).start()
    stuck = socket.create_connection(("127.0.0.1", view.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # ...and never reads
    frames_a, frames_b = [], []
    readers = [
        threading.Thread(target=read_mjpeg, args=(view.url + "stream.mjpg", 10, out), daemon=True)
        for out in (frames_a, frames_b)
    ]
    for reader in readers:
        reader.start()
    assert wait_until(lambda: view.stream_clients == 3)
    publish_s = []
    for serial in range(60):
        frame = noise.copy()
        frame[:40, :40] = serial * 4
        started = time.perf_counter()
        view.publish(frame, result(f"label{serial}"))
        publish_s.append(time.perf_counter() - started)
        time.sleep(0.01)
    for reader in readers:
        reader.join(10)
    assert len(frames_a) == 10 and len(frames_b) == 10  # both readers were served while one viewer was stuck
    # A JPEG encode (a few ms) that never waits for a viewer; a publish blocked by the stuck one would take
    # SOCKET_TIMEOUT_S (30 s). Generous: 0.1 s failed on the loaded 2-core machine with the old code too.
    assert max(publish_s) < 2.0, max(publish_s)
    started = time.perf_counter()
    view.stop()
    assert time.perf_counter() - started < 3.0
    stuck.close()


def test_every_result_reaches_an_event_client_in_order_and_json_is_strict():
    with WebView(port=0) as view:
        view.publish(None, result("before"))
        events = []
        reader = threading.Thread(target=read_events, args=(view.url + "events", 101, events), daemon=True)
        reader.start()
        assert wait_until(lambda: len(events) == 1)  # the newest result arrives at once on connect
        for serial in range(100):  # faster than any page reads: none may be merged or lost
            scored = result(f"label{serial}")
            scored["classifications"][0]["categories"][0]["score"] = np.float32(0.5)
            view.publish(None, scored, {"fps": float("nan"), "frames": np.int64(serial)})
        reader.join(10)
        assert [e["seq"] for e in events] == list(range(1, 102))
        assert events[-1]["stats"] == {"fps": None, "frames": 99}
        with urllib.request.urlopen(view.url + "result.json", timeout=5) as reply:
            latest = json.loads(reply.read(), parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
        assert latest["result"]["classifications"][0]["categories"][0] == {"index": 0, "score": 0.5, "label": "label99"}


def test_a_new_viewer_gets_the_newest_frame_without_waiting_for_the_next():
    import cv2

    with WebView(port=0) as view:
        view.publish(coloured_frame(3), result("x"))  # nobody watching: kept, not encoded
        frames = []
        read_mjpeg(view.url + "stream.mjpg", 1, frames)
        assert np.abs(frames[0].astype(int) - coloured_frame(3)).mean() < 3.0
        with urllib.request.urlopen(view.url + "frame.jpg", timeout=5) as reply:
            single = cv2.imdecode(np.frombuffer(reply.read(), np.uint8), cv2.IMREAD_COLOR)
        assert np.abs(single.astype(int) - coloured_frame(3)).mean() < 3.0


def test_binding_all_interfaces_says_it_is_reachable_from_the_lan(caplog):
    with caplog.at_level("WARNING", logger="edgekit.views"), WebView(host="0.0.0.0", port=0) as view:
        assert view.url.startswith("http://127.0.0.1:")
    assert "reachable from the LAN" in caplog.text


def test_a_port_in_use_is_named():
    with WebView(port=0) as first, pytest.raises(PortInUseError, match=f"port {first.port} .*in use") as error:
        WebView(port=first.port).start()
    assert "--port" in error.value.hint


def test_listens_on_localhost_by_default():
    with WebView(port=0) as view:
        assert view._server.server_address[0] == "127.0.0.1"


# ----------------------------------------------------------------------------- hardening (issue 14)
def raw_get(port: int, path: str, host: str | None, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """One GET with exactly this Host header (None: none); the status and the first bytes of the reply."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        head = f"GET {path} HTTP/1.1\r\n" + (f"Host: {host}\r\n" if host is not None else "") + "\r\n"
        sock.sendall(head.encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1]), reply


ROUTES = ["/", "/index.html", "/healthz", "/result.json", "/frame.jpg", "/stream.mjpg", "/events", "/nope"]


@pytest.mark.parametrize("route", ROUTES)
def test_a_rebinding_host_gets_403_on_every_route(route):
    with WebView(port=0) as view:
        view.publish(coloured_frame(1), result("secret"))
        for host in (
            "attacker.example",
            f"attacker.example:{view.port}",
            "127.0.0.1.attacker.example",
            "localhost.evil",
        ):
            status, reply = raw_get(view.port, route, host)
            assert status == 403, (host, reply)
            assert b"secret" not in reply and b"\xff\xd8" not in reply  # neither results nor JPEG bytes
        assert view.refused == 4


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "LocalHost.", "app.localhost", None])
def test_local_names_are_served(host):
    with WebView(port=0) as view:
        view.publish(coloured_frame(1), result("x"))
        header = None if host is None else f"{host}:{view.port}"
        for route in ("/", "/result.json", "/frame.jpg"):
            assert raw_get(view.port, route, header)[0] == 200
        assert view.refused == 0


def test_allow_host_adds_names():
    with WebView(port=0, allow_hosts=["pi.local", "Camera.Example.Org"]) as view:
        assert raw_get(view.port, "/healthz", f"pi.local:{view.port}")[0] == 200
        assert raw_get(view.port, "/healthz", "camera.example.org")[0] == 200
        assert raw_get(view.port, "/healthz", "other.local")[0] == 403


def test_bound_to_all_addresses_the_machines_own_addresses_are_served():
    import socket

    from edgekit.views.web import _lan_address

    with WebView(host="0.0.0.0", port=0) as view:
        own = {_lan_address(), socket.gethostname()}
        for name in own:
            assert raw_get(view.port, "/healthz", f"{name}:{view.port}")[0] == 200, name
        assert raw_get(view.port, "/healthz", "10.99.99.99")[0] == 200  # an IP literal is never a rebinding
        assert raw_get(view.port, "/healthz", "attacker.example")[0] == 403
    with WebView(port=0) as local:  # bound to 127.0.0.1: the LAN address is not this view's
        assert raw_get(local.port, "/healthz", f"{_lan_address()}:{local.port}")[0] == 403


def test_100_simultaneous_viewers_all_get_a_first_frame():
    from benchmarks.web_viewers import first_frame_times

    with WebView(port=0) as view:
        assert view._server.request_queue_size >= 128
        view.publish(coloured_frame(2), result("x"))
        times, statuses = first_frame_times(view.port, 100, timeout_s=60)
        assert statuses == [200] * 100
        assert all(t is not None for t in times), sum(t is None for t in times)
        assert max(times) < 30  # generous (a loaded machine); benchmarks/web_viewers.py prints the real figure


def test_viewers_beyond_the_cap_get_503_until_one_leaves():
    import socket

    with WebView(port=0, max_viewers=3) as view:
        view.publish(coloured_frame(2), result("x"))
        holders = []
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", view.port), timeout=10)
            sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert sock.recv(64).startswith(b"HTTP/1.1 200")
            holders.append(sock)
        assert wait_until(lambda: view.stream_clients == 3)
        status, reply = raw_get(view.port, "/stream.mjpg", "localhost")
        assert status == 503 and b"Retry-After: 5" in reply
        assert raw_get(view.port, "/healthz", "localhost")[0] == 200  # the page itself still answers
        assert raw_get(view.port, "/events", "localhost")[0] == 200  # events have their own cap
        holders.pop().close()
        assert wait_until(lambda: view.stream_clients == 2, 10)
        frames: list = []
        read_mjpeg(view.url + "stream.mjpg", 1, frames)
        assert len(frames) == 1
        for sock in holders:
            sock.close()


def test_connections_beyond_the_cap_are_refused_without_a_thread():
    import socket

    with WebView(port=0, max_viewers=2) as view:  # 2 * 2 + 64 = 68 connections at most
        idle = [socket.create_connection(("127.0.0.1", view.port), timeout=10) for _ in range(68)]
        assert wait_until(lambda: len(view._latest.connections) == 68, 20)
        threads = threading.active_count()
        extra = socket.create_connection(("127.0.0.1", view.port), timeout=10)
        assert extra.recv(64).startswith(b"HTTP/1.1 503")  # answered before it sent anything
        assert threading.active_count() <= threads
        extra.close()
        for sock in idle:
            sock.close()


def test_a_stalled_viewer_skips_frames_and_holds_no_memory():
    import socket
    import tracemalloc

    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (480, 640, 3), np.uint8) for _ in range(4)]  # ~250 KB JPEGs each
    with WebView(port=0) as view:
        stalled = socket.create_connection(("127.0.0.1", view.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: localhost\r\n\r\n")  # and never reads
        assert wait_until(lambda: view.stream_clients == 1)
        view.publish(frames[0], result("x"))
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for serial in range(200):  # 200 JPEGs of ~250 KB: 50 MB if anything queued them per viewer
                view.publish(frames[serial % 4], result(f"label{serial}"))
            grown = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        assert grown < 5e6, grown  # one frame and the bounded event backlog, not the 200 frames
        stalled.close()


@pytest.mark.display
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
@pytest.mark.display
def test_edgekit_serve_end_to_end_in_chromium(chromium, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    from converters.zoo.fashion import LABELS, load
    from tests.support.live_fixtures import write_ffv1_video

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


@pytest.mark.slow
def test_edgekit_serve_takes_allow_host_and_max_viewers(tmp_path):
    from tests.support.live_fixtures import write_ffv1_video

    video = write_ffv1_video(tmp_path / "clip.mkv", [coloured_frame(i) for i in range(10)], 30.0)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "edgekit", "serve", str(zoo.path("fashion")), "--source", str(video), "--loop",
         "--port", str(port), "--allow-host", "pi.local", "--max-viewers", "1", "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60), "edgekit serve did not come up"
        assert raw_get(port, "/healthz", f"pi.local:{port}")[0] == 200
        assert raw_get(port, "/", "rebind.attacker.example")[0] == 403
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=10) as first:
            first.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert first.recv(64).startswith(b"HTTP/1.1 200")
            assert raw_get(port, "/stream.mjpg", "localhost")[0] == 503  # --max-viewers 1
    finally:
        server.terminate()
        server.wait(30)
