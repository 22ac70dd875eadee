"""Synthesized keyword-spotting data: espeak-ng and flite voices, noise, shifts; seeded and cached.

Over 400 lines: one seeded data recipe (voices, words, noise, shifts, the cache) that stays reproducible only
when it stays together.

Twelve classes, as in the usual keyword-spotting setup: ten keywords, ``silence`` (noise-only
windows) and ``unknown`` (other English words, including near-misses of the keywords). Every clip is
a 1 s, 16 kHz mono 16-bit WAV file: one synthesized word placed at a random time inside the window,
at a random level, with synthetic background noise (white, pink, brown, mains hum) at a random SNR.

A *speaker* is ``(engine, voice, variant)``: an espeak-ng accent with a voice variant (``en-us`` +
``m3``), or a flite voice. Each speaker says every keyword and one unknown word in several
*renditions* (speaking rate and pitch drawn per rendition), and gets one silence window per
rendition, so the classes are balanced by construction. The test split holds out whole speakers:
one whole accent, one whole flite voice, and a few variants in every accent (speaker-disjoint).

Reproducible: every random draw comes from a generator seeded by ``(seed, speaker, rendition)``, so
the result does not depend on how jobs are spread over processes, and sox runs with ``-D`` (no
dither). The tools (Debian packages ``espeak-ng``, ``flite``, ``sox``) are used, never shipped.

    python -m converters.zoo.speech_data [FOLDER] [--seed S] [--workers N]

writes ``FOLDER/<version>_seed<S>/{train,test}/<label>/*.wav`` and ``manifest.json`` (default
``${EDGEKIT_CACHE:-~/.cache/edgekit}/speech``); a finished dataset is reused, not rebuilt.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import wave
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgekit.media import DEFAULT_SAMPLE_RATE_HZ

SAMPLE_RATE_HZ = DEFAULT_SAMPLE_RATE_HZ
WINDOW_SAMPLES = SAMPLE_RATE_HZ  # 1 s windows
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "silence"
UNKNOWN = "unknown"
LABELS = KEYWORDS + (SILENCE, UNKNOWN)

# Other words: the Speech Commands auxiliary words, digits, and near-misses of each keyword.
# Homophones of a keyword ("know", "write") are left out: no model could tell them apart.
UNKNOWN_WORDS = (
    "bed",
    "bird",
    "cat",
    "dog",
    "happy",
    "house",
    "marvin",
    "sheila",
    "tree",
    "wow",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "backward",
    "forward",
    "follow",
    "learn",
    "visual",
    "yet",
    "yellow",
    "nose",
    "note",
    "new",
    "cup",
    "pup",
    "town",
    "dawn",
    "brown",
    "lift",
    "loft",
    "light",
    "bright",
    "of",
    "often",
    "cough",
    "step",
    "stock",
    "shop",
    "goat",
    "grow",
    "dough",
    "own",
    "in",
    "yeah",
)

ESPEAK_ACCENTS = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)
ESPEAK_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "croak",
    "whisper",
    "klatt",
    "klatt2",
    "klatt3",
    "grandma",
    "steph",
    "travis",
)
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")

# The held-out speakers: a whole accent, a whole flite voice, and three variants in every accent.
TEST_ACCENTS = ("en-029",)
TEST_FLITE_VOICES = ("rms",)
TEST_VARIANTS = ("m3", "f2", "klatt2")

DATA_VERSION = "v1"  # bump when the synthesis changes, so old caches are not reused
NOISE_KINDS = ("white", "pink", "brown", "hum")
_ESPEAK_BREAK_MS = 600  # far longer than any closure inside a word, so segmenting on silence is safe
_FRAME_SAMPLES = 160  # 10 ms frames for trimming and segmentation


@dataclass(frozen=True, order=True)
class Speaker:
    """One synthetic speaker: ``engine`` is ``espeak-ng`` or ``flite``; ``variant`` is empty for flite."""

    engine: str
    voice: str
    variant: str = ""

    @property
    def key(self) -> str:
        """A file-name-safe id, e.g. ``espeak-ng_en-us_m3`` or ``flite_rms``."""
        return "_".join(part for part in (self.engine, self.voice, self.variant) if part)

    @property
    def held_out(self) -> bool:
        """True for the speakers of the test split."""
        if self.engine == "flite":
            return self.voice in TEST_FLITE_VOICES
        return self.voice in TEST_ACCENTS or self.variant in TEST_VARIANTS


@dataclass(frozen=True)
class DataConfig:
    """How much to synthesize and how.

    Args:
        seed: seeds every random draw (rates, pitches, unknown words, shifts, levels, noise).
        espeak_renditions: renditions per espeak-ng speaker (each says every keyword once).
        flite_renditions: renditions per flite voice (fewer flite voices, so more renditions each).
        snr_db: range of the speech-to-noise ratio for word clips.
        peak_dbfs: range of the speech peak level (dB below full scale).
        silence_dbfs: range of the noise RMS level of silence windows.
    """

    seed: int = 0
    espeak_renditions: int = 8
    flite_renditions: int = 30
    snr_db: tuple[float, float] = (5.0, 40.0)
    peak_dbfs: tuple[float, float] = (-20.0, -1.0)
    silence_dbfs: tuple[float, float] = (-70.0, -25.0)

    def digest(self) -> str:
        text = json.dumps({"version": DATA_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Job:
    """One rendition of one speaker: one synthesis call (espeak-ng) or one per word (flite)."""

    speaker: Speaker
    rendition: int
    seed: int

    @property
    def split(self) -> str:
        return "test" if self.speaker.held_out else "train"


def all_speakers() -> list[Speaker]:
    """Every speaker, espeak-ng accents x variants then flite voices, in a fixed order."""
    speakers = [Speaker("espeak-ng", accent, variant) for accent in ESPEAK_ACCENTS for variant in ESPEAK_VARIANTS]
    return speakers + [Speaker("flite", voice) for voice in FLITE_VOICES]


def plan(config: DataConfig, speakers: Sequence[Speaker] | None = None) -> list[Job]:
    """The jobs for ``config`` (all speakers unless given), in a fixed order."""
    jobs = []
    for speaker in speakers if speakers is not None else all_speakers():
        count = config.flite_renditions if speaker.engine == "flite" else config.espeak_renditions
        jobs.extend(Job(speaker, rendition, config.seed) for rendition in range(count))
    return jobs


def _rng(job: Job, purpose: str) -> np.random.Generator:
    # crc32 of the names, not hash(): Python salts str hashes per process.
    tag = zlib.crc32(f"{job.speaker.key}/{job.rendition}/{purpose}".encode())
    return np.random.default_rng([job.seed, tag])


# ---------------------------------------------------------------------------------------- synthesis
def _run(command: list[str], stdin: bytes | None = None) -> bytes:
    try:
        return subprocess.run(command, input=stdin, capture_output=True, check=True).stdout
    except FileNotFoundError as exc:
        raise RuntimeError(f"{command[0]} is not installed: apt-get install espeak-ng flite sox") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{' '.join(command[:4])}… failed: {exc.stderr.decode(errors='replace')[-300:]}") from exc


def _sox_to_16k(source: list[str], stdin: bytes | None = None, effects: Sequence[str] = ()) -> np.ndarray:
    """Convert with sox (no dither, so bit-exact every run) to 16 kHz mono float samples."""
    raw = _run(
        ["sox", "-D", *source, "-t", "raw", "-r", str(SAMPLE_RATE_HZ), "-e", "signed", "-b", "16", "-c", "1", "-"]
        + list(effects),
        stdin,
    )
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


def _active_runs(samples: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(start, end) sample ranges of consecutive 10 ms frames whose peak exceeds ``threshold``."""
    count = samples.size // _FRAME_SAMPLES
    peaks = np.abs(samples[: count * _FRAME_SAMPLES]).reshape(count, _FRAME_SAMPLES).max(axis=1)
    active = np.concatenate([[False], peaks > threshold, [False]])
    edges = np.flatnonzero(np.diff(active.astype(np.int8)))
    return [(int(a) * _FRAME_SAMPLES, int(b) * _FRAME_SAMPLES) for a, b in zip(edges[::2], edges[1::2])]


