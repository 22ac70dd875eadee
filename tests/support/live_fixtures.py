"""Real parts for the live-source tests: stream servers, video files and a PulseAudio virtual microphone.

Nothing here is a stand-in: the MJPEG camera is a real HTTP server in its own process (so a test can
SIGKILL it mid-stream and start it again on the same port), MPEG-TS streams come from ffmpeg, and the
microphone is a PulseAudio null sink whose monitor PortAudio records through ALSA (see shared TESTING.md).
Every fixture skips with a reason when its tool is missing. Run as a script to serve MJPEG:
``python tests/support/live_fixtures.py mjpeg PORT [FPS WIDTH HEIGHT]``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgekit.media import Frame

SERIAL_BITS = 16

# A camera index no machine has (V4L2 numbers devices from 0): tests of the "no camera" error use it, so they
# never open a real webcam, whatever the machine they run on.
ABSENT_CAMERA_INDEX = 987


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return False


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tcp_listening(port: int) -> bool:
    """True when something LISTENs on 127.0.0.1:port, checked without connecting (one-client servers)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A" for row in rows)


def pattern_frame(serial: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A BGR frame whose top band encodes ``serial`` in 16 black/white squares (robust to JPEG)."""
    import cv2

    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 1] = np.linspace(0, 200, width, dtype=np.uint8)[None, :]
    square = width // SERIAL_BITS
    for bit in range(SERIAL_BITS):
        if (serial >> bit) & 1:
            image[:square, bit * square : (bit + 1) * square] = 255
    cv2.putText(image, f"{serial:05d}", (width // 5, height * 2 // 3), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 255, 255), 3)
    return image


def read_serial(image: np.ndarray) -> int:
    """The serial number drawn by :func:`pattern_frame` (works on decoded JPEG and on resized frames)."""
    square = image.shape[1] // SERIAL_BITS
    band = image[square // 4 : square * 3 // 4]
    bits = [band[:, bit * square + square // 4 : bit * square + square * 3 // 4].mean() > 128 for bit in range(16)]
    return sum(1 << bit for bit, on in enumerate(bits) if on)


def serve_mjpeg(port: int, fps: float = 30.0, width: int = 320, height: int = 240) -> None:
    """Serve a multipart MJPEG 'IP camera' on 127.0.0.1:port; serials follow the server's own clock."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import cv2

    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                while True:
                    # Like a real camera: every client sees the same frame at a given moment.
                    serial = int((time.monotonic() - started) * fps)
                    jpeg = cv2.imencode(".jpg", pattern_frame(serial, width, height), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
                    header = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % jpeg.size
                    self.wfile.write(header + jpeg.tobytes() + b"\r\n")
                    time.sleep(max(0.0, started + (serial + 1) / fps - time.monotonic()))
            except (BrokenPipeError, ConnectionResetError):
                pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


class MjpegServer:
    """The MJPEG server in a child process: ``kill()`` is a real SIGKILL, ``start()`` reuses the port."""

    def __init__(self, fps: float = 30.0, width: int = 320, height: int = 240):
        self.port = free_port()
        self.fps, self.width, self.height = fps, width, height
        self.url = f"http://127.0.0.1:{self.port}/feed.mjpg"
        self.process: subprocess.Popen | None = None

    def start(self) -> MjpegServer:
        args = [str(self.port), str(self.fps), str(self.width), str(self.height)]
        self.process = subprocess.Popen([sys.executable, __file__, "mjpeg", *args], stderr=subprocess.DEVNULL)
        if not wait_until(lambda: tcp_listening(self.port), 15.0):
            self.kill()
            raise RuntimeError(f"MJPEG server did not listen on port {self.port}")
        return self

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


@pytest.fixture
def mjpeg_server() -> Iterator[MjpegServer]:
    """A running 30 fps 320x240 MJPEG camera on 127.0.0.1 (killed after the test)."""
    server = MjpegServer().start()
    yield server
    server.kill()


# -- video files --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoFile:
    path: Path
    frames: list[np.ndarray]  # what was written, in order (FFV1 and PNG read back bit-exact)
    fps: float


def write_ffv1_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (width, height))
    assert writer.isOpened(), "this OpenCV build cannot write FFV1"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def distinct_frames(count: int, width: int = 160, height: int = 120, seed: int = 0) -> list[np.ndarray]:
    """Frames that differ everywhere (noise) and carry their serial number in the top band."""
    import cv2

    rng = np.random.default_rng(seed)
    frames = []
    for serial in range(count):
        noise = rng.integers(0, 256, (height, width, 3), np.uint8)
        top = pattern_frame(serial)[: 320 // SERIAL_BITS]
        band = cv2.resize(top, (width, width // SERIAL_BITS), interpolation=cv2.INTER_NEAREST)
        noise[: band.shape[0]] = band
        frames.append(noise)
    return frames


@pytest.fixture
def ffv1_video(tmp_path) -> VideoFile:
    """24 frames of 160x120 noise at 60 fps in an FFV1 .mkv (lossless)."""
    frames = distinct_frames(24)
    return VideoFile(write_ffv1_video(tmp_path / "clip.mkv", frames, 60.0), frames, 60.0)


@pytest.fixture
def image_sequence(tmp_path) -> VideoFile:
    """12 PNG files img_0000.png ... img_0011.png; path is the %04d pattern."""
    import cv2

    frames = distinct_frames(12, seed=1)
    for serial, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"img_{serial:04d}.png"), frame)
    return VideoFile(tmp_path / "img_%04d.png", frames, 25.0)


# -- MPEG-TS streams from ffmpeg ------------------------------------------------------------------------
@pytest.fixture
def mpegts_stream() -> Iterator[Callable[[str], str]]:
    """Factory: ``start("tcp")`` or ``start("udp")`` runs ffmpeg sending a 30 fps 320x240 test pattern as
    MPEG-TS and returns the URL to read (tcp: ffmpeg listens for one client; udp: ffmpeg sends to the port)."""
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed (apt install ffmpeg)")
    processes = []

    def start(protocol: str) -> str:
        port = free_port(socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM)
        target = f"tcp://127.0.0.1:{port}?listen=1" if protocol == "tcp" else f"udp://127.0.0.1:{port}?pkt_size=1316"
        command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i",
                   "testsrc=size=320x240:rate=30", "-t", "60", "-c:v", "mpeg2video", "-q:v", "4", "-g", "15",
                   "-bf", "0", "-f", "mpegts", target]  # fmt: skip
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if protocol == "tcp" and not wait_until(lambda: tcp_listening(port), 10.0):
            pytest.skip("ffmpeg did not start listening for the MPEG-TS client within 10 s")
        return f"{protocol}://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.kill()
        process.wait()


@pytest.fixture
def rtsp_stream() -> Iterator[str]:
    """rtsp://127.0.0.1:PORT/live: Debian's rtsp-server-perl relaying ffmpeg's 30 fps 320x240 MPEG-4 push.
    This server only streams over UDP (OpenCV asks for TCP first)."""
    missing = [tool for tool in ("rtsp-server-perl", "ffmpeg") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt install rtsp-server-perl ffmpeg)")
    client_port, source_port = free_port(), free_port()
    rtp_port = 20000 + 2 * (os.getpid() % 5000)  # UDP ports for the RTP relay; per-process to avoid clashes
    server = subprocess.Popen(
        ["rtsp-server-perl", "-c", str(client_port), "-s", str(source_port), "--client_listen_address", "127.0.0.1",
         "--source_listen_address", "127.0.0.1", "--rtp_start_port", str(rtp_port), "-l", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    pusher = None
    try:
        if not wait_until(lambda: tcp_listening(client_port) and tcp_listening(source_port), 10.0):
            pytest.skip("rtsp-server-perl did not start listening within 10 s")
        pusher = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i",
             "testsrc=size=320x240:rate=30", "-t", "60", "-c:v", "mpeg4", "-q:v", "5", "-g", "15", "-f", "rtsp",
             f"rtsp://127.0.0.1:{source_port}/live"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)  # the server announces the stream once ffmpeg has pushed its SDP
        yield f"rtsp://127.0.0.1:{client_port}/live"
    finally:
        for process in (pusher, server):
            if process is not None:
                process.kill()
                process.wait()


# -- PulseAudio virtual microphone -------------------------------------------------------------------------
@dataclass(frozen=True)
class VirtualMic:
    sink: str  # play into this (paplay --device=SINK), the microphone hears it
    device_name: str  # what PortAudio calls the microphone (an ALSA pcm routed to the PulseAudio source)
    sink_rate_hz: int
    env: dict  # environment for PulseAudio clients (paplay, pactl, child processes)

    def play(self, wav_path: Path) -> None:
        subprocess.run(["paplay", f"--device={self.sink}", str(wav_path)], env=self.env, check=True, timeout=30)


_RUNNING_MICS: list[VirtualMic] = []  # importing the fixture into several modules registers it once per module
MIC_SINK_RATE_HZ = 48000  # a rate the tests never ask for: MicrophoneSource must resample
_ALSA_VMIC = 'pcm.vmic {\n  type pulse\n  device vmic\n  hint { show on description "edgekit virtual microphone" }\n}\n'


@pytest.fixture(scope="session")
def virtual_mic() -> Iterator[VirtualMic]:
    """The virtual microphone for a test session (see ``virtual_microphone``)."""
    with virtual_microphone() as mic:
        yield mic


@contextlib.contextmanager
def virtual_microphone() -> Iterator[VirtualMic]:
    """A PulseAudio null sink whose monitor is the microphone "vmic" (see shared TESTING.md for the pitfalls).

    The sink runs at 48 kHz; PortAudio reaches it through ALSA's pulse plugin, whose default rate is 44.1 kHz.
    Test modules that import this fixture share one daemon per session.
    """
    if _RUNNING_MICS:
        yield _RUNNING_MICS[0]
        return
    missing = [tool for tool in ("pulseaudio", "pactl", "pacat", "parec", "paplay") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"PulseAudio tools missing: {', '.join(missing)} (apt install pulseaudio pulseaudio-utils)")
    if not Path("/usr/share/alsa/alsa.conf").is_file():
        pytest.skip("ALSA configuration missing (apt install libasound2-plugins)")
    base = Path(tempfile.mkdtemp(prefix="edgekit-vmic-"))
    base.chmod(0o700)
    (base / "asound.conf").write_text(_ALSA_VMIC)
    # Own runtime dir (socket, pid, cookie): other PulseAudio daemons on the machine are not touched.
    env = {**os.environ, "XDG_RUNTIME_DIR": str(base), "XDG_CONFIG_HOME": str(base),
           "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{base / 'asound.conf'}"}  # fmt: skip
    rate = str(MIC_SINK_RATE_HZ)
    subprocess.run(
        ["pulseaudio", "-D", "-n", "--system=false", "--exit-idle-time=-1", "--disallow-exit",
         f"--log-target=file:{base / 'pulse.log'}", "--load=module-native-protocol-unix auth-anonymous=1",
         f"--load=module-null-sink sink_name=vmic_sink rate={rate} channels=1 format=s16le",
         "--load=module-remap-source master=vmic_sink.monitor source_name=vmic"],
        env=env, check=True, timeout=30, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    subprocess.run(["pactl", "set-default-source", "vmic"], env=env, check=True, timeout=10)
    subprocess.run(["pactl", "set-default-sink", "vmic_sink"], env=env, check=True, timeout=10)
    # Pitfall 1: an idle null sink renders 2 s blocks and a new capture stream loses them; a permanent
    # low-latency client keeps it rendering in small blocks.
    keep_alive = subprocess.Popen(
        ["pacat", "--playback", "--latency-msec=20", "--device=vmic_sink", "--format=s16le", f"--rate={rate}",
         "--channels=1", "/dev/zero"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def capture_is_prompt() -> bool:
        started = time.monotonic()
        probe = subprocess.Popen(
            ["parec", "--latency-msec=10", "--device=vmic", "--format=s16le", "--rate=16000", "--channels=1",
             "--raw"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        probe.stdout.read(3200)
        probe.kill()
        probe.wait()
        return time.monotonic() - started < 0.3

    saved = {name: os.environ.get(name) for name in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "ALSA_CONFIG_PATH")}
    try:
        assert wait_until(capture_is_prompt, 15.0, 0.0), "the virtual microphone never became ready"
        os.environ.update({name: env[name] for name in saved})
        import sounddevice

        # Pitfall 2: PortAudio lists ALSA devices when it initialises; re-scan now that PulseAudio runs.
        sounddevice._terminate()
        sounddevice._initialize()
        _RUNNING_MICS.append(VirtualMic("vmic_sink", "vmic", MIC_SINK_RATE_HZ, env))
        yield _RUNNING_MICS[0]
    finally:
        _RUNNING_MICS.clear()
        keep_alive.kill()
        keep_alive.wait()
        pid_file = base / "pulse" / "pid"
        if pid_file.is_file():
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
            wait_until(lambda: not (base / "pulse" / "native").exists(), 3.0)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1] == "mjpeg":
        serve_mjpeg(int(sys.argv[2]), *(float(value) for value in sys.argv[3:4]), *(int(v) for v in sys.argv[4:6]))


class FrameList:
    """An in-memory source of given frames (a real source type for Python users, not a hardware stand-in)."""

    kind, description = "video", "frames in memory"
    lossless = True  # every frame in order: the runner waits for the task instead of letting it drop one

    def __init__(self, images):
        self.images, self.position, self.stats = list(images), 0, {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def read(self, timeout_s=None):
        if self.position >= len(self.images):
            return None
        self.position += 1
        return Frame(self.images[self.position - 1], time.monotonic() * 1000, self.position - 1)
