"""Audio tasks."""

from .audio_classifier import AudioBlock, AudioClassifier, AudioClassifierOptions, prepare_samples

__all__ = ["AudioBlock", "AudioClassifier", "AudioClassifierOptions", "prepare_samples"]
