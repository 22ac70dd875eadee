"""Export Keras 3 models and SavedModels to TFLite (and Core ML), verified against the source.

Needs ``pip install -e ".[convert]" in a checkout`` (TensorFlow CPU, coremltools). The runtime never imports
this package.
"""

import os

# TensorFlow reads these when it is first imported (by any converter): no C++ info logs, no oneDNN notice.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from .recipes import Recipe, RecipeConfig, Tolerance

__all__ = ["Recipe", "RecipeConfig", "Tolerance", "export_tflite"]


def export_tflite(*args, **kwargs):
    """See :func:`converters.tflite.export_tflite` (imported lazily: it needs TensorFlow)."""
    from .tflite import export_tflite as _export

    return _export(*args, **kwargs)
