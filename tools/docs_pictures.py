"""Regenerate the README's pictures: docs/report_card.png and docs/web_view.png.

    PYTHONPATH=. .venv/bin/python tools/docs_pictures.py [--out docs] [--only report|web]

- ``report_card.png``: the figures of the ``report.html`` that ``edgekit convert`` writes for the digits
  model (trained here on scikit-learn's digits, a few seconds) exported in all five TFLite recipes with
  labelled data: size against latency per recipe (recommended and dominated ones marked) and the
  recommended recipe's confusion matrix, screenshotted in headless Chromium.
- ``web_view.png``: the live page of ``edgekit serve`` on the bundled ``fashion`` model and a short
  video of Fashion-MNIST test images (apt: dataset-fashion-mnist), with the model-input inset.

Needs the convert, live and test extras and Debian's chromium + chromium-driver (as the view tests).
Figures depend on the machine (latencies); the pictures show what a user sees, not fixed numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@contextlib.contextmanager
def chromium(width: int = 1100, height: int = 800) -> Iterator[object]:
    """Debian's headless Chromium through chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="edgekit-docs-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars"]
    flags += ["--disable-background-networking", f"--user-data-dir={profile}", f"--window-size={width},{height}"]
    for flag in flags:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def edgekit(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgekit", *args]


def digits_export(work: Path) -> Path:
    """Train digits, export all five recipes with labelled data; returns the report.html."""
    from converters.zoo.digits import train

    data = work / "digits"
    if not (data / "digits.keras").exists():
        train(data, epochs=30, seed=0)
    labelled = data / "labelled"  # class folders (the accuracy column and the confusion matrix need labels)
    if not labelled.exists():
        for image in sorted((data / "test").glob("*.png")):
            folder = labelled / image.stem.split("label")[1]
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(image, folder / image.name)
    out = work / "exports"
    out.mkdir(exist_ok=True)
    subprocess.run(
        edgekit("convert", str(data / "digits.keras"), "--quantize", "all", "--calibration", str(labelled),
                "--labels", str(data / "labels.txt"), "-o", str(out), "--overwrite"),
        check=True, cwd=ROOT,
    )  # fmt: skip
    return out / "report.html"


def report_card(out: Path, work: Path) -> Path:
    from selenium.webdriver.common.by import By

    report = digits_export(work)
    with chromium(1200, 1400) as browser:  # tall enough that the figures are in view whole
        browser.get(report.as_uri())
        figures = browser.find_element(By.ID, "figures")
        out.write_bytes(figures.screenshot_as_png)
    print(f"{out} ({out.stat().st_size / 1e3:.0f} kB) from {report} ({report.stat().st_size / 1e3:.0f} kB)")
    return out


def fashion_video(path: Path, count: int = 8, seconds_each: float = 4.0, fps: float = 10.0) -> Path:
    """Fashion-MNIST test images, one per class, each shown for ``seconds_each`` at 448x448 (FFV1)."""
    import cv2

    from converters.zoo.fashion import load

    images, labels = load("t10k")
    picks = [int(np.flatnonzero(labels == label)[0]) for label in range(count)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (448, 448))
    for index in picks:
        frame = cv2.resize(images[index][:, :, ::-1], (448, 448), interpolation=cv2.INTER_NEAREST)
        for _ in range(int(seconds_each * fps)):
            writer.write(frame)
    writer.release()
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return True
        time.sleep(0.2)
    return False


def web_view(out: Path, work: Path) -> Path:
    from selenium.webdriver.common.by import By

    from edgekit import zoo

    video = fashion_video(work / "fashion.mkv")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen(
        edgekit("serve", str(zoo.path("fashion")), "--source", str(video), "--loop", "--port", str(port)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        if not wait_for(lambda: urllib.request.urlopen(url + "healthz", timeout=1).status == 200, 60):
            problem = server.stderr.read().decode() if server.poll() is not None else "no answer in 60 s"
            raise SystemExit(f"edgekit serve did not come up: {problem}")
        with chromium(960, 720) as browser:
            browser.get(url)
            inset = browser.find_element(By.ID, "model-input")
            shown = wait_for(lambda: browser.execute_script("return arguments[0].naturalWidth", inset) > 0, 30)
            wait_for(lambda: browser.find_element(By.ID, "results").text.strip() != "", 30)
            if not shown:
                raise SystemExit("the page never showed the model input inset")
            # Shoot in the middle of an item (2 s after the answer changed), when the video, the inset
            # and the answer all show the same item.
            first = browser.find_element(By.ID, "results").text
            wait_for(lambda: browser.find_element(By.ID, "results").text.split("\n")[0] != first.split("\n")[0], 10)
            time.sleep(2.0)
            out.write_bytes(browser.get_screenshot_as_png())
    finally:
        server.terminate()
        server.wait(20)
    print(f"{out} ({out.stat().st_size / 1e3:.0f} kB)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (docs/)")
    parser.add_argument("--only", choices=("report", "web"), help="make one picture only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgekit-docs-") as temporary:
        work = Path(temporary)
        if args.only in (None, "report"):
            report_card(args.out / "report_card.png", work)
        if args.only in (None, "web"):
            web_view(args.out / "web_view.png", work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
