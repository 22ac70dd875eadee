"""Raspberry Pi camera modules through Picamera2 (libcamera), imported only when this source starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InputError, MissingDependencyError
from ._errors import DeviceNotFoundError
from ._frames import ThreadedFrameSource


def import_picamera2() -> Callable[[int], Any]:
    """The Picamera2 class.

    Raises:
        MissingDependencyError: picamera2 (or the libcamera bindings it needs) cannot be imported.
    """
    try:
        from picamera2 import Picamera2
    except ImportError as error:
        raise MissingDependencyError(
            f"the Raspberry Pi camera needs Picamera2, which cannot be imported ({error})",
            hint="on Raspberry Pi OS: sudo apt install python3-picamera2, and create the venv with "
            "--system-site-packages so it sees libcamera; a USB camera works as source 0 without it",
        ) from error
    return Picamera2


class Picamera2Source(ThreadedFrameSource):
    """Frames from a Raspberry Pi camera module: newest frame, BGR, like every other camera.

    Args:
        camera_num: which camera (0 for the first).
        width, height: frame size the camera is configured for (default 640x480).
        fps: frame rate asked of the camera (its FrameRate control); None keeps the camera's default.
        camera_factory: builds the camera object from ``camera_num``; default: picamera2.Picamera2.
            Tests pass a stand-in here, as no test machine has a Pi camera.
    """

    def __init__(
        self,
        camera_num: int = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        camera_factory: Callable[[int], Any] | None = None,
    ):
        if fps is not None and fps <= 0:
            raise InputError(f"fps must be positive, got {fps!r}")
        super().__init__(f"picamera {camera_num}", width=width or 640, height=height or 480)
        self.camera_num, self.fps = camera_num, fps
        self._camera_factory = camera_factory
        self._camera = None

    def _open(self) -> None:
        factory = self._camera_factory or import_picamera2()
        try:
            camera = factory(self.camera_num)
        except (IndexError, RuntimeError, OSError) as error:  # what Picamera2 raises when there is no camera
            raise DeviceNotFoundError(
                f"no Raspberry Pi camera {self.camera_num} ({error})",
                hint="check the ribbon cable and `rpicam-hello --list-cameras`; a USB camera is source 0",
            ) from error
        controls = {"FrameRate": float(self.fps)} if self.fps else {}
        # libcamera's RGB888 is laid out B, G, R in memory: the same order OpenCV uses.
        config = camera.create_video_configuration(
            main={"size": (self.width, self.height), "format": "RGB888"}, controls=controls
        )
        camera.configure(config)
        camera.start()
        self._camera = camera

    def _run(self) -> None:
        while not self._stop_event.is_set():
            image = self._camera.capture_array("main")
            self._publish(image[:, :, :3])

    def _release(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
            finally:
                self._camera.close()
                self._camera = None
