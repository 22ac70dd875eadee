"""Newest-frame latency of CameraSource's reader thread on a 30 fps 640x480 MJPEG stream (127.0.0.1).

Starts the test suite's MJPEG server (tests/support/live_fixtures.py), then for a consumer that takes 0 / 50 /
150 ms per frame (think: inference) prints how old the content of each frame is when the consumer gets
it, for CameraSource and for a plain cv2.VideoCapture read loop (no thread, frames queue in the socket).
Content age = now - when the server drew that frame (the server's frame serial is drawn in the image).

    python -m benchmarks.camera_source [--seconds 4] [--fps 30] [--width 640] [--height 480]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edgekit.sources import CameraSource, monotonic_ms
from tests.support.live_fixtures import MjpegServer, read_serial

TESTS = Path(__file__).resolve().parents[1] / "tests"


def estimate_server_start_ms(url: str, fps: float) -> float:
    """When the server drew serial 0, on our monotonic clock (same machine): min over arrivals - serial/fps."""
    import cv2

    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    estimates = []
    for _ in range(int(fps)):
        ok, image = capture.read()
        if ok:
            estimates.append(monotonic_ms() - read_serial(image) * 1000.0 / fps)
    capture.release()
    return min(estimates)


def run_camera_source(url: str, work_ms: float, seconds: float, start_ms: float, fps: float) -> dict:
    ages, handover = [], []
    with CameraSource(url) as camera:
        camera.read(timeout_s=5)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            frame = camera.read(timeout_s=5)
            now = monotonic_ms()
            handover.append(now - frame.timestamp_ms)
            ages.append(now - (start_ms + read_serial(frame.image) * 1000.0 / fps))
            time.sleep(work_ms / 1000.0)
        stats = camera.stats
    return {
        "ages": ages,
        "handover": handover,
        "delivered": stats["frames_delivered"],
        "dropped": stats["frames_dropped"],
    }


def run_plain_capture(url: str, work_ms: float, seconds: float, start_ms: float, fps: float) -> dict:
    import cv2

    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    capture.read()
    ages = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ok, image = capture.read()
        if not ok:
            break
        ages.append(monotonic_ms() - (start_ms + read_serial(image) * 1000.0 / fps))
        time.sleep(work_ms / 1000.0)
    capture.release()
    return {"ages": ages, "handover": [], "delivered": len(ages), "dropped": 0}


def summary(values: list[float]) -> str:
    if not values:
        return "        -"
    return f"{np.median(values):6.1f} / {np.percentile(values, 95):6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per row")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    server = MjpegServer(args.fps, args.width, args.height).start()
    try:
        start_ms = estimate_server_start_ms(server.url, args.fps)
        print(f"MJPEG {args.width}x{args.height} at {args.fps:g} fps on 127.0.0.1; ms as median / p95")
        print(f"{'reader':<16}{'work ms':>8}{'content age ms':>18}{'hand-over ms':>18}{'delivered':>10}{'dropped':>9}")
        for work_ms in (0.0, 50.0, 150.0):
            for name, runner in (("CameraSource", run_camera_source), ("cv2 read loop", run_plain_capture)):
                row = runner(server.url, work_ms, args.seconds, start_ms, args.fps)
                print(
                    f"{name:<16}{work_ms:>8.0f}{summary(row['ages']):>18}{summary(row['handover']):>18}"
                    f"{row['delivered']:>10}{row['dropped']:>9}"
                )
    finally:
        server.kill()


if __name__ == "__main__":
    main()
