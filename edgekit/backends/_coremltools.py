"""Reading Core ML packages with coremltools: the import (quiet) and the spec + MIL program loader.

Shared by the Core ML backend (describing and running a package on macOS) and the NumPy reference
evaluator on the converters side; neither imports the other.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidModelError, ModelNotFoundError, UnsupportedModelError, require
from ._quiet import quiet_native_stderr

WEIGHTS_FOLDER = Path("Data/com.apple.CoreML/weights")


def import_coremltools():
    """coremltools, imported quietly (it warns on Linux that its macOS runtime is missing).

    Raises:
        MissingDependencyError: coremltools is not installed (it comes with ``edgekit-ml[convert] in a checkout``).
    """
    if "coremltools" in sys.modules:
        return sys.modules["coremltools"]
    for name in ("coremltools", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    # coremltools imports TensorFlow, whose C++ logger writes to fd 2 before any setting applies.
    with quiet_native_stderr(drop_all=True):
        return require("coremltools", "convert", "reading Core ML packages")


def load_program(package: str | os.PathLike) -> tuple[Any, Any]:
    """Load ``(spec, program)`` from a saved ``.mlpackage``.

    Raises:
        ModelNotFoundError: the package does not exist.
        InvalidModelError: it is not a readable Core ML package.
        UnsupportedModelError: it is not an ML Program (an older neural network model).
    """
    path = Path(package)
    if not path.exists():
        raise ModelNotFoundError(f"Core ML package not found: {path}", hint="check the path")
    if not (path / "Manifest.json").is_file():
        raise InvalidModelError(
            f"{path} is not a Core ML package (no Manifest.json inside)",
            hint="give the .mlpackage folder written by edgekit convert --to coreml",
        )
    ct = import_coremltools()
    from coremltools.converters.mil.frontend.milproto.load import load as load_mil

    try:
        spec = ct.utils.load_spec(str(path))
    except Exception as exc:  # protobuf and the package reader raise many types for a damaged package
        raise InvalidModelError(f"{path} cannot be read as a Core ML package: {exc}") from exc
    if spec.WhichOneof("Type") != "mlProgram":
        raise UnsupportedModelError(
            f"{path} is a Core ML '{spec.WhichOneof('Type')}' model, not an ML Program; the reference "
            "evaluator reads ML Programs only",
            hint="re-export it with edgekit convert --to coreml (it writes ML Programs)",
        )
    try:
        program = load_mil(spec, spec.specificationVersion, str(path / WEIGHTS_FOLDER))
    except Exception as exc:
        raise InvalidModelError(f"{path}: its ML Program cannot be loaded: {exc}") from exc
    return spec, program
