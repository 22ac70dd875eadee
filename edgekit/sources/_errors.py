"""Errors of the live sources (EdgekitError subclasses that are also the matching built-ins)."""

from __future__ import annotations

from ..errors import EdgekitError

SPEC_HINT = (
    "sources are: 0 (camera index), clip.mp4, img_%04d.png, http://HOST/feed.mjpg, rtsp://…, tcp://…, udp://…, "
    "picamera, mic, mic:NAME, mic:INDEX, speech.wav, speech.flac"
)


class SourceNotFoundError(EdgekitError, FileNotFoundError):
    """A video, image-sequence or audio file given as a source does not exist."""


class DeviceNotFoundError(EdgekitError, OSError):
    """No camera or microphone matches what was asked for (index, name), or there is none at all."""


class StreamError(EdgekitError, ConnectionError):
    """A network stream cannot be opened, or a source stopped delivering and cannot go on."""


class SourceTimeoutError(EdgekitError, TimeoutError):
    """``read(timeout_s)`` waited that long and nothing new arrived (the source has not ended)."""
