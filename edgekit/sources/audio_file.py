"""WAV and FLAC files as audio sources, with the microphone's interface (optionally paced in real time)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import InputError
from ..media import DEFAULT_SAMPLE_RATE_HZ
from ..processing.audio import AUDIO_SUFFIXES
from ..processing.audio_decode import DECODERS, open_chunks, pick_decoder
from ..processing.streaming import StreamingResampler
from ._errors import SourceNotFoundError, SourceTimeoutError
from ._types import AudioBlock, monotonic_ms

__all__ = ["AUDIO_FILE_SUFFIXES", "DECODERS", "AudioFileSource", "pick_decoder"]

AUDIO_FILE_SUFFIXES = AUDIO_SUFFIXES


class AudioFileSource:
    """Blocks of a WAV or FLAC file, mixed to mono and resampled: the same interface as MicrophoneSource.

    Args:
        path: the file (.wav or .flac).
        sample_rate_hz: rate of the blocks handed out.
        block_ms: length of each block (the last one may be shorter).
        realtime: pace blocks as a microphone would deliver them (a block is handed out once its last
            sample "has been captured"); default: as fast as the consumer reads.
        loop: start again at the end instead of ending.
        decoder: "soundfile", "wave" (WAV only) or "ffmpeg"; default: the best available (``pick_decoder``).

    Raises:
        SourceNotFoundError: the file does not exist.
        InputError: a parameter is out of range or the decoder is unknown.
    """

    kind: Literal["audio"] = "audio"

    def __init__(
        self,
        path: str | Path,
        *,
        sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ,
        block_ms: int = 100,
        realtime: bool = False,
        loop: bool = False,
        decoder: str | None = None,
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceNotFoundError(f"audio file not found: {self.path}", hint="check the path")
        if decoder is not None and decoder not in DECODERS:
            raise InputError(f"unknown audio decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
        if int(sample_rate_hz) != sample_rate_hz or sample_rate_hz <= 0:
            raise InputError(f"sample_rate_hz must be a positive whole number, got {sample_rate_hz!r}")
        self.block_samples = int(round(block_ms * sample_rate_hz / 1000))
        if self.block_samples < 1:
            raise InputError(f"block_ms={block_ms!r} gives blocks of no samples at {sample_rate_hz} Hz")
        self.sample_rate_hz, self.block_ms = int(sample_rate_hz), block_ms
        self.realtime, self.loop, self.decoder = realtime, loop, decoder
        self.description = f"audio file {self.path}"
        #: unpaced, every block is handed out in order and the live runner waits for the task (no drops)
        self.lossless = not realtime
        self.file_rate_hz: int | None = None
        self._chunks: Iterator[np.ndarray] | None = None
        self._resampler: StreamingResampler | None = None
        self._pending = np.zeros(0, np.float32)
        self._position = 0  # stream position (output samples) of _pending[0]
        self._ended = False
        self._samples_decoded = 0
        self._blocks_read = 0
        self._started_ms = 0.0

    def _open_decoder(self) -> None:
        self._chunks, rate_hz, self.decoder = open_chunks(self.path, self.decoder)
        if self._resampler is None or rate_hz != self.file_rate_hz:
            self.file_rate_hz = rate_hz
            self._resampler = StreamingResampler(rate_hz, self.sample_rate_hz)

    def start(self) -> AudioFileSource:
        """Open the file.

        Raises:
            InputError: the file cannot be decoded.
            MissingDependencyError: no decoder for this format is available.
        """
        if self._chunks is None:
            self._open_decoder()
            self._started_ms = monotonic_ms()
        return self

    def _fill(self, count: int) -> None:
        assert self._chunks is not None and self._resampler is not None  # read() checks that start() ran
        pieces = [self._pending]
        available = self._pending.size
        while available < count and not self._ended:
            chunk = next(self._chunks, None)
            if chunk is None and self.loop and self._samples_decoded > 0:  # (an empty file cannot loop)
                self._open_decoder()
                assert self._chunks is not None and self._resampler is not None
                continue
            piece = self._resampler.flush() if chunk is None else self._resampler.process(chunk)
            self._samples_decoded += 0 if chunk is None else chunk.size
            self._ended = chunk is None
            pieces.append(piece)
            available += piece.size
        self._pending = np.concatenate(pieces).astype(np.float32, copy=False)

    def read(self, timeout_s: float | None = None) -> AudioBlock | None:
        """The next block (the last may be shorter); None at the end of the file or after stop().

        Raises:
            SourceTimeoutError: realtime pacing would hold the block longer than ``timeout_s``.
            InputError: the source was never started.
        """
        if self._chunks is None:
            raise InputError(f"{self.description} is not started", hint="call start() or use it in a with block")
        self._fill(self.block_samples)
        if self._pending.size == 0:
            return None
        count = min(self.block_samples, self._pending.size)
        if self.realtime:
            # A microphone hands a block out once its last sample has been captured.
            due_ms = self._started_ms + (self._position + count) * 1000.0 / self.sample_rate_hz
            wait_s = (due_ms - monotonic_ms()) / 1000.0
            if timeout_s is not None and wait_s > timeout_s:
                time.sleep(max(0.0, timeout_s))
                raise SourceTimeoutError(f"the next block is due in {wait_s:.3f} s, after timeout_s={timeout_s:g}")
            time.sleep(max(0.0, wait_s))
        samples, self._pending = self._pending[:count], self._pending[count:]
        start, self._position = self._position, self._position + count
        block = AudioBlock(
            samples.copy(), self.sample_rate_hz, monotonic_ms(), start * 1000.0 / self.sample_rate_hz, self._blocks_read
        )
        self._blocks_read += 1
        return block

    def stop(self) -> None:
        """Close the file; later reads return None."""
        if self._chunks is not None and hasattr(self._chunks, "close"):
            self._chunks.close()
        self._pending, self._ended = np.zeros(0, np.float32), True

    def __iter__(self) -> Iterator[AudioBlock]:
        while (block := self.read()) is not None:
            yield block

    def __enter__(self) -> AudioFileSource:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def stats(self) -> dict[str, Any]:
        """frames_* count blocks; a file never drops or overflows."""
        return {
            "frames_captured": self._blocks_read,
            "frames_delivered": self._blocks_read,
            "frames_dropped": 0,
            "reconnects": 0,
            "overflows": 0,
            "capture_rate_hz": self.file_rate_hz,
            "sample_rate_hz": self.sample_rate_hz,
            "decoder": self.decoder,
        }

    def __repr__(self) -> str:
        return f"<AudioFileSource {self.path}>"