def trim(samples: np.ndarray, relative_db: float = -40.0, margin_samples: int = 320) -> np.ndarray:
    """Cut leading and trailing near-silence (frames quieter than ``relative_db`` below the peak).

    Args:
        samples: mono float samples.
        relative_db: frames whose peak is below the clip's peak by more than this are silence.
        margin_samples: kept on each side of the voiced part (20 ms at 16 kHz), for soft onsets.

    Returns:
        The trimmed samples (the input unchanged if it holds nothing above the threshold).
    """
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    runs = _active_runs(samples, peak * 10 ** (relative_db / 20)) if peak > 0 else []
    if not runs:
        return samples
    start, end = max(0, runs[0][0] - margin_samples), min(samples.size, runs[-1][1] + margin_samples)
    return samples[start:end]


def split_words(samples: np.ndarray, count: int, min_gap_samples: int = 4000) -> list[np.ndarray] | None:
    """Cut espeak-ng output with long breaks between words into ``count`` words, or None if it cannot."""
    runs = _active_runs(samples, 1e-3)
    merged: list[list[int]] = []
    for start, end in runs:  # gaps shorter than a quarter second are inside a word (stop closures)
        if merged and start - merged[-1][1] < min_gap_samples:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    if len(merged) != count:
        return None
    return [trim(samples[max(0, a - 320) : b + 320]) for a, b in merged]


