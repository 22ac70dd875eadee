"""Video sources on real parts: FFV1 files and PNG sequences as cameras, a local MJPEG 'IP camera' that is
killed and restarted, MPEG-TS from ffmpeg, and the errors a machine without a camera gives."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import numpy as np
import pytest

from edgekit.errors import InputError, MissingDependencyError
from edgekit.sources import (
    CameraSource,
    DeviceNotFoundError,
    Frame,
    Picamera2Source,
    Source,
    SourceNotFoundError,
    SourceTimeoutError,
    StreamError,
    monotonic_ms,
    open_source,
)
from edgekit.sources.picamera import choose_sensor_mode, fit_output_size
from tests.support.live_fixtures import (  # noqa: F401
    ABSENT_CAMERA_INDEX,
    ffv1_video,
    image_sequence,
    mjpeg_server,
    mpegts_stream,
    pattern_frame,
    read_serial,
    rtsp_stream,
)

pytest.importorskip("cv2")


# -- files as cameras ---------------------------------------------------------------------------------------
def test_video_file_gives_every_frame_bit_exact(ffv1_video):  # noqa: F811
    with open_source(ffv1_video.path) as source:
        assert isinstance(source, Source) and source.kind == "video"
        frames = list(source)
        assert source.read(timeout_s=1) is None  # ended stays ended
        stats = source.stats
    assert len(frames) == len(ffv1_video.frames)
    assert [frame.index for frame in frames] == list(range(len(frames)))
    assert all(np.array_equal(got.image, want) for got, want in zip(frames, ffv1_video.frames))
    assert all(frame.color_order == "BGR" and frame.image.dtype == np.uint8 for frame in frames)
    assert np.all(np.diff([frame.timestamp_ms for frame in frames]) >= 0)
    assert stats["frames_dropped"] == 0 and stats["frames_delivered"] == len(frames)
    assert stats["source_fps"] == pytest.approx(ffv1_video.fps)


def test_image_sequence_is_a_camera(image_sequence):  # noqa: F811
    with open_source(str(image_sequence.path)) as source:
        frames = list(source)
    assert [read_serial(frame.image) for frame in frames] == list(range(len(image_sequence.frames)))
    assert all(np.array_equal(got.image, want) for got, want in zip(frames, image_sequence.frames))


def test_video_file_loops_and_resizes(ffv1_video):  # noqa: F811
    count = len(ffv1_video.frames)
    with CameraSource(ffv1_video.path, loop=True, width=80, height=60) as source:
        frames = [source.read(timeout_s=5) for _ in range(count + 6)]
    assert all(frame.image.shape == (60, 80, 3) for frame in frames)
    assert [frame.index for frame in frames] == list(range(count + 6))
    assert [read_serial(frame.image) for frame in frames] == [i % count for i in range(count + 6)]


def test_video_file_in_realtime_is_paced_and_drops_for_a_slow_consumer(ffv1_video):  # noqa: F811
    started = time.monotonic()
    with open_source(ffv1_video.path, realtime=True) as source:
        fast = [source.read(timeout_s=2) for _ in range(8)]
        time.sleep(0.1)  # six frame periods at 60 fps
        late = source.read(timeout_s=2)
        stats = source.stats
    period_ms = 1000 / ffv1_video.fps
    gaps_ms = np.diff([frame.timestamp_ms for frame in fast])
    assert np.median(gaps_ms) == pytest.approx(period_ms, abs=4), gaps_ms
    assert time.monotonic() - started > 7 * period_ms / 1000
    assert late.index >= fast[-1].index + 5 and stats["frames_dropped"] >= 4
    assert np.array_equal(late.image, ffv1_video.frames[late.index])


def test_missing_files_and_unknown_specs_are_clear_errors(tmp_path):
    with pytest.raises(SourceNotFoundError, match="video source not found") as caught:
        open_source(tmp_path / "clip.mp4")
    assert isinstance(caught.value, FileNotFoundError) and caught.value.hint
    with pytest.raises(SourceNotFoundError, match="img_%04d.png") as caught:
        open_source(str(tmp_path / "img_%04d.png"))
    assert "pattern" in caught.value.hint
    with pytest.raises(SourceNotFoundError) as caught:
        open_source("webcam")
    assert "mic:NAME" in caught.value.hint and "rtsp://" in caught.value.hint
    with pytest.raises(InputError, match="unsupported stream URL"):
        open_source("ftp://example.invalid/clip.mp4")
    not_video = tmp_path / "notes.txt"
    not_video.write_text("not a video")
    with pytest.raises(InputError, match="cannot read a frame"):
        CameraSource(not_video).start()


def test_read_before_start_and_frames_are_frozen(ffv1_video):  # noqa: F811
    source = open_source(ffv1_video.path)
    with pytest.raises(InputError, match="not started"):
        source.read()
    frame = Frame(np.zeros((2, 2, 3), np.uint8), 1.0, 0)
    with pytest.raises(AttributeError):
        frame.index = 1


def test_missing_camera_index_is_a_clear_error():
    """cv2.VideoCapture(N) does not raise for a missing camera; the source does, with a hint."""
    with (
        pytest.raises(DeviceNotFoundError, match=f"no camera at index {ABSENT_CAMERA_INDEX}") as caught,
        open_source(ABSENT_CAMERA_INDEX),
    ):
        pass
    assert isinstance(caught.value, OSError)
    assert "/dev/video" in caught.value.hint and "picamera" in caught.value.hint


# -- network streams ----------------------------------------------------------------------------------------
@pytest.mark.network
def test_mjpeg_camera_over_http(mjpeg_server):  # noqa: F811
    with open_source(mjpeg_server.url) as camera:
        frames = [camera.read(timeout_s=5) for _ in range(10)]
    assert all(frame.image.shape == (240, 320, 3) for frame in frames)
    serials = [read_serial(frame.image) for frame in frames]
    assert serials == sorted(serials) and len(set(serials)) == 10
    # JPEG-decoded frames look like what the server drew (mean abs error of a few grey levels).
    assert np.abs(frames[-1].image.astype(int) - pattern_frame(serials[-1])).mean() < 4


@pytest.mark.network
def test_newest_frame_for_a_slow_consumer(mjpeg_server):  # noqa: F811
    """A consumer taking 150 ms per frame of a 30 fps stream gets fresh frames; the rest are dropped, counted."""
    with open_source(mjpeg_server.url) as camera:
        camera.read(timeout_s=5)
        frames, ages_ms = [], []
        for _ in range(6):
            time.sleep(0.15)
            frames.append(camera.read(timeout_s=5))
            ages_ms.append(monotonic_ms() - frames[-1].timestamp_ms)
        stats = camera.stats
    serials = [read_serial(frame.image) for frame in frames]
    assert all(later - earlier >= 3 for earlier, later in zip(serials, serials[1:])), serials
    assert all(later.index - earlier.index >= 3 for earlier, later in zip(frames, frames[1:]))
    assert np.all(np.diff([frame.timestamp_ms for frame in frames]) > 0)
    assert stats["frames_dropped"] >= 15 and stats["frames_captured"] >= stats["frames_delivered"] + 15
    # Newest-frame hand-over: what the consumer gets is at most about one frame period old (33 ms).
    assert np.median(ages_ms) < 60, ages_ms


@pytest.mark.network
def test_mjpeg_camera_reconnects_after_the_server_is_killed(mjpeg_server):  # noqa: F811
    with CameraSource(mjpeg_server.url, max_backoff_s=0.4) as camera:
        before = [camera.read(timeout_s=5) for _ in range(3)]
        mjpeg_server.kill()  # SIGKILL mid-stream
        time.sleep(0.5)
        assert camera.stats["reconnects"] == 0
        with contextlib.suppress(SourceTimeoutError):
            last_before = camera.read(timeout_s=0.05)  # the newest frame from before the kill, if unread
            assert last_before.timestamp_ms < monotonic_ms() - 400
        mjpeg_server.start()  # same port
        back_ms = monotonic_ms()
        after = camera.read(timeout_s=10)
        reconnect_ms = after.timestamp_ms - back_ms
        more = [camera.read(timeout_s=5) for _ in range(3)]
        stats = camera.stats
        mjpeg_server.kill()  # and stop() while it retries must not hang
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2
    assert stats["reconnects"] == 1
    assert after.index > before[-1].index and [f.index for f in more] == sorted({f.index for f in more})
    # The restarted server counts from 0 again: these frames are from the new connection.
    assert 0 < reconnect_ms < 1500 and read_serial(after.image) < 60, (reconnect_ms, read_serial(after.image))


@pytest.mark.network
@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_mpegts_stream_from_ffmpeg(mpegts_stream, protocol):  # noqa: F811
    url = mpegts_stream(protocol)
    with open_source(url) as camera:
        frames = [camera.read(timeout_s=5) for _ in range(20)]
    assert all(frame.image.shape == (240, 320, 3) for frame in frames)
    assert np.all(np.diff([frame.index for frame in frames]) > 0)
    assert max(frame.image.std() for frame in frames) > 20  # the test pattern once a key frame came


@pytest.mark.network
def test_rtsp_stream_falls_back_to_udp(rtsp_stream):  # noqa: F811
    with open_source(rtsp_stream) as camera:
        frames = [camera.read(timeout_s=5) for _ in range(20)]
        transports = camera._transports
    assert transports == ["udp"]  # TCP (OpenCV's default) was refused by this server
    assert all(frame.image.shape == (240, 320, 3) for frame in frames)
    # Joining mid-GOP, the decoder shows grey until the next key frame (every 0.5 s here).
    assert max(frame.image.std() for frame in frames) > 20


@pytest.mark.network
def test_stalled_server_is_a_stream_error_not_a_hang():
    """A server that accepts the connection and sends nothing: start() gives up after open_timeout_s."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/feed.mjpg"
    started = time.monotonic()
    try:
        with pytest.raises(StreamError, match="cannot open the stream") as caught:
            CameraSource(url, open_timeout_s=1.0, read_timeout_s=1.0).start()
    finally:
        listener.close()
    assert time.monotonic() - started < 4 and isinstance(caught.value, ConnectionError)


