"""The browser view behind `edgekit serve`: annotated video as MJPEG, results as server-sent events.

Over 400 lines: the server and its request hardening (Host allow-list, viewer caps, bounded buffers) are one
HTTP surface, reviewed together; the page is page.html and the audio/input insets are insets.py.

Endpoints: ``/`` a small self-contained page (no external assets; fits a phone), ``/stream.mjpg`` the
newest annotated frame as multipart JPEG (any number of clients; a slow client skips frames, it never
slows ``publish``), ``/frame.jpg`` the newest frame once, ``/events`` one ``data: {json}`` message per
published result, ``/result.json`` the latest one, ``/healthz``; ``/insets.json`` and ``/input.png`` the
model's input picture and the audio level/spectrogram (see ``insets.py``). Listens on 127.0.0.1 unless told
otherwise.

Hardening: a request whose ``Host`` header names anything but this machine (localhost, 127.0.0.1, ::1, the
bound address, ``allow_hosts``; bound to 0.0.0.0, also the machine's own names and addresses) gets 403, so a
web page using DNS rebinding cannot read the camera through a browser on the same machine. The listen
backlog is :data:`LISTEN_BACKLOG`; each viewer holds at most one frame and a bounded kernel send buffer (a
slow viewer skips frames, memory does not grow); at most ``max_viewers`` video streams and as many event
streams run at once (503 beyond), and connections beyond twice that get 503 before a thread is made.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import logging
import math
import select
import socket
import threading
from collections import deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import numpy as np

from ..errors import EdgekitError, require
from .insets import INSET_PATHS, Insets

log = logging.getLogger("edgekit.views")
BOUNDARY = "edgekit-frame"
HEARTBEAT_S = 10.0  # proxies and phones drop connections that stay silent much longer
PEER_CHECK_S = 1.0  # while nothing is published, a viewer that left is noticed (and its slot freed) this often
EVENT_BACKLOG = 256  # results an SSE client may fall behind by before it skips (bounded memory per view)
SOCKET_TIMEOUT_S = 30.0  # a viewer that stops reading is dropped after this, not kept forever
STOP_WAIT_S = 2.0
LISTEN_BACKLOG = 128  # the stdlib's 5 left 13 of 100 simultaneous viewers without an answer
DEFAULT_MAX_VIEWERS = 200  # simultaneous /stream.mjpg viewers (and, separately, /events clients)
SEND_BUFFER_BYTES = 256 * 1024  # kernel send buffer per viewer (a few JPEGs): a stalled viewer holds no more
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class PortInUseError(EdgekitError, OSError):
    """The web view's port is taken."""


class _Latest:
    """What the handlers serve: the newest frame (raw and JPEG), recent results, and who is connected."""

    def __init__(self, jpeg_quality: int):
        self.cond = threading.Condition()
        self.jpeg_quality = jpeg_quality
        self.raw: np.ndarray | None = None  # kept unencoded while nobody watches the video
        self.jpeg: bytes | None = None
        self.frame_seq = 0
        self.events: deque[tuple[int, bytes]] = deque(maxlen=EVENT_BACKLOG)
        self.result_seq = 0
        self.stream_clients = 0
        self.event_clients = 0
        self.refused = 0  # requests answered 403 (Host) or 503 (full)
        self.connections: set[socket.socket] = set()
        self.closed = False

    def wait_past(self, counter: str, seen: int, timeout_s: float = HEARTBEAT_S) -> bool:
        """Wait until the counter moves past ``seen`` or ``timeout_s`` passes; False once the view is stopped."""
        with self.cond:
            self.cond.wait_for(lambda: getattr(self, counter) != seen or self.closed, timeout_s)
            return not self.closed

    def jpeg_now(self) -> tuple[int, bytes | None]:
        """The newest JPEG, encoding the newest raw frame first if nobody has yet."""
        with self.cond:
            raw, seq = self.raw, self.frame_seq
        if raw is not None:
            jpeg = _encode(raw, self.jpeg_quality)
            with self.cond:
                if self.frame_seq == seq and self.raw is raw:
                    self.raw, self.jpeg = None, jpeg
        with self.cond:
            return self.frame_seq, self.jpeg


