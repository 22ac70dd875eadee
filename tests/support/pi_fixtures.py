"""The emulated Raspberry Pi the `pi` tests deploy to: arm64 Debian 12 under qemu-user, real systemd, sshd.

The golden image is built (or found in ~/.cache/edgekit-pi under a hash of its recipe) by
tests/pi/build-golden.sh; each test module boots a throw-away overlay of it with tests/pi/pi-fixture.sh.
If the image cannot be built, the tests fail with the reason; EDGEKIT_SKIP_PI=1 skips them instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

PI_DIR = Path(__file__).parent.parent / "pi"
ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "edgekit" / "zoo"
BASE = Path(os.environ.get("PI_BASE", Path.home() / ".cache" / "edgekit-pi"))
KEY = BASE / "ssh" / "id_ed25519"


def edgekit(*args: str, timeout_s: float = 1800) -> subprocess.CompletedProcess:
    """``python -m edgekit ARGS`` from this checkout, with a minimal environment (as a user's shell would have)."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home())}
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, timeout=timeout_s, env=env
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Pi:
    """A booted emulated Pi: ssh on 127.0.0.1:ssh_port as root with ``key``; its disk at ``root``."""

    name: str
    ssh_port: int
    golden: Path
    root: Path = Path()

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.ssh_port}"

    @property
    def key(self) -> str:
        return str(KEY)

    def _fixture(self, *args: str, timeout_s: float = 300) -> str:
        env = dict(os.environ, PI_GOLD=str(self.golden), PI_BASE=str(BASE))
        done = subprocess.run(
            [str(PI_DIR / "pi-fixture.sh"), *args], env=env, capture_output=True, text=True, timeout=timeout_s
        )
        if done.returncode != 0:
            raise RuntimeError(f"pi-fixture.sh {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def up(self) -> None:
        self.root = Path(self._fixture("up", self.name, str(self.ssh_port), "boot").splitlines()[-1])

    def reboot(self) -> None:
        """Power the Pi off and boot the same disk again."""
        self._fixture("stop", self.name)
        self.up()

    def down(self) -> None:
        self._fixture("down", self.name)

    def ssh(self, command: str, check: bool = True, timeout_s: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [
                "ssh",
                "-p",
                str(self.ssh_port),
                "-i",
                self.key,
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "root@127.0.0.1",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"on the Pi: {command!r} failed ({done.returncode}): {done.stderr}{done.stdout}")
        return done


def http_get(url: str, timeout_s: float = 5) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return response.status, response.read()


def wait_http(url: str, timeout_s: float = 180) -> bytes:
    """Poll until ``url`` answers 200; return the body (raises AssertionError after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            status, body = http_get(url)
            if status == 200:
                return body
        except OSError as error:
            last = error
        time.sleep(1)
    raise AssertionError(f"{url} did not answer in {timeout_s:.0f} s ({last})")


def build_golden(suite: str = "bookworm") -> Path:
    """The golden arm64 rootfs of ``suite`` (built once, cached under a hash of its recipe and suite)."""
    if os.environ.get("EDGEKIT_SKIP_PI") == "1":
        pytest.skip("EDGEKIT_SKIP_PI=1: the emulated Raspberry Pi tests are skipped")
    if os.geteuid() != 0:
        pytest.fail("the emulated Pi needs root (binfmt_misc, mounts, systemd-nspawn); EDGEKIT_SKIP_PI=1 skips")
    try:
        done = subprocess.run(
            [str(PI_DIR / "build-golden.sh")],
            capture_output=True,
            text=True,
            timeout=2700,
            env=dict(os.environ, PI_BASE=str(BASE), PI_SUITE=suite),
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"building the emulated Pi image ({suite}) took over 45 min (tests/pi/build-golden.sh)")
    if done.returncode != 0:
        pytest.fail(
            f"cannot build the emulated Pi image ({suite}, tests/pi/build-golden.sh): {done.stderr.strip()[-1500:]}"
        )
    return Path(done.stdout.strip().splitlines()[-1])


def boot(golden: Path, request) -> Pi:
    """Boot a throw-away overlay of ``golden`` for the requesting test module."""
    # systemd-nspawn machine names: letters, digits and dashes
    module = "".join(c if c.isalnum() else "-" for c in request.module.__name__.rsplit(".", 1)[-1])[-12:]
    device = Pi(name=f"t{os.getpid()}-{module}", ssh_port=free_port(), golden=golden)
    try:
        device.up()
    except RuntimeError as error:
        device.down()
        pytest.fail(str(error))
    return device


@pytest.fixture(scope="session")
def pi_golden() -> Path:
    """The golden Pi OS bookworm stand-in (Debian 12 arm64)."""
    return build_golden("bookworm")


@pytest.fixture(scope="module")
def pi(pi_golden, request):
    """A booted emulated Pi OS bookworm Pi for one test module (removed afterwards)."""
    device = boot(pi_golden, request)
    yield device
    device.down()


@pytest.fixture(scope="module")
def pi_trixie(request):
    """A booted emulated Pi OS trixie Pi (Debian 13 arm64, Python 3.13, apt numpy 2.2) for one test module."""
    device = boot(build_golden("trixie"), request)
    yield device
    device.down()


@pytest.fixture(scope="session")
def pi_video(tmp_path_factory) -> Path:
    """A short lossless video of a real photo (scikit-image's astronaut) panning: a deployed service's --source."""
    import cv2
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    path = tmp_path_factory.mktemp("media") / "astronaut.mkv"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10.0, (160, 120))
    for step in range(20):
        writer.write(cv2.resize(photo[step * 8 : step * 8 + 360, step * 8 : step * 8 + 480], (160, 120)))
    writer.release()
    return path
