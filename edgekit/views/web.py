"""The browser view behind `edgekit serve`: annotated video as MJPEG, results as server-sent events.

Endpoints: ``/`` a small self-contained page (no external assets; fits a phone), ``/stream.mjpg`` the
newest annotated frame as multipart JPEG (any number of clients; a slow client skips frames, it never
slows ``publish``), ``/events`` one ``data: {json}`` line per published result, ``/result.json`` the
latest result and statistics, ``/healthz``. Listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import numpy as np

from ..errors import EdgekitError, require

log = logging.getLogger("edgekit.views")
BOUNDARY = "edgekit-frame"
HEARTBEAT_S = 10.0


class PortInUseError(EdgekitError, OSError):
    """The web view's port is taken."""


class _Latest:
    """The newest frame (JPEG) and result, with a sequence number clients wait on."""

    def __init__(self):
        self.cond = threading.Condition()
        self.jpeg: bytes | None = None
        self.frame_seq = 0
        self.result: dict[str, Any] = {}
        self.stats: dict[str, Any] = {}
        self.result_seq = 0
        self.stream_clients = 0
        self.closed = False

    def wait(self, attribute: str, seen: int, timeout_s: float) -> int:
        with self.cond:
            self.cond.wait_for(lambda: getattr(self, attribute) != seen or self.closed, timeout_s)
            return getattr(self, attribute)


class WebView:
    """Serves published frames and results over HTTP (see the module docstring for the endpoints).

    Args:
        host: address to bind; "127.0.0.1" (default) is this machine only, "0.0.0.0" the whole LAN.
        port: TCP port; 0 picks a free one (see ``url``).
        jpeg_quality: 1..100 for the MJPEG stream.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, jpeg_quality: int = 80):
        self.host, self.port, self.jpeg_quality = host, int(port), int(jpeg_quality)
        self._latest = _Latest()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> WebView:
        """Bind and serve in a background thread.

        Raises:
            PortInUseError: the port is taken (the message names it).
        """
        handler = type("Handler", (_Handler,), {"latest": self._latest, "page": _page()})
        try:
            server = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {self.port} on {self.host} is already in use", hint="pick another with --port"
                ) from None
            raise EdgekitError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        server.daemon_threads = True
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="edgekit-web", daemon=True)
        self._thread.start()
        if self.host in ("0.0.0.0", ""):
            log.warning("web view reachable from the LAN: http://%s:%d/", _lan_address(), self.port)
        return self

    def publish(self, frame_bgr: np.ndarray | None, result: dict[str, Any], stats: dict[str, Any] | None = None):
        """Make ``frame_bgr`` (annotated, BGR) and ``result`` the newest; wakes every waiting client."""
        jpeg = None
        if frame_bgr is not None and self._latest.stream_clients > 0:  # no viewer, no JPEG work
            cv2 = require("cv2", "live", "encoding the web view's video")
            ok, encoded = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            jpeg = encoded.tobytes() if ok else None
        latest = self._latest
        with latest.cond:
            if jpeg is not None:
                latest.jpeg, latest.frame_seq = jpeg, latest.frame_seq + 1
            latest.result, latest.stats = result, dict(stats or {})
            latest.result_seq += 1
            latest.cond.notify_all()

    def stop(self) -> None:
        with self._latest.cond:
            self._latest.closed = True
            self._latest.cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> WebView:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    latest: _Latest
    page: bytes
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the console shows results
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        path = self.path.split("?")[0]
        try:
            if path in ("/", "/index.html"):
                self._send(self.page, "text/html; charset=utf-8")
            elif path == "/healthz":
                self._send(b"ok\n", "text/plain")
            elif path == "/result.json":
                with self.latest.cond:
                    body = json.dumps({"result": self.latest.result, "stats": self.latest.stats})
                self._send(body.encode(), "application/json")
            elif path == "/stream.mjpg":
                self._stream()
            elif path == "/events":
                self._events()
            else:
                self._send(b"not found\n", "text/plain", 404)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            pass  # the viewer went away

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        latest, seen = self.latest, 0
        with latest.cond:
            latest.stream_clients += 1
        try:
            while not latest.closed:
                seq = latest.wait("frame_seq", seen, HEARTBEAT_S)
                jpeg = latest.jpeg
                if seq == seen or jpeg is None:
                    continue
                seen = seq
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpeg + b"\r\n")
                self.wfile.flush()
        finally:
            with latest.cond:
                latest.stream_clients -= 1

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b"retry: 1000\n\n")
        latest, seen = self.latest, 0
        while not latest.closed:
            seq = latest.wait("result_seq", seen, HEARTBEAT_S)
            if seq == seen:
                self.wfile.write(b": keep-alive\n\n")  # proxies and phones drop silent connections
            else:
                seen = seq
                with latest.cond:
                    data = json.dumps({"result": latest.result, "stats": latest.stats, "seq": seq})
                self.wfile.write(f"data: {data}\n\n".encode())
            self.wfile.flush()


def _page() -> bytes:
    return resources.files(__package__).joinpath("page.html").read_bytes()


def _lan_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


def wait_for_clients(view: WebView, count: int = 1, timeout_s: float = 5.0) -> bool:
    """True once ``count`` MJPEG viewers are connected (tests and demos that want the first frame seen)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if view._latest.stream_clients >= count:
            return True
        time.sleep(0.02)
    return False
