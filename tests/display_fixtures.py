"""Real screens for the view tests: an Xvfb display, the GUI build of OpenCV in its own venv, and
Debian's Chromium driven by selenium. Each fixture skips with a reason when its tool is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_fixtures import wait_until

INTEROP = Path(__file__).parent / "interop"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def xdisplay() -> Iterator[str]:
    """A 1024x768x24 Xvfb display on a free number (started here, stopped after); yields e.g. ':97'."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (apt install xvfb)")
    number = next(n for n in range(97, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    display = f":{number}"
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: Path(f"/tmp/.X11-unix/X{number}").exists(), 10.0), "Xvfb did not start"
        yield display
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="session")
def gui_python() -> str:
    """The python of a venv with OpenCV's GUI build (tests/interop/gui_env.sh; made once per machine)."""
    made = subprocess.run(["bash", str(INTEROP / "gui_env.sh")], capture_output=True, text=True, timeout=900)
    if made.returncode != 0:
        pytest.skip(f"cannot make the GUI OpenCV venv: {made.stderr.strip()[-300:]}")
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
