"""Image classifier from class subfolders: a pluggable backbone with a new head.

Over 400 lines: backbones, augmentation, the embedding cache and both training modes share one streaming
data path (tf.data), which splitting would spread over modules.

Backbones (``--backbone``):

* ``imagenet`` (default): the frozen EfficientNet-Lite0 of ``converters.zoo.imagenet`` (issue 12).
  Its embeddings are computed once per image (plus augmented copies) and cached, so the head
  trains in seconds; ``--fine-tune N`` then unfreezes the top N layers and trains end to end.
  Until that module is on this branch the choice fails with a hint.
* ``small-cnn``: a small depthwise-separable network trained from scratch, end to end; for simple
  data (and the tests) when no pretrained backbone is available.

Images stream from disk (a generator feeding ``tf.data``): the folder is never held in memory.
Each is read as RGB 8-bit (grey, RGBA and 16-bit files too) and resized by edgekit's own
preprocessing (MediaPipe's resampling), the same code the exported file's metadata drives at run
time, so training and serving see the same pixels. The model takes pixels 0..255 (its Rescaling is
inside), which is what the card says. Augmentation (random crop/scale, horizontal flip, brightness
and contrast jitter) runs on training batches only.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import InputError, MissingDependencyError
from edgekit.labelled import LabelledData

from ..progress import say
from .common import (
    TrainOptions,
    TrainResult,
    check_output,
    evaluate_source,
    export_all,
    fit_keeping_best,
    model_name,
    options_dict,
    staged_output,
)
from .data import Dataset, check_classes, class_weights, discover_images, split_dataset, weighting
from .report import data_facts, print_summary, source_facts, timings, write_noting

CALIBRATION_IMAGES = 300
EMBEDDING_BATCH = 32
# A small folder gives few steps per epoch: moving statistics with Keras' 0.99 (or even 0.9) lag far behind
# the weights, and validation sits at chance for epochs (measured: 25 % for 6 epochs at 0.9, 4 classes x 45).
BN_MOMENTUM = 0.7


@dataclass(frozen=True)
class Backbone:
    """A feature extractor: ``build(size)`` → a Keras model from (size, size, 3) pixels 0..255 to features.

    ``frozen`` backbones keep their weights (embeddings cached, head trained alone); the others train end
    to end with the head.
    """

    name: str
    default_size: int
    frozen: bool
    build: Callable[[int], object]
    default_epochs: int
    learning_rate: float
    description: str


def _small_cnn(size: int):
    import keras

    layers = keras.layers
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = layers.Conv2D(24, 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    for index, (filters, stride) in enumerate([(32, 2), (64, 2), (64, 1), (128, 2), (128, 1)]):
        name = f"block{index + 1}"
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_pw_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_pw_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, x, name="small_cnn")


def _imagenet(size: int):
    """EfficientNet-Lite0 from ``converters.zoo.imagenet`` up to its pooled features, taking pixels 0..255."""
    try:
        module = importlib.import_module("converters.zoo.imagenet")
    except ImportError as exc:
        raise MissingDependencyError(
            "the 'imagenet' backbone (EfficientNet-Lite0, issue 12) is not in this edgekit yet "
            f"(converters.zoo.imagenet: {exc})",
            hint="use --backbone small-cnn to train a small network from scratch, or update edgekit",
        ) from exc
    if hasattr(module, "backbone"):
        return module.backbone(size)
    import keras

    from ..zoo import imagenet_weights as weights  # type: ignore[attr-defined]

    network = module.build_model()
    module.load_weights(network, weights.fetch_state_dict(weights.default_cache()))
    if size != module.SIZE:
        raise InputError(f"the imagenet backbone takes {module.SIZE} px images, got --image-size {size}")
    spec = module.image_spec()
    inputs = keras.Input((size, size, 3), name="image")
    scaled = keras.layers.Rescaling(1.0 / spec.std[0], offset=-spec.mean[0] / spec.std[0], name="normalize")(inputs)
    features = keras.Model(network.inputs, network.get_layer("pool").output, name="efficientnet_lite0")
    return keras.Model(inputs, features(scaled), name="imagenet_backbone")


BACKBONES = {
    "imagenet": Backbone("imagenet", 224, True, _imagenet, 20, 1e-3, "EfficientNet-Lite0 (ImageNet), frozen"),
    "small-cnn": Backbone("small-cnn", 96, False, _small_cnn, 15, 3e-3, "small CNN trained from scratch"),
}


def backbone_named(name: str) -> Backbone:
    if name not in BACKBONES:
        raise InputError(f"unknown backbone {name!r}", hint=f"choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name]


# ------------------------------------------------------------------------------------------ streaming
def _pixels(path: Path, size: int) -> np.ndarray:
    from edgekit.metadata import ImageSpec
    from edgekit.processing.image import preprocess, read_image

    return preprocess(read_image(path), ImageSpec(size, size)).astype(np.float32)


def _dataset(items: list, labels: np.ndarray, size: int, batch_size: int, shuffle_seed: int | None):
    """A tf.data pipeline decoding images from disk one at a time (reshuffled each epoch when seeded)."""
    import tensorflow as tf

    epoch = [0]

    def generate():
        order = np.arange(len(items))
        if shuffle_seed is not None:
            order = np.random.default_rng(shuffle_seed + epoch[0]).permutation(len(items))
            epoch[0] += 1
        for index in order:
            yield _pixels(items[index], size), labels[index]

    signature = (tf.TensorSpec((size, size, 3), tf.float32), tf.TensorSpec((), tf.int64))
    return tf.data.Dataset.from_generator(generate, output_signature=signature).batch(batch_size).prefetch(2)


def augmenter(seed: int):
    """Random crop/scale, horizontal flip, brightness and contrast jitter on pixels 0..255 (training only)."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomZoom((-0.25, 0.05), fill_mode="reflect", seed=seed + 1),
            layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 2),
            layers.RandomBrightness(0.15, value_range=(0.0, 255.0), seed=seed + 3),
            layers.RandomContrast(0.2, value_range=(0.0, 255.0), seed=seed + 4),
        ],
        name="augmentation",
    )


