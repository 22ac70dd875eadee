"""Audio tasks."""

from ._input import prepare_samples
from .audio_classifier import AudioBlock, AudioClassifier, AudioClassifierOptions

__all__ = ["AudioBlock", "AudioClassifier", "AudioClassifierOptions", "prepare_samples"]
