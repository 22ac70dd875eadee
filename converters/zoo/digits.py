"""A small digit classifier (scikit-learn's 8x8 digits, BSD-3) as a camera-style image model.

The model takes RGB 32x32 pixels 0..255 (a Rescaling layer inside), so frames can be fed as they
come. It is the default model of the README's main command until the model zoo lands.

    python -m converters.zoo.digits OUT_FOLDER [--epochs N] [--seed S]

writes OUT_FOLDER/digits.keras, labels.txt, calibration/ (PNG images from the training split)
and test/ (PNG images from the held-out split, named by their true class).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edgekit.io import write_bytes_atomic
from edgekit.processing.image import resize

SIZE = 32
LABELS = [str(d) for d in range(10)]


def load_digits_rgb() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as uint8 RGB 32x32 images (white digit on black) and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.images * (255.0 / 16.0)).astype(np.float32)
    images = np.stack([resize(img, SIZE, SIZE) for img in pixels])
    images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return np.repeat(images[..., None], 3, axis=3), digits.target.astype(np.int64)


def split(count: int, seed: int = 0, test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(count)
    held = int(count * test_fraction)
    return order[held:], order[:held]


def build_model():
    import keras

    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(32, 1, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="digits")


def train(out: Path, epochs: int = 30, seed: int = 0) -> dict:
    """Train, save the model and its data folders; return the float accuracy on the held-out split."""
    from converters.source import import_tensorflow

    import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    images, labels = load_digits_rgb()
    train_idx, test_idx = split(len(images), seed=0)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images[train_idx].astype(np.float32), labels[train_idx], epochs=epochs, batch_size=32, verbose=0)
    probabilities = model.predict(images[test_idx].astype(np.float32), verbose=0)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels[test_idx]))
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "digits.keras")
    write_bytes_atomic(out / "labels.txt", ("\n".join(LABELS) + "\n").encode())
    _write_pngs(out / "calibration", images[train_idx][:300], labels[train_idx][:300])
    _write_pngs(out / "test", images[test_idx], labels[test_idx])
    summary = {
        "float_accuracy": accuracy,
        "train": len(train_idx),
        "test": len(test_idx),
        "epochs": epochs,
        "seed": seed,
        "data": "scikit-learn load_digits (BSD-3-Clause)",
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary


def _write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(image).save(folder / f"{index:04d}_label{label}.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    summary = train(args.out, args.epochs, args.seed)
    print(
        f"digits: float32 accuracy {summary['float_accuracy']:.1%} on {summary['test']} held-out images "
        f"-> {args.out / 'digits.keras'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
