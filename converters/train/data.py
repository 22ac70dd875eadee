"""Training data: discovery, checks, honest splits.

A dataset is a list of items (file paths for images, strings for text) with a class name each.
Discovery skips what cannot be used (zero-byte or undecodable files) and says so with a count;
checks refuse what cannot train (one class, a class with fewer than ``MIN_PER_CLASS`` items, a
table without a label column). Splits are stratified and seeded; items with the same content
(same file bytes, or the same text) are kept together in one split, so a copy of a training file
never scores in the test split, and the copies found are reported.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import InputError
from edgekit.labelled import LABEL_COLUMNS, TEXT_COLUMNS
from edgekit.processing.image import IMAGE_SUFFIXES

MIN_PER_CLASS = 5
IMBALANCE_RATIO = 3.0  # largest class / smallest class above this: warn with the counts
# ... and above this, weight the loss by default. Weighting trades plain accuracy for balanced accuracy:
# on the chat corpus (ratio 4.2) it cost 12 points of test accuracy (71 % vs 83 %), so mild imbalance is
# only reported (--class-weights balanced weights it anyway).
WEIGHT_RATIO = 10.0


@dataclass
class Dataset:
    """Items and their class names, plus what discovery skipped.

    Attributes:
        kind: "image" or "text".
        items: file paths (image) or strings (text).
        labels: class name of each item.
        classes: the class names in output order (sorted, as Keras' directory loaders do).
        skipped: (item, reason) for each file that could not be used.
        origin: where the data came from, for messages and the report.
    """

    kind: str
    items: list
    labels: list[str]
    classes: list[str]
    origin: str
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def label_ids(self) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.classes)}
        return np.array([index[name] for name in self.labels], np.int64)

    def counts(self) -> dict[str, int]:
        counted = Counter(self.labels)
        return {name: counted.get(name, 0) for name in self.classes}

    def take(self, indices) -> Dataset:
        return Dataset(
            self.kind,
            [self.items[i] for i in indices],
            [self.labels[i] for i in indices],
            list(self.classes),
            self.origin,
        )


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p))


def _image_readable(path: Path) -> str | None:
    """Why ``path`` cannot be used as a training image, or None. Decodes at reduced size (fast)."""
    if path.stat().st_size == 0:
        return "zero-byte file"
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_REDUCED_COLOR_8)
    if image is None:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)  # some formats do not decode reduced
    return None if image is not None else "not an image OpenCV can decode"


def discover_images(folder: str | Path) -> Dataset:
    """Class subfolders of images (any format OpenCV reads; grey, RGBA and 16-bit are read as RGB 8-bit).

    Raises:
        InputError: not a folder, or no class subfolders.
    """
    folder = Path(folder)
    classes = _require_class_folders(folder, "images")
    items, labels, skipped = [], [], []
    for sub in classes:
        for path in sorted(p for p in sub.rglob("*") if p.is_file() and _visible(p)):
            reason = (
                f"not an image file (suffix {path.suffix or 'none'})"
                if path.suffix.lower() not in IMAGE_SUFFIXES
                else _image_readable(path)
            )
            if reason:
                skipped.append((str(path), reason))
                continue
            items.append(path)
            labels.append(sub.name)
    names = [sub.name for sub in classes]
    return Dataset(
        "image", items, labels, names, f"{len(items)} images in {len(names)} class folders of {folder}", skipped
    )


def _require_class_folders(folder: Path, what: str) -> list[Path]:
    if not folder.exists():
        raise InputError(f"training data not found: {folder}", hint="check the path")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder", hint=f"give a folder with one subfolder of {what} per class")
    classes = _class_folders(folder)
    if not classes:
        raise InputError(
            f"{folder} has no class subfolders",
            hint=f"put each class's {what} in a subfolder named after the class (e.g. {folder}/cat/, {folder}/dog/)",
        )
    return classes


def discover_texts(path: str | Path, text_column: str | None = None, label_column: str | None = None) -> Dataset:
    """A CSV/TSV with a text and a label column, or class subfolders of .txt files (one text per file).

    Columns are found by header name (``text``/``sentence``/… and ``label``/``class``/…) unless
    ``text_column``/``label_column`` name them; a table without a header is ``text,label`` per line.

    Raises:
        InputError: missing path; no label column; a named column that is not in the header.
    """
    path = Path(path)
    if path.is_dir():
        classes = _require_class_folders(path, ".txt files")
        items, labels, skipped = [], [], []
        for sub in classes:
            for file in sorted(p for p in sub.rglob("*") if p.is_file() and _visible(p)):
                if file.suffix.lower() != ".txt":
                    skipped.append((str(file), "not a .txt file"))
                    continue
                try:
                    text = file.read_text("utf-8").strip()
                except (UnicodeDecodeError, OSError) as exc:
                    skipped.append((str(file), f"unreadable ({exc.__class__.__name__})"))
                    continue
                if not text:
                    skipped.append((str(file), "empty text"))
                    continue
                items.append(" ".join(text.split()))
                labels.append(sub.name)
        names = [sub.name for sub in classes]
        origin = f"{len(items)} texts in {len(names)} class folders of {path}"
        return Dataset("text", items, labels, names, origin, skipped)
    if not path.exists():
        raise InputError(f"training data not found: {path}", hint="check the path")
    return _from_table(path, text_column, label_column)


def _from_table(path: Path, text_column: str | None, label_column: str | None) -> Dataset:
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise InputError(
            f"{path}: expected a CSV/TSV file or a folder of class subfolders",
            hint="give a .csv/.tsv with text and label columns, or a folder with one subfolder of .txt files per class",
        )
    try:
        text = path.read_text("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc})", hint="save the table as UTF-8") from exc
    first = text.split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in first else ","
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if any(c.strip() for c in row)]
    if not rows:
        raise InputError(f"{path} has no rows", hint="write a header (text,label) and one row per text")
    header = [cell.strip().lower() for cell in rows[0]]
    named = text_column is not None or label_column is not None
    if named or any(cell in TEXT_COLUMNS + LABEL_COLUMNS for cell in header):
        label_index = _column(header, rows[0], label_column, LABEL_COLUMNS, path, "label")
        text_index = _column(header, rows[0], text_column, TEXT_COLUMNS, path, "text", avoid=label_index)
        rows = rows[1:]
    elif len(rows[0]) == 2:
        text_index, label_index = 0, 1
    else:
        raise InputError(
            f"{path} has no label column: no header names one and its rows have {len(rows[0])} columns",
            hint=f"add a header with a 'label' column (or one of {', '.join(LABEL_COLUMNS)}), or pass --label-column",
        )
    items, labels, skipped = [], [], []
    for line, row in enumerate(rows, start=2):
        if len(row) <= max(text_index, label_index) or not row[label_index].strip() or not row[text_index].strip():
            skipped.append((f"{path.name}:{line}", "missing text or label"))
            continue
        items.append(" ".join(row[text_index].split()))
        labels.append(row[label_index].strip())
    classes = sorted(set(labels))
    return Dataset("text", items, labels, classes, f"{len(items)} rows of {path.name}", skipped)


def _column(header, raw, given, known, path: Path, what: str, avoid: int | None = None) -> int:
    if given is not None:
        wanted = given.strip().lower()
        if wanted.isdigit() and int(wanted) < len(header):
            return int(wanted)
        if wanted in header:
            return header.index(wanted)
        raise InputError(
            f"{path} has no column {given!r}: its header is {raw}", hint=f"pass --{what}-column with one of {raw}"
        )
    found = next((i for i, cell in enumerate(header) if cell in known and i != avoid), None)
    if found is not None:
        return found
    if what == "text" and len(header) == 2 and avoid is not None:
        return 1 - avoid
    raise InputError(
        f"{path} has no {what} column: its header is {raw}",
        hint=f"name the column '{known[0]}' (or one of {', '.join(known)}), or pass --{what}-column NAME",
    )


# ------------------------------------------------------------------------------------------ checks
def check_classes(data: Dataset, mode: str = "auto") -> list[str]:
    """Refuse data that cannot train; return warning lines (skipped files, class imbalance).

    Raises:
        InputError: fewer than two classes; a class left with fewer than ``MIN_PER_CLASS`` items.
    """
    warnings = []
    if data.skipped:
        shown = "; ".join(f"{item} ({reason})" for item, reason in data.skipped[:5])
        more = f"; … and {len(data.skipped) - 5} more" if len(data.skipped) > 5 else ""
        warnings.append(f"skipped {len(data.skipped)} unusable file(s): {shown}{more}")
    counts = data.counts()
    present = [name for name, count in counts.items() if count]
    if len(present) < 2:
        raise InputError(
            f"{data.origin}: a classifier needs at least 2 classes, found {len(present)}"
            + (f" ({present[0]!r})" if present else ""),
            hint="add a subfolder (or label) per class, with at least 5 examples each",
        )
    few = {name: count for name, count in counts.items() if count < MIN_PER_CLASS}
    if few:
        listed = ", ".join(f"{name!r}: {count}" for name, count in few.items())
        raise InputError(
            f"class(es) with fewer than {MIN_PER_CLASS} usable examples: {listed}"
            + (" (after skipping unusable files)" if data.skipped else ""),
            hint=f"add examples (at least {MIN_PER_CLASS}, ideally 50+ per class) or remove the class",
        )
    largest, smallest = max(counts.values()), min(counts.values())
    if largest / smallest > IMBALANCE_RATIO:
        weights = class_weights(data)
        listed = ", ".join(
            f"{name!r}: {count} (weight {weights[i]:.2f})" for i, (name, count) in enumerate(counts.items())
        )
        weighted = weighting(data, mode)
        how = "the loss is weighted" if weighted else "the loss is not weighted (--class-weights balanced would)"
        warnings.append(f"classes are imbalanced ({largest} vs {smallest} examples); {how}: {listed}")
    return warnings


def class_weights(data: Dataset) -> dict[int, float]:
    """Balanced class weights (n / (classes × count)), as scikit-learn's ``class_weight='balanced'``."""
    counts = data.counts()
    total = sum(counts.values())
    return {i: total / (len(counts) * max(1, count)) for i, count in enumerate(counts.values())}


def weighting(data: Dataset, mode: str = "auto") -> bool:
    """Whether to weight the loss: ``mode`` "balanced" always, "none" never, "auto" above ``WEIGHT_RATIO``.

    Raises:
        InputError: an unknown mode.
    """
    if mode not in ("auto", "balanced", "none"):
        raise InputError(f"--class-weights takes auto, balanced or none, got {mode!r}")
    counts = list(data.counts().values())
    ratio = max(counts) / max(1, min(counts))
    return mode == "balanced" or (mode == "auto" and ratio > WEIGHT_RATIO)


# ------------------------------------------------------------------------------------------ splits
def content_key(data: Dataset, index: int) -> str:
    """The identity of an item's content: sha256 of the whitespace-normalized text; of a decoded clip's
    16 kHz samples as 16-bit numbers (so the same sound saved as WAV and FLAC, or with another header, is one
    item); of the file bytes otherwise (images: a lossy re-encoding is not caught)."""
    item = data.items[index]
    if data.kind == "text":
        return hashlib.sha256(" ".join(str(item).split()).encode("utf-8")).hexdigest()
    clips = getattr(data, "clips", None)
    if data.kind == "audio" and clips:
        samples = np.clip(np.rint(np.asarray(clips[index], np.float32) * 32767.0), -32768, 32767).astype("<i2")
        return "pcm16:" + hashlib.sha256(samples.tobytes()).hexdigest()
    digest = hashlib.sha256()
    with open(item, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Split:
    """Index arrays into a :class:`Dataset`, and what the split found."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    duplicate_groups: list[list[int]]  # items with identical content (kept in one split)
    conflicting: list[list[int]]  # identical content under different labels
    speakers: int = 0  # speakers named in clip file names (Speech Commands style), each kept in one split per class

    def describe(self, data: Dataset) -> list[str]:
        lines = [f"split: {len(self.train)} train, {len(self.val)} validation, {len(self.test)} test (stratified)"]
        if self.speakers:
            lines.append(
                f"split by speaker: {self.speakers} speakers named in the clip names (<speaker>_nohash_<n>, as Speech "
                "Commands); a speaker's clips of one word stay in one split"
            )
        copies = sum(len(group) - 1 for group in self.duplicate_groups)
        if copies:
            first = self.duplicate_groups[0]
            lines.append(
                f"found {copies} exact duplicate(s) in {len(self.duplicate_groups)} group(s) "
                f"(e.g. {', '.join(str(data.items[i])[:60] for i in first[:2])}); each group is kept in one split"
            )
        if self.conflicting:
            first = self.conflicting[0]
            labels = sorted({data.labels[i] for i in first})
            lines.append(
                f"warning: {len(self.conflicting)} item(s) appear under different labels (e.g. "
                f"{str(data.items[first[0]])[:60]!r} as {labels})"
            )
        return lines


def split_dataset(data: Dataset, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0) -> Split:
    """Stratified, seeded split; items with the same content land in the same split.

    Every class gets at least one validation and one test item when the fractions are positive
    (a class has at least ``MIN_PER_CLASS`` items).

    Raises:
        InputError: fractions outside [0, 1) or summing to 1 or more.
    """
    for name, value in (("--val-split", val_fraction), ("--test-split", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise InputError(f"{name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 0.9:
        raise InputError(
            f"--val-split {val_fraction} + --test-split {test_fraction} leave too little to train on",
            hint="keep their sum under 0.9 (e.g. 0.1 and 0.1)",
        )
    groups: dict[str, list[int]] = defaultdict(list)
    for index in range(len(data)):
        groups[content_key(data, index)].append(index)
    duplicates = [members for members in groups.values() if len(members) > 1]
    conflicting = [members for members in duplicates if len({data.labels[i] for i in members}) > 1]
    units, speakers = list(groups.values()), 0
    if data.kind == "audio":
        units, speakers = _speaker_units(data, units)
    # A group goes where its first member's class puts it; stratify groups per class.
    by_class: dict[str, list[list[int]]] = defaultdict(list)
    for members in units:
        by_class[data.labels[members[0]]].append(members)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for name in data.classes:
        class_groups = by_class.get(name, [])
        order = rng.permutation(len(class_groups))
        count = len(class_groups)
        n_test = max(1, int(round(count * test_fraction))) if test_fraction > 0 else 0
        n_val = max(1, int(round(count * val_fraction))) if val_fraction > 0 else 0
        n_val = min(n_val, max(0, count - n_test - 1))
        for position, group_index in enumerate(order):
            part = "test" if position < n_test else "val" if position < n_test + n_val else "train"
            parts[part] += class_groups[group_index]
    return Split(
        *(np.array(sorted(parts[p]), np.int64) for p in ("train", "val", "test")),
        duplicate_groups=duplicates,
        conflicting=conflicting,
        speakers=speakers,
    )


SPEAKER_NAME = re.compile(r"^(.+?)_nohash_", re.IGNORECASE)  # Speech Commands: <speaker>_nohash_<n>.wav


def _speaker_units(data: Dataset, groups: list[list[int]]) -> tuple[list[list[int]], int]:
    """Content groups merged per (class, speaker) where clip names say the speaker as Speech Commands does
    (``<speaker>_nohash_<n>.wav``), so one speaker's takes of a word never sit on both sides of a split;
    and how many speakers were found."""
    owner = list(range(len(groups)))  # union-find over the content groups

    def root(i: int) -> int:
        while owner[i] != i:
            owner[i] = owner[owner[i]]
            i = owner[i]
        return i

    first_of: dict[tuple[str, str], int] = {}
    for number, members in enumerate(groups):
        label = data.labels[members[0]]
        for index in members:
            match = SPEAKER_NAME.match(Path(data.items[index]).name)
            if match:
                key = (label, match.group(1).lower())
                other = first_of.setdefault(key, number)
                owner[root(number)] = root(other)
    merged: dict[int, list[int]] = defaultdict(list)
    for number, members in enumerate(groups):
        merged[root(number)] += members
    return [sorted(members) for members in merged.values()], len({speaker for _, speaker in first_of})
