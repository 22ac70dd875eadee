"""The window for real: OpenCV's GUI build (in its own venv) under Xvfb, a screenshot of the root window
compared with the frame that was shown, and the q key closing it; and the clear errors when there is no
display or only the headless build."""

from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.display_fixtures import INTEROP, display_env, gui_python, xdisplay  # noqa: F401
from tests.support.live_fixtures import wait_until

pytestmark = pytest.mark.display
ROOT = Path(__file__).resolve().parents[2]


def known_frame() -> np.ndarray:
    """A frame with colour blocks and a noise patch, so its position in a screenshot is unambiguous."""
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :160] = (0, 0, 255)
    frame[:120, 160:] = (0, 255, 0)
    frame[120:, 160:] = (255, 0, 0)
    frame[60:180, 100:220] = np.random.default_rng(0).integers(0, 256, (120, 120, 3), np.uint8)
    return frame


@pytest.mark.parametrize("key", ["q", "Escape"])
def test_window_shows_the_frame_and_a_key_closes_it(key, xdisplay, gui_python, tmp_path):  # noqa: F811
    import cv2

    for tool, package in (("import", "imagemagick"), ("xdotool", "xdotool")):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (apt install {package})")
    frame = known_frame()
    np.save(tmp_path / "frame.npy", frame)
    env = display_env(xdisplay) | {"PYTHONPATH": str(ROOT)}
    shown = subprocess.Popen(
        [gui_python, str(INTEROP / "show_window.py"), str(tmp_path / "frame.npy"), "edgekit-test"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in shown.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=30) == "shown"
        time.sleep(1.0)  # let the window map and paint
        shot = tmp_path / "screen.png"
        subprocess.run(["import", "-window", "root", str(shot)], env=env, check=True, timeout=30)
        screen = cv2.imread(str(shot))
        match = cv2.matchTemplate(screen, frame, cv2.TM_SQDIFF)
        _, _, (x, y), _ = cv2.minMaxLoc(match)
        shown_pixels = screen[y : y + 240, x : x + 320].astype(int)
        # 24-bit X server, 1:1 window: what was shown is what is on screen (measured: exactly equal).
        assert np.abs(shown_pixels - frame).max() <= 2
        windows = subprocess.run(
            ["xdotool", "search", "--name", "edgekit-test"], env=env, capture_output=True, text=True, timeout=10
        ).stdout.split()
        assert windows, "the window is not on the display"
        for window in windows:
            subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, timeout=10)
        subprocess.run(["xdotool", "key", key], env=env, check=True, timeout=10)
        assert wait_until(lambda: shown.poll() is not None, 10)
        assert shown.returncode == 0 and lines.get(timeout=5) == "closed"
    finally:
        if shown.poll() is None:
            shown.kill()
        shown.wait()


def run_window(python: str, display: str | None, **extra_env: str) -> subprocess.CompletedProcess:
    env = display_env(display or "") | {"PYTHONPATH": str(ROOT)}
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("QT_QPA_PLATFORM", None)
    if display is None:
        env.pop("DISPLAY")
    env.update(extra_env)
    code = "from edgekit.views.window import WindowView\ntry:\n    WindowView('x')\nexcept Exception as e:\n"
    code += "    print(type(e).__name__, e, '|', e.hint)\n    raise SystemExit(1)"
    return subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_no_display_is_a_clear_error_not_an_abort(gui_python):  # noqa: F811
    for display in (None, ":250"):  # unset, and set to a display that does not exist
        result = run_window(gui_python, display)
        assert result.returncode == 1, (result.returncode, result.stderr)  # not 134 (SIGABRT)
        assert "NoDisplayError no display to open a window on" in result.stdout and "edgekit serve" in result.stdout


def test_wayland_without_xwayland_is_refused_for_the_x11_only_wheel(gui_python):  # noqa: F811
    # The PyPI wheel's Qt ships only the xcb plugin: with WAYLAND_DISPLAY alone it would abort too.
    result = run_window(gui_python, None, WAYLAND_DISPLAY="wayland-0")
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "draws only on X11" in result.stdout


def test_without_the_check_opencv_aborts(gui_python, tmp_path):  # noqa: F811
    """Why the check exists: the GUI build's imshow with no display kills the process (SIGABRT)."""
    env = display_env("") | {"PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY")
    env.pop("WAYLAND_DISPLAY", None)
    code = "import cv2, numpy\ncv2.imshow('x', numpy.zeros((8, 8, 3), numpy.uint8))"
    result = subprocess.run([gui_python, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == -6, (result.returncode, result.stderr[-500:])  # -SIGABRT; 134 from a shell


def test_check_display_reads_the_environment(xdisplay):  # noqa: F811
    from edgekit.views.window import NoDisplayError, check_display

    check_display({"DISPLAY": xdisplay})  # a live Xvfb answers
    check_display({"QT_QPA_PLATFORM": "offscreen"})  # Qt draws without a desktop
    check_display({"WAYLAND_DISPLAY": "wayland-0"})  # a build whose plugins are unknown may use Wayland
    for environ in ({}, {"DISPLAY": "127.0.0.1:250"}, {"DISPLAY": "nonsense"}, {"DISPLAY": ":250"}):
        with pytest.raises(NoDisplayError, match="no display to open a window on") as error:
            check_display(environ)
        assert "edgekit serve" in error.value.hint


def test_the_headless_build_says_it_cannot_open_windows(xdisplay):  # noqa: F811
    result = run_window(sys.executable, xdisplay)
    assert result.returncode == 1
    assert "headless build" in result.stdout and "pip install opencv-python" in result.stdout
