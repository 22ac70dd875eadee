"""The keyword spotter's pieces: reproducible synthesis, a speaker-disjoint balanced split, and an in-graph
log-mel front end that matches an independent SciPy/TensorFlow reference, in Keras and in an int8 export.

The synthesis tests need the Debian packages espeak-ng, flite and sox. The last test needs a trained model
(``python -m converters.zoo.keywords OUT``): it looks in $EDGEKIT_KEYWORDS_DIR, then out/zoo/keywords,
then ${EDGEKIT_CACHE:-~/.cache/edgekit}/zoo/keywords.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from converters.zoo import keywords, speech_data

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
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


# ---------------------------------------------------------------------------------------- the front end
def _signals() -> np.ndarray:
    """A chirp, noise with a loud burst, and a quiet two-tone: independent of the synthesizer."""
    rng = np.random.default_rng(7)
    time_s = np.arange(speech_data.WINDOW_SAMPLES) / speech_data.SAMPLE_RATE_HZ
    chirp = 0.5 * np.sin(2 * np.pi * (100 * time_s + 3500 * time_s**2))
    noise = 0.05 * rng.standard_normal(time_s.size)
    noise[6000:9000] *= 10
    tones = 0.02 * np.sin(2 * np.pi * 440 * time_s) + 0.01 * np.sin(2 * np.pi * 3000 * time_s)
    return np.stack([chirp, noise, tones]).astype(np.float32)


def _reference(samples: np.ndarray, front: keywords.FrontEnd, exact_magnitude: bool) -> np.ndarray:
    """Log-mel from scipy.signal.stft and TensorFlow's own mel matrix (no code shared with the model)."""
    import scipy.signal
    import tensorflow as tf

    _, _, stft = scipy.signal.stft(
        samples,
        fs=speech_data.SAMPLE_RATE_HZ,
        window="hann",
        nperseg=front.frame_samples,
        noverlap=front.frame_samples - front.hop_samples,
        nfft=front.fft_samples,
        boundary=None,
        padded=False,
        detrend=False,
        scaling="spectrum",
    )  # (batch, bins, frames), each frame scaled by 1/sum(window)
    if exact_magnitude:
        magnitude = np.abs(stft)
    else:
        real, imag = np.abs(stft.real), np.abs(stft.imag)
        magnitude = np.maximum(real, imag) + front.beta * np.minimum(real, imag)
    mel = tf.signal.linear_to_mel_weight_matrix(
        front.mel_bands, front.fft_samples // 2 + 1, speech_data.SAMPLE_RATE_HZ, front.min_hz, front.max_hz
    ).numpy()
    return np.log(np.einsum("bkt,km->btm", magnitude, mel.astype(np.float64)) + front.log_floor)


def test_front_end_matches_an_independent_scipy_log_mel():
    front = keywords.FrontEnd()
    samples = _signals()
    ours = keywords.build_front_end(front)(samples).numpy()
    assert ours.shape == (3, front.frames, front.mel_bands)
    # Same definition (the model's magnitude estimate): float32 rounding only.
    np.testing.assert_allclose(ours, _reference(samples, front, exact_magnitude=False), atol=2e-4)
    # Against the true |X|: max(a, b) + 0.4 min(a, b) is within [-1 %, +7.7 %] of sqrt(a² + b²).
    difference = ours - _reference(samples, front, exact_magnitude=True)
    assert difference.min() > np.log(0.99) - 1e-4 and difference.max() < np.log(1.077) + 1e-4


def test_mel_matrix_equals_tensorflow_s():
    import tensorflow as tf

    front = keywords.FrontEnd()
    theirs = tf.signal.linear_to_mel_weight_matrix(
        front.mel_bands, front.fft_samples // 2 + 1, speech_data.SAMPLE_RATE_HZ, front.min_hz, front.max_hz
    ).numpy()
    assert not theirs[0].any() and not theirs[-1].any()  # DC and Nyquist: the bins the model leaves out
    np.testing.assert_allclose(keywords.mel_matrix(front), theirs[1:-1], atol=1e-5)


