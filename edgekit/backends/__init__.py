"""Backends know tensors, not tasks: one module per runtime, found through a small registry.

:func:`load` picks the backend from the path: ``.mlpackage`` folders go to Core ML, everything else
to LiteRT. A backend is a loader ``(path, num_threads) -> Model``, imported on first use. Plug-ins
register themselves with :func:`register` when their module is imported: the converters register
``coreml-reference`` (the NumPy ML Program evaluator, which needs coremltools) from
``converters.coreml.reference``, so the runtime never imports the converters; the command line
(the composition root) imports that module when ``--reference`` or ``edgekit info`` needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..model import Model

Loader = Callable[..., Any]

_PLUGINS: dict[str, Loader] = {}


def register(name: str, loader: Loader) -> None:
    """Make ``loader`` available as the backend ``name`` (a later registration replaces it)."""
    _PLUGINS[name] = loader


def plugin(name: str) -> Loader | None:
    """The loader registered as ``name``, or None when its module was not imported."""
    return _PLUGINS.get(name)


def load(path: str | os.PathLike, num_threads: int | None = None) -> Model:
    """Load a model file with the backend its format needs (LiteRT with XNNPACK for ``.tflite``).

    Args:
        path: a ``.tflite`` file, or a Core ML ``.mlpackage`` (runs on macOS only).
        num_threads: CPU threads for inference (None: the runtime's default).

    Returns:
        A :class:`edgekit.Model`.

    Raises:
        ModelNotFoundError: the file does not exist.
        InvalidModelError: it is not a (complete) TFLite model.
        UnsupportedModelError: it is a model edgekit cannot run here (SavedModel; Core ML off Apple platforms).
        NoInterpreterError: no interpreter package is installed.
    """
    if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
        raise InputError(f"num_threads must be a positive integer or None, got {num_threads!r}")
    model_path = Path(path)
    name = "coreml" if model_path.suffix.lower() == ".mlpackage" and model_path.is_dir() else "litert"
    return _BUILTIN[name]()(model_path, num_threads)


def _litert() -> Loader:
    from .litert_model import load_litert

    return load_litert


def _coreml() -> Loader:
    from .coreml import load_coreml  # Core ML on macOS; elsewhere a clear refusal

    return load_coreml


# Built-in backends, imported on first use (Core ML's module is not needed to run a .tflite file).
_BUILTIN: dict[str, Callable[[], Loader]] = {"litert": _litert, "coreml": _coreml}
