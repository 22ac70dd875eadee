"""Find and open a TFLite interpreter: ai-edge-litert, else tflite-runtime, else tensorflow.lite.

``EDGEKIT_INTERPRETER=ai-edge-litert|tflite-runtime|tensorflow`` forces one (tests use it; so can
users comparing runtimes).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import warnings
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidModelError, NoInterpreterError, raise_interruption
from ._quiet import quiet_native_stderr

# (name shown to users, module holding Interpreter, distribution for the version)
_CANDIDATES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite-runtime", "tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow", "tensorflow.lite.python.interpreter", "tensorflow-cpu"),
)


@dataclass(frozen=True)
class InterpreterBackend:
    """The interpreter package in use: its name, version and module."""

    name: str
    version: str
    module: Any

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def _version(distribution: str, module: Any) -> str:
    # The package's own __version__ (ai_edge_litert, tflite_runtime and tensorflow all set one) is
    # already in memory; importlib.metadata scans site-packages (about 10 ms), so it is the fallback.
    package = sys.modules.get(str(getattr(module, "__name__", "")).partition(".")[0])
    version = getattr(package, "__version__", None)
    if isinstance(version, str) and version:
        return version
    from importlib import metadata

    for dist in (distribution, "tensorflow", "tflite-runtime", "ai-edge-litert"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return str(getattr(module, "__version__", "unknown"))


_cached: InterpreterBackend | None = None


def find_backend() -> InterpreterBackend:
    """Return the best interpreter available, in the order ai-edge-litert → tflite-runtime → TF.

    Raises:
        NoInterpreterError: none of them imports (with each one's import error).
    """
    global _cached
    forced = os.environ.get("EDGEKIT_INTERPRETER", "").strip()
    if _cached is not None and (not forced or _cached.name == forced):
        return _cached
    candidates = [c for c in _CANDIDATES if not forced or c[0] == forced]
    if forced and not candidates:
        names = ", ".join(c[0] for c in _CANDIDATES)
        raise NoInterpreterError(
            f"EDGEKIT_INTERPRETER={forced!r} is not a known interpreter", hint=f"use one of: {names}"
        )
    failures = []
    for name, module_name, distribution in candidates:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken install raises more than ImportError (numpy ABI, OSError)
            raise_interruption(exc)  # a signal during the extension's init is not a broken install
            failures.append(f"{name}: {type(exc).__name__}: {exc}".splitlines()[0])
            continue
        _cached = InterpreterBackend(name, _version(distribution, module), module)
        return _cached
    raise NoInterpreterError(
        "no TFLite interpreter can be imported (" + "; ".join(failures) + ")",
        hint="pip install ai-edge-litert (Linux x86-64/aarch64, macOS arm64, Windows x86-64); where it has no wheels "
        "(an Intel Mac), pip install tensorflow; on old systems with numpy<2, pip install tflite-runtime",
    )


# What TFLite says when the file needs a kernel the interpreter was built without.
_OP_VERSION = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")
_NEWER_RUNTIME = ("builtin_code out of range", "unresolved custom op", "Select TensorFlow op")


def load_failure_hint(message: str, backend: InterpreterBackend) -> str:
    """The fix for an interpreter's refusal: a newer runtime for operator versions, else a damaged file."""
    found = _OP_VERSION.search(message)
    if found:
        op, version = found.groups()
        return (
            f"the file uses {op} version {version}, newer than {backend} knows (the file is fine): run it with "
            "ai-edge-litert (pip install ai-edge-litert), or re-export with a recipe this runtime supports "
            "(`edgekit info FILE` lists which runtimes load it, e.g. dynamic needs ai-edge-litert; for "
            "tflite-runtime 2.14 use int8)"
        )
    if any(part in message for part in _NEWER_RUNTIME):
        return (
            f"the file uses an operator {backend} does not have (the file is fine): run it with ai-edge-litert "
            "(pip install ai-edge-litert) or re-export with builtin operators only"
        )
    return "check that the file is a complete .tflite model (re-export or re-download it)"


def open_interpreter(path: str, num_threads: int | None, data: bytes | None = None) -> tuple[Any, InterpreterBackend]:
    """Open ``path`` with the best interpreter, XNNPACK on, and allocate its tensors.

    Given the file's ``data``, the interpreter builds from those bytes, which also runs its own flatbuffer
    verifier (a file path skips it): a second line of defence behind edgekit's check (``_tflite_check``).

    Raises:
        InvalidModelError: the interpreter rejects the file (corrupt, truncated, unknown ops).
    """
    backend = find_backend()
    interpreter_class = backend.module.Interpreter
    source = {"model_content": data} if data is not None else {"model_path": path}
    kwargs: dict[str, Any] = {**source, "num_threads": num_threads}
    # BUILTIN (the default) applies the XNNPACK delegate; say so explicitly where the API allows.
    resolver = getattr(backend.module, "OpResolverType", None)
    if resolver is not None:
        kwargs["experimental_op_resolver_type"] = resolver.AUTO
    try:
        with quiet_native_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice: we chose it knowingly
            interpreter = interpreter_class(**kwargs)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidModelError(
            f"{path}: {backend} cannot load this model: {first}", hint=load_failure_hint(first, backend)
        ) from exc
    return interpreter, backend
