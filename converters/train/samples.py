"""Small labelled datasets written as a user would have them, for the tests and benchmarks/train.py.

* :func:`fashion_folders`: Fashion-MNIST images (Debian ``dataset-fashion-mnist``) as class
  subfolders of PNG files, upscaled to ``size`` px at a random scale and position on a random
  grey, noisy background; a share saved as grey, RGBA and 16-bit PNGs (mixed modes, as real folders are).
* :func:`chat_csv`: the chatterbot-corpus topic lines of the zoo's text model as a text,label CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

FASHION_CLASSES = {"T-shirt top": 0, "Trouser": 1, "Sneaker": 7, "Bag": 8, "Ankle boot": 9}


def fashion_folders(
    out: Path, classes: dict[str, int] | None = None, per_class: int = 60, size: int = 96, seed: int = 0
) -> Path:
    """Write ``per_class`` PNGs per class into ``out/<class name>/``; returns ``out``.

    Raises:
        FileNotFoundError: the Debian package is not installed.
    """
    import cv2

    from ..zoo.fashion import load

    classes = classes or FASHION_CLASSES
    images, labels = load("train")
    rng = np.random.default_rng(seed)
    for name, label in classes.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        picks = rng.choice(np.flatnonzero(labels == label), per_class, replace=False)
        for number, index in enumerate(picks):
            scale = int(rng.integers(int(size * 0.7), size + 1))
            garment = cv2.resize(images[index, :, :, 0], (scale, scale), interpolation=cv2.INTER_LINEAR)
            canvas = np.clip(rng.normal(rng.integers(0, 90), 8, (size, size)), 0, 255).astype(np.uint8)
            top, left = rng.integers(0, size - scale + 1, 2)
            region = canvas[top : top + scale, left : left + scale]
            canvas[top : top + scale, left : left + scale] = np.maximum(region, garment)
            path = folder / f"{name.split()[0].lower()}_{number:04d}.png"
            mode = number % 4
            if mode == 0:  # grey
                cv2.imwrite(str(path), canvas)
            elif mode == 1:  # RGBA
                rgba = np.dstack([canvas, canvas, canvas, np.full_like(canvas, 255)])
                cv2.imwrite(str(path), rgba)
            elif mode == 2:  # 16-bit grey
                cv2.imwrite(str(path), canvas.astype(np.uint16) * 257)
            else:
                cv2.imwrite(str(path), np.dstack([canvas] * 3))
    return out


def chat_csv(path: Path) -> Path:
    """The zoo's chatterbot-corpus topic lines (both of its splits) as a CSV with text and label columns."""
    from ..zoo import topics

    split = topics.load_split(seed=0)
    names = list(topics.TOPICS)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for part in ("train", "test"):
            writer.writerows([text, names[label]] for text, label in split[part])
    return path
