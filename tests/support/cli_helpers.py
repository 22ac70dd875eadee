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


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def assert_output_untouched(tmp_path: Path, out: Path, existed: bool) -> None:
    """A refused ``edgekit train``/``convert`` left ``out`` as it was (its ``keep.txt`` when it existed,
    absent otherwise) and no staging folder (``.out.*``) behind."""
    if existed:
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging folder left
