"""The training report: report.json, a confusion-matrix PNG, a training-curve PNG, and report.html.

The HTML page is self-contained (the figures are inlined as data: URLs, no script, no fonts or
styles from the network), so it opens offline from a copied folder. The figures need matplotlib
(the ``plot`` extra); without it the report says so in one line and the page shows only tables.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

PLOT_HINT = 'figures need matplotlib: pip install "edgekit[plot]"'


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_curves(history: dict[str, list[float]], best_epoch: int, path: Path) -> bool:
    """Loss and accuracy per epoch (train and validation); False when matplotlib is missing."""
    plt = _pyplot()
    if plt is None or not history:
        return False
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(9, 3.6))
    for axes, metric in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            if key in history:
                epochs = np.arange(1, len(history[key]) + 1)
                axes.plot(
                    epochs, history[key], style, marker="o", markersize=3, label=key.replace("val_", "validation ")
                )
        if best_epoch:
            axes.axvline(best_epoch, color="grey", linewidth=0.8, linestyle=":", label=f"kept (epoch {best_epoch})")
        axes.set_xlabel("epoch")
        axes.set_title(metric)
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    figure.tight_layout()
    _save(figure, plt, path)
    return True


def plot_confusion(classes: list[str], confusion: np.ndarray, title: str, path: Path) -> bool:
    """The confusion matrix (rows true, columns predicted) as a PNG; False when matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
        return False
    size = max(4.0, 0.5 * len(classes) + 2.5)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(confusion, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=90)
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=10)
    peak = confusion.max() or 1
    if len(classes) <= 25:
        for (row, column), count in np.ndenumerate(confusion):
            colour = "white" if count > peak / 2 else "black"
            axes.text(column, row, str(int(count)), ha="center", va="center", color=colour, fontsize=8)
    figure.tight_layout()
    _save(figure, plt, path)
    return True


def _save(figure, plt, path: Path) -> None:
    from edgekit.io import write_bytes_atomic

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())


