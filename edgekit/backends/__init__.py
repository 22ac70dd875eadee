"""Backends know tensors, not tasks: one module per runtime, found through a small registry.

A backend is a loader ``(path) -> model``. Built-in backends are imported where they are used;
plug-ins register themselves with :func:`register` when their module is imported. The converters
register ``coreml-reference`` (the NumPy ML Program evaluator, which needs coremltools) from
``converters.coreml.reference``, so the runtime never imports the converters; the command line
(the composition root) imports that module when ``--reference`` or ``edgekit info`` needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Loader = Callable[..., Any]

_PLUGINS: dict[str, Loader] = {}


def register(name: str, loader: Loader) -> None:
    """Make ``loader`` available as the backend ``name`` (a later registration replaces it)."""
    _PLUGINS[name] = loader


def plugin(name: str) -> Loader | None:
    """The loader registered as ``name``, or None when its module was not imported."""
    return _PLUGINS.get(name)
