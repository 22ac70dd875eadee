"""``report.html`` beside the exports: the report card, a size/latency/accuracy plot and a confusion matrix.

One self-contained file (inline CSS, inline SVG, no script or font from anywhere) that opens offline
and can be mailed. The pictures are drawn as SVG here, so the report needs no plotting library.

Which recipe is *recommended*: among the written exports that passed their tolerance (verdict ``ok``)
and whose accuracy (top-1 agreement when there are no labels) is within one point of the best, the
fastest; among those within 10 % of the fastest, the smallest. A recipe is *dominated* when another
written one is faster and no larger: there is no reason to ship it.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .verify import COLUMNS, ReportRow, row_cells

REPORT_NAME = "report.html"
QUALITY_SLACK = 0.01  # accuracy within one point of the best counts as "as good"
LATENCY_SLACK = 1.10  # latencies within 10 % count as "as fast" (timing noise on a loaded machine)


def _quality(row: ReportRow) -> float | None:
    if row.accuracy is not None:
        return row.accuracy
    return None if row.comparison is None else row.comparison.agreement


def _measured(rows: Sequence[ReportRow]) -> list[ReportRow]:
    return [r for r in rows if r.written and r.size_bytes is not None and r.latency_p50_ms is not None]


def dominated(rows: Sequence[ReportRow]) -> dict[str, str]:
    """recipe → a recipe that is faster and no larger (only written exports with both figures)."""
    found = {}
    measured = _measured(rows)
    for row in measured:
        for other in measured:
            if other is not row and other.latency_p50_ms < row.latency_p50_ms and other.size_bytes <= row.size_bytes:
                found[row.recipe] = other.recipe
                break
    return found


def recommend(rows: Sequence[ReportRow]) -> str | None:
    """The recipe to ship (see the module docstring), or None when no export passed."""
    passed = [r for r in _measured(rows) if r.verdict == "ok"]
    if not passed:
        return None
    qualities = [_quality(r) for r in passed]
    if all(q is not None for q in qualities):
        best = max(q for q in qualities if q is not None)
        passed = [r for r, q in zip(passed, qualities) if q is not None and q >= best - QUALITY_SLACK]
    fastest = min(r.latency_p50_ms for r in passed)
    near = [r for r in passed if r.latency_p50_ms <= fastest * LATENCY_SLACK]
    return min(near, key=lambda r: (r.size_bytes, r.latency_p50_ms)).recipe


# ------------------------------------------------------------------------------------------- plot
_GREEN, _BLUE, _GREY, _RED = "#1a9850", "#2c7fb8", "#999999", "#d73027"


def plot_svg(rows: Sequence[ReportRow], recommended: str | None, beaten: dict[str, str]) -> str:
    """Size (y) against p50 latency (x) of every export with both figures, each labelled with its accuracy."""
    points = [r for r in rows if r.size_bytes is not None and r.latency_p50_ms is not None]
    width, height, left, right, top, bottom = 640, 380, 70, 170, 30, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="plot" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="size against latency per recipe">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    if not points:
        message = "no latency was measured on this machine (Core ML runs on Apple devices)"
        parts.append(_text(width / 2, height / 2, message, anchor="middle") + "</svg>")
        return "".join(parts)
    latencies = [max(r.latency_p50_ms, 1e-6) for r in points]
    y_max = max(r.size_bytes for r in points) / 1e3 * 1.15 or 1.0
    # Latencies of recipes differ by orders of magnitude (int16x8 has no fast kernels): a log axis
    # keeps the fast ones apart. Sizes differ by 4x at most: a linear axis from 0 reads best.
    logarithmic = max(latencies) / min(latencies) > 10
    if logarithmic:
        x_lo, x_hi = np.log10(min(latencies) / 1.6), np.log10(max(latencies) * 1.6)
        x_ticks = [m * 10.0**k for k in range(int(np.floor(x_lo)), int(np.ceil(x_hi)) + 1) for m in (1, 2, 5)]
        x_ticks = [t for t in x_ticks if x_lo <= np.log10(t) <= x_hi]
    else:
        x_lo, x_hi = 0.0, max(latencies) * 1.15
        x_ticks = list(np.linspace(0, x_hi, 5))

    def x_of(ms: float) -> float:
        value = np.log10(max(ms, 1e-6)) if logarithmic else ms
        return left + plot_w * (value - x_lo) / (x_hi - x_lo)

    def y_of(kb: float) -> float:
        return top + plot_h * (1 - kb / y_max)

    for tick in x_ticks:
        gx = x_of(tick)
        parts.append(f'<line x1="{gx:.1f}" y1="{top}" x2="{gx:.1f}" y2="{top + plot_h}" stroke="#eee"/>')
        parts.append(_text(gx, top + plot_h + 16, f"{tick:.3g}", anchor="middle"))
    for fraction in np.linspace(0, 1, 5):
        gy = top + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{left + plot_w}" y2="{gy:.1f}" stroke="#eee"/>')
        parts.append(_text(left - 6, gy + 4, f"{y_max * fraction:.3g}", anchor="end"))
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>')
    axis = "p50 latency, 1 thread (ms" + (", log scale" if logarithmic else "") + ") → faster to the left"
    parts.append(_text(left + plot_w / 2, height - 12, axis, "middle"))
    parts.append(
        f'<text x="16" y="{top + plot_h / 2}" transform="rotate(-90 16 {top + plot_h / 2})" '
        'text-anchor="middle" font-size="12">size (kB) → smaller lower</text>'
    )
    placed: list[tuple[float, float, float]] = []
    marks = [(x_of(r.latency_p50_ms), y_of(r.size_bytes / 1e3)) for r in points]
    for row in sorted(points, key=lambda r: -r.size_bytes):
        px, py = x_of(row.latency_p50_ms), y_of(row.size_bytes / 1e3)
        quality = _quality(row)
        label = row.recipe + ("" if quality is None else f" · {quality:.1%}")
        if row.recipe == recommended:
            parts.append(_star(px, py, 11, _GREEN))
            label += " ★ recommended"
            color = _GREEN
        elif not row.written:
            parts.append(_cross(px, py, 6, _RED))
            label += " (refused)"
            color = _RED
        elif row.recipe in beaten:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" fill="#fff" stroke="{_GREY}" stroke-width="2"/>')
            label += f" (dominated by {beaten[row.recipe]})"
            color = _GREY
        else:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" fill="{_BLUE}"/>')
            color = _BLUE
        # Labels of points in the right half go to their left, so they stay inside the picture.
        lx, anchor = (px + 12, "start") if px < left + plot_w / 2 else (px - 12, "end")
        extent = 6.5 * len(label)
        x0, x1 = (lx, lx + extent) if anchor == "start" else (lx - extent, lx)
        ly = py + 4
        while any(abs(ly - oy) < 14 and x0 < ox1 and ox0 < x1 for ox0, ox1, oy in placed) or any(
            abs(ly - 4 - oy) < 10 and x0 - 6 < ox < x1 + 6 for ox, oy in marks if (ox, oy) != (px, py)
        ):
            ly += 14  # labels that would cover another label or point stack downwards
        placed.append((x0, x1, ly))
        weight = "bold" if row.recipe == recommended else None
        parts.append(_text(lx, ly, label, anchor=anchor, fill=color, weight=weight))
    parts.append(_legend(left + plot_w + 12, top + 10))
    parts.append("</svg>")
    return "".join(parts)


def _text(x: float, y: float, text: str, anchor: str = "start", fill: str = "#222", weight: str | None = None) -> str:
    bold = f' font-weight="{weight}"' if weight else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-size="12"{bold}>'
        f"{html.escape(text)}</text>"
    )


def _star(cx: float, cy: float, radius: float, fill: str) -> str:
    angles = np.pi / 2 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, radius, radius * 0.45)
    points = " ".join(f"{cx + r * np.cos(a):.1f},{cy - r * np.sin(a):.1f}" for r, a in zip(radii, angles))
    return f'<polygon points="{points}" fill="{fill}"/>'


def _cross(cx: float, cy: float, size: float, stroke: str) -> str:
    return (
        f'<path d="M{cx - size:.1f},{cy - size:.1f}L{cx + size:.1f},{cy + size:.1f}M{cx - size:.1f},'
        f'{cy + size:.1f}L{cx + size:.1f},{cy - size:.1f}" stroke="{stroke}" stroke-width="2.5"/>'
    )


def _legend(x: float, y: float) -> str:
    entries = [
        (_star(x + 6, y, 8, _GREEN), "recommended"),
        (f'<circle cx="{x + 6}" cy="{y + 20}" r="6" fill="{_BLUE}"/>', "passed"),
        (f'<circle cx="{x + 6}" cy="{y + 40}" r="6" fill="#fff" stroke="{_GREY}" stroke-width="2"/>', "dominated"),
        (_cross(x + 6, y + 60, 5, _RED), "refused"),
    ]
    out = [mark + _text(x + 18, y + 4 + 20 * index, name) for index, (mark, name) in enumerate(entries)]
    out.append(_text(x, y + 88, "label: recipe · accuracy"))
    return "".join(out)


# ------------------------------------------------------------------------------------- confusion
def confusion_svg(report: Any, title: str) -> str:
    """The confusion matrix (rows: true, columns: predicted) of the classes seen or predicted."""
    shown = [row["index"] for row in report.per_class()]
    matrix = np.asarray(report.confusion)[np.ix_(shown, shown)]
    names = [str(report.classes[i]) for i in shown]
    count = len(names)
    cell = max(2 if count > 60 else 8, min(34, 420 // max(count, 1)))
    margin = 12 + 7 * min(16, max((len(n) for n in names), default=1))  # room for the longest label
    cells_top = 24 + margin
    width, height = margin + cell * count + 12, cells_top + cell * count + 12
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="confusion" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="confusion matrix">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        _text(4, 14, title),
    ]
    peak = matrix.max() or 1
    if count > 60:  # e.g. 1000 ImageNet classes: a rect per cell made 83 MB of page
        parts.append(_sparse_cells(matrix, peak, margin, cells_top, cell))
    for (r, c), value in np.ndenumerate(matrix if count <= 60 else matrix[:0, :0]):
        shade = value / peak
        x, y = margin + c * cell, cells_top + r * cell
        parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{_shade(shade)}" stroke="#eee"/>')
        if count <= 20 and value:
            color = "#fff" if shade > 0.5 else "#222"
            parts.append(_text(x + cell / 2, y + cell / 2 + 4, str(int(value)), anchor="middle", fill=color))
    for index, name in enumerate(names if count <= 60 else []):
        short = name if len(name) <= 16 else name[:15] + "…"
        parts.append(_text(margin - 4, cells_top + index * cell + cell / 2 + 4, short, anchor="end"))
        x, y = margin + index * cell + cell / 2 + 4, cells_top - 4
        parts.append(
            f'<text x="{x:.1f}" y="{y}" transform="rotate(-60 {x:.1f} {y})" font-size="11">{html.escape(short)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _shade(fraction: float) -> str:
    rgb = [int(round(255 + (target - 255) * fraction)) for target in (8, 48, 107)]  # white → dark blue
    return f"rgb({rgb[0]},{rgb[1]},{rgb[2]})"


def _sparse_cells(matrix: np.ndarray, peak: int, left: int, top: int, cell: int) -> str:
    """A large matrix as one outline and, per shade (16 levels), one path of its non-zero cells: the page grows
    with the cells that hold counts (at most the items evaluated, ~20 bytes each), not with classes squared."""
    size = cell * matrix.shape[0]
    parts = [f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#fff" stroke="#ccc"/>']
    rows, columns = np.nonzero(matrix)
    levels = np.ceil(matrix[rows, columns] / peak * 16).astype(int)
    for level in np.unique(levels):
        here = levels == level
        moves = "".join(
            f"M{left + c * cell} {top + r * cell}h{cell}v{cell}h-{cell}z" for r, c in zip(rows[here], columns[here])
        )
        parts.append(f'<path d="{moves}" fill="{_shade(level / 16)}"/>')
    return "".join(parts)


# ------------------------------------------------------------------------------------------ page
_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
table { border-collapse: collapse; background: #fff; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, td.verdict, td.standing, td.file, th.left { text-align: left; }
td.verdict { white-space: normal; max-width: 420px; }
tr.recommended { background: #e6f5ea; font-weight: 600; }
tr.dominated td { color: #888; } tr.refused td { color: #b2182b; }
.notes { color: #555; margin: 4px 0; } figure { margin: 0; display: inline-block; vertical-align: top; }
figcaption { color: #555; font-size: 12px; max-width: 640px; }
"""


