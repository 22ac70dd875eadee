"""Audio tasks."""

from ._input import prepare_samples
from .audio_classifier import AudioClassifier, AudioClassifierOptions, AudioInput

__all__ = ["AudioClassifier", "AudioClassifierOptions", "AudioInput", "prepare_samples"]