def test_core_ml_program_computes_the_same_front_end(tmp_path):
    """The same Keras front end as an ML Program, evaluated op by op by edgekit's NumPy MIL reference."""
    ct = pytest.importorskip("coremltools")
    from converters.coreml.reference import ReferenceProgram

    front = keywords.FrontEnd()
    samples = _signals()
    reference = _reference(samples, front, exact_magnitude=False)
    for precision, tolerance in ((ct.precision.FLOAT32, 1e-4), (ct.precision.FLOAT16, 0.1)):
        program = ct.convert(
            keywords.build_front_end(front),
            source="tensorflow",
            convert_to="mlprogram",
            compute_precision=precision,
            inputs=[ct.TensorType(shape=(1, speech_data.WINDOW_SAMPLES), name="samples")],
        )
        program.save(str(tmp_path / "front.mlpackage"))
        evaluator = ReferenceProgram(tmp_path / "front.mlpackage")
        (output,) = evaluator.outputs
        features = np.stack([evaluator.run({"samples": row[None]})[output][0] for row in samples])
        # float16 carries 11 bits: the log of a quiet band moves by up to ~0.03 (measured), never 0.1.
        assert np.abs(features - reference).max() < tolerance, precision


# ---------------------------------------------------------------------------------------- the trained model
def _trained_folder() -> Path | None:
    cache = Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit")
    for folder in (os.environ.get("EDGEKIT_KEYWORDS_DIR"), REPO / "out" / "zoo" / "keywords", cache / "zoo/keywords"):
        if folder and (Path(folder) / "keywords.keras").is_file() and (Path(folder) / "calibration").is_dir():
            return Path(folder)
    return None


def _features_inside(path: Path, samples: np.ndarray) -> np.ndarray:
    """The log-mel tensor inside an exported model (the CONCATENATION output), dequantized."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    (concat,) = [op for op in interpreter._get_ops_details() if op["op_name"] == "CONCATENATION"]
    feature = next(t for t in interpreter.get_tensor_details() if t["index"] == concat["outputs"][0])
    source = interpreter.get_input_details()[0]
    rows = []
    for row in samples:
        value = row[None]
        if source["dtype"] != np.float32:
            scale, zero_point = source["quantization"]
            info = np.iinfo(source["dtype"])
            value = np.clip(np.rint(value / scale + zero_point), info.min, info.max).astype(source["dtype"])
        interpreter.set_tensor(source["index"], value)
        interpreter.invoke()
        raw = interpreter.get_tensor(feature["index"])[0].astype(np.float32)
        scale, zero_point = feature["quantization"]
        rows.append((raw - zero_point) * scale if scale else raw)
    return np.stack(rows)


def test_int8_export_of_the_trained_model_computes_the_same_front_end(tmp_path):
    folder = _trained_folder()
    if folder is None:
        pytest.skip("no trained keyword model: run `python -m converters.zoo.keywords out/zoo/keywords` first")
    from converters.recipes import RecipeConfig
    from converters.tflite import Exporter

    exporter = Exporter(
        str(folder / "keywords.keras"),
        keywords.card_options(folder),
        calibration_path=str(folder / "calibration"),
        show_progress=False,
    )
    front = keywords.FrontEnd(**exporter.card.extra["front_end"])
    # Held-out clips: int8 ranges are calibrated on speech, so louder test signals (a 0.5 chirp) clip.
    files = sorted((folder / "test").glob("*.wav"))[::180]
    clips = np.stack([speech_data.read_clip(path) for path in files])
    for recipe, io_dtype, samples in (("float32", None, np.concatenate([clips, _signals()])), ("int8", "uint8", clips)):
        path = tmp_path / f"keywords_{recipe}.tflite"
        exporter.export(RecipeConfig(recipe, io_dtype=io_dtype), path)
        reference = _reference(samples, front, exact_magnitude=False)
        error = np.abs(_features_inside(path, samples) - reference)
        if recipe == "float32":
            assert error.max() < 1e-3
            continue
        # int8 (8-bit samples, 8-bit spectra per band group). Where a band is 20 dB above the floor the
        # log-mel is within 0.1 (0.9 dB) for 95 % of cells (measured: 0.05); near the floor quantization
        # noise dominates, so only the mean is bounded there (measured: 0.12).
        loud = reference > np.log(10 * front.log_floor)
        assert np.percentile(error[loud], 95) < 0.1, np.percentile(error[loud], [50, 95, 99])
        assert error.mean() < 0.2
