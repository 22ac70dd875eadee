"""edgekit: run exported TFLite models on laptops and Raspberry Pis, with their metadata inside.

The runtime needs only numpy and an interpreter (ai-edge-litert, else tflite-runtime, else
tensorflow.lite). Conversion lives in the separate ``converters`` package (``edgekit[convert]``).
"""

from .audio import AudioClassifier, AudioClassifierOptions
from .backends import load
from .backends.litert import find_backend
from .compat import Compatibility, RuntimeVerdict, check_compatibility
from .errors import (
    CalibrationError,
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
from .version import __version__
from .vision import ImageClassifier, ImageClassifierOptions, ObjectDetector, ObjectDetectorOptions

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
