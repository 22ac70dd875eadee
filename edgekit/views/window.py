"""A desktop window that shows frames (OpenCV highgui), with the checks that keep it from aborting.

Two facts shape this module (both measured on Debian 12 with the PyPI wheels):

- edgekit depends on ``opencv-python-headless``, which has no highgui: ``cv2.imshow`` raises. The GUI
  build, ``opencv-python``, owns the same ``cv2/`` folder, so the two cannot share an environment.
- The GUI build with no X display does not raise: Qt prints "could not connect to display" and the
  process aborts (SIGABRT, exit status 134). So the display is checked before the first window opens.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import EdgekitError, InputError, MissingDependencyError, require

QUIT_KEYS = (ord("q"), ord("Q"), 27)  # q and Esc
KEY_WAIT_MS = 1  # waitKey both reads keys and runs the GUI event loop; 1 ms keeps a video's pace
# Qt platforms that draw without a desktop session (Raspberry Pi console, VNC, tests).
QT_PLATFORMS_WITHOUT_DESKTOP = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")
_HEADLESS_HINT = (
    "run without a window (no --window; --headless in the demos) and watch in a browser with `edgekit serve`; "
    "for windows, install the GUI build of "
    "OpenCV in a separate environment that does not have opencv-python-headless: pip install opencv-python "
    "(the two wheels both own cv2/ and conflict)"
)


class NoDisplayError(EdgekitError, RuntimeError):
    """A window was asked for but there is no display to open it on."""


def opencv_has_gui(cv2) -> bool:
    """Whether this OpenCV build can open windows (the GUI build; the headless build says ``GUI: NONE``).

    Args:
        cv2: the imported ``cv2`` module.

    Returns:
        True for a build with a highgui backend (Qt, GTK, Win32, Cocoa).
    """
    found = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return found is not None and found[1].upper() != "NONE"


def check_display(environ: Mapping[str, str] | None = None, cv2_dir: str | Path | None = None) -> None:
    """Raise NoDisplayError unless a window can be opened here without aborting the process.

    On Linux this needs ``DISPLAY`` naming an X server that accepts connections (or ``WAYLAND_DISPLAY``
    when the OpenCV build can draw on Wayland; the PyPI wheel's Qt has only the X11 plugin). Windows and
    macOS always have a display.

    Args:
        environ: the environment to check (default ``os.environ``).
        cv2_dir: the ``cv2`` package folder, to see which Qt platform plugins it ships (default: none known).

    Raises:
        NoDisplayError: no display, or the named X server does not answer.
    """
    if environ is None:
        environ = os.environ
    if not sys.platform.startswith("linux"):
        return
    if environ.get("QT_QPA_PLATFORM", "").split(":")[0] in QT_PLATFORMS_WITHOUT_DESKTOP:
        return
    display = environ.get("DISPLAY", "")
    if display:
        if not _x_server_answers(display):
            raise NoDisplayError(
                f"no display to open a window on: DISPLAY={display} is set but no X server answers there "
                "(OpenCV would abort the process)",
                hint="start the X server or fix DISPLAY (over ssh: ssh -X); or run without a window "
                "(no --window; --headless in the demos) and watch in a browser with `edgekit serve`",
            )
        return
    wayland = environ.get("WAYLAND_DISPLAY", "")
    if wayland and not _only_x11_plugin(cv2_dir):
        return
    reason = "WAYLAND_DISPLAY is set but this OpenCV's Qt draws only on X11 (DISPLAY is not set: no XWayland)"
    raise NoDisplayError(
        f"no display to open a window on: {reason if wayland else 'DISPLAY is not set'} "
        "(OpenCV would abort the process)",
        hint="run without a window (no --window; --headless in the demos) and watch the results in a browser, "
        "also from a phone, with `edgekit serve MODEL --source SRC`",
    )


def _x_server_answers(display: str, timeout_s: float = 1.0) -> bool:
    """Connect to the X server named by DISPLAY ("[host]:number[.screen]") the way Xlib would."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        # Xlib tries the abstract socket first (Xvfb and Xorg listen on both), then the file.
        for address in ("\0/tmp/.X11-unix/X" + number, "/tmp/.X11-unix/X" + number):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(timeout_s)
                try:
                    probe.connect(address)
                    return True
                except OSError:
                    continue
        return False
    try:
        socket.create_connection((host, 6000 + int(number)), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _only_x11_plugin(cv2_dir: str | Path | None) -> bool:
    if cv2_dir is None:
        return False
    platforms = Path(cv2_dir) / "qt" / "plugins" / "platforms"
    plugins = {path.name for path in platforms.glob("*.so")} if platforms.is_dir() else set()
    return plugins == {"libqxcb.so"}


class WindowView:
    """Show frames in a desktop window; ``show`` says when the user wants to stop.

    Use as a context manager, or call ``close()``. Frames are shown 1:1 (no scaling, no toolbar).

    Args:
        title: the window title (also OpenCV's window name: two views need two titles).

    Raises:
        MissingDependencyError: OpenCV is missing, or it is the headless build (no windows).
        NoDisplayError: there is no display to open the window on.
    """

    def __init__(self, title: str = "edgekit"):
        try:
            cv2 = require("cv2", "live", "showing a window")
        except MissingDependencyError as exc:
            raise MissingDependencyError(str(exc), hint="pip install opencv-python (the GUI build of OpenCV)") from exc
        if not opencv_has_gui(cv2):
            raise MissingDependencyError(
                "cannot open a window: this environment has the headless build of OpenCV "
                "(opencv-python-headless), which has no windows",
                hint=_HEADLESS_HINT,
            )
        check_display(cv2_dir=Path(cv2.__file__).parent)
        self.title = title
        self._cv2 = cv2
        self._opened = False

    def show(self, frame_bgr: np.ndarray) -> bool:
        """Show one frame and handle the window's events for ``KEY_WAIT_MS``.

        Args:
            frame_bgr: uint8 image, (height, width, 3) BGR or (height, width) grey.

        Returns:
            False once the user pressed q or Esc or closed the window (and the window is gone), else True.

        Raises:
            InputError: the frame is not a uint8 image.
        """
        frame = np.asarray(frame_bgr)
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
            raise InputError(f"a window shows uint8 BGR or grey images, got dtype {frame.dtype} shape {frame.shape}")
        cv2 = self._cv2
        if not self._opened:
            # GUI_NORMAL: no Qt toolbar or status bar, so the window holds exactly the frame's pixels.
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
            self._opened = True
        elif cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return self._closed()  # closed with the window's close button since the last frame
        cv2.imshow(self.title, frame)
        key = cv2.waitKey(KEY_WAIT_MS)
        if key != -1 and (key & 0xFF) in QUIT_KEYS:
            return self._closed()
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return self._closed()
        return True

    def _closed(self) -> bool:
        self.close()
        return False

    def close(self) -> None:
        """Close the window (safe to call more than once, and after the user closed it)."""
        if not self._opened:
            return
        self._opened = False
        try:
            self._cv2.destroyWindow(self.title)
            self._cv2.waitKey(1)  # lets the GUI loop actually remove the window
        except self._cv2.error:
            pass  # already destroyed by the user

    def __enter__(self) -> WindowView:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
