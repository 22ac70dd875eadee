"""Audio tasks. The block type audio sources hand out and AudioClassifier takes is ``AudioBlock`` (one type,
defined in :mod:`edgekit.media`; re-exported here)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from ..media import AudioBlock
from ._input import prepare_samples
from .audio_classifier import AudioClassifier, AudioClassifierOptions

__all__ = ["AudioBlock", "AudioClassifier", "AudioClassifierOptions", "prepare_samples"]

if not TYPE_CHECKING:  # hidden from type checkers: typed code should name AudioBlock

    def __getattr__(name: str):
        """``AudioInput``, the 0.1.0 name of :class:`AudioBlock`: still importable, deprecated (one warning)."""
        if name == "AudioInput":
            warnings.warn(
                "edgekit.audio.AudioInput is deprecated: it is edgekit.media.AudioBlock (also importable as "
                "edgekit.audio.AudioBlock); AudioInput will be removed in 0.3",
                DeprecationWarning,
                stacklevel=2,
            )
            return AudioBlock
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