# -- Raspberry Pi camera ------------------------------------------------------------------------------------
class StandInPicamera2:
    """Stand-in for picamera2.Picamera2 (no test machine has a Pi camera): records how it is driven and
    returns 'RGB888' arrays, which libcamera lays out B, G, R."""

    def __init__(self, camera_num: int):
        self.camera_num, self.calls, self.serial = camera_num, [], 0

    def create_video_configuration(self, main, controls):
        return {"main": main, "controls": controls}

    def configure(self, config):
        self.calls.append(("configure", config))

    def start(self):
        self.calls.append(("start",))

    def capture_array(self, name):
        time.sleep(1 / 60)
        self.serial += 1
        width, height = self.calls[0][1]["main"]["size"]
        return pattern_frame(self.serial, width, height)

    def stop(self):
        self.calls.append(("stop",))

    def close(self):
        self.calls.append(("close",))


def test_picamera2_source_drives_the_camera_and_delivers_bgr_frames():
    cameras = []
    factory = lambda num: cameras.append(StandInPicamera2(num)) or cameras[-1]  # noqa: E731
    with Picamera2Source(1, width=320, height=240, fps=30, camera_factory=factory) as source:
        frames = [source.read(timeout_s=2) for _ in range(3)]
    camera = cameras[0]
    assert camera.camera_num == 1
    assert camera.calls[0] == ("configure", {"main": {"size": (320, 240), "format": "RGB888"},
                                             "controls": {"FrameRate": 30.0}})  # fmt: skip
    assert camera.calls[-2:] == [("stop",), ("close",)]
    assert all(frame.image.shape == (240, 320, 3) and frame.color_order == "BGR" for frame in frames)
    serials = [read_serial(frame.image) for frame in frames]
    assert serials == sorted(serials) and np.array_equal(frames[0].image, pattern_frame(serials[0]))


