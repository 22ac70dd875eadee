"""Soak: a long live run on a network stream whose server is killed and restarted every minute.

The run is the CLI's own path (``edgekit run MODEL --source tcp://...``, i.e. ``edgekit.cli.main.main``) in
this process, on a bundled vision model, reading MPEG-TS over TCP from ffmpeg (30 fps 320x240 test pattern,
``tcp://127.0.0.1:PORT?listen=1``). A supervisor thread SIGKILLs ffmpeg every ``--restart-s`` (60) seconds and
starts it again on the same port, so the camera source drops and reconnects once a minute. Each minute it
samples this process's resident memory (VmRSS), open file descriptors (/proc/self/fd) and threads (the
kernel's count, /proc/self/status, which includes OpenCV's and the interpreter's native threads; and
Python's ``threading.active_count()``).

Prints a table (one row per minute) and the growth from the first sample after warm-up (minute 1) to the
last: targets RSS growth <= 10 MB, file descriptors and threads flat. ``--json`` prints one JSON object.

    nice -n 10 python -m benchmarks.soak [--minutes 30] [--model PATH] [--json]

Needs ffmpeg on PATH. No network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "edgekit" / "zoo" / "imagenet_int8.tflite"


def rss_mb() -> float:
    return _status("VmRSS") / 1024


def native_threads() -> int:
    return _status("Threads")


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return -1


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class StreamServer:
    """ffmpeg sending a 30 fps MPEG-TS test pattern to the one TCP client that connects."""

    def __init__(self, port: int):
        self.port = port
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i",
                   "testsrc=size=320x240:rate=30", "-c:v", "mpeg2video", "-q:v", "4", "-g", "15", "-bf", "0",
                   "-f", "mpegts", f"tcp://127.0.0.1:{self.port}?listen=1"]  # fmt: skip
        # Not our process group: a Ctrl-C on the benchmark must not kill ffmpeg under the runner's feet.
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.starts += 1

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def sample(minute: float, counter: dict) -> dict:
    return {
        "minute": round(minute, 2),
        "rss_mb": round(rss_mb(), 1),
        "fds": open_fds(),
        "threads": native_threads(),
        "py_threads": threading.active_count(),
        "printed": counter["results"],
    }


class CountingOut(io.TextIOBase):
    """stdout during the run: counts the result lines PrintSink writes and keeps only the last one (the
    final statistics), so the capture itself does not grow."""

    def __init__(self, counter: dict):
        self.counter = counter
        self.partial = ""
        self.last = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        if lines:
            self.counter["results"] += len(lines)
            self.last = lines[-1]
        return len(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--restart-s", type=float, default=60.0, help="kill and restart the server this often")
    parser.add_argument("--sample-s", type=float, default=60.0, help="sample memory, fds and threads this often")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        print("error: ffmpeg is not on PATH\nhint: apt install ffmpeg", file=sys.stderr)
        return 1

    from edgekit.cli.main import main as edgekit_main

    port = free_port()
    server = StreamServer(port)
    server.start()
    deadline = time.monotonic() + 15
    while not listening(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    # (the probe connection above was ffmpeg's one client: restart so the runner is the client)
    server.kill()
    server.start()
    time.sleep(0.5)

    counter = {"results": 0}
    samples: list[dict] = []
    done = threading.Event()
    started = time.monotonic()

    def supervise() -> None:
        # restarts half a period off the samples, so each sample sees a stream that has run for a while
        next_restart, next_sample = started + args.restart_s / 2, started + args.sample_s
        samples.append(sample(0.0, counter))
        while not done.wait(0.2):
            now = time.monotonic()
            if now >= next_restart:
                server.kill()  # SIGKILL mid-stream
                time.sleep(0.5)
                server.start()
                next_restart += args.restart_s
            if now >= next_sample:
                samples.append(sample((now - started) / 60, counter))
                if not args.json:
                    print(_row(samples[-1]), file=sys.__stdout__, flush=True)
                next_sample += args.sample_s

    supervisor = threading.Thread(target=supervise, name="soak-supervisor", daemon=True)
    if not args.json:
        print(_header(), flush=True)
    supervisor.start()
    argv = ["run", str(args.model), "--source", f"tcp://127.0.0.1:{port}", "--duration", str(args.minutes * 60 + 5)]
    argv += ["--threads", "1", "--json", "--log-interval", "1"]
    captured = CountingOut(counter)
    try:
        with contextlib.redirect_stdout(captured):
            code = edgekit_main(argv)
    finally:
        done.set()
        supervisor.join(5)
        server.kill()
    closed = sample((time.monotonic() - started) / 60, counter)  # after the run: task and source closed
    last = captured.last
    stats = json.loads(last) if last.startswith("{") and '"elapsed_s"' in last else {}
    report = summarise(samples, stats, server.starts, code)
    report["after_close"] = closed
    if args.json:
        print(json.dumps(report))
    else:
        print(_summary(report))
        print(f"after the run (task, source closed): {_row(closed).strip()}")
    return 0 if code == 0 else 1


def summarise(samples: list[dict], stats: dict, starts: int, code: int) -> dict:
    warm = samples[1] if len(samples) > 2 else samples[0]  # minute 1: model, decoder and buffers warmed up
    last = samples[-1]
    rss = [s["rss_mb"] for s in samples[1:]] or [samples[0]["rss_mb"]]
    return {
        "exit_code": code,
        "minutes": last["minute"],
        "server_starts": starts,
        "reconnects": (stats.get("source") or {}).get("reconnects"),
        "results": stats.get("results"),
        "results_per_s": stats.get("results_per_s"),
        "rss_mb_start": samples[0]["rss_mb"],
        "rss_mb_after_warmup": warm["rss_mb"],
        "rss_mb_end": last["rss_mb"],
        "rss_mb_max": max(rss),
        "rss_growth_mb": round(last["rss_mb"] - warm["rss_mb"], 1),
        "fds_after_warmup": warm["fds"],
        "fds_end": last["fds"],
        "fds_max": max(s["fds"] for s in samples[1:] or samples),
        "threads_after_warmup": warm["threads"],
        "threads_end": last["threads"],
        "threads_max": max(s["threads"] for s in samples[1:] or samples),
        "samples": samples,
    }


def _header() -> str:
    return f"{'minute':>7} {'RSS MB':>8} {'fds':>5} {'threads':>8} {'py thr':>7} {'printed':>8}"


def _row(s: dict) -> str:
    return (
        f"{s['minute']:7.2f} {s['rss_mb']:8.1f} {s['fds']:5d} {s['threads']:8d} {s['py_threads']:7d} {s['printed']:8d}"
    )


def _summary(r: dict) -> str:
    return (
        f"{r['minutes']:.1f} min, server killed and restarted {r['server_starts'] - 2} times, "
        f"{r['reconnects']} reconnects, {r['results']} results ({r['results_per_s']}/s), exit {r['exit_code']}\n"
        f"RSS: {r['rss_mb_after_warmup']} MB at minute 1 -> {r['rss_mb_end']} MB at the last minute "
        f"(growth {r['rss_growth_mb']:+.1f} MB, max {r['rss_mb_max']} MB; target <= 10 MB)\n"
        f"fds: {r['fds_after_warmup']} -> {r['fds_end']} (max {r['fds_max']}); "
        f"threads: {r['threads_after_warmup']} -> {r['threads_end']} (max {r['threads_max']})"
    )


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    raise SystemExit(main())
