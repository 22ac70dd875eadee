"""`edgekit train audio-classifier`: data reading and checks on real files, and real end-to-end training.

The slow test synthesizes words the bundled spotter does not know ("lights", "music", "timer", "weather", plus
other words as ``unknown``) with espeak-ng, trains a head on the frozen speech embedding for real, and measures
the written .tflite files on voices that were never trained on (speech_data's held-out accent en-029 and
variants m3, f2, klatt2), through the edgekit runtime. The held-out labels are the words espeak-ng was asked
to say; the silence clips of the held-out set are made here with numpy, not by the trainer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import InputError
from tests.support.cli_helpers import assert_output_untouched
from tests.support.fixtures import write_wav

WORDS = ["lights", "music", "timer", "weather"]
OTHER_WORDS = ["table", "window", "garden", "pencil", "orange", "basket", "river", "paper", "doctor", "yellow"]


def _wav(path: Path, samples: np.ndarray, rate: int = 16000, channels: int = 1) -> Path:
    """16-bit PCM written with the stdlib (independent of the code under test); mono repeated in each channel."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_wav(path, np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples, rate, channels)


def _tone(seconds: float, rate: int, hz: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _folder(root: Path, counts: dict[str, int], rate: int = 16000) -> Path:
    for number, (name, count) in enumerate(counts.items()):
        for index in range(count):
            _wav(root / name / f"{index}.wav", _tone(0.5, rate, 200 + 50 * number + index))
    return root


def _cli(*argv: str) -> int:
    from edgekit.cli.main import main

    return main(["train", *argv])


# ------------------------------------------------------------------------------------------ data
def test_mixed_rates_channels_flac_and_unicode_names_are_read_bad_files_skipped_with_a_count(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    from converters.train.audio_data import discover_audio
    from converters.train.data import check_classes

    root = tmp_path / "data"
    for index in range(5):
        _wav(root / "lights on" / f"{index}.wav", _tone(1.0, 16000, 300 + index))  # 16 kHz mono
        _wav(root / "música" / f"{index}.wav", _tone(0.75, 44100, 500 + index), 44100, channels=2)
    soundfile.write(root / "música" / "extra.flac", _tone(1.5, 22050, 700), 22050)
    _wav(root / "lights on" / "8k.wav", _tone(2.0, 8000, 350), 8000)
    (root / "lights on" / "empty.wav").write_bytes(b"")
    (root / "música" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (root / "música" / "notes.txt").write_text("hello")
    data = discover_audio(root)
    assert data.classes == ["lights on", "música"]
    assert data.counts() == {"lights on": 6, "música": 6}
    lengths = {Path(p).name + "|" + label: clip.size for p, label, clip in zip(data.items, data.labels, data.clips)}
    assert lengths["0.wav|lights on"] == 16000 and lengths["8k.wav|lights on"] == 32000
    assert lengths["0.wav|música"] == 12000 and lengths["extra.flac|música"] == 24000  # resampled to 16 kHz
    assert all(clip.ndim == 1 and clip.dtype == np.float32 for clip in data.clips)
    reasons = {Path(item).name: reason for item, reason in data.skipped}
    assert reasons["empty.wav"] == "zero-byte file"
    assert reasons["broken.wav"].startswith("cannot decode")
    assert "not a WAV/FLAC" in reasons["notes.txt"]
    warnings = check_classes(data)
    assert warnings[0].startswith("skipped 3 unusable file(s)")


def test_long_clips_are_cut_into_windows_every_second():
    from converters.train.audio_data import segments

    clip = np.arange(5 * 16000, dtype=np.float32)
    pieces = segments(clip)
    assert [int(p[0]) for p in pieces] == [0, 16000, 32000, 48000]  # 2 s windows at 0, 1, 2, 3 s
    assert all(p.size == 32000 for p in pieces)
    assert len(segments(np.zeros(16000, np.float32))) == 1
    assert len(segments(np.zeros(60 * 16000, np.float32))) == 8  # thinned, evenly


def test_long_clips_are_reported(tmp_path):
    from converters.train.audio_data import discover_audio

    root = _folder(tmp_path / "d", {"a": 5, "b": 5})
    _wav(root / "a" / "long.wav", _tone(4.5, 16000, 440))
    data = discover_audio(root)
    assert data.notes == [
        "1 clip(s) over 2 s: cut into 4 windows of 2 s (one a second, at most 8 per clip) with the clip's class; "
        "tested on its mean score, as edgekit run does"
    ]


def test_silence_is_synthesized_quiet_with_digital_silence_first(tmp_path):
    from converters.train.audio_data import add_silence, discover_audio

    data = add_silence(discover_audio(_folder(tmp_path / "d", {"a": 6, "b": 8})), tmp_path / "s", [], seed=0)
    assert data.counts() == {"a": 6, "b": 8, "silence": 7}  # the median class
    clips = [clip for clip, label in zip(data.clips, data.labels) if label == "silence"]
    assert not clips[0].any()
    levels = [20 * np.log10(np.sqrt(np.mean(clip.astype(np.float64) ** 2))) for clip in clips[1:]]
    assert all(-71 < level < -24 for level in levels), levels


def test_training_copies_keep_the_whole_clip_inside_what_the_embedding_sees(monkeypatch):
    from converters.train import audio_data
    from converters.train.audio_data import augmented

    monkeypatch.setattr(audio_data, "NOISE_SHARE", 0.0)  # no noise: the clip's place is visible
    clip = np.ones(16000, np.float32) * 0.5
    for seed in range(20):
        window = augmented(clip, "word", np.random.default_rng(seed), [])
        assert window.shape == (32000,)
        loud = np.flatnonzero(np.abs(window) > 0.01)
        assert loud[-1] - loud[0] + 1 == 16000 and loud[-1] < 31600  # the word, whole, in the first 31600
    quiet = augmented(np.full(32000, 0.1, np.float32), "silence", np.random.default_rng(0), [])
    assert np.sqrt(np.mean(quiet**2)) < 10 ** (-24 / 20) * 1.5


def test_background_recordings_are_read_and_cut_into_unit_rms_noise(tmp_path):
    from converters.train.audio_data import noise, read_background

    hum = _tone(3.0, 8000, 1234.0)  # 8 kHz: resampled to 16 kHz on reading; not a mains harmonic
    _wav(tmp_path / "bg" / "hum.wav", hum, 8000)
    (tmp_path / "bg" / "empty.wav").write_bytes(b"")
    recordings = read_background(tmp_path / "bg")
    assert len(recordings) == 1 and abs(recordings[0].size - 48000) <= 1
    cuts = [noise(np.random.default_rng(seed), 16000, recordings) for seed in range(8)]
    assert all(abs(np.sqrt(np.mean(c.astype(np.float64) ** 2)) - 1) < 1e-3 for c in cuts)
    spectra = [np.abs(np.fft.rfft(c)) for c in cuts]
    from_hum = [int(np.argmax(s)) == 1234 for s in spectra]  # 1 s at 16 kHz: bin k is k Hz
    assert any(from_hum) and not all(from_hum)  # half the cuts come from the recording, half are synthetic


# ------------------------------------------------------------------------------------------ CLI errors
@pytest.mark.parametrize("case", ["one-class", "few", "exists", "no-classes", "all-unreadable", "int16x8-only"])
def test_cli_bad_audio_input_is_one_error_and_a_hint_and_writes_nothing(tmp_path, capfd, case):
    out = tmp_path / "out"
    data = tmp_path / "d"
    extra: list[str] = []
    if case == "one-class":
        _folder(data, {"lights": 6})
    elif case == "few":
        _folder(data, {"lights": 6, "music": 3})
    elif case == "exists":
        _folder(data, {"lights": 6, "music": 6})
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "no-classes":
        data.mkdir()
    elif case == "int16x8-only":
        _folder(data, {"lights": 6, "music": 6})
        extra = ["--quantize", "int16x8"]
    else:
        _folder(data, {"lights": 6})
        for index in range(6):
            (data / "music" / f"{index}.wav").parent.mkdir(exist_ok=True)
            (data / "music" / f"{index}.wav").write_bytes(b"" if index % 2 else b"garbage")
    assert _cli("audio-classifier", str(data), "-o", str(out), *extra) == 1
    err = capfd.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and any(line.startswith("hint: ") for line in err), err
    assert "Traceback" not in "\n".join(err)
    expected = {
        "one-class": "at least 2 classes",
        "few": "fewer than 5 usable examples: 'music': 3",
        "exists": "already exists",
        "no-classes": "has no class subfolders",
        "all-unreadable": "found 1 ('lights'); 6 unusable file(s) skipped",
        "int16x8-only": "SQRT",
    }[case]
    assert expected in errors[0]
    assert_output_untouched(tmp_path, out, existed=case == "exists")


def test_int16x8_is_skipped_with_its_reason_and_the_other_recipes_kept():
    from converters.train import TrainOptions
    from converters.train.audio_export import without_int16x8

    options, rows = without_int16x8(TrainOptions())  # the default: every TFLite recipe
    assert options.quantize == "float32,float16,dynamic,int8"
    assert [(r["recipe"], r["written"], r["skipped"]) for r in rows] == [("int16x8", False, True)]
    assert "SQRT" in rows[0]["verdict"]
    assert without_int16x8(TrainOptions(quantize="all"))[0].quantize == "float32,float16,dynamic,int8"
    assert without_int16x8(TrainOptions(quantize="int8"))[1] == []


def test_missing_unknown_or_background_folder_is_an_input_error(tmp_path):
    from converters.train import train_audio_classifier

    data = _folder(tmp_path / "d", {"a": 5, "b": 5})
    with pytest.raises(InputError, match="--unknown"):
        train_audio_classifier(data, tmp_path / "o1", unknown=tmp_path / "nope")
    with pytest.raises(InputError, match="--background"):
        train_audio_classifier(data, tmp_path / "o2", background=tmp_path / "nope")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


# ------------------------------------------------------------------------------------------ real training
@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("needs espeak-ng and sox (apt-get install espeak-ng sox)")
    from converters.train.samples import spoken_words, word_speakers

    root = tmp_path_factory.mktemp("spoken")
    train = spoken_words(root / "data", WORDS, OTHER_WORDS, word_speakers(False, 30), renditions=1, seed=0)
    # Held out: other voices only (edgekit eval reads WAV, so these are all 16 kHz WAV), plus silence made here.
    held = spoken_words(root / "held", WORDS, OTHER_WORDS, word_speakers(True, 12), seed=1, mixed=False)
    rng = np.random.default_rng(5)
    for index in range(12):
        level = 10 ** (rng.uniform(-65, -35) / 20)
        _wav(held / "silence" / f"{index}.wav", (rng.standard_normal(24000) * level).astype(np.float32))
    return train, held


@pytest.fixture(scope="module")
def trained(spoken, tmp_path_factory):
    from converters.train import TrainOptions, train_audio_classifier

    train, _ = spoken
    out = tmp_path_factory.mktemp("trained") / "home"
    options = TrainOptions(epochs=20, quantize="float32,int8", show=False, seed=0)
    return train_audio_classifier(train, out, options, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.slow
def test_new_words_reach_the_target_on_held_out_voices_float_and_int8(trained, spoken):
    import edgekit
    from edgekit.eval import evaluate
    from edgekit.labelled import read_labelled

    _, held = spoken
    report = trained.report
    assert report["classes"] == ["lights", "music", "silence", "timer", "unknown", "weather"]
    assert report["data"]["silence"] == "synthesized"
    held_data = read_labelled(held)
    accuracy = {}
    for recipe in ("float32", "int8"):
        model = edgekit.load(trained.output / f"home_{recipe}.tflite")
        try:
            accuracy[recipe] = evaluate(model, held_data).accuracy
        finally:
            model.close()
    # The target is 90 % on held-out synthetic speakers. 30 training voices with one clip each are few and
    # one held-out clip is 1.2 points: 85 % leaves room for the seed-to-seed spread of so small a set (measured on
    # these 84 clips: float32 100 % with seed 0, 96.4 % with seed 1; int8 98.8 % and 97.6 %).
    assert accuracy["float32"] >= 0.85, accuracy
    # int8 (log-mel front end kept in float) within 5 points of float32 on the same 84 clips.
    assert accuracy["int8"] >= accuracy["float32"] - 0.05, accuracy
    assert report["source"]["test_accuracy"] >= 0.8  # the random test split of the training voices


@pytest.mark.slow
def test_trained_files_carry_audio_metadata_and_run_on_a_wav(trained, spoken, capfd):
    import edgekit
    from edgekit.cli.main import main

    _, held = spoken
    names = {p.name for p in trained.files}
    assert {"home.keras", "home_float32.tflite", "home_int8.tflite", "labels.txt", "report.json"} <= names
    assert json.loads((trained.output / "report.json").read_text())["task"] == "audio-classifier"
    model = edgekit.load(trained.output / "home_int8.tflite")
    try:
        assert model.card.audio.sample_rate_hz == 16000 and model.card.audio.window_samples == 32000
        assert model.inputs[0].dtype == np.float32 and model.inputs[0].shape[-1] == 32000
    finally:
        model.close()
    clip = sorted((held / "timer").glob("*.wav"))[0]
    capfd.readouterr()
    assert main(["run", str(trained.output / "home_int8.tflite"), str(clip)]) == 0
    assert "timer" in capfd.readouterr().out


def test_speech_commands_names_keep_a_speakers_takes_of_a_word_in_one_split(tmp_path):
    """Clips named <speaker>_nohash_<n>.wav (Speech Commands): a speaker's takes of one word never straddle
    splits (a held-out figure would otherwise hear a voice it trained on); every class still gets test clips."""
    from converters.train.audio_data import discover_audio
    from converters.train.data import split_dataset

    rng = np.random.default_rng(0)
    for word in ("lights", "timer"):
        for speaker in range(12):
            for take in range(3):
                noise = (0.1 * rng.standard_normal(16000)).astype(np.float32)  # distinct bytes per file
                _wav(tmp_path / "data" / word / f"{speaker:08x}_nohash_{take}.wav", noise)
    _wav(tmp_path / "data" / "timer" / "plain_name.wav", (0.1 * rng.standard_normal(16000)).astype(np.float32))
    data = discover_audio(tmp_path / "data")
    split = split_dataset(data, 0.2, 0.2, seed=3)
    assert split.speakers == 12
    part_of = {}
    for part in ("train", "val", "test"):
        for index in getattr(split, part):
            name = Path(data.items[index]).name
            key = (data.labels[index], name.split("_nohash_")[0])
            assert part_of.setdefault(key, part) == part, (key, part_of[key], part)
    for part in ("val", "test"):
        assert {data.labels[i] for i in getattr(split, part)} == {"lights", "timer"}
    assert any("split by speaker: 12 speakers" in line for line in split.describe(data))


def test_the_same_sound_in_two_formats_is_one_item_for_the_split(tmp_path):
    """Duplicates are found by the decoded sound, not the file bytes: a clip saved again as FLAC, or as a WAV
    with 24-bit samples, lands in the same split as the original and is reported as a duplicate."""
    soundfile = pytest.importorskip("soundfile")
    from converters.train.audio_data import discover_audio
    from converters.train.data import split_dataset

    rng = np.random.default_rng(5)
    for word in ("lights", "timer"):
        for index in range(10):
            _wav(tmp_path / "data" / word / f"{index}.wav", (0.1 * rng.standard_normal(12000)).astype(np.float32))
    for index in (0, 3, 7):
        original = tmp_path / "data" / "lights" / f"{index}.wav"
        pcm, rate = soundfile.read(str(original), dtype="int16")
        soundfile.write(str(original.with_name(f"{index}_copy.flac")), pcm, rate, subtype="PCM_16", format="FLAC")
        soundfile.write(str(original.with_name(f"{index}_copy24.wav")), pcm, rate, subtype="PCM_24")
    data = discover_audio(tmp_path / "data")
    assert len(data) == 26
    split = split_dataset(data, 0.2, 0.2, seed=1)
    groups = sorted(sorted(Path(data.items[i]).name for i in group) for group in split.duplicate_groups)
    assert groups == [[f"{i}.wav", f"{i}_copy.flac", f"{i}_copy24.wav"] for i in (0, 3, 7)]
    part_of = {int(i): part for part in ("train", "val", "test") for i in getattr(split, part)}
    for group in split.duplicate_groups:
        assert len({part_of[i] for i in group}) == 1
    assert any("found 6 exact duplicate(s) in 3 group(s)" in line for line in split.describe(data))
