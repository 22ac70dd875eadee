"""Raspberry Pi camera modules through Picamera2 (libcamera), imported only when this source starts."""

from __future__ import annotations

import math
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
            "--system-site-packages so it sees libcamera (edgekit deploy --source picamera does both for its "
            "service); a USB camera works as source 0 without it",
        ) from error
    return Picamera2


def choose_sensor_mode(
    modes: list[dict[str, Any]], width: int, height: int, fps: float | None = None
) -> dict[str, Any] | None:
    """The sensor mode to read a ``width``x``height`` stream from: the smallest one that still shows the
    whole field of view, is at least that large and reaches ``fps``.

    Small binned modes are fast and cool; a mode cropped to the sensor's centre (IMX219's 640x480) would
    zoom the picture, so full-view modes win. Falls back to the largest mode when none is big enough.

    Args:
        modes: ``Picamera2.sensor_modes`` (dicts with ``size``, ``fps``, ``crop_limits``, ``bit_depth``).
        width, height: the output size wanted.
        fps: the frame rate wanted (None: any).

    Returns:
        One of ``modes``, or None when there are none.
    """
    if not modes:
        return None
    full_width = max(m["crop_limits"][2] if m.get("crop_limits") else m["size"][0] for m in modes)

    def full_view(mode: dict[str, Any]) -> bool:
        crop = mode.get("crop_limits")
        return crop is None or crop[2] >= 0.95 * full_width

    def area(mode: dict[str, Any]) -> int:
        return mode["size"][0] * mode["size"][1]

    fitting = [
        m for m in modes
        if m["size"][0] >= width and m["size"][1] >= height and (fps is None or m.get("fps", fps) >= fps)
    ]  # fmt: skip
    preferred = [m for m in fitting if full_view(m)] or fitting
    return min(preferred, key=area) if preferred else max(modes, key=area)


DEFAULT_SIZE = (640, 480)  # what a web view or a window shows well; the ISP scales for free


def fit_output_size(
    modes: list[dict[str, Any]], model_size: tuple[int, int] | None, minimum: tuple[int, int] = DEFAULT_SIZE
) -> tuple[int, int]:
    """The camera's output size for a model: the sensor's aspect ratio, covering the model's input.

    The Pi's ISP scales in hardware, so asking it for a stream close to what the model needs saves the
    CPU a resize of a larger frame; but never below ``minimum`` (the view must stay watchable), and never
    a different aspect than the sensor's (libcamera would crop the field of view to get it).

    Args:
        modes: ``Picamera2.sensor_modes`` (the full-view size gives the aspect; 4:3 when unknown).
        model_size: (width, height) of the model's image input, or None.
        minimum: smallest (width, height) to ask for.

    Returns:
        (width, height), width a multiple of 32 and height even (what the ISP's output needs).
    """
    full = max((m.get("crop_limits") or (0, 0, *m["size"]))[2:4] for m in modes) if modes else (4, 3)
    aspect = full[0] / full[1]
    want_w, want_h = model_size or minimum
    want_w, want_h = max(want_w, minimum[0]), max(want_h, minimum[1])
    # within 1 % counts as the same aspect (IMX219 is 1.331, not 4:3): 640x480 stays 640x480
    height = want_h if want_w <= want_h * aspect * 1.01 else round(want_w / aspect)
    width = max(want_w, round(height * aspect))
    return math.ceil(width / 32) * 32, height + height % 2


class Picamera2Source(ThreadedFrameSource):
    """Frames from a Raspberry Pi camera module: newest frame, BGR, like every other camera.

    Args:
        camera_num: which camera (0 for the first).
        width, height: frame size the camera is configured for; default: fitted to ``model_size`` in the
            sensor's aspect (see :func:`fit_output_size`), at least 640x480.
        model_size: (width, height) of the model's image input, used when width and height are not given.
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
        model_size: tuple[int, int] | None = None,
    ):
        if fps is not None and fps <= 0:
            raise InputError(f"fps must be positive, got {fps!r}")
        super().__init__(f"picamera {camera_num}", width=width or DEFAULT_SIZE[0], height=height or DEFAULT_SIZE[1])
        self.camera_num, self.fps = camera_num, fps
        self._fit_to_model = model_size if not (width and height) else None
        self._camera_factory = camera_factory
        self._camera: Any = None  # a picamera2.Picamera2 once opened

    def _open(self) -> None:
        factory = self._camera_factory or import_picamera2()
        try:
            camera = factory(self.camera_num)
        except (IndexError, RuntimeError, OSError) as error:  # what Picamera2 raises when there is no camera
            raise DeviceNotFoundError(
                f"no Raspberry Pi camera {self.camera_num} ({error})",
                hint="check the ribbon cable and `rpicam-hello --list-cameras`; a USB camera is source 0",
            ) from error
        assert self.width is not None and self.height is not None  # __init__ gives them defaults
        controls = {"FrameRate": float(self.fps)} if self.fps else {}
        # The trap: libcamera names formats by word order, so its "RGB888" is laid out B, G, R in memory —
        # the order OpenCV and edgekit's frames use — and "BGR888" would be R, G, B. Ask for RGB888.
        modes = list(getattr(camera, "sensor_modes", None) or [])
        if self._fit_to_model is not None:
            self.width, self.height = fit_output_size(modes, self._fit_to_model)
        main = {"size": (self.width, self.height), "format": "RGB888"}
        mode = choose_sensor_mode(modes, self.width, self.height, self.fps)
        if mode is not None:  # a real Picamera2: pick the sensor mode, or libcamera may crop the view
            sensor = {"output_size": tuple(mode["size"]), "bit_depth": mode.get("bit_depth", 10)}
            config = camera.create_video_configuration(main=main, controls=controls, sensor=sensor)
        else:
            config = camera.create_video_configuration(main=main, controls=controls)
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
