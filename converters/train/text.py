"""Text classifier from a CSV/TSV or class folders of .txt files: an average-word-embedding model.

The model, vocabulary and tokenizer are the zoo's topic model's (``converters.zoo.topics``): int32
token ids from the standard RegexTokenizer reading (``<START>`` first, case kept, RE2's ASCII
``\\w``), embeddings averaged, one hidden layer. The tokenizer goes into the file as standard TFLite
Metadata, so MediaPipe Tasks and edgekit feed the model the ids it was trained on. A bag-of-words
logistic regression on the same split is printed beside it, as a bar the model should reach.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

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
from .data import check_classes, class_weights, discover_texts, split_dataset, weighting
from .report import data_facts, print_summary, source_facts, timings, write_noting

DEFAULT_EPOCHS = 30
DEFAULT_LEARNING_RATE = 2e-3


def train_text_classifier(
    data_path: str | Path,
    out: str | Path,
    options: TrainOptions | None = None,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    case_augmentation: bool = False,
) -> TrainResult:
    """Train, export every recipe, evaluate each file on the test split, write the report into ``out``.

    Args:
        data_path: a CSV/TSV (text and label columns) or a folder with one subfolder of .txt files per class.
        out: the output folder (must not exist unless ``options.overwrite``).
        options: epochs, splits, seed, targets, recipes (see :class:`TrainOptions`).
        text_column, label_column: column names (or 0-based numbers) when the header does not say.
        case_augmentation: also train on each line in lower case and in sentence case (the standard
            tokenizer keeps case, and people type to a bot in lower case).

    Returns:
        A :class:`TrainResult` (its ``report`` is OUT/report.json).

    Raises:
        InputError: unusable data (one class, a class with fewer than 5 texts, no label column).
        OutputPathError: ``out`` exists (without overwrite) or cannot be written.
    """
    from ..zoo import topics

    options = options or TrainOptions()
    started = time.perf_counter()
    out = check_output(Path(out), options.overwrite)
    data = discover_texts(data_path, text_column, label_column)
    warnings = check_classes(data, options.class_weights)
    for line in warnings:
        say(f"warning: {line}", options.show)
    split = split_dataset(data, options.val_split, options.test_split, options.seed)
    for line in split.describe(data):
        say(line, options.show)
    name = model_name(out, options.name)

    from ..source import import_tensorflow

    tf = import_tensorflow()
    import keras

    from edgekit.metadata import TextSpec
    from edgekit.processing.text import Tokenizer

    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()
    ids = data.label_ids
    texts = data.items
    train_rows = [
        (variant, ids[i])
        for i in split.train
        for variant in (topics.case_variants(texts[i]) if case_augmentation else [texts[i]])
    ]
    vocabulary = topics.build_vocabulary([text for text, _ in train_rows])
    spec = TextSpec(vocabulary=tuple(vocabulary), max_length=topics.MAX_LENGTH, delimiter_pattern=topics.DELIMITER)
    tokenizer = Tokenizer(spec)

    def tokens(rows: list[str]) -> np.ndarray:
        return np.stack([tokenizer(text) for text in rows]).astype(np.int32)

    train_x, train_y = tokens([t for t, _ in train_rows]), np.array([y for _, y in train_rows])
    val_x, val_y = tokens([texts[i] for i in split.val]), ids[split.val]
    built = topics.build_model(len(vocabulary), len(data.classes), hidden=0)
    model = keras.Model(built.inputs, built.outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(options.learning_rate or DEFAULT_LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    say(f"training on {len(train_y)} lines ({len(split.train)} texts), vocabulary {len(vocabulary)}", options.show)
    validation = (val_x, val_y) if len(val_y) else None
    training = fit_keeping_best(
        model,
        options.epochs or DEFAULT_EPOCHS,
        options.show,
        options.callbacks,
        x=train_x,
        y=train_y,
        validation_data=validation,
        batch_size=options.batch_size,
        shuffle=True,
        class_weight=class_weights(data) if weighting(data, options.class_weights) else None,
    )

    def accuracy(x: np.ndarray, y: np.ndarray) -> float | None:
        return float(np.mean(model.predict(x, verbose=0).argmax(1) == y)) if len(y) else None

    split_rows = {part: [(texts[i], int(ids[i])) for i in getattr(split, part)] for part in ("train", "test")}
    baselines = topics.baselines(split_rows)
    test_data = LabelledData(
        "text",
        tuple(texts[i] for i in split.test),
        tuple(data.labels[i] for i in split.test),
        f"{len(split.test)} test-split texts of {data.origin}",
    )
    card_options = _card_options(name, data.classes, spec)
    trained = time.perf_counter()
    with staged_output(out, options.overwrite) as stage:
        keras_path = stage / f"{name}.keras"
        model.save(keras_path)
        (stage / "labels.txt").write_text("\n".join(data.classes) + "\n", "utf-8")
        (stage / "vocab.txt").write_text("\n".join(vocabulary) + "\n", "utf-8")
        source_report = evaluate_source(keras_path, card_options, test_data)
        with tempfile.TemporaryDirectory(prefix="edgekit-train-") as scratch_name:
            scratch = Path(scratch_name)
            calibration = scratch / "calibration.txt"
            calibration.write_text("\n".join(texts[i] for i in split.train) + "\n", "utf-8")
            verification = scratch / "verification.txt"
            verification.write_text(
                "\n".join(texts[i] for i in (split.val if len(split.val) else split.test)) + "\n", "utf-8"
            )
            exports = export_all(
                keras_path, stage, card_options, options, str(calibration), str(verification), test_data
            )
        report = {
            "name": name,
            "task": "text-classifier",
            "classes": data.classes,
            "data": {
                **data_facts(data, split, warnings),
            },
            "model": {
                "kind": "average word embedding, linear head (converters.zoo.topics.build_model, hidden=0)",
                "vocabulary": len(vocabulary),
                "max_length": topics.MAX_LENGTH,
                "case_augmentation": case_augmentation,
                "parameters": int(model.count_params()),
            },
            "options": options_dict(options),
            "training": training,
            "baselines": baselines,
            "source": source_facts(
                accuracy(tokens([texts[i] for i in split.train]), ids[split.train]),
                accuracy(val_x, val_y),
                source_report,
            ),
            "exports": exports,
            **timings(started, trained, time.perf_counter()),
        }
        write_noting(stage, report, options.show)
    files = sorted(out.iterdir())
    print_summary(out, report, options.show)
    return TrainResult(out, report, files)


def _card_options(name: str, classes: list[str], spec):
    from ..tflite import CardOptions

    return CardOptions(
        task="text-classifier",
        labels=list(classes),
        name=name,
        text_spec=spec,
        description=f"Text classifier ({len(classes)} classes) trained by edgekit train",
        author="edgekit train",
    )
