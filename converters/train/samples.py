"""Small labelled datasets written as a user would have them, for the tests and benchmarks/train.py.

* :func:`fashion_folders`: Fashion-MNIST images (Debian ``dataset-fashion-mnist``) as class
  subfolders of PNG files, upscaled to ``size`` px at a random scale and position on a random
  grey, noisy background; a share saved as grey, RGBA and 16-bit PNGs (mixed modes, as real folders are).
* :func:`chat_csv`: the chatterbot-corpus topic lines of the zoo's text model as a text,label CSV.
* :func:`spoken_words`: words spoken by espeak-ng voices as class subfolders of clips (WAV at 16, 22.05 and
  44.1 kHz, mono and stereo, and FLAC: mixed, as real folders are), other words in ``unknown/``;
  :func:`word_speakers` picks training or held-out voices (``speech_data``'s held-out accent and variants).
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np

FASHION_CLASSES = {"T-shirt top": 0, "Trouser": 1, "Sneaker": 7, "Bag": 8, "Ankle boot": 9}


def fashion_folders(
    out: Path, classes: dict[str, int] | None = None, per_class: int = 60, size: int = 96, seed: int = 0
) -> Path:
    """Write ``per_class`` PNGs per class into ``out/<class name>/``; returns ``out``.

    Raises:
        FileNotFoundError: the Debian package is not installed.
    """
    import cv2

    from ..zoo.fashion import load

    classes = classes or FASHION_CLASSES
    images, labels = load("train")
    rng = np.random.default_rng(seed)
    for name, label in classes.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        picks = rng.choice(np.flatnonzero(labels == label), per_class, replace=False)
        for number, index in enumerate(picks):
            scale = int(rng.integers(int(size * 0.7), size + 1))
            garment = cv2.resize(images[index, :, :, 0], (scale, scale), interpolation=cv2.INTER_LINEAR)
            canvas = np.clip(rng.normal(rng.integers(0, 90), 8, (size, size)), 0, 255).astype(np.uint8)
            top, left = rng.integers(0, size - scale + 1, 2)
            region = canvas[top : top + scale, left : left + scale]
            canvas[top : top + scale, left : left + scale] = np.maximum(region, garment)
            path = folder / f"{name.split()[0].lower()}_{number:04d}.png"
            mode = number % 4
            if mode == 0:  # grey
                cv2.imwrite(str(path), canvas)
            elif mode == 1:  # RGBA
                rgba = np.dstack([canvas, canvas, canvas, np.full_like(canvas, 255)])
                cv2.imwrite(str(path), rgba)
            elif mode == 2:  # 16-bit grey
                cv2.imwrite(str(path), canvas.astype(np.uint16) * 257)
            else:
                cv2.imwrite(str(path), np.dstack([canvas] * 3))
    return out


def chat_csv(path: Path) -> Path:
    """The zoo's chatterbot-corpus topic lines (both of its splits) as a CSV with text and label columns."""
    from ..zoo import topics

    split = topics.load_split(seed=0)
    names = list(topics.TOPICS)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for part in ("train", "test"):
            writer.writerows([text, names[label]] for text, label in split[part])
    return path


def word_speakers(held_out: bool, count: int) -> list:
    """``count`` espeak-ng speakers spread over speech_data's training (or held-out) accents and variants."""
    from ..zoo import speech_data

    pool = [s for s in speech_data.all_speakers() if s.engine == "espeak-ng" and s.held_out == held_out]
    picks = np.linspace(0, len(pool) - 1, min(count, len(pool))).round().astype(int)
    return [pool[i] for i in sorted(set(int(p) for p in picks))]


def spoken_words(
    out: Path,
    words: list[str],
    unknown_words: list[str],
    speakers: list,
    renditions: int = 1,
    seed: int = 0,
    mixed: bool = True,
) -> Path:
    """Each speaker (espeak-ng, or flite) says every word ``renditions`` times (espeak-ng: random rate 120-220 wpm
    and pitch 20-80; flite: stretch 0.8-1.25, pitch ±300 cents), and one or two
    of ``unknown_words`` per rendition; written to ``out/<word>/`` and ``out/unknown/``, in mixed formats (or all
    16 kHz mono WAV unless ``mixed``). Returns ``out``.

    Raises:
        RuntimeError: espeak-ng, flite or sox is missing (apt-get install espeak-ng flite sox).
    """
    from ..zoo import speech_data

    rng = np.random.default_rng(seed)
    for speaker in speakers:
        for rendition in range(renditions):
            others = list(rng.choice(unknown_words, size=min(2, len(unknown_words)), replace=False))
            said = list(words) + others
            if speaker.engine == "flite":
                with tempfile.TemporaryDirectory(prefix="edgekit-flite-") as scratch:
                    stretch, cents = float(rng.uniform(0.8, 1.25)), int(rng.integers(-300, 301))
                    clips = speech_data._flite(speaker, said, stretch, cents, Path(scratch))
            else:
                clips = speech_data._espeak(speaker, said, int(rng.integers(120, 221)), int(rng.integers(20, 81)))
            for index, (word, clip) in enumerate(zip(said, clips)):
                folder = out / (word if index < len(words) else "unknown")
                stem = f"{speaker.key}_{rendition}" + (f"_{word}" if index >= len(words) else "")
                _write_clip(folder, stem, clip, int(rng.integers(0, 4)) if mixed else 0)
    return out


def _write_clip(folder: Path, stem: str, clip: np.ndarray, mode: int) -> None:
    """16 kHz mono WAV (mode 0), 44.1 kHz stereo WAV (1), 22.05 kHz mono FLAC (2) or 16 kHz 24-bit WAV (3)."""
    from edgekit.processing.audio import resample

    from ..zoo.speech_data import write_wav

    folder.mkdir(parents=True, exist_ok=True)
    try:
        import soundfile
    except (ImportError, OSError):
        mode = 0
    if mode == 0:
        write_wav(folder / f"{stem}.wav", clip)
    elif mode == 1:
        wide = resample(clip, 16000, 44100)
        soundfile.write(folder / f"{stem}.wav", np.stack([wide, 0.8 * wide], axis=1), 44100, subtype="PCM_16")
    elif mode == 2:
        soundfile.write(folder / f"{stem}.flac", resample(clip, 16000, 22050), 22050)
    else:
        soundfile.write(folder / f"{stem}.wav", clip, 16000, subtype="PCM_24")
