"""Vision tasks."""

from .image_classifier import ImageClassifier, ImageClassifierOptions

__all__ = ["ImageClassifier", "ImageClassifierOptions"]
