"""Core ML export: recipes, the Keras → ML Program graph, the exporter, and the NumPy reference evaluator.

``from converters.coreml import export_coreml, CoreMLConfig`` works as before the package split; the
exporter is imported on first use (it needs TensorFlow and coremltools).

Modules:
    recipes:    CoreMLRecipe / CoreMLConfig (validated options, no heavy imports)
    graph:      the Keras → ML Program conversion itself
    export:     CoreMLExporter, export_coreml (convert, verify against the source, write or refuse)
    reference:  the NumPy evaluator of a saved ML Program (``edgekit run --reference`` on any OS)
    _kernels:   its NumPy kernels for ops coremltools cannot evaluate
"""

from __future__ import annotations

from typing import Any

from .recipes import CoreMLConfig, CoreMLRecipe

__all__ = ["CoreMLConfig", "CoreMLExporter", "CoreMLRecipe", "check_package_path", "export_coreml"]

_LAZY = {"CoreMLExporter", "check_package_path", "export_coreml"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import export

        return getattr(export, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
