"""The previous keyword spotter (1 s log-mel CNN; no longer bundled, see edgekit/zoo/keywords.md) on raw 16 kHz audio.

Over 400 lines: the previous spotter's whole training recipe, kept unchanged so it can be rebuilt.

The model takes 1 s of raw mono samples (16000 float32 in [-1, 1]) and computes its own features:
a fixed, non-trainable log-mel front end inside the graph (framing and DFT as strided Conv1Ds with a
windowed cos/sin basis, a magnitude, a mel matrix as a 1x1 Conv1D, a log), then a small temporal CNN.
An app only feeds samples, and every exported file (each TFLite recipe, Core ML) computes the same
features by construction. Only built-in Keras layers and ``keras.ops`` are used, so the ``.keras``
file loads anywhere (``edgekit convert`` included) without this module.

It is trained on speech synthesized by :mod:`converters.zoo.speech_data` and evaluated on speakers
held out of training (a whole accent, a whole flite voice, and three voice variants).

    python -m converters.zoo.keywords_logmel OUT_FOLDER [--seed S] [--data-root CACHE] [--epochs N]

writes OUT_FOLDER/keywords.keras, labels.txt, calibration/ (408 WAV files from training speakers,
34 per label), test/ (every held-out clip as ``NNNNN_label<label>.wav``), test.csv (file, label,
word, speaker) and training.json (float32 accuracy on the held-out speakers, per label and per
held-out group, dataset statistics, wall times).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from converters.zoo import speech_data
from converters.zoo.speech_data import LABELS, SAMPLE_RATE_HZ, WINDOW_SAMPLES
from edgekit.io import write_bytes_atomic


@dataclass(frozen=True)
class FrontEnd:
    """The log-mel front end's parameters (also written to training.json and the model card).

    Features are ``log(mel_matrix · |X| + log_floor)`` over the STFT ``X`` of 30 ms periodic-Hann frames
    every 20 ms, scaled like scipy's ``scaling='spectrum'`` (a full-scale sine peaks at 0.5).

    ``magnitude`` is ``"approx"`` (default): the "alpha max plus beta min" estimate
    |X| ≈ max(|re|, |im|) + beta · min(|re|, |im|), or ``"power"`` (|X|², the textbook choice). The
    estimate avoids squaring: an int8 tensor holds 48 dB of magnitude but only 24 dB of power, and
    TFLite's SQUARE has no int8 or int16 kernel (it falls back to float, or fails in int16x8).
    ``groups``: the mel bands are computed in this many groups, each with its own tensors, so each
    gets its own int8 scale (see :func:`add_front_end`).
    """

    frame_samples: int = 480  # 30 ms windows ...
    hop_samples: int = 320  # ... every 20 ms: 49 frames per second
    fft_samples: int = 512
    mel_bands: int = 40
    min_hz: float = 20.0
    max_hz: float = 7600.0
    magnitude: str = "approx"
    beta: float = 0.4  # max error of the magnitude estimate: 7.7 % (0.7 dB), vs 41 % for |re| + |im|
    # A few int8 steps of a mel magnitude: below it float and int8 both see the floor. Measured on the
    # held-out speakers, 1e-3 → 3e-3 costs float32 nothing and narrows the int8 gap.
    log_floor: float = 3e-3
    groups: int = 8

    @property
    def frames(self) -> int:
        return (WINDOW_SAMPLES - self.frame_samples) // self.hop_samples + 1

    @property
    def bins(self) -> int:
        """DFT bins kept: 1 .. fft/2 - 1. DC and Nyquist are outside the mel range, and their sine
        rows are all zeros, which int8 per-channel quantization cannot scale."""
        return self.fft_samples // 2 - 1


def hann_window(length: int) -> np.ndarray:
    """The periodic Hann window (what scipy.signal.get_window('hann', length) returns)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)).astype(np.float64)


def dft_kernel(front: FrontEnd) -> np.ndarray:
    """The Conv1D kernel (frame_samples, 1, 2 * bins): windowed cos then -sin of bins 1 .. fft/2 - 1,
    scaled by 1/sum(window).

    Convolving a signal with it at stride ``hop_samples`` gives the real and imaginary parts of the
    short-time Fourier transform with scipy's ``scaling='spectrum'`` (a full-scale sine peaks at 0.5).
    """
    window = hann_window(front.frame_samples)
    time_index = np.arange(front.frame_samples)[:, None]
    angle = 2 * np.pi * time_index * np.arange(1, front.bins + 1)[None, :] / front.fft_samples
    scale = window[:, None] / window.sum()
    kernel = np.concatenate([np.cos(angle) * scale, -np.sin(angle) * scale], axis=1)
    return kernel[:, None, :].astype(np.float32)


