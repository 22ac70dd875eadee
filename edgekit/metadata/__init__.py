"""Model cards (task, labels, preprocessing) and their home inside model files."""

from .card import AudioSpec, ImageSpec, ModelCard, Task, TextSpec
from .tflite import embed_card, read_card

__all__ = ["AudioSpec", "ImageSpec", "ModelCard", "Task", "TextSpec", "embed_card", "read_card"]
