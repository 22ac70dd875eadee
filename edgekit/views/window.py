"""A desktop window showing annotated frames (cv2.imshow), with the checks that keep it from crashing.

OpenCV's GUI build aborts the whole process (SIGABRT, no exception) when it cannot reach a display, and
the headless build (edgekit's default dependency) has no windows at all. Both are checked before the
first imshow, and each gets one clear error.
"""

from __future__ import annotations

import os
import re
import socket

import numpy as np

from ..errors import EdgekitError, MissingDependencyError, require

QUIT_KEYS = (ord("q"), ord("Q"), 27)  # q or Esc


class NoDisplayError(EdgekitError, RuntimeError):
    """There is no display to open a window on."""


def display_reachable(display: str | None = None) -> bool:
    """True when the X display in ``display`` (default: $DISPLAY) accepts connections, or Wayland is set.

    Connecting to the X server's socket is what Qt would do first; doing it ourselves means a stale
    $DISPLAY gives an error instead of an abort.
    """
    if display is None and os.environ.get("WAYLAND_DISPLAY"):
        return True
    display = display if display is not None else os.environ.get("DISPLAY", "")
    match = re.fullmatch(r"(?P<host>[^:]*):(?P<number>\d+)(\.\d+)?", display or "")
    if not match:
        return False
    number = int(match["number"])
    try:
        if match["host"] in ("", "unix"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(1.0)
                probe.connect(f"/tmp/.X11-unix/X{number}")
        else:
            with socket.create_connection((match["host"], 6000 + number), timeout=1.0):
                pass
    except OSError:
        return False
    return True


def has_gui(cv2) -> bool:
    """True for an OpenCV build with a highgui backend (opencv-python), False for the headless build."""
    found = re.search(r"GUI: +(\S+)", cv2.getBuildInformation())
    return bool(found) and found[1] != "NONE"


class WindowView:
    """Shows frames in a window titled ``title``; ``show`` returns False once the user wants it closed.

    Raises:
        NoDisplayError: no reachable display ($DISPLAY unset or its X server not answering).
        MissingDependencyError: OpenCV missing, or the headless build (no windows).
    """

    def __init__(self, title: str = "edgekit"):
        if not display_reachable():
            shown = os.environ.get("DISPLAY") or "not set"
            raise NoDisplayError(
                f"no display to open a window on (DISPLAY is {shown})",
                hint="run headless (drop --window, or --headless in the demos) and watch in a browser with "
                "`edgekit serve MODEL --source SRC`; over ssh use `ssh -X`",
            )
        cv2 = require("cv2", "live", "showing a window")
        if not has_gui(cv2):
            raise MissingDependencyError(
                "this OpenCV is the headless build, which cannot open windows",
                hint="install the GUI build in a separate environment: pip install opencv-python (it conflicts "
                "with opencv-python-headless in one environment); or watch in a browser with `edgekit serve`",
            )
        self._cv2 = cv2
        self.title = title
        self._open = False

    def show(self, frame_bgr: np.ndarray) -> bool:
        """Draw ``frame_bgr`` and handle window events for 1 ms.

        Returns:
            False when q or Esc was pressed or the window was closed; True otherwise.
        """
        cv2 = self._cv2
        if self._open and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return False  # closed with the window manager's button
        cv2.imshow(self.title, frame_bgr)
        self._open = True
        key = cv2.waitKey(1)
        return key < 0 or (key & 0xFF) not in QUIT_KEYS

    def close(self) -> None:
        if self._open:
            self._cv2.destroyWindow(self.title)
            self._cv2.waitKey(1)
            self._open = False
