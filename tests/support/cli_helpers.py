"""Running the real `edgekit` entry point in a fresh process (exit codes, stderr, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def edgekit_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
