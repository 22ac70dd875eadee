"""Vision tasks. Each is imported on first use (PEP 562), so ``edgekit run`` on a classifier never loads the
detector's anchor and NMS code."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .image_classifier import ImageClassifier, ImageClassifierOptions
    from .object_detector import ObjectDetector, ObjectDetectorOptions

_LAZY = {
    "ImageClassifier": "image_classifier",
    "ImageClassifierOptions": "image_classifier",
    "ObjectDetector": "object_detector",
    "ObjectDetectorOptions": "object_detector",
}

__all__ = ["ImageClassifier", "ImageClassifierOptions", "ObjectDetector", "ObjectDetectorOptions"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
