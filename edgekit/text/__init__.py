"""Text tasks."""

from .text_classifier import TextClassifier, TextClassifierOptions

__all__ = ["TextClassifier", "TextClassifierOptions"]
