"""Live inputs: cameras, video files, image sequences, network streams, microphones and audio files.

Sources yield timestamped frames or audio blocks and know nothing of models. Every source has the same
interface (:class:`Source`): ``start()``, ``read(timeout_s)`` (None once ended), ``stop()``, iteration,
``with`` (start on enter, stop on exit), ``stats``, ``kind`` ("video" or "audio") and ``description``.
OpenCV, sounddevice and Picamera2 are imported only when a source that needs them starts.

    with open_source("0", width=640, height=480) as camera:
        for frame in camera:          # the newest frame each time; slow consumers drop frames, counted
            ...
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..media import DEFAULT_SAMPLE_RATE_HZ
from ._errors import SPEC_HINT, DeviceNotFoundError, SourceNotFoundError, SourceTimeoutError, StreamError
from ._types import AudioBlock, Frame, Source, monotonic_ms
from .audio_file import AUDIO_FILE_SUFFIXES, AudioFileSource
from .camera import CameraSource, is_network_url
from .microphone import MicrophoneSource, find_input_device
from .picamera import Picamera2Source

__all__ = [
    "AudioBlock",
    "AudioFileSource",
    "CameraSource",
    "DeviceNotFoundError",
    "Frame",
    "MicrophoneSource",
    "Picamera2Source",
    "Source",
    "SourceNotFoundError",
    "SourceTimeoutError",
    "StreamError",
    "find_input_device",
    "monotonic_ms",
    "open_source",
]


def open_source(
    spec: str | int | Path,
    *,
    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    block_ms: int = 100,
    realtime: bool | None = None,
    device: int | str | None = None,
    loop: bool = False,
    model_size: tuple[int, int] | None = None,
) -> Source:
    """Make the source a spec names (not started yet: use ``with`` or ``start()``).

    Args:
        spec: ``0`` or ``"0"`` (camera index); ``"mic"``, ``"mic:NAME"`` or ``"mic:3"`` (microphone by default,
            name part or index); ``*.wav`` / ``*.flac`` (audio file); ``http(s)://``, ``rtsp://``, ``tcp://``,
            ``udp://`` (network stream, reconnects when it drops); ``"picamera"`` or ``"picamera:1"``
            (Raspberry Pi camera); any other path: a video file or an image sequence (``img_%04d.png``).
        sample_rate_hz: audio sources: rate of the blocks handed out.
        width, height, fps: video sources: wanted frame size and camera rate.
        block_ms: audio sources: block length.
        realtime: files: pace like a live source (default False: as fast as the consumer reads).
        device: microphone index or name part when ``spec`` is plain ``"mic"``.
        loop: files: start again at the end.
        model_size: (width, height) of the model's image input: a Raspberry Pi camera with no width and
            height given is configured to fit it (its ISP scales for free).

    Returns:
        A Source: CameraSource, Picamera2Source, MicrophoneSource or AudioFileSource.

    Raises:
        SourceNotFoundError: a file that does not exist.
        InputError: a spec that names nothing edgekit can read.
    """
    if isinstance(spec, bool) or not isinstance(spec, (str, int, Path)):
        raise InputError(f"a source is a camera index, a path or a URL, not {spec!r}", hint=SPEC_HINT)
    paced = bool(realtime)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return CameraSource(int(spec), width=width, height=height, fps=fps)
    text = str(spec).strip()
    name, _, argument = text.partition(":")
    if name.lower() == "mic" and "://" not in text:
        return MicrophoneSource(argument or device, sample_rate_hz=sample_rate_hz, block_ms=block_ms)
    if name.lower() == "picamera" and "://" not in text:
        if argument and not argument.isdigit():
            raise InputError(f"picamera takes a camera number (picamera:1), got {text!r}", hint=SPEC_HINT)
        return Picamera2Source(int(argument or 0), width=width, height=height, fps=fps, model_size=model_size)
    if is_network_url(text):
        return CameraSource(text, width=width, height=height, fps=fps)
    if "://" in text:
        raise InputError(f"unsupported stream URL {text!r}", hint=SPEC_HINT)
    if Path(text).suffix.lower() in AUDIO_FILE_SUFFIXES:
        return AudioFileSource(text, sample_rate_hz=sample_rate_hz, block_ms=block_ms, realtime=paced, loop=loop)
    try:
        return CameraSource(text, width=width, height=height, fps=fps, realtime=paced, loop=loop)
    except SourceNotFoundError as error:
        error.hint = SPEC_HINT if not Path(text).suffix else error.hint
        raise
