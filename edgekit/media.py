"""What flows from sources to tasks: a video Frame, an AudioBlock, and the InputFormat a task declares.

Sources make Frames and AudioBlocks; tasks take them (and numpy arrays, files, strings). Both sides
import these types from here, so neither needs the other: a task recognises a source's frame by its
type, and a caller opens the right source by reading the task's ``input_format``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: The rate speech models are trained at (and sources deliver when nothing else is asked for).
DEFAULT_SAMPLE_RATE_HZ = 16_000

InputKind = Literal["video", "audio", "text"]


# eq=False: fields hold numpy arrays, which have no single truth value; frames compare by identity.
@dataclass(frozen=True, eq=False)
class Frame:
    """One camera or video frame.

    Attributes:
        image: (H, W, 3) uint8 pixels in ``color_order`` (BGR, as OpenCV delivers them).
        timestamp_ms: capture time on the time.monotonic() clock, in ms (compare with monotonic_ms() for latency).
        index: frame counter from the source start; gaps are frames the consumer never took.
        color_order: "BGR" (OpenCV and Picamera2's RGB888 both lay pixels out as B, G, R).
    """

    image: np.ndarray
    timestamp_ms: float
    index: int
    color_order: str = "BGR"


@dataclass(frozen=True, eq=False)
class AudioBlock:
    """A block of audio: what audio sources hand out and what ``AudioClassifier`` takes and calls back with.

    Attributes:
        samples: (N,) float32 in [-1, 1] at ``sample_rate_hz`` (a task also takes (N, channels) and
            integer PCM, see ``edgekit.audio.prepare_samples``).
        sample_rate_hz: rate of ``samples``.
        timestamp_ms: capture time (monotonic ms) of the block's last sample (0 for a whole clip).
        position_ms: stream position of the block's first sample since the stream start (sample-accurate:
            ``position_ms * sample_rate_hz / 1000`` is a whole number of samples; audio lost to an overflow
            still advances it).
        index: block counter from the source start.
    """

    samples: np.ndarray
    sample_rate_hz: int
    timestamp_ms: float = 0.0
    position_ms: float = 0.0
    index: int = 0

    @property
    def duration_ms(self) -> float:
        return self.samples.size * 1000.0 / self.sample_rate_hz


@dataclass(frozen=True)
class InputFormat:
    """What a task consumes, for the caller that opens its source (like TFLite Support's ``required_audio_format``).

    Attributes:
        kind: "video" (frames and images), "audio" (blocks and clips) or "text" (strings).
        sample_rate_hz: audio: the rate the model consumes (blocks at another rate are resampled, but a
            source asked for this rate saves the work). None for video and text.
        channels: audio: channels the model consumes (1); video: colour channels of the model's input.
    """

    kind: InputKind
    sample_rate_hz: int | None = None
    channels: int | None = None