def write_report(folder: Path, report: dict[str, Any]) -> list[str]:
    """Write report.json, confusion_matrix.png, training_curve.png and report.html into ``folder``.

    Returns:
        Note lines (one naming the ``plot`` extra when matplotlib is missing).
    """
    notes = []
    source = report["source"]
    confusion = np.array(source["confusion_matrix"])
    title = f"{report['name']} (Keras) on the test split: {source['test_accuracy']:.1%}"
    figures = {
        "training_curve.png": plot_curves(
            report["training"]["history"], report["training"]["best_epoch"], folder / "training_curve.png"
        ),
        "confusion_matrix.png": plot_confusion(report["classes"], confusion, title, folder / "confusion_matrix.png"),
    }
    if not all(figures.values()):
        notes.append(f"no figures: {PLOT_HINT}")
    report["figures"] = [name for name, written in figures.items() if written]
    (folder / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=_plain), "utf-8")
    (folder / "report.html").write_text(render_html(folder, report), "utf-8")
    return notes


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(folder: Path, report: dict[str, Any]) -> str:
    """The page: summary, accuracy per file, per-class precision/recall, figures inlined."""
    source = report["source"]
    data = report["data"]
    parts = [f"<h1>{html.escape(report['name'])}: {html.escape(report['task'])}</h1>"]
    parts.append(
        f"<p>{html.escape(data['origin'])}; {len(report['classes'])} classes; split "
        f"{data['split']['train']} train / {data['split']['val']} validation / {data['split']['test']} test "
        f"(stratified, seed {report['options']['seed']}). Best epoch {report['training']['best_epoch']} of "
        f"{report['training']['epochs_run']} by validation accuracy"
        + ("; training was interrupted (Ctrl-C)" if report["training"]["interrupted"] else "")
        + ".</p>"
    )
    warnings = data.get("warnings", [])
    if warnings:
        parts.append("<ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>")
    rows = [
        [
            "Keras (source)",
            "",
            _percent(source["train_accuracy"]),
            _percent(source["val_accuracy"]),
            _percent(source["test_accuracy"]),
            "",
        ]
    ]
    for name, value in report.get("baselines", {}).items():
        rows.append([f"baseline: {name.replace('_', ' ')}", "", "", "", _percent(value), ""])
    for row in report["exports"]:
        size = f"{row['size_bytes'] / 1e3:.1f} kB" if row["size_bytes"] else ""
        rows.append([row["file"] or row["recipe"], size, "", "", _percent(row["test_accuracy"]), row["verdict"]])
    parts.append(
        "<h2>Accuracy</h2><p>Test accuracy of every file is measured through the edgekit runtime on the "
        "held-out test split, preprocessed as the file's own metadata says.</p>"
    )
    parts.append(_table(["model", "size", "train", "validation", "test", "export check"], rows))
    parts.append("<h2>Per class (Keras source, test split)</h2>")
    parts.append(
        _table(
            ["class", "support", "precision", "recall"],
            [[r["label"], r["support"], _percent(r["precision"]), _percent(r["recall"])] for r in source["per_class"]],
        )
    )
    for name in report.get("figures", []):
        encoded = base64.b64encode((folder / name).read_bytes()).decode("ascii")
        title = html.escape(name[:-4].replace("_", " "))
        parts.append(f'<h2>{title}</h2><img alt="{name}" src="data:image/png;base64,{encoded}">')
    style = (
        "body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "th{background:#f3f3f3}img{max-width:100%}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(report['name'])} training report</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def data_facts(data, split, warnings: list[str]) -> dict[str, Any]:
    """The report's ``data`` section: origin, class counts, skipped files, warnings and the split."""
    return {
        "origin": data.origin,
        "counts": data.counts(),
        "skipped": [{"item": item, "reason": reason} for item, reason in data.skipped],
        "warnings": warnings + split.describe(data),
        "split": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        "duplicate_groups": len(split.duplicate_groups),
        "speakers": split.speakers,
    }


def source_facts(train_accuracy: float | None, val_accuracy: float | None, test_report) -> dict[str, Any]:
    """The report's ``source`` section: the Keras model's accuracies, per class and confusion on the test split."""
    return {
        "train_accuracy": train_accuracy,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_report.accuracy,
        "per_class": test_report.per_class(),
        "confusion_matrix": test_report.confusion.tolist(),
    }


def timings(started: float, trained: float, now: float) -> dict[str, float]:
    """The report's three time figures (``time.perf_counter`` values)."""
    return {
        "seconds": now - started,
        "seconds_training": trained - started,
        "seconds_exports_and_evaluation": now - trained,
    }


def write_noting(folder: Path, report: dict[str, Any], show: bool) -> None:
    """:func:`write_report`, each of its notes (a missing plotting library, …) printed as ``note:``."""
    from ..progress import say

    for note in write_report(folder, report):
        say(f"note: {note}", show)


def print_summary(out: Path, report: dict[str, Any], show: bool) -> None:
    """The closing summary and where the outputs are."""
    from ..progress import say

    for line in summary_lines(report):
        say(line, show)
    say(f"-> {out}/ (report.html)", show)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The final summary printed on the terminal."""
    source = report["source"]
    lines = [
        f"{report['name']}: {len(report['classes'])} classes, best epoch {report['training']['best_epoch']}/"
        f"{report['training']['epochs_run']}, {report['seconds']:.0f} s (training {report['seconds_training']:.0f} s, "
        f"exports and evaluation {report['seconds_exports_and_evaluation']:.0f} s)",
        f"  Keras source      train {_percent(source['train_accuracy'])}  val {_percent(source['val_accuracy'])}  "
        f"test {_percent(source['test_accuracy'])}",
    ]
    for name, value in report.get("baselines", {}).items():
        lines.append(f"  baseline {name.replace('_', ' ')}: test {_percent(value)}")
    for row in report["exports"]:
        state = f"test {_percent(row['test_accuracy'])}" if row["written"] else f"not written: {row['verdict']}"
        lines.append(f"  {row['file'] or row['recipe']:<32} {state}")
    return lines
