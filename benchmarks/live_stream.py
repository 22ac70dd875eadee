"""Live-stream figures for the zoo vision model, side by side in one run.

1. A 30 fps 640x480 MJPEG camera on 127.0.0.1 (a real HTTP server in a child process) → LiveRunner →
   ImageClassifier: processed fps, capture-to-result latency p50/p95 (capture = when the source's reader
   thread had the decoded frame), drops; target p95 <= two frame intervals + one inference.
2. Endurance: 20,000 frames read from a looping lossless video as fast as possible; resident memory
   (VmRSS) after a 1,000-frame warm-up and at the end; target growth <= 10 MB.

    python -m benchmarks.live_stream [--seconds 20] [--frames 20000] [--model PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edgekit import zoo
from edgekit.auto import create_task
from edgekit.live import LiveRunner
from edgekit.sources import open_source
from tests.support.live_fixtures import free_port, tcp_listening, wait_until, write_ffv1_video

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def inference_ms(model_path: Path, runs: int = 300) -> float:
    """p50 of the task alone on a 640x480 frame (IMAGE mode)."""
    task = create_task(model_path)
    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        task.classify(frame)
        times.append((time.perf_counter() - start) * 1000)
    task.close()
    return float(np.percentile(times, 50))


def live_camera(model_path: Path, seconds: float) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "live_fixtures.py"), "mjpeg", str(port), "30", "640", "480"],
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: tcp_listening(port), 15), "MJPEG server did not start"
        runner = LiveRunner(open_source(f"http://127.0.0.1:{port}/feed.mjpg"), duration_s=seconds)
        with create_task(model_path, running_mode="live_stream", result_callback=runner.on_result) as task:
            return runner.run(task).to_dict()
    finally:
        server.kill()
        server.wait()


class MemoryProbe:
    """A sink that samples resident memory at frame 1,000 (after warm-up) and keeps the last value."""

    def __init__(self):
        self.after_warmup = None
        self.last = None

    def handle(self, result, item, stats):
        if self.after_warmup is None and stats.results >= 1000:
            self.after_warmup = rss_mb()
        self.last = rss_mb() if stats.results % 500 == 0 else self.last

    def close(self):
        pass


def endurance(model_path: Path, frames: int, folder: Path) -> dict:
    # A moving gradient (noise would make FFV1 decoding, not edgekit, the bottleneck).
    ramp = np.linspace(0, 255, 640, dtype=np.float32)[None, :, None] * np.ones((480, 1, 3), np.float32)
    pictures = [np.roll(ramp, 11 * step, axis=1).astype(np.uint8) for step in range(60)]
    clip = write_ffv1_video(folder / "ramp.mkv", pictures, 30.0)
    probe = MemoryProbe()
    runner = LiveRunner(open_source(str(clip), loop=True), [probe], max_frames=frames)
    with create_task(model_path, running_mode="live_stream", result_callback=runner.on_result) as task:
        stats = runner.run(task).to_dict()
    stats["rss_after_warmup_mb"] = probe.after_warmup
    stats["rss_end_mb"] = rss_mb()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=zoo.path("fashion", "int8"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args()
    import tempfile

    infer = inference_ms(args.model)
    live = live_camera(args.model, args.seconds)
    target = 2 * 1000 / 30 + infer
    print(f"model {args.model.name}: frame → result in IMAGE mode p50 {infer:.2f} ms")
    print(
        f"30 fps 640x480 MJPEG camera, {args.seconds:.0f} s: {live['results_per_s']:.1f} results/s, "
        f"latency p50 {live['latency_ms_p50']:.1f} ms p95 {live['latency_ms_p95']:.1f} ms "
        f"(target <= {target:.1f} ms), dropped {live['dropped_by_task']} by the task, "
        f"{live['dropped_by_source']} by the source of {live['source'].get('frames_captured')} captured"
    )
    with tempfile.TemporaryDirectory() as folder:
        run = endurance(args.model, args.frames, Path(folder))
    growth = run["rss_end_mb"] - run["rss_after_warmup_mb"]
    print(
        f"endurance: {run['frames_read']} frames read, {run['results']} results in {run['elapsed_s']:.0f} s; "
        f"RSS {run['rss_after_warmup_mb']:.1f} MB after warm-up → {run['rss_end_mb']:.1f} MB at the end "
        f"(growth {growth:+.1f} MB, target <= 10 MB)"
    )


if __name__ == "__main__":
    main()