class WebView:
    """Serves published frames and results over HTTP (see the module docstring for the endpoints).

    Args:
        host: address to bind; "127.0.0.1" (default) is this machine only, "0.0.0.0" the whole LAN.
        port: TCP port; 0 picks a free one (see ``url`` after ``start``).
        jpeg_quality: 1..100 for the MJPEG stream.
        allow_hosts: more names (or addresses) browsers may use in the ``Host`` header, e.g. the Pi's
            ``raspberrypi.local`` or a reverse proxy's name; the others get 403 (DNS rebinding).
        max_viewers: simultaneous ``/stream.mjpg`` viewers (and ``/events`` clients); the next gets 503.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        jpeg_quality: int = 80,
        allow_hosts: tuple[str, ...] | list[str] = (),
        max_viewers: int = DEFAULT_MAX_VIEWERS,
    ):
        self.host, self.port, self.jpeg_quality = host, int(port), int(jpeg_quality)
        self.allow_hosts = tuple(allow_hosts)
        self.max_viewers = int(max_viewers)
        if self.max_viewers < 1:
            raise EdgekitError(f"max_viewers must be at least 1, got {max_viewers}", hint="e.g. --max-viewers 200")
        self._latest = _Latest(self.jpeg_quality)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._publish_lock = threading.Lock()
        self.insets = Insets()

    @property
    def stream_clients(self) -> int:
        """How many viewers are watching ``/stream.mjpg`` now."""
        return self._latest.stream_clients

    @property
    def refused(self) -> int:
        """Requests refused so far: a foreign ``Host`` (403) or too many viewers (503)."""
        return self._latest.refused

    def allowed_hosts(self) -> frozenset[str]:
        """The ``Host`` names (without port, lower case) this view answers; see the module docstring."""
        names = {*LOOPBACK_NAMES, *(h.lower().strip("[]") for h in self.allow_hosts)}
        if self.host in ("0.0.0.0", "", "::"):
            names |= _own_addresses()
        else:
            names.add(self.host.lower().strip("[]"))
        return frozenset(names)

    @property
    def url(self) -> str:
        """The page's address on this machine, e.g. ``http://127.0.0.1:8080/``."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> WebView:
        """Bind and serve in a background (daemon) thread.

        Returns:
            This view, started.

        Raises:
            PortInUseError: the port is taken (the message names it; the hint names --port).
            EdgekitError: any other reason the address cannot be bound (e.g. a port below 1024 without root).
        """
        handler = type(
            "Handler",
            (_Handler,),
            {
                "latest": self._latest,
                "page": _page(),
                "allowed": self.allowed_hosts(),
                "any_address": self.host in ("0.0.0.0", "", "::"),
                "max_viewers": self.max_viewers,
                "insets": self.insets,
            },
        )
        server_class = _IPv6Server if ":" in self.host else _Server
        server = server_class((self.host, self.port), handler, bind_and_activate=False)
        server.daemon_threads = True
        server.latest, server.max_connections = self._latest, 2 * self.max_viewers + 64
        try:
            server.server_bind()
            server.server_activate()
        except OSError as exc:
            server.server_close()
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {self.port} on {self.host} is already in use", hint="pick another with --port"
                ) from None
            raise EdgekitError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror}", hint="pick another port with --port"
            ) from None
        self._server, self.port = server, server.server_address[1]
        # A short poll interval keeps stop() quick; the loop costs nothing measurable at 10 wake-ups a second.
        self._thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="edgekit-web", daemon=True)
        self._thread.start()
        if self.host in ("0.0.0.0", "", "::"):
            log.warning("web view reachable from the LAN: http://%s:%d/", _lan_address(), self.port)
        return self

    def publish(
        self, frame_bgr: np.ndarray | None, result: Mapping[str, Any], stats: Mapping[str, Any] | None = None
    ) -> None:
        """Make ``frame_bgr`` and ``result`` the newest; never waits for a viewer.

        Args:
            frame_bgr: the annotated uint8 BGR frame to stream, or None (audio and text have no video).
            result: the task result as a dict (``result.to_dict()``); sent to every ``/events`` client.
            stats: figures to show beside it (``fps``, ``latency_ms_p50``, ...), or None.
        """
        latest = self._latest
        with self._publish_lock:  # one publisher at a time keeps the sequence numbers in order
            message = {"seq": latest.result_seq + 1, "result": dict(result), "stats": dict(stats or {})}
            payload = json.dumps(_json_ready(message), separators=(",", ":")).encode()
            jpeg = raw = None
            if frame_bgr is not None:
                if latest.stream_clients > 0:  # encode once here for every viewer
                    jpeg = _encode(frame_bgr, self.jpeg_quality)
                else:  # no viewer: no JPEG work, but keep a copy for the next one to connect
                    raw = np.array(frame_bgr, copy=True)
            self._store(frame_bgr is not None, raw, jpeg, payload)

    def publish_input(self, image_rgb: np.ndarray, caption: str = "") -> None:
        """Make ``image_rgb`` (uint8 RGB or grey) the model input the page shows in its inset."""
        self.insets.publish_input(image_rgb, caption)

    def publish_audio(self, samples: np.ndarray, sample_rate_hz: int, position_ms: float, keywords: Any = ()) -> None:
        """Add one audio block (first sample at stream time ``position_ms``) to the page's level meter and
        spectrogram; ``keywords``: the result's keyword dicts, marked on the spectrogram."""
        self.insets.publish_audio(samples, sample_rate_hz, position_ms, keywords)

    def _store(self, has_frame: bool, raw: np.ndarray | None, jpeg: bytes | None, payload: bytes) -> None:
        latest = self._latest
        with latest.cond:
            if has_frame:
                latest.raw, latest.jpeg = raw, jpeg
                latest.frame_seq += 1
            latest.result_seq += 1
            latest.events.append((latest.result_seq, payload))
            latest.cond.notify_all()

    def stop(self) -> None:
        """Stop serving and end every open connection; returns within a few seconds, also with stuck viewers."""
        latest = self._latest
        with latest.cond:
            latest.closed = True
            latest.cond.notify_all()
            connections = list(latest.connections)
        for connection in connections:  # unblocks handlers stuck writing to a viewer that stopped reading
            with contextlib.suppress(OSError):  # already closed by the viewer
                connection.shutdown(socket.SHUT_RDWR)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(STOP_WAIT_S)
            self._thread = None
        with latest.cond:
            latest.cond.wait_for(lambda: not latest.connections, STOP_WAIT_S)

    def __enter__(self) -> WebView:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    """Backlog 128, and a cap on connections checked before a handler thread is made."""

    request_queue_size = LISTEN_BACKLOG
    latest: _Latest
    max_connections: int

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        with self.latest.cond:
            full = len(self.latest.connections) >= self.max_connections
            if full:
                self.latest.refused += 1
        if full:  # no thread for it: a short answer and close (a flood of sockets cannot exhaust threads)
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(_plain_reply(503, b"too many connections\n", retry=True))
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def _plain_reply(status: int, body: bytes, retry: bool = False) -> bytes:
    reason = {403: "Forbidden", 503: "Service Unavailable"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        + ("Retry-After: 5\r\n" if retry else "")
        + "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class _Handler(BaseHTTPRequestHandler):
    latest: _Latest
    page: bytes
    allowed: frozenset[str]
    any_address: bool
    max_viewers: int
    insets: Insets
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):  # bounded per viewer: a stalled one blocks here, then times out
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        with self.latest.cond:
            self.latest.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.latest.cond:
                self.latest.connections.discard(self.connection)
                self.latest.cond.notify_all()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the console shows results
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _host_allowed(self) -> bool:
        """The Host header names this machine (no header at all: not a browser, so not a rebinding)."""
        host = self.headers.get("Host")
        if host is None:
            return True
        name = _host_name(host)
        if name in self.allowed or name.endswith(".localhost"):
            return True
        # Bound to every address, an IP literal is this machine as the client reached it (NAT, a VPN, an
        # address added after start): never a rebinding, which needs a DNS name the attacker controls.
        return self.any_address and _is_ip_literal(name)

    def _refuse(self, status: int, message: str) -> None:
        with self.latest.cond:
            self.latest.refused += 1
        body = message.encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if status == 503:
            self.send_header("Retry-After", "5")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _take_slot(self, counter: str) -> bool:
        """Count one more viewer of ``counter`` unless ``max_viewers`` are already there."""
        with self.latest.cond:
            if getattr(self.latest, counter) >= self.max_viewers:
                return False
            setattr(self.latest, counter, getattr(self.latest, counter) + 1)
            return True

    def _release_slot(self, counter: str) -> None:
        with self.latest.cond:
            setattr(self.latest, counter, getattr(self.latest, counter) - 1)

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        path = self.path.split("?")[0]
        try:
            if not self._host_allowed():
                log.debug("refused Host %r from %s", self.headers.get("Host"), self.address_string())
                self._refuse(403, "this address is not allowed: open the view by its IP address or localhost, "
                             "or start it with --allow-host NAME")  # fmt: skip
            elif path in ("/", "/index.html"):
                self._send(self.page, "text/html; charset=utf-8")
            elif path == "/healthz":
                self._send(b"ok\n", "text/plain")
            elif path == "/result.json":
                with self.latest.cond:
                    events = self.latest.events
                    body = events[-1][1] if events else b'{"seq":0,"result":null,"stats":{}}'
                self._send(body, "application/json")
            elif path == "/frame.jpg":
                _, jpeg = self.latest.jpeg_now()
                if jpeg:
                    self._send(jpeg, "image/jpeg")
                else:
                    self._send(b"no frame yet\n", "text/plain", 404)
            elif path in ("/stream.mjpg", "/events"):
                counter = "stream_clients" if path == "/stream.mjpg" else "event_clients"
                if not self._take_slot(counter):
                    self._refuse(503, f"{self.max_viewers} viewers already: try again later")
                    return
                try:
                    self._stream() if path == "/stream.mjpg" else self._events()
                finally:
                    self._release_slot(counter)
            elif path in INSET_PATHS:
                self._send(*self.insets.respond(path, self.path.partition("?")[2]))
            else:
                self._send(b"not found\n", "text/plain", 404)
        except OSError:  # the viewer went away, stopped reading (timeout), or stop() closed the socket
            self.close_connection = True

    def _stream(self) -> None:
        self._start_stream(f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        latest = self.latest
        seen, jpeg = latest.jpeg_now()  # the newest frame at once, not at the next publish
        while True:  # one frame per viewer at a time: frames published meanwhile are skipped, not queued
            if jpeg is not None:
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                self.wfile.write(head.encode() + jpeg + b"\r\n")
                self.wfile.flush()
            if not latest.wait_past("frame_seq", seen, PEER_CHECK_S):
                return
            fresh, jpeg = latest.jpeg_now()
            jpeg, seen = (jpeg, fresh) if fresh != seen else (None, seen)
            if jpeg is None and self._peer_gone():  # no frames coming: notice a viewer that left (its slot)
                return

    def _peer_gone(self) -> bool:
        """The viewer closed its end (readable with nothing to read); a request it sends counts as present."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _events(self) -> None:
        self._start_stream("text/event-stream")
        self.wfile.write(b"retry: 1000\n\n")
        latest = self.latest
        with latest.cond:  # start from the newest result, so the page has something to show at once
            seen = latest.events[-1][0] - 1 if latest.events else 0
        quiet_s = 0.0
        while True:
            if not latest.wait_past("result_seq", seen, PEER_CHECK_S):
                return
            with latest.cond:
                fresh = [(seq, payload) for seq, payload in latest.events if seq > seen]
            if fresh:
                seen, quiet_s = fresh[-1][0], 0.0
                self.wfile.write(b"".join(b"data: " + payload + b"\n\n" for _, payload in fresh))
            elif self._peer_gone():
                return
            else:
                quiet_s += PEER_CHECK_S
                if quiet_s < HEARTBEAT_S:
                    continue
                quiet_s = 0.0
                self.wfile.write(b": keep-alive\n\n")
            self.wfile.flush()


def _encode(frame_bgr: np.ndarray, quality: int) -> bytes | None:
    cv2 = require("cv2", "live", "encoding the web view's video")
    ok, encoded = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return encoded.tobytes() if ok else None


def _json_ready(value: Any) -> Any:
    """Plain JSON for browsers: numpy scalars and arrays become numbers and lists, NaN and inf become null."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON.parse refuses NaN; json.dumps would write it
    return value


def _page() -> bytes:
    return resources.files(__package__).joinpath("page.html").read_bytes()


def _host_name(header: str) -> str:
    """``Host: name:port`` → ``name`` (lower case); ``[::1]:8080`` → ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")  # "localhost." is localhost


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _own_addresses() -> set[str]:
    """This machine's names and addresses (host name, FQDN, every interface's IPv4 and IPv6 address)."""
    names: set[str] = set()
    with contextlib.suppress(OSError):
        hostname = socket.gethostname()
        names |= {hostname.lower(), socket.getfqdn().lower(), f"{hostname.lower()}.local"}
        for info in socket.getaddrinfo(hostname, None):
            names.add(str(info[4][0]).split("%", 1)[0].lower())
    names.add(_lan_address().lower())
    names |= _interface_addresses()
    return names


def _interface_addresses() -> set[str]:
    """Every interface address on Linux (/proc and SIOCGIFADDR); empty elsewhere (getaddrinfo covers most)."""
    found: set[str] = set()
    with contextlib.suppress(OSError, ValueError), open("/proc/net/if_inet6") as table:
        for row in table:
            digits = row.split()[0]
            import ipaddress

            found.add(str(ipaddress.IPv6Address(bytes.fromhex(digits))))
    try:
        import fcntl
        import struct
    except ImportError:
        return found
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                request = struct.pack("256s", name.encode()[:15])
                answer = fcntl.ioctl(probe.fileno(), 0x8915, request)  # SIOCGIFADDR
                found.add(socket.inet_ntoa(answer[20:24]))
    return found


def _lan_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()