# Sensor modes as Picamera2 reports them for a camera module v2 (IMX219, 3280x2464): 640x480 is a centre crop.
IMX219_MODES = [
    {"size": (640, 480), "fps": 103.33, "crop_limits": (1000, 752, 1280, 960), "bit_depth": 10},
    {"size": (1640, 1232), "fps": 41.85, "crop_limits": (0, 0, 3280, 2464), "bit_depth": 10},
    {"size": (1920, 1080), "fps": 47.57, "crop_limits": (680, 692, 1920, 1080), "bit_depth": 10},
    {"size": (3280, 2464), "fps": 21.19, "crop_limits": (0, 0, 3280, 2464), "bit_depth": 10},
]


class StandInPicamera2WithModes(StandInPicamera2):
    """Stand-in that lists sensor modes, as a real Picamera2 does (an IMX219's)."""

    sensor_modes = IMX219_MODES

    def create_video_configuration(self, main, controls, sensor=None):
        return {"main": main, "controls": controls, "sensor": sensor}


def test_sensor_mode_keeps_the_whole_view_and_fits_size_and_rate():
    assert choose_sensor_mode(IMX219_MODES, 640, 480)["size"] == (1640, 1232)  # binned full view, not the crop
    assert choose_sensor_mode(IMX219_MODES, 640, 480, fps=60)["size"] == (640, 480)  # only the crop reaches 60
    assert choose_sensor_mode(IMX219_MODES, 2000, 1500)["size"] == (3280, 2464)
    assert choose_sensor_mode(IMX219_MODES, 5000, 4000)["size"] == (3280, 2464)  # none fits: the largest
    assert choose_sensor_mode([], 640, 480) is None