def render_report(
    rows: Sequence[ReportRow],
    *,
    title: str,
    notes: Sequence[str] = (),
    confusion: Any = None,
    confusion_title: str = "",
) -> str:
    """The whole page as one string (see the module docstring)."""
    recommended = recommend(rows)
    beaten = dominated(rows)
    head = "".join(
        f'<th class="{"left" if name in ("verdict", "standing", "file") else ""}">{html.escape(name)}</th>'
        for name in (*COLUMNS, "standing", "file")
    )
    body = []
    for row in rows:
        cells = row_cells(row)
        standing = (
            "★ recommended"
            if row.recipe == recommended
            else f"dominated by {beaten[row.recipe]}"
            if row.recipe in beaten
            else ""
        )
        kind = "recommended" if standing.startswith("★") else "dominated" if standing else ""
        kind = kind or ("" if row.written else "refused")
        tds = "".join(
            f'<td data-col="{html.escape(name)}" class="{name.split()[0]}">{html.escape(value)}</td>'
            for name, value in zip(COLUMNS, cells)
        )
        tds += f'<td class="standing">{html.escape(standing)}</td>'
        tds += f'<td class="file">{html.escape(os.path.basename(row.path))}</td>'
        body.append(f'<tr class="{kind}" data-recipe="{html.escape(row.recipe)}">{tds}</tr>')
    card = {"rows": [row.to_dict() for row in rows], "recommended": recommended, "dominated": beaten}
    data = json.dumps(card, default=str).replace("</", "<\\/")
    note_lines = "".join(f'<p class="notes">{html.escape(n)}</p>' for n in notes)
    why = (
        f"Recommended: <b>{html.escape(recommended)}</b>, the fastest export that passed its tolerance with "
        "accuracy within one point of the best (the smallest of those within 10 % of the fastest)."
        if recommended
        else "None is recommended: no export that passed its tolerance has a latency measured on this machine."
        if any(r.verdict == "ok" for r in rows)
        else "No export passed its tolerance, so none is recommended."
    )
    figures = [
        "<figure>"
        + plot_svg(rows, recommended, beaten)
        + "<figcaption>Each export's size against its median latency (1 thread, this machine). "
        "Down and left is better; a hollow point is dominated (another export is faster and no larger)."
        "</figcaption></figure>"
    ]
    if confusion is not None:
        figures.append(
            "<figure>"
            + confusion_svg(confusion, confusion_title)
            + "<figcaption>Rows: true class; columns: predicted class.</figcaption></figure>"
        )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{note_lines}"
        f'<h2>Report card</h2><table id="card"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        f'<p id="why">{why}</p>'
        f'<h2>Size, latency and accuracy</h2><div id="figures">{"".join(figures)}</div>'
        f'<script type="application/json" id="report-card">{data}</script>'
        "</body></html>\n"
    )


def write_report(
    folder: str | os.PathLike,
    rows: Sequence[ReportRow],
    *,
    title: str,
    notes: Sequence[str] = (),
    reports: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/report.html`` atomically; the confusion matrix is the recommended recipe's (else any).

    Raises:
        OSError: the folder cannot be written.
    """
    from edgekit.io import write_bytes_atomic

    reports = reports or {}
    recommended = recommend(rows)
    chosen = recommended if recommended in reports else next(iter(reports), None)
    confusion = reports.get(chosen) if chosen else None
    confusion_title = ""
    if confusion is not None:
        confusion_title = f"{chosen}: accuracy {confusion.accuracy:.1%} on {confusion.evaluated} labelled items"
    page = render_report(rows, title=title, notes=notes, confusion=confusion, confusion_title=confusion_title)
    path = Path(folder) / REPORT_NAME
    write_bytes_atomic(path, page.encode("utf-8"))
    return path