def hz_to_mel(frequency_hz):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(frequency_hz, np.float64) / 700.0)


def mel_matrix(front: FrontEnd) -> np.ndarray:
    """(bins, mel_bands) triangular filters over bins 1 .. fft/2 - 1, equally spaced in mel, peak 1.

    Triangles are evaluated on each bin's mel value (the convention of tf.signal's
    linear_to_mel_weight_matrix, which the tests use as an independent reference).
    """
    edges = np.linspace(hz_to_mel(front.min_hz), hz_to_mel(front.max_hz), front.mel_bands + 2)
    bin_mel = hz_to_mel(np.arange(1, front.bins + 1) * SAMPLE_RATE_HZ / front.fft_samples)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bin_mel[None, :] - lower) / (centre - lower)
    falling = (upper - bin_mel[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights.T.astype(np.float32)


def band_groups(front: FrontEnd) -> list[tuple[range, range]]:
    """(mel bands, DFT bins) of each group: contiguous bands, and every bin their triangles touch."""
    weights = mel_matrix(front)
    edges = np.linspace(0, front.mel_bands, front.groups + 1).round().astype(int)
    groups = []
    for first, last in zip(edges[:-1], edges[1:]):
        used = np.flatnonzero(weights[:, first:last].sum(axis=1) > 0)
        groups.append((range(first, last), range(int(used[0]), int(used[-1]) + 1)))
    return groups


def add_front_end(samples, front: FrontEnd):
    """Append the log-mel front end to a Keras tensor of samples (batch, 16000) → (batch, frames, mel_bands).

    The mel bands are computed in ``front.groups`` groups, each from its own DFT convolution, and
    joined after the log. In float this changes nothing; in int8 each group's tensors get their own
    scale, so the quiet high bands are not quantized on the scale of the loud low ones (speech falls
    by 30-40 dB from 500 Hz to 6 kHz, close to all an int8 tensor can hold). Only Conv1D layers with
    fixed weights (trainable=False) and keras.ops are used: the TFLite graph is CONV_2D, ABS,
    MAXIMUM, MINIMUM, MUL, ADD, LOG and CONCATENATION, all with int8 and int16 kernels.
    """
    import keras

    x = keras.layers.Reshape((WINDOW_SAMPLES, 1), name="samples_as_channel")(samples)
    kernel, weights = dft_kernel(front), mel_matrix(front)
    outputs = []
    for index, (bands, bins) in enumerate(band_groups(front)):
        rows = list(bins) + [front.bins + b for b in bins]  # the cos then the sin rows of these bins
        dft = keras.layers.Conv1D(
            len(rows),
            front.frame_samples,
            strides=front.hop_samples,
            use_bias=False,
            trainable=False,
            name=f"dft_{index}",
        )
        stft = dft(x)
        dft.set_weights([kernel[:, :, rows]])
        real, imag = stft[..., : len(bins)], stft[..., len(bins) :]
        if front.magnitude == "power":
            spectrum = keras.ops.add(keras.ops.multiply(real, real), keras.ops.multiply(imag, imag))
        else:
            real, imag = keras.ops.abs(real), keras.ops.abs(imag)
            larger, smaller = keras.ops.maximum(real, imag), keras.ops.minimum(real, imag)
            spectrum = keras.ops.add(larger, keras.ops.multiply(smaller, front.beta))
        # A 1x1 convolution rather than Dense: Dense on a 3-D tensor becomes a dynamic-shape
        # tensordot in TFLite (SHAPE, GATHER, REDUCE_PROD ops); this is one CONV_2D.
        mel = keras.layers.Conv1D(len(bands), 1, use_bias=False, trainable=False, name=f"mel_{index}")
        mel_spectrum = mel(spectrum)
        mel.set_weights([weights[bins.start : bins.stop, bands.start : bands.stop][None]])
        outputs.append(keras.ops.log(keras.ops.add(mel_spectrum, front.log_floor)))
    return outputs[0] if len(outputs) == 1 else keras.ops.concatenate(outputs, axis=-1)


def build_front_end(front: FrontEnd):
    """A Keras model: samples (batch, 16000) → log-mel features (batch, frames, mel_bands)."""
    import keras

    samples = keras.Input((WINDOW_SAMPLES,), name="samples")
    return keras.Model(samples, add_front_end(samples, front), name="log_mel")


def build_classifier(front: FrontEnd, classes: int = len(LABELS)):
    """The trainable part: log-mel features (batch, frames, mel_bands) → class probabilities.

    Temporal convolutions with the mel bands as channels (as in TC-ResNet): about 3 M multiply-adds
    per second of audio, a sixth of a 2-D CNN of the same accuracy, so it trains in minutes on 2 cores.
    """
    import keras

    features = keras.Input((front.frames, front.mel_bands), name="log_mel")
    x = keras.layers.BatchNormalization()(features)
    for filters, kernel, stride in ((64, 5, 1), (64, 5, 2), (96, 5, 1), (96, 5, 2), (128, 3, 1)):
        x = keras.layers.Conv1D(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(features, outputs, name="keyword_classifier")


def assemble(front: FrontEnd, classifier):
    """The exported model: samples → front end → the trained classifier."""
    import keras

    samples = keras.Input((WINDOW_SAMPLES,), name="samples")
    return keras.Model(samples, classifier(add_front_end(samples, front)), name="keywords")


# ---------------------------------------------------------------------------------------- data and training
def load_split(folder: Path, rows: list[dict], split: str) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """All clips of one split: samples (N, 16000) float32, label indices (N,), and their manifest rows."""
    chosen = [row for row in rows if row["split"] == split]
    samples = np.stack([speech_data.read_clip(folder / row["path"]) for row in chosen])
    labels = np.array([LABELS.index(row["label"]) for row in chosen], np.int64)
    return samples, labels, chosen


def features_of(front_model, samples: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Run the front end once over all clips (it is fixed, so training need not recompute it)."""
    return np.concatenate(
        [
            front_model(samples[start : start + batch_size], training=False).numpy()
            for start in range(0, len(samples), batch_size)
        ]
    )


def card_options(folder: Path | None = None):
    """What the exporter should write into the model card (labels, the audio spec, provenance).

    Args:
        folder: the training output folder; its training.json names the front end the model was built
            with (recorded in the card for reference: the model computes it itself).
    """
    from converters.tflite import CardOptions
    from edgekit.metadata import AudioSpec

    summary = Path(folder or "", "training.json")
    front_end = json.loads(summary.read_text())["front_end"] if folder and summary.is_file() else asdict(FrontEnd())

    return CardOptions(
        labels=list(LABELS),
        name="keywords",
        task="audio-classifier",
        # features="waveform": the log-mel front end is inside the graph; an app feeds samples only.
        audio_spec=AudioSpec(
            sample_rate_hz=SAMPLE_RATE_HZ, window_samples=WINDOW_SAMPLES, hop_samples=WINDOW_SAMPLES // 2
        ),
        license="Apache-2.0 (weights and synthesized training audio by edgekit)",
        description=(
            "Keyword spotter: yes/no/up/down/left/right/on/off/stop/go, silence, unknown, from 1 s of raw "
            "16 kHz mono audio; log-mel features computed inside the model; trained on synthesized speech"
        ),
        author="edgekit",
        extra={"front_end": front_end},
    )


def test_set(folder: Path | None = None, card=None) -> tuple[np.ndarray, np.ndarray]:
    """The held-out clips (OUT/test/*.wav) as model inputs (N, 16000) and their label indices.

    Args:
        folder: the training output folder (holds test/).
        card: an exported model's card; its audio spec (rate, window) is applied as the runtime would.

    Returns:
        (samples, labels): float32 (N, window) and int64 (N,).
    """
    from edgekit.processing import audio as audio_proc

    if folder is None or not (Path(folder) / "test").is_dir():
        # No training output here (CI, a fresh clone): synthesize the held-out speakers again. The data is
        # deterministic, so these are the very clips the card's figures were measured on.
        data_folder, rows = speech_data.build(log=None, held_out_only=True)
        samples, labels, _ = load_split(data_folder, rows, "test")
        if card is not None and card.audio and card.audio.sample_rate_hz != SAMPLE_RATE_HZ:
            samples = np.stack([audio_proc.resample(x, SAMPLE_RATE_HZ, card.audio.sample_rate_hz) for x in samples])
        return samples, labels
    files = sorted((Path(folder) / "test").glob("*.wav"))
    rate = card.audio.sample_rate_hz if card is not None and card.audio else SAMPLE_RATE_HZ
    window = card.audio.window_samples if card is not None and card.audio else WINDOW_SAMPLES
    samples = []
    for path in files:
        audio, source_rate = audio_proc.read_wav(path)
        mono = audio_proc.resample(audio_proc.to_mono(audio), source_rate, rate)
        samples.append(audio_proc.fit_window(mono, window))
    labels = np.array([LABELS.index(path.stem.split("_label", 1)[1]) for path in files], np.int64)
    return np.stack(samples), labels


def _accuracy_by(rows: list[dict], correct: np.ndarray, key) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for row, ok in zip(rows, correct):
        groups.setdefault(key(row), []).append(bool(ok))
    return {name: round(float(np.mean(values)), 4) for name, values in sorted(groups.items())}


def _held_out_group(row: dict) -> str:
    engine, voice, *variant = row["speaker"].split("_")
    if engine == "flite":
        return f"flite voice {voice}"
    if voice in speech_data.TEST_ACCENTS:
        return f"accent {voice}"
    return f"variant {variant[0]}"


def int8_front_end_features(front_model, calibration: Path, samples: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The front end's output as a full-int8 TFLite export computes it (the project's converter, int8 recipe).

    Calibrated on the same folder, with the same selection of clips, as the exporter will use for the
    whole model, so the front end's int8 scales, and hence these features, are the exported model's.
    """
    from ai_edge_litert.interpreter import Interpreter

    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter
    from edgekit.metadata import AudioSpec

    spec = AudioSpec(sample_rate_hz=SAMPLE_RATE_HZ, window_samples=WINDOW_SAMPLES, hop_samples=WINDOW_SAMPLES // 2)
    exporter = Exporter(front_model, CardOptions(task="custom", audio_spec=spec), str(calibration), show_progress=False)
    interpreter = Interpreter(model_content=exporter.convert(RecipeConfig("int8", io_dtype="float32")), num_threads=2)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    parts = []
    for start in range(0, len(samples), batch_size):
        batch = samples[start : start + batch_size]
        interpreter.resize_tensor_input(source["index"], batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], batch)
        interpreter.invoke()
        parts.append(interpreter.get_tensor(target["index"]).copy())
    return np.concatenate(parts)


def train(
    out: Path, seed: int = 0, epochs: int = 12, data_root: Path | None = None, workers: int = 2, log=print
) -> dict:
    """Synthesize (or reuse) the data, train, and write the model and its data folders to ``out``.

    The classifier is trained on each training clip twice: with the float front end's features and with
    the int8 front end's (see :func:`int8_front_end_features`). The fixed front end loses detail in int8
    (8-bit samples and spectra); seeing both makes the one classifier right on both, so the full-int8
    export stays within a fraction of a point of float32 (without it: 2-4 points below).

    Args:
        out: the output folder (created).
        seed: seeds the data synthesis and the training.
        epochs: training epochs over the precomputed features (both copies of each clip).
        data_root: the speech cache (default ``${EDGEKIT_CACHE:-~/.cache/edgekit}/speech``).
        workers: processes for the synthesis.
        log: called with progress lines.

    Returns:
        The summary written to ``out/training.json`` (float32 accuracy on held-out speakers, …).

    Raises:
        RuntimeError: espeak-ng, flite or sox is missing or failed.
    """
    from converters.source import import_tensorflow

    started = time.perf_counter()
    folder, rows = speech_data.build(data_root, speech_data.DataConfig(seed=seed), workers, log=log)
    synthesis_s = time.perf_counter() - started
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_samples, train_labels, train_rows = load_split(folder, rows, "train")
    test_samples, test_labels, test_rows = load_split(folder, rows, "test")
    _write_calibration(out / "calibration", folder, train_rows, seed)
    front = FrontEnd()
    front_model = build_front_end(front)
    features_started = time.perf_counter()
    train_features = np.concatenate(
        [
            features_of(front_model, train_samples),
            int8_front_end_features(front_model, out / "calibration", train_samples),
        ]
    )
    train_labels = np.concatenate([train_labels, train_labels])
    features_s = time.perf_counter() - features_started
    log(f"keywords: features of {len(train_samples)} clips (float and int8) in {features_s:.0f} s; training")
    classifier = build_classifier(front)
    batch_size = 64
    steps = epochs * int(np.ceil(len(train_features) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps, alpha=0.01)
    classifier.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    training_started = time.perf_counter()
    classifier.fit(train_features, train_labels, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    training_s = time.perf_counter() - training_started
    model = assemble(front, classifier)
    # Judged on the assembled model from raw samples: exactly what is saved and exported.
    predictions = model.predict(test_samples, batch_size=256, verbose=0).argmax(axis=1)
    correct = predictions == test_labels
    model.save(out / "keywords.keras")
    write_bytes_atomic(out / "labels.txt", ("\n".join(LABELS) + "\n").encode())
    _write_test(out / "test", folder, test_rows)
    statistics = speech_data.statistics(rows)
    summary = {
        "float32_accuracy": round(float(correct.mean()), 4),
        "test_clips": int(len(test_labels)),
        "train_clips": int(len(train_samples)),
        "accuracy_by_label": _accuracy_by(test_rows, correct, lambda row: row["label"]),
        "accuracy_by_held_out_group": _accuracy_by(test_rows, correct, _held_out_group),
        "confusion": _confusion(test_labels, predictions),
        "speakers": {"train": statistics["train"]["speakers"], "test": statistics["test"]["speakers"]},
        "held_out": statistics["held_out"],
        "front_end": asdict(front),
        "parameters": int(classifier.count_params()),
        "epochs": epochs,
        "seed": seed,
        "synthesis_s": round(synthesis_s, 1),
        "features_s": round(features_s, 1),
        "training_s": round(training_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
        "data": "synthesized here with espeak-ng and flite (speech_data.py); no downloaded audio",
        "tensorflow": tf.__version__,
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _confusion(truth: np.ndarray, predicted: np.ndarray) -> dict[str, dict[str, int]]:
    """Only the non-zero off-diagonal cells, by true label then predicted label."""
    cells: dict[str, dict[str, int]] = {}
    for true_index, predicted_index in zip(truth, predicted):
        if true_index != predicted_index:
            row = cells.setdefault(LABELS[true_index], {})
            row[LABELS[predicted_index]] = row.get(LABELS[predicted_index], 0) + 1
    return cells


def _write_calibration(target: Path, folder: Path, rows: list[dict], seed: int, per_label: int = 34) -> None:
    """34 clips per label from training speakers (408: the exporter takes 300 + 100 for verification)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in LABELS:
        candidates = [row for row in rows if row["label"] == label]
        chosen += [candidates[i] for i in rng.choice(len(candidates), per_label, replace=False)]
    order = rng.permutation(len(chosen))  # labels interleaved, so any evenly spread subset stays balanced
    _copy_clips(target, folder, [chosen[i] for i in order])


def _write_test(target: Path, folder: Path, rows: list[dict]) -> None:
    _copy_clips(target, folder, rows)
    lines = ["file,label,word,speaker"] + [
        f"{index:05d}_label{row['label']}.wav,{row['label']},{row['word']},{row['speaker']}"
        for index, row in enumerate(rows)
    ]
    (target.parent / "test.csv").write_text("\n".join(lines) + "\n")


def _copy_clips(target: Path, folder: Path, rows: list[dict]) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    width = 5 if len(rows) >= 10000 or target.name == "test" else 4
    for index, row in enumerate(rows):
        shutil.copyfile(folder / row["path"], target / f"{index:0{width}d}_label{row['label']}.wav")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--data-root", type=Path, default=None, help="speech cache (default: $EDGEKIT_CACHE/speech)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    summary = train(args.out, args.seed, args.epochs, args.data_root, args.workers)
    print(
        f"keywords: float32 accuracy {summary['float32_accuracy']:.2%} on {summary['test_clips']} clips of "
        f"{summary['speakers']['test']} held-out speakers; {summary['total_s']:.0f} s -> {args.out / 'keywords.keras'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
