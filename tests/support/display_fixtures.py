"""Real screens for the view tests: an Xvfb display, the GUI build of OpenCV in its own venv, and
Debian's Chromium driven by selenium. Each fixture skips with a reason when its tool is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

INTEROP = Path(__file__).parents[1] / "interop"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def xdisplay() -> Iterator[str]:
    """A 1024x768x24 Xvfb display (started here, stopped after); yields its name, e.g. ':97'.

    Xvfb picks the display number itself (-displayfd), so test sessions and other engineers' Xvfb
    servers running at the same time never race for one.
    """
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (apt install xvfb)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,),
    )  # fmt: skip
    os.close(write_end)
    try:
        # Xvfb writes the number once it accepts connections; EOF without it means it failed to start.
        with os.fdopen(read_end) as numbers:
            number = numbers.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="session")
def gui_python() -> str:
    """The python of a venv with OpenCV's GUI build (tests/interop/gui_env.sh; made once per machine).

    Making it needs the package index the first time; if that fails the tests fail (CI has it), unless
    EDGEKIT_SKIP_GUI_VENV=1 asks to skip them.
    """
    if os.environ.get("EDGEKIT_SKIP_GUI_VENV") == "1":
        pytest.skip("EDGEKIT_SKIP_GUI_VENV=1")
    # Made from this interpreter (the venv's python) unless PYTHON says otherwise: `python3` on PATH may be
    # a system Python without the venv module.
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    made = subprocess.run(["bash", str(INTEROP / "gui_env.sh")], env=env, capture_output=True, text=True, timeout=900)
    if made.returncode != 0:
        pytest.fail(
            "could not make the GUI OpenCV venv (EDGEKIT_SKIP_GUI_VENV=1 skips these tests):\n" + made.stderr[-3000:],
            pytrace=False,
        )
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture
def chromium() -> Iterator[object]:
    """Debian's headless Chromium through chromedriver (never a browser a test tool downloads)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed (apt)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="edgekit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1024,768",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def display_env(display: str) -> dict:
    return {**os.environ, "DISPLAY": display}
