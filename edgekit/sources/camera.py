"""OpenCV video sources: a camera index, a video file, an image sequence or a network stream."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from ..errors import InputError, require
from ._errors import DeviceNotFoundError, SourceNotFoundError, StreamError
from ._frames import ThreadedFrameSource, log
from ._types import monotonic_ms

NETWORK_SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "tcp", "udp", "srt")
SEQUENCE_PATTERN = re.compile(r"%0?\d*d")
# A camera that fails this many reads in a row is gone (unplugged), not hiccuping.
DEVICE_FAILURES_BEFORE_GIVING_UP = 10
FIRST_BACKOFF_S = 0.1
# OpenCV reads its FFmpeg options from this variable at each open; a lock keeps our temporary values apart.
FFMPEG_OPTIONS_VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_FFMPEG_OPTIONS_LOCK = threading.Lock()


def is_network_url(target: object) -> bool:
    return isinstance(target, str) and target.split("://", 1)[0].lower() in NETWORK_SCHEMES and "://" in target


def _camera_hint() -> str:
    if sys.platform.startswith("linux"):
        present = sorted(glob.glob("/dev/video*"))
        listing = f"this machine has {', '.join(present)}" if present else "this machine has no /dev/video* device"
        return (
            f"{listing}; check the cable, or pass the camera into the container (--device /dev/video0); "
            "for a Raspberry Pi camera module use the source 'picamera'; a video file or URL works as a source too"
        )
    return "check the cable and the camera permission for this terminal; a video file or URL works as a source too"


class CameraSource(ThreadedFrameSource):
    """Frames read by OpenCV from a camera, a video file, an image sequence or a network stream.

    Cameras and network streams are live: ``read()`` returns the newest frame and frames the consumer
    was too slow for are dropped (counted in ``stats["frames_dropped"]``). A file is read frame by frame,
    every frame in order, as fast as the consumer goes, unless ``realtime`` paces it like a camera.

    Args:
        target: camera index (int), video file path, image-sequence pattern (``img_%04d.png``), or a URL
            (http(s) MJPEG, rtsp, tcp/udp MPEG-TS, ...).
        width, height: wanted frame size. Cameras are asked for it (they pick their nearest mode); frames
            of any other size are resized, so the consumer always gets this size.
        fps: wanted camera frame rate; for a paced file, replaces the file's own rate.
        realtime: files: deliver at the file's frame rate and drop frames a slow consumer misses.
        loop: files: start again at the end instead of ending.
        reconnect: network streams: when the stream drops, reopen it with exponential backoff (up to
            ``max_backoff_s`` between tries) until it is back or the source is stopped. Default: on for URLs.
        open_timeout_s, read_timeout_s: network streams: give up opening / waiting for a frame after this.
        rtsp_transport: "tcp" or "udp" for rtsp:// URLs. Default: OpenCV's TCP, then UDP if that fails (some
            servers only do UDP). Ignored when OPENCV_FFMPEG_CAPTURE_OPTIONS is set: those options rule.

    Raises:
        SourceNotFoundError: the file (or the first file of the sequence) does not exist.
        InputError: a parameter is out of range.
    """

    def __init__(
        self,
        target: int | str | Path,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        realtime: bool = False,
        loop: bool = False,
        reconnect: bool | None = None,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        max_backoff_s: float = 2.0,
        rtsp_transport: str | None = None,
    ):
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            self.target_kind, target = "device", int(target)
            description = f"camera {target}"
        elif is_network_url(target):
            self.target_kind, description = "network", f"stream {target}"
        else:
            self.target_kind, target = "file", str(target)
            description = f"video {target}"
            if not _file_exists(target):
                raise SourceNotFoundError(f"video source not found: {target}", hint=_missing_file_hint(target))
        if fps is not None and fps <= 0:
            raise InputError(f"fps must be positive, got {fps!r}")
        is_file = self.target_kind == "file"
        super().__init__(description, lossless=is_file and not realtime, width=width, height=height)
        self.target = target
        self.fps = fps
        self.realtime, self.loop = realtime and is_file, loop and is_file
        self.reconnect = self.target_kind == "network" if reconnect is None else reconnect
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self.max_backoff_s = max_backoff_s
        if rtsp_transport not in (None, "tcp", "udp"):
            raise InputError(f"rtsp_transport must be 'tcp' or 'udp', got {rtsp_transport!r}")
        is_rtsp = self.target_kind == "network" and str(target).lower().startswith(("rtsp://", "rtsps://"))
        if not is_rtsp or FFMPEG_OPTIONS_VARIABLE in os.environ:
            self._transports: list[str | None] = [None]
        else:
            self._transports = [rtsp_transport] if rtsp_transport else ["tcp", "udp"]
        # The reader may sit in a native read for up to read_timeout_s; stop() waits a little longer.
        self.join_timeout_s = max(self.join_timeout_s, read_timeout_s + 1.0)
        self.source_fps = 0.0
        self._capture: Any = None  # a cv2.VideoCapture once opened
        self._first_image = None

    def _new_capture(self, transport: str | None = None):
        cv2 = require("cv2", "live", "reading cameras and video")
        if self.target_kind == "device":
            # The 'can't open camera by index' warnings say less than the error raised below.
            logging = getattr(getattr(cv2, "utils", None), "logging", None)
            previous_level = logging.getLogLevel() if logging else None
            if logging:
                logging.setLogLevel(logging.LOG_LEVEL_ERROR)
            try:
                capture = cv2.VideoCapture(self.target)
            finally:
                if logging:
                    logging.setLogLevel(previous_level)
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, self.width), (cv2.CAP_PROP_FRAME_HEIGHT, self.height)):
                if value:
                    capture.set(prop, value)
            if self.fps:
                capture.set(cv2.CAP_PROP_FPS, self.fps)
            return capture
        if self.target_kind == "network":
            timeouts = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self.read_timeout_s * 1000),
            ]
            with _ffmpeg_options(None if transport is None else f"rtsp_transport;{transport}"):
                return cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, timeouts)
        return cv2.VideoCapture(self.target)

    def _open_once(self):
        """Open the capture and read its first frame: (capture, image), or (None, None) on failure."""
        for transport in self._transports:
            capture = self._new_capture(transport)
            if capture.isOpened():
                ok, image = capture.read()
                if ok and image is not None:
                    self._transports = [transport]  # reconnects go straight to what worked
                    return capture, image
            capture.release()
        return None, None

    def _open(self) -> None:
        capture, image = self._open_once()
        if capture is None:
            if self.target_kind == "device":
                raise DeviceNotFoundError(f"no camera at index {self.target}", hint=_camera_hint())
            if self.target_kind == "network":
                raise StreamError(
                    f"cannot open the stream {self.target} (no frame within {self.open_timeout_s:g} s)",
                    hint="check that the camera or server is up and that the URL plays in a player (ffplay URL)",
                )
            raise InputError(
                f"OpenCV cannot read a frame from {self.target}",
                hint="check that it is a video or image sequence that plays (ffprobe FILE), or re-encode it: "
                "ffmpeg -i IN -c:v libx264 OUT.mp4",
            )
        self._capture, self._first_image = capture, image
        self.source_fps = float(capture.get(require("cv2", "live", "reading video").CAP_PROP_FPS) or 0.0)

    def _run(self) -> None:
        image, self._first_image = self._first_image, None
        pace_fps = (self.fps or self.source_fps) if self.realtime else 0.0
        paced_start_ms, paced_frames = monotonic_ms(), 0
        failures = 0
        while not self._stop_event.is_set():
            if image is None:
                ok, image = self._capture.read()
                if not ok or image is None:
                    image, failures = None, failures + 1
                    if self.target_kind == "device" and failures < DEVICE_FAILURES_BEFORE_GIVING_UP:
                        self._stop_event.wait(0.05)
                        continue
                    image = self._recover()
                    if image is None:
                        return
                failures = 0
            if pace_fps > 0:
                due_ms = paced_start_ms + paced_frames * 1000.0 / pace_fps
                if self._stop_event.wait(max(0.0, due_ms - monotonic_ms()) / 1000.0):
                    return
                paced_frames += 1
            self._publish(image)
            image = None

    def _recover(self):
        """After a failed read: the next image from a reopened file or stream, or None to end."""
        if self.target_kind == "file":
            if not self.loop:
                return None  # end of file
            self._capture.release()
            self._capture, image = self._open_once()
            if self._capture is None:
                raise StreamError(f"cannot reopen {self.target} to loop it")
            return image
        if self.target_kind == "device" or not self.reconnect:
            what = "camera" if self.target_kind == "device" else "stream"
            raise StreamError(
                f"{self.description}: the {what} stopped delivering frames",
                hint="check the cable or the network; network sources reconnect when reconnect=True",
            )
        self._capture.release()
        self._capture = None
        backoff_s = FIRST_BACKOFF_S
        while not self._stop_event.wait(backoff_s):
            log.info("%s dropped; reconnecting", self.description)
            capture, image = self._open_once()
            if capture is not None:
                self._capture = capture
                self.reconnects += 1
                return image
            backoff_s = min(backoff_s * 2, self.max_backoff_s)
        return None

    def _release(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    @property
    def stats(self) -> dict:
        return {**super().stats, "source_fps": self.source_fps}


@contextlib.contextmanager
def _ffmpeg_options(options: str | None):
    if options is None:
        yield
        return
    with _FFMPEG_OPTIONS_LOCK:
        os.environ[FFMPEG_OPTIONS_VARIABLE] = options
        try:
            yield
        finally:
            del os.environ[FFMPEG_OPTIONS_VARIABLE]


def _file_exists(target: str) -> bool:
    if SEQUENCE_PATTERN.search(target):
        # The ffmpeg image-sequence reader starts at the first number it finds (0..4 by default).
        return bool(glob.glob(glob.escape(SEQUENCE_PATTERN.sub("\0", target)).replace("\0", "*")))
    return Path(target).is_file()


def _missing_file_hint(target: str) -> str:
    if SEQUENCE_PATTERN.search(target):
        return "an image sequence needs files that match the pattern, e.g. img_%04d.png -> img_0000.png, img_0001.png"
    return "check the path; a camera is a number (0), a network stream a URL (http://HOST/feed.mjpg, rtsp://...)"
