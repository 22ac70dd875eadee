"""FLAC clips in `edgekit run` and `edgekit eval` (the trainer reads FLAC, so the tools that check its output do too).

FLAC is lossless: a FLAC file written by libsndfile from the same 16-bit samples as a WAV must give the
WAV's answer to the last digit. The WAV path is the reference (edgekit's own reader, tested elsewhere
against Python's ``wave``); the FLAC files come from soundfile (libsndfile), and from the ffmpeg decoder
when soundfile is not the one chosen.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgekit.zoo
from edgekit.processing.audio_decode import read_audio_file
from tests.support.audio_fixtures import Voice, spoken_word, tools_available
from tests.support.cli_helpers import edgekit_cli
from tests.support.fixtures import write_wav

soundfile = pytest.importorskip("soundfile")
needs_tools = pytest.mark.skipif(not tools_available(), reason="needs apt packages espeak-ng, flite and sox")
MODEL = str(edgekit.zoo.path("keywords", "int8"))


def _pair(folder: Path, name: str, samples: np.ndarray, rate: int, channels: int = 1) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    wav = write_wav(folder / f"{name}.wav", samples, rate, channels)
    pcm, _ = soundfile.read(str(wav), dtype="int16", always_2d=True)
    flac = folder / f"{name}.flac"
    soundfile.write(str(flac), pcm, rate, subtype="PCM_16", format="FLAC")
    return wav, flac


def test_a_flac_clip_reads_as_the_same_samples_as_its_wav(tmp_path):
    rng = np.random.default_rng(3)
    stereo = (rng.standard_normal((22050, 2)) * 0.1).astype(np.float32)
    wav, flac = _pair(tmp_path, "noise", stereo.reshape(-1), 22050, channels=2)
    from_wav, wav_rate = read_audio_file(wav)
    from_flac, flac_rate = read_audio_file(flac)
    assert wav_rate == flac_rate == 22050
    assert from_flac.shape == from_wav.shape == (22050,)
    np.testing.assert_allclose(from_flac, from_wav, atol=1e-7)
    renamed = tmp_path / "clip.audio"  # the content decides, not the name
    renamed.write_bytes(flac.read_bytes())
    np.testing.assert_array_equal(read_audio_file(renamed)[0], from_flac)


@needs_tools
def test_run_and_eval_give_a_flac_folder_the_same_answers_as_its_wav_copy(tmp_path):
    words = {"yes": ("en-us", "m3"), "stop": ("en-gb-x-rp", "klatt2"), "left": ("en", "f2")}
    for word, (accent, variant) in words.items():
        speech = spoken_word(word, Voice("espeak-ng", accent, variant), tmp_path / "tts")
        clip = np.concatenate([np.zeros(4000, np.float32), speech, np.zeros(8000, np.float32)])
        _pair(tmp_path / "wav" / word, word, clip, 16000)
    for word in words:  # the FLAC copies live in their own labelled folder
        flac_folder = tmp_path / "flac" / word
        flac_folder.mkdir(parents=True)
        (tmp_path / "wav" / word / f"{word}.flac").rename(flac_folder / f"{word}.flac")

    ran = {}
    for kind in ("wav", "flac"):
        files = sorted(str(p) for p in (tmp_path / kind).rglob(f"*.{kind}"))
        done = edgekit_cli("run", "--json", MODEL, *files)
        assert done.returncode == 0, done.stderr
        ran[kind] = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(ran["wav"]) == len(ran["flac"]) == 3
    for from_wav, from_flac in zip(ran["wav"], ran["flac"]):
        assert [c["label"] for c in from_flac["classes"]] == [c["label"] for c in from_wav["classes"]]
        np.testing.assert_allclose(
            [c["score"] for c in from_flac["classes"]], [c["score"] for c in from_wav["classes"]], atol=1e-6
        )
    assert {row["classes"][0]["label"] for row in ran["wav"]} == set(words)  # the clips are real speech

    reports = {}
    for kind in ("wav", "flac"):
        done = edgekit_cli("eval", MODEL, str(tmp_path / kind), "--json")
        assert done.returncode == 0, done.stderr
        reports[kind] = json.loads(done.stdout)
    assert reports["flac"]["evaluated"] == reports["wav"]["evaluated"] == 3
    assert reports["flac"]["accuracy"] == reports["wav"]["accuracy"] == 1.0
    assert reports["flac"]["confusion_matrix"] == reports["wav"]["confusion_matrix"]


def test_a_damaged_flac_gets_one_error_and_the_batch_goes_on(tmp_path):
    wav, flac = _pair(tmp_path, "tone", 0.3 * np.sin(np.arange(16000) / 5.0), 16000)
    broken = tmp_path / "broken.flac"
    broken.write_bytes(flac.read_bytes()[:60])  # the stream header, cut short
    done = edgekit_cli("run", MODEL, str(broken), str(flac))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(broken) in errors[0], done.stderr
    assert [line.split(":")[0] for line in done.stdout.splitlines() if not line.startswith(" ")] == [str(flac)]
