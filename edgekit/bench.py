"""`edgekit bench`: init time, warm-up, latency percentiles and peak memory per thread count."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from .backends import load
from .errors import MissingDependencyError, install_hint
from .model import Model, TensorSpec


def sample_input(spec: TensorSpec, rng: np.random.Generator) -> np.ndarray:
    """A valid random input for ``spec`` in the tensor's own dtype (no quantization cost measured)."""
    shape = tuple(max(d, 1) for d in spec.shape)
    if spec.dtype.kind in "iu":
        info = np.iinfo(spec.dtype)
        high = min(int(info.max), 100) if not spec.quantized else int(info.max)
        return rng.integers(max(int(info.min), 0), high, shape, endpoint=True).astype(spec.dtype)
    return rng.uniform(-1, 1, shape).astype(spec.dtype)


def _memory_kib() -> dict[str, int]:
    """Current and peak resident memory of this process (Linux /proc; empty elsewhere)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def _reset_peak() -> None:
    with contextlib.suppress(OSError):  # Linux: "5" resets the peak RSS (VmHWM) to the current RSS
        Path("/proc/self/clear_refs").write_text("5")


def benchmark(path: str | Path, threads: int, runs: int = 50, warmup: int = 5) -> dict[str, Any]:
    """Measure one thread count. Latencies are of ``Model.run`` on inputs already in the tensor dtype."""
    _reset_peak()
    before = _memory_kib()
    start = time.perf_counter()
    model: Model = load(path, num_threads=threads)
    init_ms = (time.perf_counter() - start) * 1000.0
    rng = np.random.default_rng(0)
    inputs = [sample_input(spec, rng) for spec in model.inputs]
    start = time.perf_counter()
    for _ in range(warmup):
        model.run(*inputs, raw=True)
    warmup_ms = (time.perf_counter() - start) * 1000.0
    times = np.empty(runs)
    for index in range(runs):
        tick = time.perf_counter()
        model.run(*inputs, raw=True)
        times[index] = (time.perf_counter() - tick) * 1000.0
    after = _memory_kib()
    return {
        "model": str(path),
        "interpreter": str(model.backend),
        "threads": threads,
        "runs": runs,
        "init_ms": init_ms,
        "warmup_ms": warmup_ms,
        "warmup_runs": warmup,
        "p50_ms": float(np.percentile(times, 50)),
        "p90_ms": float(np.percentile(times, 90)),
        "p99_ms": float(np.percentile(times, 99)),
        "mean_ms": float(times.mean()),
        "peak_rss_mib": after.get("VmHWM", 0) / 1024.0,
        "rss_growth_mib": (after.get("VmRSS", 0) - before.get("VmRSS", 0)) / 1024.0,
    }


def format_bench(row: dict[str, Any]) -> str:
    return (
        f"threads={row['threads']:<2} init {row['init_ms']:7.1f} ms  warm-up {row['warmup_ms']:7.1f} ms "
        f"({row['warmup_runs']} runs)  p50 {row['p50_ms']:7.3f} ms  p90 {row['p90_ms']:7.3f} ms  "
        f"p99 {row['p99_ms']:7.3f} ms  peak RSS {row['peak_rss_mib']:6.1f} MiB  [{row['interpreter']}]"
    )


def plot_bench(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write p50/p90/p99 latency per thread count as a bar chart PNG, atomically.

    Raises:
        MissingDependencyError: matplotlib is not installed (the ``plot`` extra).
    """
    import io

    from .io import write_bytes_atomic

    plt = pyplot("--plot")
    figure, axes = plt.subplots(figsize=(6.4, 3.6))
    positions = np.arange(len(rows))
    width = 0.26
    for offset, (key, color) in enumerate((("p50_ms", "#2c7fb8"), ("p90_ms", "#7fcdbb"), ("p99_ms", "#edf8b1"))):
        values = [row[key] for row in rows]
        bars = axes.bar(positions + (offset - 1) * width, values, width, label=key[:3], color=color, edgecolor="#333")
        axes.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
    axes.set_xticks(positions, [f"{row['threads']} thread{'s' if row['threads'] > 1 else ''}" for row in rows])
    axes.set_ylabel("latency per run (ms)")
    first = rows[0]
    axes.set_title(f"{Path(first['model']).name}: {first['runs']} runs, {first['interpreter']}", fontsize=10)
    axes.legend(fontsize=8)
    axes.margins(y=0.15)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


def pyplot(what: str) -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed).

    Raises:
        MissingDependencyError: matplotlib is not installed; the message names ``what`` needs it and the extra.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            f"{what} needs matplotlib, which is not installed", hint=install_hint("plot")
        ) from exc
    return plt
