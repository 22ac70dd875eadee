"""Microphone capture with sounddevice (PortAudio): native rate in, model rate out, in order, bounded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from ..errors import InputError, MissingDependencyError, require
from ..media import DEFAULT_SAMPLE_RATE_HZ
from ..processing.streaming import StreamingResampler
from ._errors import DeviceNotFoundError, StreamError
from ._ring import AudioRing
from ._types import AudioBlock, monotonic_ms

log = logging.getLogger("edgekit.sources")
CLOSE_TIMEOUT_S = 3.0


def import_sounddevice():
    """The sounddevice module.

    Raises:
        MissingDependencyError: sounddevice is not installed, or the PortAudio library it loads is missing.
    """
    try:
        return require("sounddevice", "live", "capturing from a microphone")
    except OSError as error:  # the wheel does not bundle PortAudio on Linux: "PortAudio library not found"
        raise MissingDependencyError(
            f"the microphone needs the PortAudio library, which is not installed ({error})",
            hint="sudo apt install libportaudio2 (Debian, Ubuntu, Raspberry Pi OS); brew install portaudio (macOS)",
        ) from error


def _no_microphone_error(detail: str) -> DeviceNotFoundError:
    return DeviceNotFoundError(
        f"no microphone found: {detail}",
        hint="plug in a microphone and check it is not muted; in a container pass /dev/snd or the PulseAudio "
        "socket; `python -m sounddevice` lists what PortAudio sees; a WAV or FLAC file works as a source too",
    )


def find_input_device(device: int | str | None = None) -> dict[str, Any]:
    """Resolve a microphone: None (the default one), an index, or part of its name (case-insensitive).

    Returns:
        PortAudio's device info (name, index, default_samplerate, max_input_channels, ...).

    Raises:
        DeviceNotFoundError: no input device at all, or none matching ``device`` (the message lists them).
        MissingDependencyError: sounddevice or PortAudio is missing.
    """
    sd = import_sounddevice()
    inputs = [info for info in sd.query_devices() if info["max_input_channels"] > 0]
    if not inputs:
        raise _no_microphone_error("PortAudio sees no input device on this machine")
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    if device is None:
        default_index = sd.default.device[0]
        # PortAudio has no default (-1) when its default device is not an input: take the first input.
        return next((info for info in inputs if info["index"] == default_index), inputs[0])
    if isinstance(device, int):
        matches = [info for info in inputs if info["index"] == device]
    else:
        wanted = device.strip().lower()
        exact = [info for info in inputs if info["name"].lower() == wanted]
        matches = exact or [info for info in inputs if wanted in info["name"].lower()]
    if not matches:
        listing = "; ".join(f"{info['index']}: {info['name']}" for info in inputs)
        raise DeviceNotFoundError(
            f"no microphone matches {device!r}; input devices are {listing}",
            hint="give a device index or part of a name from that list, e.g. mic:2 or mic:USB",
        )
    return matches[0]


class MicrophoneSource:
    """Audio blocks from a microphone, captured at the device's own rate and resampled to ``sample_rate_hz``.

    Many USB microphones refuse 16 kHz, so the stream runs at the device's default rate and a streaming
    polyphase resampler (state kept across blocks: no clicks at block edges) converts it. The capture
    callback writes into a ring of ``buffer_s`` seconds; ``read()`` returns every block in order. If the
    consumer falls behind by more than the ring, the oldest audio is overwritten and counted; PortAudio
    input overflows are counted too. Neither is fatal.

    Args:
        device: None (default input), an index, or part of the device name.
        sample_rate_hz: rate of the blocks handed out.
        block_ms: length of each block.
        capture_rate_hz: force a capture rate instead of the device's default.
        buffer_s: how much unread audio is kept before the oldest is overwritten.
    """

    kind: Literal["audio"] = "audio"
    lossless = False  # live: a slow consumer loses blocks (counted)

    def __init__(
        self,
        device: int | str | None = None,
        *,
        sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ,
        block_ms: int = 100,
        capture_rate_hz: int | None = None,
        buffer_s: float = 10.0,
    ):
        if int(sample_rate_hz) != sample_rate_hz or sample_rate_hz <= 0:
            raise InputError(f"sample_rate_hz must be a positive whole number, got {sample_rate_hz!r}")
        self.block_samples = int(round(block_ms * sample_rate_hz / 1000))
        if self.block_samples < 1:
            raise InputError(f"block_ms={block_ms!r} gives blocks of no samples at {sample_rate_hz} Hz")
        if buffer_s * sample_rate_hz < 2 * self.block_samples:
            raise InputError(f"buffer_s={buffer_s!r} must hold at least two blocks of {block_ms} ms")
        self.device, self.sample_rate_hz, self.block_ms = device, int(sample_rate_hz), block_ms
        self.capture_rate_hz = capture_rate_hz
        self.description = "microphone" if device is None else f"microphone {device}"
        self.device_info: dict[str, Any] | None = None
        self.input_overflows = 0
        self._ring = AudioRing(int(buffer_s * sample_rate_hz))
        self._resampler: StreamingResampler | None = None
        self._stream: Any = None  # sounddevice.InputStream once started
        self._sd: Any = None  # the sounddevice module, for the callback
        self._stopping = False
        self._error: BaseException | None = None
        self._blocks_read = 0
        self._capture_samples = 0
        self._anchor = (0.0, 0.0)  # (stream position in output samples, monotonic ms) of the newest input sample

    def start(self) -> MicrophoneSource:
        """Open the microphone and start capturing.

        Raises:
            DeviceNotFoundError: no microphone (or none matching ``device``).
            StreamError: the device refuses to record (busy, unsupported rate).
            MissingDependencyError: sounddevice or PortAudio is missing.
        """
        if self._stream is not None:
            return self
        if self._stopping:
            raise InputError(f"{self.description} was stopped; open a new source to record again")
        sd = import_sounddevice()
        info = find_input_device(self.device)
        self.device_info = info
        self.description = f"microphone {info['index']}: {info['name']}"
        rate_hz = int(self.capture_rate_hz or info["default_samplerate"])
        self._resampler = StreamingResampler(rate_hz, self.sample_rate_hz)
        self.capture_rate_hz, self._sd = rate_hz, sd  # the callback needs both as soon as the stream starts
        try:
            try:
                stream = self._open_stream(sd, info, rate_hz, channels=1)
            except sd.PortAudioError as error:
                # Some raw (hw:) devices only record stereo: record both channels and average them.
                if "channels" not in str(error).lower() or info["max_input_channels"] < 2:
                    raise
                stream = self._open_stream(sd, info, rate_hz, channels=2)
            stream.start()
        except sd.PortAudioError as error:
            if "querying device" in str(error):
                raise _no_microphone_error(str(error)) from error
            raise StreamError(
                f"{self.description} cannot record mono at {rate_hz} Hz ({error})",
                hint="another program may hold the device; try another capture_rate_hz (48000, 44100)",
            ) from error
        self._stream = stream
        return self

    def _open_stream(self, sd, info: dict[str, Any], rate_hz: int, channels: int):
        return sd.InputStream(
            device=info["index"],
            samplerate=rate_hz,
            channels=channels,
            dtype="float32",
            latency="low",
            callback=self._on_audio,
            finished_callback=self._on_finished,
        )

    def _on_audio(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now_ms = monotonic_ms()
        resampler, rate_hz = self._resampler, self.capture_rate_hz
        assert resampler is not None and rate_hz is not None  # start() sets both before the stream starts
        if status.input_overflow:
            self.input_overflows += 1
        try:
            mono = indata[:, 0] if indata.shape[1] == 1 else indata.mean(axis=1)
            self._ring.write(resampler.process(mono))
        except Exception as error:  # the stream cannot go on; read() raises this
            self._error = StreamError(f"{self.description}: processing captured audio failed: {error}")
            raise self._sd.CallbackAbort from error
        self._capture_samples += frames
        # PortAudio's clock says how long ago the first sample of this buffer was captured; when the host
        # API gives no usable time (0, or nonsense), the callback time is the best estimate.
        age_s = time_info.currentTime - time_info.inputBufferAdcTime
        newest_ms = now_ms - age_s * 1000.0 + (frames - 1) * 1000.0 / rate_hz if 0.0 <= age_s < 1.0 else now_ms
        self._anchor = ((self._capture_samples - 1) * self.sample_rate_hz / rate_hz, newest_ms)

    def _on_finished(self) -> None:
        if not self._stopping and self._error is None:
            self._error = StreamError(
                f"{self.description} stopped delivering audio", hint="the device was unplugged or reset"
            )
        self._ring.close()

    def read(self, timeout_s: float | None = None) -> AudioBlock | None:
        """The next block in order (waits for it); None after stop().

        Raises:
            SourceTimeoutError: no full block within ``timeout_s``.
            StreamError: the device stopped delivering audio.
            InputError: the source was never started.
        """
        if self._stream is None and not self._stopping:
            raise InputError(f"{self.description} is not started", hint="call start() or use it in a with block")
        result = self._ring.read(self.block_samples, timeout_s)
        if result is None:
            if self._error is not None:
                raise self._error
            return None
        start, samples = result
        anchor_position, anchor_ms = self._anchor
        last_sample = start + samples.size - 1
        timestamp_ms = anchor_ms - (anchor_position - last_sample) * 1000.0 / self.sample_rate_hz
        block = AudioBlock(
            samples, self.sample_rate_hz, timestamp_ms, start * 1000.0 / self.sample_rate_hz, self._blocks_read
        )
        self._blocks_read += 1
        return block

    def stop(self) -> None:
        """Stop capturing; waits at most a few seconds for PortAudio to close the device."""
        self._stopping = True
        self._ring.close()
        stream, self._stream = self._stream, None
        if stream is None:
            return

        def close() -> None:
            try:
                stream.abort()
                stream.close()
            except Exception as error:  # closing a vanished device may fail; nothing left to do about it
                log.warning("%s: closing failed: %s", self.description, error)

        closer = threading.Thread(target=close, name="edgekit-mic-close", daemon=True)
        closer.start()
        closer.join(CLOSE_TIMEOUT_S)
        if closer.is_alive():
            log.warning("%s: PortAudio did not close within %.0f s", self.description, CLOSE_TIMEOUT_S)

    def __iter__(self) -> Iterator[AudioBlock]:
        while (block := self.read()) is not None:
            yield block

    def __enter__(self) -> MicrophoneSource:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def stats(self) -> dict[str, Any]:
        """Counts in blocks (frames_*) and samples: frames_captured, frames_delivered, frames_dropped (blocks
        overwritten before read), overflows (input_overflows + buffer_overflows), samples_dropped, rates."""
        return {
            "frames_captured": self._ring.samples_written // self.block_samples,
            "frames_delivered": self._blocks_read,
            "frames_dropped": self._ring.samples_dropped // self.block_samples,
            "reconnects": 0,
            "overflows": self.input_overflows + self._ring.overflows,
            "input_overflows": self.input_overflows,
            "buffer_overflows": self._ring.overflows,
            "samples_dropped": self._ring.samples_dropped,
            "capture_rate_hz": self.capture_rate_hz,
            "sample_rate_hz": self.sample_rate_hz,
            "device": None if self.device_info is None else self.device_info["name"],
        }

    def __repr__(self) -> str:
        return f"<MicrophoneSource {self.description}>"
