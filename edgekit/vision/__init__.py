"""Vision tasks."""

from .image_classifier import ImageClassifier, ImageClassifierOptions
from .object_detector import ObjectDetector, ObjectDetectorOptions

__all__ = ["ImageClassifier", "ImageClassifierOptions", "ObjectDetector", "ObjectDetectorOptions"]
