"""Accuracy on labelled data through the deployed path: the task reads the model's own metadata.

Each item goes through what an app does with the file: ``ImageClassifier.classify(path)`` for images,
``TextClassifier.classify(text)`` for text, the window-and-average of ``edgekit run`` for WAV/FLAC clips.
So a wrong mean/std in the metadata shows up here as lost accuracy, which comparing the converter's
own arrays cannot show. Needs only numpy and an interpreter (no TensorFlow).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EdgekitError, InputError, MissingDependencyError, install_hint
from .labelled import LabelledData


@dataclass(frozen=True)
class EvalReport:
    """Accuracy, per-class precision and recall, and the confusion matrix.

    Attributes:
        classes: the model's class names, in output order (class numbers when it has no labels).
        confusion: (classes, classes) counts; row = true class, column = predicted class.
        skipped: (item, reason) for each file that could not be read.
        origin: where the data came from.
        model: the model's file name.
    """

    classes: tuple[str, ...]
    confusion: np.ndarray
    skipped: tuple[tuple[str, str], ...]
    origin: str
    model: str

    @property
    def evaluated(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / self.evaluated) if self.evaluated else float("nan")

    def per_class(self) -> list[dict[str, Any]]:
        """One row per class seen in the data or predicted: support, precision, recall (None when undefined)."""
        rows = []
        true_counts, predicted_counts = self.confusion.sum(axis=1), self.confusion.sum(axis=0)
        for index, name in enumerate(self.classes):
            if true_counts[index] == 0 and predicted_counts[index] == 0:
                continue
            hits = int(self.confusion[index, index])
            rows.append(
                {
                    "index": index,
                    "label": name,
                    "support": int(true_counts[index]),
                    "precision": hits / int(predicted_counts[index]) if predicted_counts[index] else None,
                    "recall": hits / int(true_counts[index]) if true_counts[index] else None,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.origin,
            "evaluated": self.evaluated,
            "accuracy": self.accuracy,
            "classes": list(self.classes),
            "per_class": self.per_class(),
            "confusion_matrix": self.confusion.tolist(),
            "skipped": [{"item": item, "reason": reason} for item, reason in self.skipped],
        }


def model_classes(model: Any) -> tuple[str, ...]:
    """The model's class names (its labels, else class numbers), from its first output's size."""
    count = int(np.prod(model.outputs[0].shape[1:]))
    labels = tuple(model.card.labels) if model.card is not None and model.card.labels else ()
    return labels if len(labels) == count else tuple(str(i) for i in range(count))


def class_indices(names: tuple[str, ...], classes: tuple[str, ...], model_name: str) -> np.ndarray:
    """Each true label name → the model's output index.

    Raises:
        InputError: labels the model does not have, naming them and the model's labels.
    """
    position = {name: index for index, name in enumerate(classes)}
    unknown = sorted(set(names) - set(position), key=str)
    if unknown:
        shown = ", ".join(classes[:30]) + (" …" if len(classes) > 30 else "")
        raise InputError(
            f"the data has label(s) {', '.join(repr(u) for u in unknown[:20])} that {model_name} does not have; "
            f"its labels are: {shown}",
            hint="name the class folders (or label column values) exactly as the model's labels",
        )
    return np.array([position[name] for name in names], np.int64)


def _predictor(model: Any, kind: str) -> Callable[[Any], int]:
    """The deployed path for one item of ``kind`` → the top-1 class index."""
    path = str(getattr(model, "path", "") or "model")
    if kind == "image":
        from .vision.image_classifier import ImageClassifier, ImageClassifierOptions

        task = ImageClassifier(ImageClassifierOptions(model_path=path, max_results=1), model=model)
        return lambda item: task.classify(item).categories[0].index
    if kind == "text":
        from .text.text_classifier import TextClassifier, TextClassifierOptions

        text_task = TextClassifier(TextClassifierOptions(model_path=path, max_results=1), model=model)
        return lambda item: text_task.classify(item).categories[0].index
    if kind == "audio":
        return lambda item: _clip_class(model, item)
    return lambda item: int(np.argmax(np.asarray(model.run(np.asarray(item)[None])[0]).reshape(-1)))


def _clip_class(model: Any, item: Path) -> int:
    """A clip's class as `edgekit run` gives it: the mean score over the model's windows."""
    from .processing import audio as audio_proc
    from .processing.audio_decode import read_audio_file

    spec = model.card.audio if model.card is not None else None
    if spec is None:
        raise InputError(f"{getattr(model, 'path', 'the model')} has no audio preprocessing in its metadata")
    samples, rate = read_audio_file(item)
    mono = audio_proc.resample(samples, rate, spec.sample_rate_hz)
    scores = [
        model.run(window[None])[0].reshape(-1)
        for window in audio_proc.windows(mono, spec.window_samples, spec.hop_samples)
    ]
    return int(np.argmax(np.mean(scores, axis=0)))


def _check_kind(model: Any, data: LabelledData, model_name: str) -> None:
    card = model.card
    wants = (
        "image" if card and card.image else "audio" if card and card.audio else "text" if card and card.text else None
    )
    if data.kind != "array" and wants != data.kind:
        needs = f"{wants} data" if wants else "a .npy of model inputs (it has no preprocessing in its metadata)"
        raise InputError(f"{data.origin} is {data.kind} data, but {model_name} takes {needs}")


def evaluate(
    model: Any, data: LabelledData, progress: Callable[[], None] | None = None, more_models: Sequence[Any] = ()
) -> EvalReport:
    """Run ``model`` on every item through the deployed path and count hits per class.

    Args:
        model: an :class:`edgekit.Model` (or a Core ML / Keras model with the same interface) with a card.
        data: from :func:`edgekit.labelled.read_labelled`.
        progress: called after each item (from one thread at a time).
        more_models: other instances of the same file (e.g. ``edgekit.load(path, num_threads=1)`` each):
            the items are shared out and run in threads, one per instance (an interpreter releases the
            GIL while it runs, so 2 single-thread instances use 2 cores even on kernels that have no
            threads of their own, such as int16x8's). Each item's answer does not depend on the instance.

    Returns:
        An :class:`EvalReport`; unreadable files are skipped and listed in it.

    Raises:
        InputError: labels the model does not have; data of the wrong kind; no item could be read.
    """
    model_name = Path(str(getattr(model, "path", "model"))).name
    _check_kind(model, data, model_name)
    classes = model_classes(model)
    if data.by_index:  # class numbers from a .npy: name them by the model's classes
        numbers = [int(n) for n in data.labels]
        outside = sorted({n for n in numbers if not 0 <= n < len(classes)})
        if outside:
            raise InputError(
                f"the labels hold class number(s) {outside[:20]} but {model_name} has classes 0..{len(classes) - 1}",
                hint="save class numbers in the model's output order (or label names)",
            )
        data = LabelledData(data.kind, data.items, tuple(classes[n] for n in numbers), data.origin)
    truth = class_indices(data.labels, classes, model_name)
    models = [model, *more_models]
    shares = np.array_split(np.arange(len(data)), len(models))
    lock = threading.Lock()
    answers: list[int | str | None] = [None] * len(data)

    stop = threading.Event()  # set when the caller's thread is interrupted (Ctrl-C): the workers end too

    def work(instance: Any, indices: np.ndarray) -> None:
        predict = _predictor(instance, data.kind)
        for index in indices:
            if stop.is_set():
                return
            try:
                answers[index] = predict(data.items[index])
            except EdgekitError as exc:  # an unreadable file: listed and skipped, not fatal
                answers[index] = str(exc)
            if progress is not None:
                with lock:
                    progress()

    if len(models) == 1:
        work(model, shares[0])
    else:
        with ThreadPoolExecutor(len(models), thread_name_prefix="edgekit-eval") as pool:
            try:
                for done in [pool.submit(work, m, share) for m, share in zip(models, shares)]:
                    done.result()  # re-raises a worker's error here
            except BaseException:
                stop.set()
                raise
    confusion = np.zeros((len(classes), len(classes)), np.int64)
    skipped: list[tuple[str, str]] = []
    for item, true_index, answer in zip(data.items, truth, answers):
        if isinstance(answer, str):
            skipped.append((str(item), answer))
        elif answer is not None:
            confusion[true_index, answer] += 1
    if not confusion.sum():
        first = f" (first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise InputError(
            f"none of the {len(data)} items in {data.origin} could be evaluated{first}",
            hint="check that the files are images/WAV/FLAC files the model's task can read",
        )
    return EvalReport(classes, confusion, tuple(skipped), data.origin, model_name)


def format_report(report: EvalReport) -> list[str]:
    """Human-readable lines: accuracy, per-class precision/recall, the confusion matrix (up to 20 classes)."""

    def percent(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    lines = [f"{report.model} on {report.origin}", f"accuracy {report.accuracy:.1%} ({report.evaluated} evaluated)"]
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} unreadable file(s):")
        lines += [f"  {item}: {reason}" for item, reason in report.skipped[:20]]
        lines += [f"  … and {len(report.skipped) - 20} more"] if len(report.skipped) > 20 else []
    width = max([len("class")] + [len(row["label"]) for row in report.per_class()])
    lines.append(f"{'class':<{width}} {'support':>8} {'precision':>10} {'recall':>8}")
    for row in report.per_class():
        lines.append(
            f"{row['label']:<{width}} {row['support']:>8} {percent(row['precision']):>10} {percent(row['recall']):>8}"
        )
    shown = [row["index"] for row in report.per_class()]
    if len(shown) <= 20:
        cell = max(5, max(len(str(int(v))) for v in report.confusion.reshape(-1)) + 1)
        lines.append("confusion matrix (rows: true, columns: predicted, in the order above):")
        for index in shown:
            counts = "".join(f"{int(report.confusion[index, j]):>{cell}}" for j in shown)
            lines.append(f"{report.classes[index]:<{width}} {counts}")
    return lines


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


def plot_confusion(report: EvalReport, path: str | Path) -> Path:
    """Write the confusion matrix as a PNG, atomically.

    Raises:
        MissingDependencyError: matplotlib is not installed (the ``plot`` extra).
    """
    plt = pyplot("--plot")
    import io

    from .io import write_bytes_atomic

    shown = [row["index"] for row in report.per_class()]
    matrix = report.confusion[np.ix_(shown, shown)]
    names = [report.classes[i] for i in shown]
    size = max(4.0, 0.45 * len(names) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(names)), names, rotation=90)
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{report.model}: accuracy {report.accuracy:.1%} ({report.evaluated})")
    if len(names) <= 20:
        peak = matrix.max() or 1
        for (row, column), count in np.ndenumerate(matrix):
            axes.text(
                column,
                row,
                str(int(count)),
                ha="center",
                va="center",
                color="white" if count > peak / 2 else "black",
                fontsize=8,
            )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)
