"""edgekit: run exported TFLite models on laptops and Raspberry Pis, with their metadata inside.

The runtime needs only numpy and an interpreter (ai-edge-litert, else tflite-runtime, else
tensorflow.lite). Conversion lives in the repository's separate ``converters`` package (an editable install with the
``convert`` extra); the wheel ``edgekit-ml`` holds the runtime only.

``import edgekit`` loads only what :func:`load` needs (errors, the model contract, the backends and
metadata); the tasks, results and compatibility checks are imported on first use of their names
(PEP 562 module ``__getattr__``), so a script that only loads a model starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .backends import load
from .backends.litert import find_backend
from .errors import (
    CalibrationError,
    CallbackError,
    ClosedError,
    EdgekitError,
    InputError,
    InvalidModelError,
    MetadataError,
    MissingDependencyError,
    ModelNotFoundError,
    NoInterpreterError,
    OutputPathError,
    RecipeError,
    UnsupportedModelError,
    VerificationError,
)
from .metadata import AudioSpec, ImageSpec, ModelCard, Task, TextSpec
from .model import Model, TensorSpec
from .version import __version__

if TYPE_CHECKING:  # the names below load lazily; type checkers and IDEs see them as usual
    from . import zoo  # noqa: F401  (a lazy submodule, see _LAZY_MODULES)
    from .audio import AudioClassifier, AudioClassifierOptions
    from .compat import Compatibility, RuntimeVerdict, check_compatibility
    from .results import (
        AudioClassifierResult,
        BoundingBox,
        Category,
        ClassificationResult,
        Classifications,
        Detection,
        DetectionResult,
        Keypoint,
        KeywordDetection,
    )
    from .tasks import RunningMode
    from .text import TextClassifier, TextClassifierOptions
    from .vision import ImageClassifier, ImageClassifierOptions, ObjectDetector, ObjectDetectorOptions

# public name → the submodule that defines it, imported on first access
_LAZY = {
    "AudioClassifier": "audio",
    "AudioClassifierOptions": "audio",
    "Compatibility": "compat",
    "RuntimeVerdict": "compat",
    "check_compatibility": "compat",
    "RunningMode": "tasks",
    "TextClassifier": "text",
    "TextClassifierOptions": "text",
    "ImageClassifier": "vision",
    "ImageClassifierOptions": "vision",
    "ObjectDetector": "vision",
    "ObjectDetectorOptions": "vision",
    **dict.fromkeys(
        (
            "AudioClassifierResult",
            "BoundingBox",
            "Category",
            "ClassificationResult",
            "Classifications",
            "Detection",
            "DetectionResult",
            "Keypoint",
            "KeywordDetection",
        ),
        "results",
    ),
}


# submodules reachable as attributes after a plain ``import edgekit`` (``edgekit.zoo.path("fashion")``)
_LAZY_MODULES = ("zoo",)


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)  # the import binds it in globals() too
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))


__all__ = [
    "AudioClassifier",
    "AudioClassifierOptions",
    "AudioClassifierResult",
    "BoundingBox",
    "Category",
    "ClassificationResult",
    "Classifications",
    "Compatibility",
    "Detection",
    "DetectionResult",
    "ImageClassifier",
    "ImageClassifierOptions",
    "Keypoint",
    "ObjectDetector",
    "ObjectDetectorOptions",
    "KeywordDetection",
    "RunningMode",
    "RuntimeVerdict",
    "TextClassifier",
    "TextClassifierOptions",
    "AudioSpec",
    "CalibrationError",
    "CallbackError",
    "ClosedError",
    "EdgekitError",
    "ImageSpec",
    "InputError",
    "InvalidModelError",
    "MetadataError",
    "MissingDependencyError",
    "Model",
    "ModelCard",
    "ModelNotFoundError",
    "NoInterpreterError",
    "OutputPathError",
    "RecipeError",
    "Task",
    "TensorSpec",
    "TextSpec",
    "UnsupportedModelError",
    "VerificationError",
    "check_compatibility",
    "find_backend",
    "load",
    "__version__",
]