def _espeak(speaker: Speaker, words: Sequence[str], rate_wpm: int, pitch: int) -> list[np.ndarray]:
    voice = f"{speaker.voice}+{speaker.variant}" if speaker.variant else speaker.voice
    base = ["espeak-ng", "-m", "-v", voice, "-s", str(rate_wpm), "-p", str(pitch), "--stdout"]
    pause = f'<break time="{_ESPEAK_BREAK_MS}ms"/>'
    # One call for all the words (process start-up dominates), segmented on espeak's silent breaks.
    wav = _run(base + ["<speak>" + pause.join(words) + "</speak>"])
    clips = split_words(_sox_to_16k(["-t", "wav", "-"], wav), len(words))
    if clips is None:  # never seen, but a word split in two must not shift every label after it
        clips = [trim(_sox_to_16k(["-t", "wav", "-"], _run(base + [word]))) for word in words]
    return clips


def _flite(speaker: Speaker, words: Sequence[str], stretch: float, pitch_cents: int, scratch: Path) -> list[np.ndarray]:
    clips = []
    for word in words:  # flite's pauses between sentences are too short to segment on: one call per word
        path = scratch / f"{word}.wav"
        _run(
            ["flite", "-voice", speaker.voice, "--setf", f"duration_stretch={stretch:.3f}", "-t", word, "-o", str(path)]
        )
        clips.append(trim(_sox_to_16k([str(path)], effects=["pitch", str(pitch_cents)])))
        path.unlink()
    return clips


