"""A small MobileNet-style clothing classifier trained on Fashion-MNIST (Zalando, MIT licence).

Data: Debian's ``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist, IDX files): 60,000
training and the official 10,000 test images, 28x28 grey. The model takes RGB 28x28 pixels 0..255
(a Rescaling layer inside), so camera frames of any size are resized (stretch) and fed as they are.

    python -m converters.zoo.fashion OUT_FOLDER [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
SIZE = 28
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format): magic, dims, then raw uint8 data."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split: str, data_dir: Path = DATA_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Images as uint8 RGB (N, 28, 28, 3) and labels, for split 'train' or 't10k' (the official test set).

    Raises:
        FileNotFoundError: the Debian package is not installed (with the apt command).
    """
    images_file = data_dir / f"{split}-images-idx3-ubyte.gz"
    if not images_file.exists():
        raise FileNotFoundError(f"{images_file} not found: apt-get install dataset-fashion-mnist")
    grey = _idx(images_file)
    labels = _idx(data_dir / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return np.repeat(grey[..., None], 3, axis=3), labels


# BN momentum 0.9, not Keras' 0.99: with a short CPU training budget the weights still move in the last
# epochs, and slow moving statistics then lag behind them (measured: 34% instead of 89% after 2 epochs).


def _separable(x, filters: int, stride: int, name: str):
    import keras

    layers = keras.layers
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_pw_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_pw_relu")(x)


def build_model():
    """MobileNet v1 style: a stem conv, depthwise-separable blocks with BN + ReLU6, a small dense head."""
    import keras

    layers = keras.layers
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    x = _separable(x, 32, 1, "block1")  # 28x28
    x = _separable(x, 64, 2, "block2")  # 14x14
    x = _separable(x, 64, 1, "block3")
    x = _separable(x, 128, 2, "block4")  # 7x7
    x = _separable(x, 128, 1, "block5")
    x = _separable(x, 128, 1, "block6")
    # Flatten + a dense layer, not global pooling: it keeps where features are (a sleeve vs a collar), and
    # fully-connected weights quantize per tensor, which keeps the int8 file small. With global pooling the
    # per-channel quantization parameters of the small conv layers made int8 42% of the float32 size.
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Dense(64, activation="relu", name="features")(x)
    outputs = layers.Dense(len(LABELS), activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="fashion_mobilenet")


def train(out: Path, epochs: int = 10, seed: int = 0, batch_size: int = 256) -> dict:
    """Train on the 60k training images; evaluate on the official 10k test set; save model and data."""
    from converters.source import import_tensorflow

    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    train_images, train_labels = load("train")
    test_images, test_labels = load("t10k")
    model = build_model()
    steps = epochs * int(np.ceil(len(train_images) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(3e-3, decay_steps=steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    # Mirror images are still the same garment: a free doubling of the data that costs no time.
    dataset = (
        tf.data.Dataset.from_tensor_slices((train_images.astype(np.float32), train_labels))
        .shuffle(len(train_images), seed=seed)
        .batch(batch_size)
        .map(lambda x, y: (tf.image.random_flip_left_right(x, seed=seed), y))
        .prefetch(2)
    )
    start = time.perf_counter()
    model.fit(dataset, epochs=epochs, verbose=2)
    seconds = time.perf_counter() - start
    probabilities = model.predict(test_images.astype(np.float32), batch_size=512, verbose=0)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == test_labels))
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "fashion.keras")
    (out / "labels.txt").write_text("\n".join(LABELS) + "\n")
    rng = np.random.default_rng(seed)
    calibration = train_images[rng.choice(len(train_images), 500, replace=False)]
    np.save(out / "calibration.npy", calibration.astype(np.float32))
    summary = {
        "model": "fashion",
        "float32_accuracy": accuracy,
        "test_images": len(test_images),
        "train_images": len(train_images),
        "epochs": epochs,
        "seed": seed,
        "train_seconds": seconds,
        "parameters": int(model.count_params()),
        "data": "Fashion-MNIST (Zalando SE, MIT), Debian package dataset-fashion-mnist",
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    summary = train(args.out, args.epochs, args.seed)
    print(
        f"fashion: float32 accuracy {summary['float32_accuracy']:.2%} on the 10,000 official test images "
        f"({summary['train_seconds']:.0f} s of training) -> {args.out / 'fashion.keras'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def test_set(folder: Path | None = None, card=None) -> tuple[np.ndarray, np.ndarray]:
    """The official 10,000 test images as the model's float input and their labels.

    With ``card`` (read from an exported model) each image goes through the model's own preprocessing spec.
    """
    images, labels = load("t10k")
    if card is None:
        return images.astype(np.float32), labels
    from edgekit.processing.image import preprocess

    return np.stack([preprocess(image, card.image) for image in images]), labels


def card_options():
    from converters.tflite import CardOptions

    return CardOptions(
        labels=LABELS,
        name="fashion",
        license="MIT (data: Fashion-MNIST, Zalando SE)",
        description="Clothing type from a camera frame (Fashion-MNIST classes); trained by edgekit",
        author="edgekit",
    )
