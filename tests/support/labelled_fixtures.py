"""The preprocessing trap, for real: a CNN trained here on raw Fashion-MNIST pixels that normalizes itself
with plain arithmetic (``x / 127.5 - 1``), and labelled PNG class folders to calibrate and evaluate on.

Built once per test session and cached on disk (both test modules that use it share the files).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Fashion-MNIST's classes, as folder-safe names (the official "T-shirt/top" holds a slash).
LABELS = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
PER_CLASS = 30  # 300 held-out test images as PNG class folders


def _fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    from converters.zoo.fashion import load

    return load(split)  # RGB uint8 (N, 28, 28, 3): the grey image in three channels


def write_class_folders(root: Path, images: np.ndarray, labels: np.ndarray, per_class: int) -> Path:
    """``per_class`` images of each class as RGB PNG files in ``root/<label>/``."""
    import cv2

    for index, name in enumerate(LABELS):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for n, position in enumerate(np.flatnonzero(labels == index)[:per_class]):
            # Slightly tinted so that the three channels differ (a real RGB file, not grey in disguise).
            rgb = np.clip(images[position].astype(np.int16) + np.array([6, 0, -6]), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{n:03d}.png"), rgb[:, :, ::-1])
    return root


def build_trap(root: Path) -> dict:
    """Train (once) the trap model on 4000 raw-pixel training images, 2 epochs; write the PNG folders."""
    import keras

    keras_path = root / "trap.keras"
    folders = root / "fashion_test"
    labels_file = root / "labels.txt"
    if not folders.exists():
        test_images, test_labels = _fashion("t10k")
        write_class_folders(folders, test_images, test_labels, PER_CLASS)
        labels_file.write_text("\n".join(LABELS) + "\n")
    if not keras_path.exists():
        keras.utils.set_random_seed(0)
        train_images, train_labels = _fashion("train")
        inputs = keras.Input((28, 28, 3), name="image")
        x = inputs / 127.5 - 1.0  # plain arithmetic: no Rescaling layer for a converter to find
        x = keras.layers.Conv2D(16, 3, activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Conv2D(32, 3, activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(10, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        # Raw 0..255 pixels, as the model's own first op expects.
        model.fit(train_images[:4000].astype(np.float32), train_labels[:4000], epochs=2, batch_size=64, verbose=0)
        model.save(keras_path)
    return {"keras": keras_path, "data": folders, "labels": labels_file}


def keras_truth(keras_path: Path, folders: Path) -> tuple[np.ndarray, np.ndarray]:
    """Independent of edgekit: the Keras model's top-1 on the PNG files (read with OpenCV, raw pixels), and
    the true class indices. Returns (predicted, true)."""
    import cv2
    import keras

    model = keras.saving.load_model(keras_path, compile=False, safe_mode=False)
    files, truth = [], []
    for index, name in enumerate(LABELS):
        for path in sorted((folders / name).glob("*.png")):
            files.append(path)
            truth.append(index)
    pixels = np.stack([cv2.imread(str(p), cv2.IMREAD_COLOR)[:, :, ::-1] for p in files]).astype(np.float32)
    predicted = model.predict(pixels, verbose=0).argmax(axis=1)
    return predicted, np.array(truth)
