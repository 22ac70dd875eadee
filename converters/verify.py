"""Compare an exported model with its source on held-out inputs; the export report."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .recipes import Tolerance


@dataclass(frozen=True)
class Comparison:
    """How the exported outputs differ from the source's on the same inputs."""

    samples: int
    agreement: float | None  # top-1 agreement of the first classifier-like output, else None
    max_abs_error: float
    mean_abs_error: float
    relative_error: float  # max_abs_error / peak |source output|
    non_finite: bool  # NaN or Inf in the exported outputs

    def failures(self, tolerance: Tolerance) -> list[str]:
        """Why this comparison misses ``tolerance`` (empty list: it passes)."""
        reasons = []
        if self.non_finite:
            reasons.append("the exported model outputs NaN or Inf")
        if self.agreement is not None and self.agreement < tolerance.min_agreement:
            reasons.append(f"top-1 agreement {self.agreement:.1%} is below the recipe's {tolerance.min_agreement:.0%}")
        if self.relative_error > tolerance.max_relative_error:
            reasons.append(
                f"relative error {self.relative_error:.3g} is above the recipe's {tolerance.max_relative_error:.3g}"
            )
        return reasons


def compare(reference: dict[str, np.ndarray], exported: dict[str, np.ndarray]) -> Comparison:
    """Compare outputs by key (both dicts have the same keys, arrays of equal shape)."""
    max_abs = mean_abs = peak = 0.0
    non_finite = False
    agreement = None
    samples = 0
    for key, ref in reference.items():
        ref = np.asarray(ref, np.float64)
        got = np.asarray(exported[key], np.float64).reshape(ref.shape)
        samples = len(ref)
        if not np.isfinite(got).all():
            non_finite = True
            continue
        diff = np.abs(got - ref)
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        mean_abs = max(mean_abs, float(diff.mean()) if diff.size else 0.0)
        peak = max(peak, float(np.abs(ref).max(initial=0.0)))
        if agreement is None and ref.ndim == 2 and ref.shape[1] > 1:
            agreement = float(np.mean(ref.argmax(axis=1) == got.argmax(axis=1)))
    relative = max_abs / peak if peak > 0 else max_abs
    return Comparison(samples, agreement, max_abs, mean_abs, relative, non_finite)


def latency_ms(run, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``run()`` in milliseconds."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


@dataclass(frozen=True)
class ReportRow:
    """One line of the export report."""

    recipe: str
    path: str
    size_bytes: int | None  # None when nothing was made (the conversion failed)
    comparison: Comparison | None
    latency_p50_ms: float | None
    verdict: str  # "ok", "FORCED: ...", "REFUSED: ...", "FAILED: ..."
    data_origin: str = ""
    divergence: Any = None  # a divergence.Divergence when the export missed its tolerance
    accuracy: float | None = None  # on labelled data, through edgekit's task reading the file's metadata

    @property
    def written(self) -> bool:
        return not self.verdict.startswith(("REFUSED", "FAILED"))

    def to_dict(self) -> dict:
        c = self.comparison
        return {
            "recipe": self.recipe,
            "path": self.path,
            "size_bytes": self.size_bytes,
            "agreement": None if c is None else c.agreement,
            "max_abs_error": None if c is None else c.max_abs_error,
            "mean_abs_error": None if c is None else c.mean_abs_error,
            "relative_error": None if c is None else c.relative_error,
            "samples": None if c is None else c.samples,
            "latency_p50_ms": self.latency_p50_ms,
            "verdict": self.verdict,
            "data": self.data_origin,
            "divergence": None if self.divergence is None else self.divergence.to_dict(),
            "accuracy": self.accuracy,
        }


HEADER = (
    f"{'recipe':<10} {'size':>10} {'agreement':>10} {'accuracy':>9} {'max err':>10} {'mean err':>10} "
    f"{'p50 (1 thr)':>12}  verdict"
)


def _size(size: int | None) -> str:
    if size is None:
        return "n/a"
    return f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


COLUMNS = ("recipe", "size", "agreement", "accuracy", "max err", "mean err", "p50 (1 thr)", "verdict")


def row_cells(row: ReportRow) -> list[str]:
    """The report row's cells as printed (one per :data:`COLUMNS`); the HTML report shows the same text."""
    c = row.comparison
    agreement = "n/a" if c is None or c.agreement is None else f"{c.agreement:.1%}"
    max_err = "n/a" if c is None else f"{c.max_abs_error:.3g}"
    mean_err = "n/a" if c is None else f"{c.mean_abs_error:.3g}"
    latency = "n/a" if row.latency_p50_ms is None else f"{row.latency_p50_ms:.3g} ms"
    accuracy = "n/a" if row.accuracy is None else f"{row.accuracy:.1%}"
    return [row.recipe, _size(row.size_bytes), agreement, accuracy, max_err, mean_err, latency, row.verdict]


def format_row(row: ReportRow) -> str:
    recipe, size, agreement, accuracy, max_err, mean_err, latency, verdict = row_cells(row)
    cells = f"{size:>10} {agreement:>10} {accuracy:>9} {max_err:>10} {mean_err:>10} {latency:>12}"
    return f"{recipe:<10} {cells}  {verdict}"