# ---------------------------------------------------------------------------------------- mixing
def make_noise(kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS synthetic noise: ``white``, ``pink`` (1/f), ``brown`` (1/f^2) or ``hum`` (mains).

    Args:
        kind: one of :data:`NOISE_KINDS`.
        length: number of samples.
        rng: the random generator to draw from.

    Returns:
        float32 samples with RMS 1.

    Raises:
        ValueError: an unknown kind.
    """
    if kind == "white":
        noise = rng.standard_normal(length)
    elif kind in ("pink", "brown"):
        spectrum = np.fft.rfft(rng.standard_normal(length))
        frequency_hz = np.fft.rfftfreq(length, 1 / SAMPLE_RATE_HZ)
        # 20 Hz floor: brown noise's 1/f^2 would otherwise be all sub-audible drift.
        exponent = 0.5 if kind == "pink" else 1.0
        spectrum *= 1.0 / np.maximum(frequency_hz, 20.0) ** exponent
        noise = np.fft.irfft(spectrum, n=length)
    elif kind == "hum":
        time_s = np.arange(length) / SAMPLE_RATE_HZ
        mains_hz = rng.choice([50.0, 60.0])
        noise = sum(
            rng.uniform(0.1, 1.0) / harmonic * np.sin(2 * np.pi * mains_hz * harmonic * time_s + rng.uniform(0, 6.3))
            for harmonic in range(1, 8)
        )
        noise = noise + 0.05 * rng.standard_normal(length)  # real hum comes with some hiss
    else:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {NOISE_KINDS}")
    noise = np.asarray(noise, np.float64)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def _mixed_noise(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    kinds = list(rng.choice(NOISE_KINDS, size=int(rng.integers(1, 3)), replace=False))
    noise = sum(rng.uniform(0.3, 1.0) * make_noise(kind, WINDOW_SAMPLES, rng) for kind in kinds)
    noise = noise / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return noise.astype(np.float32), "+".join(kinds)


def place_word(speech: np.ndarray, rng: np.random.Generator, config: DataConfig) -> tuple[np.ndarray, dict]:
    """Put one word at a random offset in a 1 s window, at a random level, over random noise.

    Returns:
        The window (float32, clipped to [-1, 1]) and what was drawn (offset, peak, SNR, noise kinds).
    """
    speech = speech[:WINDOW_SAMPLES]
    offset = int(rng.integers(0, WINDOW_SAMPLES - speech.size + 1))
    peak_dbfs = float(rng.uniform(*config.peak_dbfs))
    snr_db = float(rng.uniform(*config.snr_db))
    speech = speech * (10 ** (peak_dbfs / 20) / (np.abs(speech).max() + 1e-12))
    speech_rms = float(np.sqrt(np.mean(speech**2)))
    noise, kinds = _mixed_noise(rng)
    window = noise * (speech_rms / 10 ** (snr_db / 20))
    window[offset : offset + speech.size] += speech
    info = {
        "offset": offset,
        "speech_samples": int(speech.size),
        "peak_dbfs": round(peak_dbfs, 2),
        "snr_db": round(snr_db, 2),
        "noise": kinds,
    }
    return np.clip(window, -1.0, 1.0).astype(np.float32), info


def silence_window(rng: np.random.Generator, config: DataConfig) -> tuple[np.ndarray, dict]:
    """A noise-only 1 s window at a random level (the ``silence`` class)."""
    level_dbfs = float(rng.uniform(*config.silence_dbfs))
    noise, kinds = _mixed_noise(rng)
    window = noise * 10 ** (level_dbfs / 20)
    return np.clip(window, -1.0, 1.0).astype(np.float32), {"level_dbfs": round(level_dbfs, 2), "noise": kinds}


def write_wav(path: Path, samples: np.ndarray) -> None:
    """16-bit PCM mono WAV at 16 kHz (rounded, not dithered: the same samples give the same bytes)."""
    pcm = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE_HZ)
        handle.writeframes(pcm.tobytes())


def run_job(job: Job, config: DataConfig, folder: Path) -> list[dict]:
    """Synthesize, mix and write every clip of one job; returns one manifest row per clip.

    Raises:
        RuntimeError: a synthesis tool is missing or failed.
    """
    choice = _rng(job, "words")
    unknown_word = str(choice.choice(UNKNOWN_WORDS))
    words = list(KEYWORDS) + [unknown_word]
    voice_rng = _rng(job, "voice")
    if job.speaker.engine == "espeak-ng":
        voice = {"rate_wpm": int(voice_rng.integers(110, 201)), "pitch": int(voice_rng.integers(15, 86))}
        clips = _espeak(job.speaker, words, **voice)
    else:
        voice = {"stretch": float(voice_rng.uniform(0.8, 1.25)), "pitch_cents": int(voice_rng.integers(-300, 301))}
        scratch = folder / "tmp" / f"{job.speaker.key}_r{job.rendition:02d}"  # one per job: jobs run in parallel
        scratch.mkdir(parents=True, exist_ok=True)
        clips = _flite(job.speaker, words, voice["stretch"], voice["pitch_cents"], scratch)
        scratch.rmdir()
    rows = []
    mix_rng = _rng(job, "mix")
    stem = f"{job.speaker.key}_r{job.rendition:02d}"
    for word, clip in zip(words, clips):
        label = word if word in KEYWORDS else UNKNOWN
        window, info = place_word(clip, mix_rng, config)
        rows.append(_write(folder, job, label, word, f"{stem}_{word}", window, {**voice, **info}))
    window, info = silence_window(mix_rng, config)
    rows.append(_write(folder, job, SILENCE, "", f"{stem}_silence", window, info))
    return rows


def _write(folder: Path, job: Job, label: str, word: str, stem: str, window: np.ndarray, info: dict) -> dict:
    relative = Path(job.split) / label / f"{stem}.wav"
    write_wav(folder / relative, window)
    return {"path": str(relative), "label": label, "word": word, "speaker": job.speaker.key, "split": job.split, **info}


# ---------------------------------------------------------------------------------------- the dataset
def default_root() -> Path:
    """``${EDGEKIT_CACHE:-~/.cache/edgekit}/speech``."""
    return Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit") / "speech"


def dataset_folder(root: Path, config: DataConfig) -> Path:
    return Path(root) / f"{DATA_VERSION}_seed{config.seed}_{config.digest()}"


def check_tools() -> None:
    """Raises RuntimeError naming the apt packages when espeak-ng, flite or sox is missing."""
    missing = [tool for tool in ("espeak-ng", "flite", "sox") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: apt-get install espeak-ng flite sox")


def build(
    root: str | os.PathLike | None = None,
    config: DataConfig | None = None,
    workers: int = 2,
    log=print,
    held_out_only: bool = False,
) -> tuple[Path, list[dict]]:
    """Synthesize the whole dataset (or reuse a finished one) and return its folder and manifest rows.

    Args:
        root: the cache folder (default :func:`default_root`); the dataset goes in a subfolder
            named by the data version, seed and a digest of ``config``.
        config: what to synthesize (default :class:`DataConfig`).
        workers: processes to spread the jobs over (each runs the synthesis tools one at a time).
        log: called with progress lines.
        held_out_only: synthesize only the test speakers (what a check of a trained model needs);
            a finished full dataset in the cache is reused instead.

    Returns:
        (folder, rows): one row per clip with its path (relative to the folder), label, word,
        speaker, split and the drawn parameters, sorted by path.

    Raises:
        RuntimeError: a synthesis tool is missing or failed.
    """
    config = config or DataConfig()
    folder = dataset_folder(Path(root) if root else default_root(), config)
    manifest = folder / "manifest.json"
    if manifest.is_file():
        return folder, json.loads(manifest.read_text())["clips"]
    if held_out_only:  # every clip is drawn from its own job's seed, so the subset equals the full set's
        folder = folder.with_name(folder.name + "_heldout")
        manifest = folder / "manifest.json"
        if manifest.is_file():
            return folder, json.loads(manifest.read_text())["clips"]
    check_tools()
    if folder.exists():  # an interrupted build: start over rather than trust half-written files
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    jobs = plan(config, [s for s in all_speakers() if s.held_out] if held_out_only else None)
    rows: list[dict] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, job_rows in enumerate(
            pool.map(run_job, jobs, [config] * len(jobs), [folder] * len(jobs), chunksize=4)
        ):
            rows.extend(job_rows)
            if log and (done + 1) % 200 == 0:
                log(f"speech data: {done + 1}/{len(jobs)} renditions")
    shutil.rmtree(folder / "tmp", ignore_errors=True)
    rows.sort(key=lambda row: row["path"])
    stats = statistics(rows)
    temporary = manifest.with_suffix(".tmp")
    temporary.write_text(json.dumps({"config": asdict(config), "statistics": stats, "clips": rows}, indent=1))
    temporary.replace(manifest)  # written last: its presence means the dataset is complete
    return folder, rows


def statistics(rows: Iterable[dict]) -> dict:
    """Counts per split: clips, clips per label, speakers (and the held-out speakers by name)."""
    rows = list(rows)
    result = {}
    for split in ("train", "test"):
        chosen = [row for row in rows if row["split"] == split]
        speakers = sorted({row["speaker"] for row in chosen})
        result[split] = {
            "clips": len(chosen),
            "per_label": dict(sorted(Counter(row["label"] for row in chosen).items())),
            "speakers": len(speakers),
            "espeak_speakers": sum(s.startswith("espeak-ng") for s in speakers),
            "flite_speakers": [s for s in speakers if s.startswith("flite")],
        }
    result["held_out"] = {
        "accents": list(TEST_ACCENTS),
        "flite_voices": list(TEST_FLITE_VOICES),
        "variants_in_every_accent": list(TEST_VARIANTS),
    }
    return result


def read_clip(path: str | os.PathLike) -> np.ndarray:
    """One clip as float32 samples in [-1, 1] (the window the model sees)."""
    with wave.open(str(path), "rb") as handle:
        raw = handle.readframes(handle.getnframes())
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, nargs="?", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    folder, rows = build(args.root, DataConfig(seed=args.seed), args.workers)
    print(json.dumps(statistics(rows), indent=2))
    print(f"-> {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
