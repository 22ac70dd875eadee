"""Labelled data: class subfolders of images or WAV/FLAC files, a CSV/TSV of text and label, or ``.npy`` pairs.

Read here (numpy and the standard library only) so that ``edgekit eval`` on a ``.tflite`` needs no
TensorFlow, and so the converter's accuracy column reads data exactly as ``edgekit eval`` does.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .processing.arrays import read_npy
from .processing.audio import AUDIO_SUFFIXES
from .processing.image import IMAGE_SUFFIXES

TEXT_SUFFIXES = (".csv", ".tsv")
TEXT_COLUMNS = ("text", "sentence", "review", "content", "document")
LABEL_COLUMNS = ("label", "labels", "class", "category", "target")


@dataclass(frozen=True)
class LabelledData:
    """Items with their true label names.

    Attributes:
        kind: "image", "audio", "text" or "array".
        items: file paths (image, audio), strings (text), or rows of a model-input array (array).
        labels: the true label name of each item.
        origin: where the data came from, for messages and the export report.
    """

    kind: str
    items: tuple
    labels: tuple[str, ...]
    origin: str
    by_index: bool = False  # labels are class numbers (a .npy of integers), not names

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, limit: int) -> LabelledData:
        """Up to ``limit`` items spread evenly over the data (every class stays represented), deterministic."""
        if len(self) <= limit:
            return self
        picks = np.linspace(0, len(self) - 1, limit).round().astype(int)
        return LabelledData(
            self.kind,
            tuple(self.items[i] for i in picks),
            tuple(self.labels[i] for i in picks),
            f"{limit} of {self.origin}",
            self.by_index,
        )


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p))


def is_labelled(path: str | Path) -> bool:
    """Does ``path`` look like labelled data (class subfolders, a CSV/TSV, or a .npy with a labels file)?"""
    path = Path(path)
    if path.is_dir():
        loose = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + AUDIO_SUFFIXES]
        return len(_class_folders(path)) >= 2 and not loose
    if path.suffix.lower() in TEXT_SUFFIXES:
        return path.is_file()
    if path.suffix.lower() == ".npy":
        return labels_path_for(path).is_file()
    return False


def labels_path_for(array_path: Path) -> Path:
    """The labels of ``NAME.npy`` live in ``NAME_labels.npy`` next to it."""
    return array_path.with_name(array_path.stem + "_labels.npy")


def read_labelled(path: str | Path) -> LabelledData:
    """Read labelled data from a folder of class subfolders, a CSV/TSV file, or ``NAME.npy`` + ``NAME_labels.npy``.

    Raises:
        InputError: missing path; a class folder with no images or WAV/FLAC files; a CSV/TSV without a label
            column or with no rows; a .npy without its labels file or with a different count.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"labelled data not found: {path}", hint="check the path")
    if path.is_dir():
        return _from_folders(path)
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return _from_table(path)
    if suffix == ".npy":
        return _from_arrays(path)
    raise InputError(
        f"{path}: not labelled data edgekit can read",
        hint="give a folder with one subfolder of images or WAV/FLAC files per class, a CSV/TSV of text,label, "
        "or NAME.npy with NAME_labels.npy beside it",
    )


def _from_folders(folder: Path) -> LabelledData:
    classes = _class_folders(folder)
    if not classes:
        raise InputError(
            f"{folder} has no class subfolders",
            hint="put each class's files in a subfolder named after the class (e.g. data/cat/*.jpg, data/dog/*.jpg)",
        )
    per_class: dict[str, list[Path]] = {}
    for sub in classes:
        per_class[sub.name] = sorted(p for p in sub.rglob("*") if p.is_file() and _visible(p))
    empty = [name for name, files in per_class.items() if not files]
    if empty:
        raise InputError(
            f"class folder(s) {', '.join(repr(str(folder / n)) for n in empty)} are empty",
            hint="put that class's images or WAV/FLAC files in it, or remove the folder",
        )
    every = [p for files in per_class.values() for p in files]
    images = sum(p.suffix.lower() in IMAGE_SUFFIXES for p in every)
    sounds = sum(p.suffix.lower() in AUDIO_SUFFIXES for p in every)
    # Files of other kinds stay in the list: evaluation reports them as unreadable, with a count.
    kind = "image" if images >= sounds else "audio"
    items, labels = [], []
    for name, files in per_class.items():
        items += files
        labels += [name] * len(files)
    return LabelledData(
        kind, tuple(items), tuple(labels), f"{len(items)} files in {len(classes)} class folders of {folder}"
    )


def _from_table(path: Path) -> LabelledData:
    text = path.read_text("utf-8", "replace")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in text.split("\n", 1)[0] else ","
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(f"{path} has no rows", hint="write one text,label pair per line")
    header = [cell.strip().lower() for cell in rows[0]]
    label_column = text_column = None
    if any(cell in TEXT_COLUMNS + LABEL_COLUMNS for cell in header):
        label_column = next((i for i, cell in enumerate(header) if cell in LABEL_COLUMNS), None)
        text_column = next((i for i, cell in enumerate(header) if cell in TEXT_COLUMNS), None)
        if label_column is None:
            raise InputError(
                f"{path} has no label column: its header is {rows[0]}",
                hint=f"add a column named 'label' (or one of {', '.join(LABEL_COLUMNS)}) with each text's class",
            )
        if text_column is None:
            text_column = 0 if label_column != 0 else 1
        rows = rows[1:]
    else:
        text_column, label_column = 0, -1
    short = [n for n, row in enumerate(rows, start=2 if label_column != -1 else 1) if len(row) < 2]
    if short:
        shown = ", ".join(str(n) for n in short[:5]) + (" …" if len(short) > 5 else "")
        raise InputError(
            f"{path} has no label column: line(s) {shown} hold a single column",
            hint="write one text and its label per line, separated by "
            + ("a tab" if delimiter == "\t" else "a comma (quote texts that contain commas)"),
        )
    if not rows:
        raise InputError(f"{path} has a header but no rows")
    texts = tuple(row[text_column] for row in rows)
    labels = tuple(row[label_column].strip() for row in rows)
    return LabelledData("text", texts, labels, f"{len(rows)} lines of {path.name}")


def _from_arrays(path: Path) -> LabelledData:
    labels_file = labels_path_for(path)
    if not labels_file.is_file():
        raise InputError(
            f"{path} has no labels: expected {labels_file.name} beside it",
            hint=f"np.save('{labels_file.name}', labels) with one class index or name per row of {path.name}",
        )
    inputs = read_npy(path)  # header, dtype and size checked before loading
    try:
        labels = np.load(labels_file, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path} or {labels_file.name} is not a readable .npy array ({exc})") from exc
    if labels.ndim != 1 or len(labels) != len(inputs):
        raise InputError(
            f"{labels_file.name} has shape {labels.shape}; it needs one label per row of {path.name} ({len(inputs)})",
        )
    names = tuple(str(v.item() if hasattr(v, "item") else v) for v in labels)
    by_index = labels.dtype.kind in "iu"
    return LabelledData("array", tuple(inputs), names, f"{len(inputs)} rows of {path.name}", by_index)
