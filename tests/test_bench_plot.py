"""`edgekit bench --plot FILE.png`: the latencies as a bar chart; without matplotlib, one error naming the extra
before anything is timed."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from edgekit import zoo
from tests.support.cli_helpers import edgekit_cli


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_bench_plot_writes_a_bar_per_percentile_and_thread_count(tmp_path):
    import cv2

    plot = tmp_path / "latency.png"
    model = str(zoo.path("fashion"))
    done = edgekit_cli("bench", model, "--runs", "10", "--threads", "1,2", "--json", "--plot", str(plot))
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]  # --json stays one object per line
    assert [row["threads"] for row in rows] == [1, 2]
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[:2] == (360, 640)
    assert [p.name for p in tmp_path.iterdir()] == ["latency.png"]  # no temporary file left
    # The p50 bars' blue (#2c7fb8 = BGR 184,127,44) is there: one bar per thread count, at least a few pixels.
    blue = np.all(np.abs(image.astype(int) - (184, 127, 44)) < 12, axis=2)
    columns = np.flatnonzero(blue.any(axis=0))
    assert blue.sum() > 20 and len(np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1)) >= 2  # legend + bars


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_bench_plot_without_matplotlib_is_one_line_naming_the_extra_and_the_timings_as_usual(tmp_path):
    plot = tmp_path / "latency.png"
    # A real process in which matplotlib cannot be imported (as on an install without the extra).
    code = "import sys; sys.modules['matplotlib'] = None; from edgekit.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "bench", str(zoo.path("fashion")), "--plot", str(plot), "--runs", "20"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    plain = edgekit_cli("bench", str(zoo.path("fashion")), "--runs", "20")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: --plot needs matplotlib, which is not installed: {plot} is not written "
        '(pip install "edgekit-ml[plot]" adds it)'
    ]
    # The text report as without --plot: the same lines, figures aside (timings differ from run to run).
    assert re.sub(r" *[\d.]+", " N", done.stdout) == re.sub(r" *[\d.]+", " N", plain.stdout) != ""
    assert not plot.exists()


def test_bench_plot_wants_a_png(tmp_path):
    done = edgekit_cli("bench", str(zoo.path("fashion")), "--plot", str(tmp_path / "latency.jpg"))
    assert done.returncode != 0 and "--plot writes a PNG" in done.stderr and done.stdout == ""
