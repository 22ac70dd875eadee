"""Audio files decoded whole or in chunks: WAV by edgekit's own reader, FLAC (and WAV) by soundfile or ffmpeg.

The live file source (``edgekit.sources.AudioFileSource``) streams through these decoders; one-shot runs,
``edgekit eval`` and calibration read a whole clip with :func:`read_audio_file`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .. import limits
from ..errors import InputError, MissingDependencyError, install_hint
from .audio import MAX_RATE_HZ, MIN_RATE_HZ, read_wav, to_mono, wav_header

DECODERS = ("soundfile", "wave", "ffmpeg")
CHUNK_FRAMES = 65536  # decoded per step: bounded memory for long files


def _soundfile_chunks(path: Path) -> tuple[Iterator[np.ndarray], int]:
    import soundfile

    rate_hz = int(soundfile.info(str(path)).samplerate)  # raises here, in start(), if it cannot be decoded

    def chunks() -> Iterator[np.ndarray]:
        with soundfile.SoundFile(str(path)) as handle:
            while (data := handle.read(CHUNK_FRAMES, dtype="float32", always_2d=True)).size:
                yield data.mean(axis=1)

    return chunks(), rate_hz


def _wave_chunks(path: Path) -> tuple[Iterator[np.ndarray], int]:
    samples, rate_hz = read_wav(path)
    mono = to_mono(samples)
    return (mono[start : start + CHUNK_FRAMES] for start in range(0, mono.size, CHUNK_FRAMES)), rate_hz


def _ffmpeg_chunks(path: Path) -> tuple[Iterator[np.ndarray], int]:
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=sample_rate,channels",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    streams = json.loads(probe.stdout or "{}").get("streams") if probe.returncode == 0 else None
    if not streams:
        raise InputError(f"ffprobe cannot read {path}: {probe.stderr.strip()[-300:]}")
    rate_hz, channels = int(streams[0]["sample_rate"]), int(streams[0]["channels"])
    command = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "f32le", "-acodec", "pcm_f32le", "-"]

    def chunks() -> Iterator[np.ndarray]:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert process.stdout is not None  # stdout=PIPE
        try:
            frame_bytes = 4 * channels
            # A buffered read returns the full size asked for until the end of the stream.
            while raw := process.stdout.read(CHUNK_FRAMES * frame_bytes):
                usable = len(raw) - len(raw) % frame_bytes
                yield np.frombuffer(raw[:usable], "<f4").reshape(-1, channels).mean(axis=1)
        finally:
            process.kill()
            process.wait()

    return chunks(), rate_hz


def pick_decoder(path: Path) -> str:
    """The best decoder available here for ``path``: soundfile, else wave (WAV only), else ffmpeg.

    Raises:
        MissingDependencyError: a FLAC file with neither soundfile nor ffmpeg available.
    """
    try:
        import soundfile  # noqa: F401  (the wheel bundles libsndfile, but a broken install raises OSError)

        return "soundfile"
    except (ImportError, OSError):
        pass
    if path.suffix.lower() == ".wav":
        return "wave"
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        return "ffmpeg"
    raise MissingDependencyError(
        f"decoding {path.name} needs the Python package soundfile or the ffmpeg program; neither is available",
        hint=install_hint("live") + " (brings soundfile), or sudo apt install ffmpeg",
    )


def open_chunks(path: Path, decoder: str | None = None) -> tuple[Iterator[np.ndarray], int, str]:
    """Start decoding ``path``: (mono float32 chunks at the file's rate, that rate, the decoder used).

    Raises:
        InputError: the file cannot be decoded, or its rate is out of range.
        MissingDependencyError: no decoder for this format is available.
    """
    decoder = decoder or pick_decoder(path)
    opener = {"soundfile": _soundfile_chunks, "wave": _wave_chunks, "ffmpeg": _ffmpeg_chunks}[decoder]
    if path.suffix.lower() == ".wav":
        wav_header(path)  # rate, channels, bits and data length checked before any decoder reads it
    try:
        chunks, rate_hz = opener(path)
    except (RuntimeError, OSError, ValueError) as error:  # soundfile's LibsndfileError is a RuntimeError
        empty = os.path.isfile(path) and os.path.getsize(path) == 0
        raise InputError(
            f"cannot decode {path} with {decoder}: " + ("the file is empty (0 bytes)" if empty else f"{error}"),
            hint="check that it plays (ffprobe FILE), or convert it: sox IN -b 16 OUT.wav",
        ) from error
    if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        raise InputError(
            f"{path}: a sample rate of {rate_hz} Hz (expected {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz)",
            hint="convert it: sox IN -r 16000 OUT.wav",
        )
    return chunks, rate_hz, decoder


def read_audio_file(path: str | Path) -> tuple[np.ndarray, int]:
    """A whole WAV or FLAC clip → (mono float32 samples, the file's rate in Hz).

    A file that starts like FLAC ("fLaC") goes through soundfile, else ffmpeg; anything else through
    :func:`~edgekit.processing.audio.read_wav` (no extra package; its errors say what a usable WAV is).
    Both stop at the ``audio_seconds`` limit.

    Raises:
        InputError: missing, not WAV/FLAC, or undecodable.
        LimitError: longer than ``audio_seconds``.
        MissingDependencyError: a FLAC file with neither soundfile nor ffmpeg here.
    """
    path = Path(path)
    if not _is_flac(path):
        samples, rate_hz = read_wav(path)
        return to_mono(samples), rate_hz
    # soundfile or ffmpeg, never the stdlib wave, whatever the file's name says
    chunks, rate_hz, _ = open_chunks(path, pick_decoder(path.with_suffix(".flac")))
    pieces, total = [], 0
    try:
        for chunk in chunks:
            pieces.append(chunk.astype(np.float32, copy=False))
            total += chunk.size
            limits.check("audio_seconds", total // rate_hz, f"{path} ({rate_hz} Hz)")
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return (np.concatenate(pieces) if pieces else np.zeros(0, np.float32)), rate_hz


def _is_flac(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"fLaC"
    except OSError:
        return False  # read_wav names the problem (missing, a folder, unreadable)
