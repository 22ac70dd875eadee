"""Where a bundle can run: the platforms edgekit deploys to and the runtime pinned for each.

The pins were measured, not guessed (see README "Raspberry Pi"):

- Raspberry Pi OS bookworm (Debian 12, Python 3.11, glibc 2.36) ships numpy 1.24 system-wide, and apt's
  ``python3-picamera2``/``simplejpeg`` are built against it. A venv made with ``--system-site-packages`` (needed
  to see Picamera2) must not get numpy 2, or those modules fail with "numpy.dtype size changed". ai-edge-litert
  2.2+ requires ml_dtypes, whose 0.6+ releases require numpy >= 2, so bookworm pins ml_dtypes 0.5.4 (numpy >= 1.23)
  and OpenCV 4.11 (the last release that accepts numpy 1.x); numpy itself is capped below 2.
- Pi OS trixie (Debian 13, Python 3.13) has numpy 2.2: the current releases fit.
- 32-bit Pi OS (armv7l): ai-edge-litert publishes no armv7l wheels. The only TFLite runtime with armv7l wheels is
  tflite-runtime 2.14.0 (its last release, 2023, cp39-cp311, manylinux_2_34_armv7l): older operator versions only and
  no XNNPACK by default. edgekit refuses the target and points to the 64-bit OS, which runs on every Pi from the 3 on.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError, UnsupportedModelError


@dataclass(frozen=True)
class Target:
    """A platform a bundle installs on.

    Attributes:
        name: the ``--target`` value.
        machine: ``uname -m`` of the platform.
        python: the Python version its system interpreter has (for offline wheels).
        glibc: the newest manylinux glibc the platform runs (wheels tagged up to it are accepted).
        requirements: pinned runtime packages installed into the venv (edgekit itself is copied, not installed).
        description: one line for the bundle's README.
    """

    name: str
    machine: str
    python: str
    glibc: tuple[int, int]
    requirements: tuple[str, ...]
    description: str

    def platform_tags(self) -> list[str]:
        """Every manylinux tag pip must accept for this platform (``_2_17`` alone picks stale wheels)."""
        major, newest = self.glibc
        tags = [f"manylinux_{major}_{minor}_{self.machine}" for minor in range(17, newest + 1)]
        return tags + [f"manylinux2014_{self.machine}", f"linux_{self.machine}"]


_NUMPY1_STACK = (
    "ai-edge-litert==2.3.0",
    "ml_dtypes==0.5.4",
    "numpy>=1.23.5,<2",
    "flatbuffers>=23.5",
    "opencv-python-headless==4.11.0.86",
)
_NUMPY2_STACK = (
    "ai-edge-litert==2.3.0",
    "numpy>=2,<3",
    "flatbuffers>=23.5",
    "opencv-python-headless==4.12.0.88",
)

TARGETS: dict[str, Target] = {
    "pi-bookworm": Target(
        "pi-bookworm",
        "aarch64",
        "3.11",
        (2, 36),
        _NUMPY1_STACK,
        "Raspberry Pi OS bookworm 64-bit (Debian 12, Python 3.11); keeps the system numpy 1.24",
    ),
    "pi-trixie": Target(
        "pi-trixie",
        "aarch64",
        "3.13",
        (2, 41),
        _NUMPY2_STACK,
        "Raspberry Pi OS trixie 64-bit (Debian 13, Python 3.13, numpy 2)",
    ),
    "linux-aarch64": Target(
        "linux-aarch64", "aarch64", "3.11", (2, 36), _NUMPY2_STACK, "64-bit ARM Linux, Python 3.11, glibc >= 2.27"
    ),
    "linux-x86_64": Target(
        "linux-x86_64", "x86_64", "3.11", (2, 36), _NUMPY2_STACK, "x86-64 Linux, Python 3.11, glibc >= 2.27"
    ),
}

ARMV7_REASON = (
    "32-bit Raspberry Pi OS (armv7l) is not supported: ai-edge-litert has no armv7l wheels, and the only TFLite "
    "runtime that has them, tflite-runtime 2.14.0 (2023, its last release), lacks newer operator versions and XNNPACK"
)
ARMV7_HINT = (
    "install Raspberry Pi OS (64-bit) — it runs on the Pi 3, 4, 5 and Zero 2 W — and deploy with --target pi-bookworm "
    "or pi-trixie"
)


def get_target(name: str) -> Target:
    """The target called ``name``.

    Raises:
        UnsupportedModelError: a 32-bit Pi OS target (with the reason and the 64-bit alternative).
        InputError: an unknown name.
    """
    if name in TARGETS:
        return TARGETS[name]
    if name in ("pi-bookworm-armhf", "pi-armhf", "armv7l", "linux-armv7l", "pi-32bit"):
        raise UnsupportedModelError(ARMV7_REASON, hint=ARMV7_HINT)
    raise InputError(f"unknown target {name!r}", hint="choose one of " + ", ".join(TARGETS))


def detect_target(machine: str, codename: str, python_version: str) -> Target:
    """The target matching what a remote machine reports.

    Args:
        machine: ``uname -m`` (aarch64, x86_64, armv7l…).
        codename: ``VERSION_CODENAME`` from /etc/os-release (bookworm, trixie…).
        python_version: ``python3 --version`` digits, e.g. "3.11.2".

    Raises:
        UnsupportedModelError: 32-bit ARM or another unsupported architecture.
    """
    if machine in ("armv7l", "armv6l", "armhf"):
        raise UnsupportedModelError(ARMV7_REASON, hint=ARMV7_HINT)
    if machine == "aarch64":
        if codename == "bookworm":
            return TARGETS["pi-bookworm"]
        if codename == "trixie" or python_version.startswith("3.13"):
            return TARGETS["pi-trixie"]
        return TARGETS["linux-aarch64"]
    if machine == "x86_64":
        return TARGETS["linux-x86_64"]
    raise UnsupportedModelError(
        f"unsupported architecture {machine!r}: edgekit's runtime (ai-edge-litert) has wheels for aarch64 and x86_64",
        hint="use a 64-bit OS on the device (aarch64), e.g. Raspberry Pi OS (64-bit)",
    )