def _augmented(dataset, seed: int):
    augment = augmenter(seed)
    return dataset.map(lambda x, y: (augment(x, training=True), y))


# ------------------------------------------------------------------------------------------ embeddings
def _cache_key(backbone: Backbone, size: int, items: list, copies: int, seed: int) -> str:
    digest = hashlib.sha256(f"{backbone.name}|{size}|{copies}|{seed}".encode())
    for path in items:
        stat = os.stat(path)
        digest.update(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def embeddings(
    extractor,
    backbone: Backbone,
    items: list,
    size: int,
    copies: int,
    seed: int,
    cache_dir: Path | None,
    show: bool,
    features_of: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Features of every image (then ``copies`` augmented versions of each), cached on disk by content stamp.
    ``features_of`` computes a batch's features (e.g. a :class:`~converters.train.backbone_tflite.TFLiteBackbone`);
    default the Keras ``extractor``.

    Returns:
        (copies + 1, len(items), features) float32.
    """
    import keras

    path = None
    if cache_dir is not None:
        path = cache_dir / f"{_cache_key(backbone, size, items, copies, seed)}.npy"
        if path.is_file():
            say(f"embeddings: cached ({path})", show)
            return np.load(path)
    augment = augmenter(seed) if copies else None
    bar = keras.utils.Progbar(len(items) * (copies + 1), verbose=1 if show else 0, unit_name="image")
    stacked: np.ndarray | None = None
    for start in range(0, len(items), EMBEDDING_BATCH):
        # Each batch is decoded once (a plain loop: tf.data's generator cost 10 ms an image, the decode 4)
        # and gives its plain and augmented copies.
        pixels = np.stack([_pixels(path, size) for path in items[start : start + EMBEDDING_BATCH]])
        for copy in range(copies + 1):
            batch = pixels if copy == 0 else augment(pixels, training=True)
            if features_of is not None:
                features = features_of(np.asarray(batch, np.float32))
            else:
                # predict_on_batch runs the compiled graph: an eager call kept every activation of the batch
                # alive (EfficientNet-Lite0, 32 images: 3.2 GB peak against 1.0 GB).
                features = np.asarray(extractor.predict_on_batch(batch), np.float32)
            if stacked is None:
                stacked = np.zeros((copies + 1, len(items), features.shape[-1]), np.float32)
            stacked[copy, start : start + len(pixels)] = features
            bar.add(len(pixels))
    assert stacked is not None  # items is never empty (every class has at least 5 images)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, stacked)
    return stacked


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgekit" / "train-embeddings"


# ------------------------------------------------------------------------------------------ training
def train_image_classifier(
    data_path: str | Path,
    out: str | Path,
    options: TrainOptions | None = None,
    *,
    backbone: str = "imagenet",
    image_size: int | None = None,
    fine_tune: int = 0,
    augment_copies: int = 2,
    cache_dir: Path | None = None,
) -> TrainResult:
    """Train on class subfolders of images, export every recipe, evaluate each file on the test split.

    Args:
        data_path: a folder with one subfolder of images per class.
        out: the output folder (must not exist unless ``options.overwrite``).
        options: epochs, splits, seed, targets, recipes (see :class:`TrainOptions`).
        backbone: a name in :data:`BACKBONES`.
        image_size: model input size in pixels (square; default the backbone's).
        fine_tune: frozen backbones: after the head, train the top N backbone layers too.
        augment_copies: frozen backbones: augmented copies of each training image whose embeddings are cached.
        cache_dir: where embeddings are cached (default ~/.cache/edgekit/train-embeddings).

    Returns:
        A :class:`TrainResult` (its ``report`` is OUT/report.json).

    Raises:
        InputError: unusable data (one class, a class with fewer than 5 readable images).
        MissingDependencyError: the backbone is not available.
        OutputPathError: ``out`` exists (without overwrite) or cannot be written.
    """
    options = options or TrainOptions()
    chosen = backbone_named(backbone)
    size = image_size or chosen.default_size
    if size < 16:
        raise InputError(f"--image-size must be at least 16 pixels, got {size}")
    started = time.perf_counter()
    out = check_output(Path(out), options.overwrite)
    data = discover_images(data_path)
    warnings = check_classes(data, options.class_weights)
    for line in warnings:
        say(f"warning: {line}", options.show)
    split = split_dataset(data, options.val_split, options.test_split, options.seed)
    for line in split.describe(data):
        say(line, options.show)
    name = model_name(out, options.name)

    from ..source import import_tensorflow

    import_tensorflow()
    import keras

    keras.utils.set_random_seed(options.seed)
    extractor = chosen.build(size)
    ids = data.label_ids
    train_items, val_items = [data.items[i] for i in split.train], [data.items[i] for i in split.val]
    weights = class_weights(data) if weighting(data, options.class_weights) else None
    epochs = options.epochs or chosen.default_epochs
    learning_rate = options.learning_rate or chosen.learning_rate
    if chosen.frozen:
        model, training, accuracies = _train_head(
            extractor, chosen, data, split, size, epochs, learning_rate, options, augment_copies, cache_dir, weights
        )
        if fine_tune:
            training["fine_tune"] = _fine_tune(model, extractor, fine_tune, data, split, size, options, weights)
            accuracies = None
    else:
        model = _classifier(extractor, len(data.classes), name)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        say(f"training {chosen.description} at {size}x{size} on {len(train_items)} images (streamed)", options.show)
        train_stream = _augmented(
            _dataset(train_items, ids[split.train], size, options.batch_size, options.seed), options.seed
        )
        val_stream = _dataset(val_items, ids[split.val], size, options.batch_size, None) if val_items else None
        training = fit_keeping_best(
            model,
            epochs,
            options.show,
            options.callbacks,
            x=train_stream,
            validation_data=val_stream,
            class_weight=weights,
        )
        accuracies = None
    if accuracies is None:
        accuracies = {
            part: _stream_accuracy(model, [data.items[i] for i in indices], ids[indices], size, options.batch_size)
            for part, indices in (("train", split.train), ("val", split.val))
        }
    model = keras.Model(model.inputs, model.outputs, name=name)
    test_data = LabelledData(
        "image",
        tuple(data.items[i] for i in split.test),
        tuple(data.labels[i] for i in split.test),
        f"{len(split.test)} test-split images of {data.origin}",
    )
    card_options = _card_options(name, data.classes, chosen)
    trained = time.perf_counter()
    with staged_output(out, options.overwrite) as stage:
        keras_path = stage / f"{name}.keras"
        model.save(keras_path)
        (stage / "labels.txt").write_text("\n".join(data.classes) + "\n", "utf-8")
        source_report = evaluate_source(keras_path, card_options, test_data)
        with tempfile.TemporaryDirectory(prefix="edgekit-train-") as scratch_name:
            scratch = Path(scratch_name)
            calibration = _link_images(
                scratch / "calibration", data.take(split.train), CALIBRATION_IMAGES, by_class=False
            )
            verification = _link_images(
                scratch / "verification", data.take(split.val if len(split.val) else split.train), 100, by_class=True
            )
            exports = export_all(
                keras_path, stage, card_options, options, str(calibration), str(verification), test_data
            )
        report = {
            "name": name,
            "task": "image-classifier",
            "classes": data.classes,
            "data": {
                **data_facts(data, split, warnings),
            },
            "model": {
                "backbone": chosen.name,
                "description": chosen.description,
                "image_size": size,
                "parameters": int(model.count_params()),
                "fine_tune_layers": fine_tune,
            },
            "options": options_dict(options),
            "training": training,
            "source": source_facts(accuracies["train"], accuracies["val"], source_report),
            "exports": exports,
            **timings(started, trained, time.perf_counter()),
        }
        write_noting(stage, report, options.show)
    print_summary(out, report, options.show)
    return TrainResult(out, report, sorted(out.iterdir()))


def _classifier(extractor, classes: int, name: str, dropout: float = 0.2):
    import keras

    inputs = keras.Input(extractor.input_shape[1:], name="image")
    x = extractor(inputs)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def _train_head(
    extractor, chosen, data: Dataset, split, size, epochs, learning_rate, options, copies, cache_dir, weights
):
    import keras

    extractor.trainable = False
    ids = data.label_ids
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    say(
        f"embeddings of {chosen.description} at {size}x{size} ({copies} augmented copies of the training images)",
        options.show,
    )
    from .backbone_tflite import TFLiteBackbone

    fast = TFLiteBackbone.convert(extractor, chosen.name, size, cache)
    try:

        def features(indices, count: int) -> np.ndarray:
            items = [data.items[i] for i in indices]
            return embeddings(extractor, chosen, items, size, count, options.seed, cache, options.show, fast)

        train_features = features(split.train, copies)
        val_features = features(split.val, 0)[0] if len(split.val) else None
    finally:
        if fast is not None:
            fast.close()
    features = train_features.reshape(-1, train_features.shape[-1])
    labels = np.tile(ids[split.train], train_features.shape[0])
    head_inputs = keras.Input((features.shape[-1],), name="features")
    x = keras.layers.Dropout(0.2, name="dropout")(head_inputs)
    head_outputs = keras.layers.Dense(len(data.classes), activation="softmax", name="probabilities")(x)
    head = keras.Model(head_inputs, head_outputs, name="head")
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    validation = (val_features, ids[split.val]) if val_features is not None else None
    training = fit_keeping_best(
        head,
        epochs,
        options.show,
        options.callbacks,
        x=features,
        y=labels,
        validation_data=validation,
        batch_size=options.batch_size,
        shuffle=True,
        class_weight=weights,
    )

    def accuracy(x, y):
        return float(np.mean(head.predict(x, verbose=0).argmax(1) == y)) if len(y) else None

    accuracies = {
        "train": accuracy(train_features[0], ids[split.train]),
        "val": accuracy(val_features, ids[split.val]) if val_features is not None else None,
    }
    inputs = keras.Input((size, size, 3), name="image")
    model = keras.Model(inputs, head(extractor(inputs, training=False)))
    return model, training, accuracies


def _fine_tune(model, extractor, layers: int, data: Dataset, split, size, options, weights) -> dict:
    """Unfreeze the top ``layers`` of the backbone (batch norms stay frozen) and train end to end, streamed."""
    import keras

    extractor.trainable = True
    for layer in extractor.layers[:-layers] if layers < len(extractor.layers) else []:
        layer.trainable = False
    for layer in extractor.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ids = data.label_ids
    train_stream = _augmented(
        _dataset([data.items[i] for i in split.train], ids[split.train], size, options.batch_size, options.seed),
        options.seed,
    )
    val_stream = (
        _dataset([data.items[i] for i in split.val], ids[split.val], size, options.batch_size, None)
        if len(split.val)
        else None
    )
    say(f"fine-tuning the top {layers} backbone layers", options.show)
    return fit_keeping_best(
        model,
        max(1, (options.epochs or 5) // 3),
        options.show,
        x=train_stream,
        validation_data=val_stream,
        class_weight=weights,
    )


def _stream_accuracy(model, items: list, labels: np.ndarray, size: int, batch_size: int) -> float | None:
    if not items:
        return None
    predicted = model.predict(_dataset(items, labels, size, batch_size, None), verbose=0).argmax(1)
    return float(np.mean(predicted == labels))


def _link_images(folder: Path, data: Dataset, limit: int, by_class: bool) -> Path:
    """Symbolic links to up to ``limit`` images spread over ``data`` (in class subfolders when ``by_class``)."""
    picks = np.linspace(0, len(data) - 1, min(limit, len(data))).round().astype(int) if len(data) else []
    for number, index in enumerate(sorted(set(int(p) for p in picks))):
        path = Path(data.items[index])
        target = folder / data.labels[index] if by_class else folder
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{number:05d}{path.suffix.lower()}").symlink_to(path.resolve())
    return folder


def _card_options(name: str, classes: list[str], backbone: Backbone):
    from ..tflite import CardOptions

    return CardOptions(
        task="image-classifier",
        labels=list(classes),
        name=name,
        # The model takes pixels 0..255 (its Rescaling sits inside the backbone, where the graph reader does not look).
        mean=(0.0,),
        std=(1.0,),
        description=f"Image classifier ({len(classes)} classes, {backbone.description}) trained by edgekit train",
        author="edgekit train",
    )
