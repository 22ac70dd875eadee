"""Calibration and verification data: images, WAV/FLAC files, lines of text or a .npy array.

Everything is turned into the model's float input (after the card's preprocessing), so the
runtime and the converter share one definition of preprocessing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import CalibrationError
from edgekit.metadata import ModelCard
from edgekit.processing import audio as audio_proc
from edgekit.processing import image as image_proc
from edgekit.processing.audio_decode import read_audio_file
from edgekit.processing.text import Tokenizer

from .source import SourceInput

MIN_RECOMMENDED_SAMPLES = 100


@dataclass(frozen=True)
class Dataset:
    """Model inputs ready to feed: (N, ...) per model input, and where they came from."""

    arrays: list[np.ndarray]
    origin: str

    def __len__(self) -> int:
        return len(self.arrays[0])


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def _expected(spec: SourceInput) -> str:
    return "(N, " + ", ".join("?" if d is None else str(d) for d in spec.shape[1:]) + ")"


def load_dataset(path: str | Path, card: ModelCard, inputs: list[SourceInput], limit: int, progress=None) -> Dataset:
    """Read calibration/verification data for a single-input model (or a .npy for any input).

    Raises:
        CalibrationError: missing, empty, undecodable or wrongly shaped data, naming the file.
    """
    path = Path(path)
    first = inputs[0]
    if not path.exists():
        raise CalibrationError(f"calibration data not found: {path}", hint="check the path (and the current folder)")
    if path.suffix.lower() == ".npy":
        return _from_npy(path, first, limit)
    if path.is_file() and path.suffix.lower() in (".txt", ".lst", ".csv"):
        if card.text is None:
            raise CalibrationError(
                f"{path} is a text file, but the model has no text tokenizer",
                hint="give --vocab for a text model, or images/WAV/FLAC/.npy for others",
            )
        lines = [line for line in path.read_text("utf-8", "replace").splitlines() if line.strip()][:limit]
        if not lines:
            raise CalibrationError(f"{path} has no non-empty lines")
        tokenizer = Tokenizer(card.text)
        return Dataset([np.stack([tokenizer(line) for line in lines])], f"{len(lines)} lines of {path.name}")
    if not path.is_dir():
        raise CalibrationError(
            f"{path}: expected a folder of images or WAV/FLAC files, a .txt of lines or a .npy",
            hint="pass a folder, a text file or a .npy array",
        )
    images = _files(path, image_proc.IMAGE_SUFFIXES)
    sounds = _files(path, audio_proc.AUDIO_SUFFIXES)
    if card.image is not None and images:
        chosen = _spread(images, limit)
        rows = [_image(p, card) for p in _tick(chosen, progress)]
        return Dataset([np.stack(rows)], f"{len(rows)} images from {path}")
    if card.audio is not None and sounds:
        chosen = _spread(sounds, limit)
        rows = [_sound(p, card) for p in _tick(chosen, progress)]
        return Dataset([np.stack(rows)], f"{len(rows)} audio files from {path}")
    found = f"{len(images)} images and {len(sounds)} WAV/FLAC files"
    wanted = "images" if card.image else "WAV/FLAC files" if card.audio else "a .npy array"
    raise CalibrationError(
        f"calibration folder {path} has no usable data: it holds {found}; this model needs "
        f"{wanted} of shape {_expected(first)}",
        hint="point --calibration at a folder with the model's kind of data, or a .npy",
    )


def _tick(items, progress):
    for item in items:
        yield item
        if progress is not None:
            progress.update()


def _spread(files: list[Path], limit: int) -> list[Path]:
    """Up to ``limit`` files spread evenly (class subfolders stay represented), deterministic."""
    if len(files) <= limit:
        return files
    picks = np.linspace(0, len(files) - 1, limit).round().astype(int)
    return [files[i] for i in picks]


def _image(path: Path, card: ModelCard) -> np.ndarray:
    try:
        return image_proc.preprocess(image_proc.read_image(path), card.image)
    except Exception as exc:
        raise CalibrationError(
            f"cannot use calibration image {path}: {exc}",
            hint="remove or replace that file, or point --calibration at other data",
        ) from exc


def _sound(path: Path, card: ModelCard) -> np.ndarray:
    try:
        samples, rate = read_audio_file(path)
    except Exception as exc:
        raise CalibrationError(
            f"cannot use calibration audio {path}: {exc}",
            hint="remove or replace that file, or point --calibration at other data",
        ) from exc
    mono = audio_proc.resample(samples, rate, card.audio.sample_rate_hz)
    return audio_proc.fit_window(mono, card.audio.window_samples)


def _from_npy(path: Path, spec: SourceInput, limit: int) -> Dataset:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise CalibrationError(f"{path} is not a readable .npy array ({exc})") from exc
    want = spec.shape[1:]
    if len(want) == 3 and want[-1] == 3 and array.ndim == 4 and array.shape[-1] == 1:
        # Grey samples for a grey model exported with an RGB input (converters.grayscale): (g, g, g)
        # is the same grey image, as the luma weights sum to 1.
        array = np.repeat(array, 3, axis=-1)
    if array.ndim != len(spec.shape) or any(w is not None and w != g for w, g in zip(want, array.shape[1:])):
        raise CalibrationError(
            f"{path} has shape {array.shape}; the model input {spec.key!r} needs {_expected(spec)}",
            hint="save one sample per row: np.save(path, samples) with samples.shape == (N, ...)",
        )
    if len(array) == 0:
        raise CalibrationError(f"{path} holds no samples")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise CalibrationError(f"{path} contains NaN or Inf")
    array = array[:limit]
    dtype = np.int32 if spec.dtype.startswith(("int", "uint")) else np.float32
    return Dataset([array.astype(dtype)], f"{len(array)} samples from {path.name}")


def split(dataset: Dataset, verification_samples: int, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Shuffle deterministically; hold back up to ``verification_samples`` (at most a fifth) for checks."""
    count = len(dataset)
    order = np.random.default_rng(seed).permutation(count)
    held = 0 if count < 2 else min(verification_samples, max(1, count // 5))
    calibration = Dataset([a[order[held:]] for a in dataset.arrays], f"{count - held} of {dataset.origin}")
    verification = Dataset([a[order[:held]] for a in dataset.arrays], f"{held} held-out of {dataset.origin}")
    return calibration, verification


def warn_if_few(dataset: Dataset) -> str | None:
    if len(dataset) < MIN_RECOMMENDED_SAMPLES:
        message = (
            f"only {len(dataset)} calibration samples; at least {MIN_RECOMMENDED_SAMPLES} are "
            "recommended for stable int8 ranges"
        )
        warnings.warn(message, stacklevel=2)
        return message
    return None


def random_inputs(card: ModelCard, inputs: list[SourceInput], count: int, seed: int = 0) -> Dataset:
    """Synthetic inputs over each input's valid range, for checks when no data was given."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in inputs:
        shape = (count,) + tuple(d or 1 for d in spec.shape[1:])
        if spec.dtype.startswith(("int", "uint")):
            high = len(card.text.vocabulary) if card.text else 2
            arrays.append(rng.integers(0, high, shape).astype(np.int32))
        elif card.image is not None and len(spec.shape) == 4:
            pixels = rng.uniform(0, 255, shape).astype(np.float32)
            arrays.append((pixels - np.asarray(card.image.mean, np.float32)) / np.asarray(card.image.std, np.float32))
        elif card.audio is not None:
            arrays.append(rng.uniform(-0.5, 0.5, shape).astype(np.float32))
        else:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
    return Dataset(arrays, f"{count} random inputs (no data given)")
