"""Train a classifier from a folder or a table, export it in every recipe, and report (``edgekit train``).

    from converters.train import TrainOptions, train_text_classifier, train_image_classifier
    result = train_text_classifier("chats.csv", "out/chat", TrainOptions(epochs=20))
    result.report["source"]["test_accuracy"]

The command line (``edgekit train text-classifier|image-classifier|audio-classifier DATA -o OUT``) is a
thin layer over these functions.
"""

from __future__ import annotations

from .audio import train_audio_classifier
from .common import TrainOptions, TrainResult
from .image import BACKBONES, train_image_classifier
from .text import train_text_classifier

__all__ = [
    "BACKBONES",
    "TrainOptions",
    "TrainResult",
    "train_audio_classifier",
    "train_image_classifier",
    "train_text_classifier",
]
