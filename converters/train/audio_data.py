"""Audio training data: class folders of WAV/FLAC clips read as 16 kHz mono, silence synthesized, windows augmented.

Clips are decoded by the runtime's own file source (:class:`edgekit.sources.audio_file.AudioFileSource`:
soundfile for WAV and FLAC, else the stdlib ``wave`` for WAV or ffmpeg), mixed to mono and resampled to
16 kHz, so any rate, bit depth and channel count works. A zero-byte or undecodable file is skipped and
counted (:func:`converters.train.data.check_classes` lists them).

The model takes 2 s windows. A clip up to 2 s is one example; a longer clip is cut into 2 s windows
every second (at most :data:`MAX_WINDOWS_PER_CLIP`, evenly spread), each labelled with the clip's class;
a clip's windows always stay in its split. Training copies (augmentation): the clip at a random place in
the window (time shift), at a random level, over noise at 5-30 dB SNR: synthetic white/pink/brown/hum
or a random cut of a ``--background`` recording. Copy 0 is the clip centred on digital silence, exactly
the window ``edgekit eval``/``edgekit run`` build from a short clip file.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError, InputError

from ..zoo.speech_data import write_wav
from .data import MIN_PER_CLASS, Dataset, _require_class_folders, _visible

SAMPLE_RATE_HZ = 16000
WINDOW_SAMPLES = 32000  # 2 s: the bundled keyword spotter's input (16 embedding steps)
VALID_SAMPLES = 31600  # the part of the window the 16 embeddings see (converters.zoo.keywords.VALID_SAMPLES)
WINDOW_HOP = SAMPLE_RATE_HZ  # long clips: a window every second
MAX_WINDOWS_PER_CLIP = 8
MAX_CLIP_SECONDS = 600  # read at most this much of one file
MIN_CLIP_SAMPLES = 1600  # 0.1 s
SILENCE = "silence"
UNKNOWN = "unknown"
SNR_DB = (5.0, 30.0)
PEAK_DBFS = (-25.0, -1.0)
SILENCE_DBFS = (-70.0, -25.0)  # RMS level of a silence window
NOISE_SHARE = 0.8  # training copies with noise under the clip (the others: digital silence around it)


def audio_suffixes() -> tuple[str, ...]:
    from edgekit.sources.audio_file import AUDIO_FILE_SUFFIXES

    return AUDIO_FILE_SUFFIXES


def read_audio(path: str | Path, limit_s: float = MAX_CLIP_SECONDS) -> np.ndarray:
    """A WAV/FLAC file as 16 kHz mono float32 (the runtime's decoder and resampler), at most ``limit_s`` seconds.

    Raises:
        InputError: the file cannot be decoded.
        MissingDependencyError: a FLAC file with neither soundfile nor ffmpeg here.
    """
    from edgekit.sources.audio_file import AudioFileSource

    limit = int(limit_s * SAMPLE_RATE_HZ)
    blocks, total = [], 0
    with AudioFileSource(path, sample_rate_hz=SAMPLE_RATE_HZ, block_ms=1000) as source:
        for block in source:
            blocks.append(block.samples)
            total += block.samples.size
            if total >= limit:
                break
    samples = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return np.clip(samples[:limit], -1.0, 1.0).astype(np.float32)


@dataclass
class AudioDataset(Dataset):
    """A :class:`Dataset` of clip files with their decoded 16 kHz mono samples (``clips[i]`` for ``items[i]``)."""

    clips: list[np.ndarray] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _decode(path: Path) -> tuple[np.ndarray | None, str | None]:
    if path.stat().st_size == 0:
        return None, "zero-byte file"
    try:
        samples = read_audio(path)
    except EdgekitError as exc:
        return None, f"cannot decode: {str(exc).split(': ', 1)[-1][:120]}"
    if samples.size < MIN_CLIP_SAMPLES:
        return None, f"shorter than {MIN_CLIP_SAMPLES / SAMPLE_RATE_HZ:g} s"
    return samples, None


def _collect(files: list[Path], label: str, items, labels, clips, skipped) -> None:
    suffixes = audio_suffixes()
    for path in files:
        if path.suffix.lower() not in suffixes:
            skipped.append((str(path), f"not a WAV/FLAC file (suffix {path.suffix or 'none'})"))
            continue
        samples, reason = _decode(path)
        if samples is None:
            skipped.append((str(path), reason or "unusable"))
            continue
        items.append(path)
        labels.append(label)
        clips.append(samples)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and _visible(p))


def discover_audio(folder: str | Path, unknown: str | Path | None = None) -> AudioDataset:
    """Class subfolders of WAV/FLAC clips, plus every clip under ``unknown`` (any layout) as class ``unknown``.

    Raises:
        InputError: not a folder, no class subfolders, or ``unknown`` is not a folder.
    """
    folder = Path(folder)
    classes = _require_class_folders(folder, "WAV/FLAC clips")
    items: list[Path] = []
    labels: list[str] = []
    clips: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    for sub in classes:
        _collect(_files(sub), sub.name, items, labels, clips, skipped)
    names = [sub.name for sub in classes]
    if unknown is not None:
        unknown = Path(unknown)
        if not unknown.is_dir():
            raise InputError(f"--unknown {unknown}: not a folder", hint="give a folder of clips of other words")
        _collect(_files(unknown), UNKNOWN, items, labels, clips, skipped)
        names = sorted(set(names) | {UNKNOWN})
    origin = f"{len(items)} clips in {len(names)} classes of {folder}"
    long = [clip for clip in clips if clip.size > WINDOW_SAMPLES]
    notes = []
    if long:
        windows = sum(len(segments(clip)) for clip in long)
        notes.append(
            f"{len(long)} clip(s) over 2 s: cut into {windows} windows of 2 s (one a second, at most "
            f"{MAX_WINDOWS_PER_CLIP} per clip) with the clip's class; tested on its mean score, as edgekit run does"
        )
    return AudioDataset("audio", items, labels, names, origin, skipped, clips, notes)


def read_background(folder: str | Path | None) -> list[np.ndarray]:
    """Every usable recording under ``folder`` (16 kHz mono, at most 10 min each); [] without a folder.

    Raises:
        InputError: not a folder, or no usable recording in it.
    """
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--background {folder}: not a folder", hint="give a folder of noise recordings (WAV/FLAC)")
    recordings = []
    for path in _files(folder):
        if path.suffix.lower() in audio_suffixes():
            samples, _ = _decode(path)
            if samples is not None and np.abs(samples).max() > 0:
                recordings.append(samples)
    if not recordings:
        raise InputError(f"--background {folder} holds no usable WAV/FLAC recording", hint="check the folder")
    return recordings


def rng_for(*names) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32("/".join(map(str, names)).encode())])


def noise(rng: np.random.Generator, length: int, background: list[np.ndarray]) -> np.ndarray:
    """Unit-RMS noise: a random cut of a background recording (half the time when there are some), else
    one or two of speech_data's synthetic kinds mixed."""
    from ..zoo import speech_data

    if background and rng.random() < 0.5:
        recording = background[int(rng.integers(len(background)))]
        if recording.size < length:
            recording = np.tile(recording, length // recording.size + 1)
        start = int(rng.integers(0, recording.size - length + 1))
        cut = recording[start : start + length].astype(np.float64)
    else:
        kinds = rng.choice(speech_data.NOISE_KINDS, size=int(rng.integers(1, 3)), replace=False)
        cut = np.zeros(length, np.float64)
        for kind in kinds:
            cut += rng.uniform(0.3, 1.0) * speech_data.make_noise(str(kind), length, rng)
    rms = float(np.sqrt(np.mean(np.square(cut))))
    return (cut / rms if rms > 0 else cut).astype(np.float32)


def synthesize_silence(
    count: int, folder: Path, background: list[np.ndarray], seed: int
) -> tuple[list[Path], list[np.ndarray]]:
    """``count`` 2 s silence clips written as 16 kHz WAV into ``folder``: noise (background cuts or synthetic) at
    -70..-25 dBFS RMS, the first one digital silence (a live stream's buffer starts with zeros)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, clips = [], []
    for index in range(count):
        rng = rng_for(seed, "silence", index)
        level = rng.uniform(*SILENCE_DBFS)
        clip = np.zeros(WINDOW_SAMPLES, np.float32)
        if index:
            clip = np.clip(noise(rng, WINDOW_SAMPLES, background) * 10 ** (level / 20), -1, 1)
        path = folder / f"silence_{index:04d}.wav"
        write_wav(path, clip)
        paths.append(path)
        clips.append(np.round(clip * 32767.0).astype(np.float32) / 32768.0)  # what the file holds
    return paths, clips


def add_silence(data: AudioDataset, folder: Path, background: list[np.ndarray], seed: int) -> AudioDataset:
    """``data`` with a synthesized ``silence`` class (as many clips as the median class, at least 5, at most 300)."""
    counts = [c for c in data.counts().values() if c]
    count = int(np.clip(np.median(counts) if counts else MIN_PER_CLASS, MIN_PER_CLASS, 300))
    paths, clips = synthesize_silence(count, folder, background, seed)
    source = "background recordings and synthetic noise" if background else "synthetic noise"
    note = f"no '{SILENCE}' class folder: synthesized {count} silence clips from {source} (-70..-25 dBFS)"
    return AudioDataset(
        "audio",
        data.items + paths,
        data.labels + [SILENCE] * count,
        sorted(set(data.classes) | {SILENCE}),
        data.origin + f" + {count} synthesized silence clips",
        data.skipped,
        data.clips + clips,
        data.notes + [note],
    )


# ------------------------------------------------------------------------------------------ windows
def segments(clip: np.ndarray) -> list[np.ndarray]:
    """A clip's pieces of at most one window: itself, or 2 s windows every second of a long clip (evenly
    thinned to :data:`MAX_WINDOWS_PER_CLIP`)."""
    if clip.size <= WINDOW_SAMPLES:
        return [clip]
    starts = np.arange(0, clip.size - WINDOW_SAMPLES + 1, WINDOW_HOP)
    if starts[-1] != clip.size - WINDOW_SAMPLES:
        starts = np.append(starts, clip.size - WINDOW_SAMPLES)
    if starts.size > MAX_WINDOWS_PER_CLIP:
        starts = starts[np.linspace(0, starts.size - 1, MAX_WINDOWS_PER_CLIP).round().astype(int)]
    return [clip[s : s + WINDOW_SAMPLES] for s in starts]


def centred(piece: np.ndarray) -> np.ndarray:
    """The window the runtime builds from a short clip (edgekit.processing.audio.fit_window: centred, zero-padded)."""
    from edgekit.processing.audio import fit_window

    return fit_window(piece.astype(np.float32), WINDOW_SAMPLES).astype(np.float32)


def augmented(piece: np.ndarray, label: str, rng: np.random.Generator, background: list[np.ndarray]) -> np.ndarray:
    """One training copy of a piece: random place (whole piece inside what the embeddings see), level and noise.
    Silence pieces only change level (and may get more noise): they stay silence."""
    window = np.zeros(WINDOW_SAMPLES, np.float32)
    if label == SILENCE:
        rms = float(np.sqrt(np.mean(np.square(piece)))) if piece.size else 0.0
        level = 10 ** (rng.uniform(*SILENCE_DBFS) / 20)
        clip = piece * (level / rms) if rms > 0 else piece
        window[: min(clip.size, WINDOW_SAMPLES)] = clip[:WINDOW_SAMPLES]
        if rng.random() < 0.5:
            window += noise(rng, WINDOW_SAMPLES, background) * level * rng.uniform(0.1, 1.0)
        return np.clip(window, -1, 1).astype(np.float32)
    piece = piece[:VALID_SAMPLES] if piece.size <= WINDOW_SAMPLES else piece
    peak = float(np.abs(piece).max())
    scaled = piece * (10 ** (rng.uniform(*PEAK_DBFS) / 20) / peak) if peak > 0 else piece
    room = max(0, VALID_SAMPLES - scaled.size)
    offset = int(rng.integers(0, room + 1))
    window[offset : offset + scaled.size] = scaled[: WINDOW_SAMPLES - offset]
    if rng.random() < NOISE_SHARE:
        rms = float(np.sqrt(np.mean(np.square(scaled)))) or 1e-3
        window += noise(rng, WINDOW_SAMPLES, background) * (rms / 10 ** (rng.uniform(*SNR_DB) / 20))
    return np.clip(window, -1, 1).astype(np.float32)


def example_windows(
    data: AudioDataset, indices, copies: int, seed: int, background: list[np.ndarray]
) -> tuple[list[tuple[int, int, int]], int]:
    """The plan of the examples of ``indices``: (clip index, segment number, copy) per window, copy 0 first for
    every clip, then each augmented copy; and the count of pieces (copy-0 windows)."""
    plan = [(int(i), s, 0) for i in indices for s in range(len(segments(data.clips[i])))]
    pieces = len(plan)
    for copy in range(1, copies + 1):
        plan += [(i, s, copy) for i, s, _ in plan[:pieces]]
    return plan, pieces


def render(
    data: AudioDataset, clip: int, segment: int, copy: int, seed: int, background: list[np.ndarray]
) -> np.ndarray:
    """The 2 s window of one planned example (deterministic: seeded by clip, segment and copy)."""
    piece = segments(data.clips[clip])[segment]
    if copy == 0:
        return centred(piece)
    return augmented(piece, data.labels[clip], rng_for(seed, "copy", clip, segment, copy), background)


def write_clips(folder: Path, data: AudioDataset, indices) -> list[Path]:
    """The clips as 16 kHz mono WAV (what edgekit eval and run read; FLAC and any rate included)."""
    paths = []
    for number, index in enumerate(indices):
        path = folder / f"{number:05d}.wav"
        write_wav(path, data.clips[index])
        paths.append(path)
    return paths


def write_windows(folder, data, indices, copies, seed, background, limit: int, by_class: bool = False) -> Path:
    """Up to ``limit`` 2 s windows of ``indices`` as WAV (in class folders when ``by_class``),
    spread evenly over the planned windows."""
    plan, _ = example_windows(data, indices, copies, seed, background)
    picks = np.linspace(0, len(plan) - 1, min(limit, len(plan))).round().astype(int) if plan else []
    folder.mkdir(parents=True, exist_ok=True)
    for number, pick in enumerate(sorted(set(int(p) for p in picks))):
        clip, segment, copy = plan[pick]
        target = folder / data.labels[clip] if by_class else folder
        write_wav(target / f"{number:05d}.wav", render(data, clip, segment, copy, seed, background))
    return folder