def test_picamera2_source_asks_for_the_chosen_sensor_mode():
    cameras = []
    factory = lambda num: cameras.append(StandInPicamera2WithModes(num)) or cameras[-1]  # noqa: E731
    with Picamera2Source(0, width=320, height=240, camera_factory=factory) as source:
        frame = source.read(timeout_s=2)
    config = cameras[0].calls[0][1]
    assert config["sensor"] == {"output_size": (1640, 1232), "bit_depth": 10}
    assert config["main"] == {"size": (320, 240), "format": "RGB888"}
    assert frame.image.shape == (240, 320, 3) and frame.color_order == "BGR"


def test_picamera_without_picamera2_says_how_to_install_it():
    try:
        import picamera2  # noqa: F401

        pytest.skip("picamera2 is installed here")
    except ImportError:
        pass
    with pytest.raises(MissingDependencyError, match="Picamera2") as caught:
        open_source("picamera").start()
    assert "python3-picamera2" in caught.value.hint and "--system-site-packages" in caught.value.hint


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_read_timeout_on_a_source_with_nothing_new():
    class StandInStalledPicamera2(StandInPicamera2):  # a Picamera2 stand-in that stalls: the timeout path
        def capture_array(self, name):
            time.sleep(0.5)
            return super().capture_array(name)

    with Picamera2Source(camera_factory=StandInStalledPicamera2) as source, pytest.raises(SourceTimeoutError):
        source.read(timeout_s=0.1)


def test_output_size_fits_the_model_in_the_sensor_aspect():
    # IMX219's full view is 3280x2464 (4:3): hand-computed sizes, width a multiple of 32, height even
    assert fit_output_size(IMX219_MODES, (224, 224)) == (640, 480)  # a small model: the watchable minimum
    assert fit_output_size(IMX219_MODES, (1024, 768)) == (1024, 768)
    assert fit_output_size(IMX219_MODES, (1024, 1024)) == (1376, 1024)  # 1024 * 3280 / 2464 = 1363.1 -> 1376
    assert fit_output_size(IMX219_MODES, (1920, 480)) == (1920, 1442)  # 1920 / (3280/2464) = 1442.3
    wide = [{"size": (1920, 1080), "fps": 60, "crop_limits": (0, 0, 1920, 1080)}]  # a 16:9 sensor
    assert fit_output_size(wide, (224, 224)) == (864, 480)  # 480 * 16/9 = 853.3 -> 864
    assert fit_output_size([], None) == (640, 480)


def test_picamera2_source_sized_for_the_model_when_no_size_is_given():
    cameras = []
    factory = lambda num: cameras.append(StandInPicamera2WithModes(num)) or cameras[-1]  # noqa: E731
    with Picamera2Source(0, model_size=(1024, 1024), camera_factory=factory) as source:
        frame = source.read(timeout_s=2)
    config = cameras[0].calls[0][1]
    assert config["main"] == {"size": (1376, 1024), "format": "RGB888"}
    assert config["sensor"]["output_size"] == (1640, 1232)  # the binned full view still covers 1376x1024
    assert frame.image.shape == (1024, 1376, 3)
    with Picamera2Source(0, width=320, height=240, model_size=(1024, 1024), camera_factory=factory) as source:
        source.read(timeout_s=2)
    assert cameras[1].calls[0][1]["main"]["size"] == (320, 240)  # an explicit size wins
