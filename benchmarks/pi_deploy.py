"""Bundle sizes and a timed `edgekit deploy` to an emulated Raspberry Pi (arm64 Debian 12 under qemu-user).

Prints: the online and offline bundle sizes for one zoo model (targets: online <= 10 MB, offline <= 80 MB with
its runtime), every deploy step with its time to a booted, ssh-ready emulated Pi (target: total < 3 min with an
offline bundle; most of it is qemu), and the on-Pi output check of every bundled model (target: 100 % agree,
int8 identical, float within 1e-4). Needs root; builds the Pi image on first use (tests/pi/build-golden.sh).
Emulated times say nothing about a real Pi's speed.

    sudo python benchmarks/pi_deploy.py [--model edgekit/zoo/fashion_int8.tflite] [--target pi-bookworm]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PI = REPO / "tests" / "pi"
BASE = Path(os.environ.get("PI_BASE", Path.home() / ".cache" / "edgekit-pi"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pattern_video(path: Path, frames: int = 30) -> Path:
    """A short lossless video of moving stripes (the service's source; content does not matter here)."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, (160, 120))
    x = np.arange(160, dtype=np.float32)
    for step in range(frames):
        row = (127 + 120 * np.sin((x + 6 * step) / 9.0)).astype(np.uint8)
        writer.write(np.dstack([np.tile(row, (120, 1))] * 3))
    writer.release()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / "edgekit" / "zoo" / "fashion_int8.tflite"))
    parser.add_argument("--target", default="pi-bookworm")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("pi_deploy: the emulated Pi needs root (binfmt_misc, mounts, systemd-nspawn); nothing measured")
        return 0
    from edgekit.deploy.bundle import BundleOptions, bundle_size_bytes, make_bundle
    from edgekit.deploy.service import deploy

    work = Path(tempfile.mkdtemp(prefix="edgekit-pi-bench-"))
    video = pattern_video(work / "stripes.mkv")
    port = free_port()
    options = dict(target=args.target, source=str(video), port=port, name="bench")
    started = time.monotonic()
    make_bundle([args.model], work / "online.tar.gz", BundleOptions(**options))
    online_s = time.monotonic() - started
    started = time.monotonic()
    make_bundle([args.model], work / "offline.tar.gz", BundleOptions(**options, offline=True))
    offline_s = time.monotonic() - started
    make_bundle([args.model], work / "offline", BundleOptions(**options, offline=True))
    print(f"model: {Path(args.model).name}, target {args.target}")
    print(f"online bundle (.tar.gz):  {bundle_size_bytes(work / 'online.tar.gz') / 1e6:6.1f} MB  ({online_s:.1f} s)")
    print(f"offline bundle (.tar.gz): {bundle_size_bytes(work / 'offline.tar.gz') / 1e6:6.1f} MB  ({offline_s:.1f} s)")
    print(f"offline bundle (folder):  {bundle_size_bytes(work / 'offline') / 1e6:6.1f} MB")

    started = time.monotonic()
    golden = subprocess.run([str(PI / "build-golden.sh")], capture_output=True, text=True, check=True)
    gold = golden.stdout.strip().splitlines()[-1]
    print(f"golden Pi image: {gold} ({time.monotonic() - started:.1f} s; cached after the first build)")
    env = dict(os.environ, PI_GOLD=gold, PI_BASE=str(BASE))
    ssh_port, name = free_port(), f"bench{os.getpid()}"
    started = time.monotonic()
    subprocess.run([str(PI / "pi-fixture.sh"), "up", name, str(ssh_port), "boot"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    print(f"emulated Pi booted, ssh ready: {time.monotonic() - started:.1f} s")
    try:
        url, key = f"ssh://root@127.0.0.1:{ssh_port}", str(BASE / "ssh" / "id_ed25519")
        print("deploy (offline bundle) to a ready emulated Pi:")
        summary = deploy(str(work / "offline"), url, key=key)
        print(f"deploy total: {summary['total_s']:.1f} s (target < 180 s)")
        again = deploy(str(work / "offline"), url, key=key)
        print(f"redeploy unchanged: {again['total_s']:.1f} s, changed={again['changed']}")
        models = sorted(str(p) for p in (REPO / "edgekit" / "zoo").glob("*.tflite"))
        make_bundle(models, work / "zoo", BundleOptions(target=args.target, source="0", offline=True, name="zoo"))
        subprocess.run(["scp", "-q", "-r", "-P", str(ssh_port), "-i", key, "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", str(work / "zoo"), "root@127.0.0.1:/tmp/zoo"],
                       check=True)  # fmt: skip
        done = subprocess.run(["ssh", "-p", str(ssh_port), "-i", key, "-o", "StrictHostKeyChecking=no",
                               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "root@127.0.0.1",
                               "/tmp/zoo/install.sh --no-start"], capture_output=True, text=True)  # fmt: skip
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        agree = sum(row["ok"] for row in rows)
        print(f"on-Pi output check, every bundled model: {agree}/{len(rows)} agree "
              f"({100 * agree / max(1, len(rows)):.0f} %)")  # fmt: skip
        for row in rows:
            print(f"  {row['model']:<24} max |diff| {row['max_abs_diff']:.1e}  integers equal {row['integer_equal']}"
                  f"  ({row['interpreter']}, numpy {row['numpy']})")  # fmt: skip
    finally:
        subprocess.run([str(PI / "pi-fixture.sh"), "down", name], env=env, capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
