"""Errors raised by edgekit.

Every error is an :class:`EdgekitError` and also the matching built-in exception, so callers can
catch ``ValueError`` or ``FileNotFoundError`` without knowing edgekit. Each carries a ``hint``
that says how to fix the problem; the CLI prints ``error: <message>`` and ``hint: <hint>``.
"""

from __future__ import annotations


class EdgekitError(Exception):
    """Base class. ``str(error)`` is the problem; ``error.hint`` is the fix (may be empty)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ModelNotFoundError(EdgekitError, FileNotFoundError):
    """The model path does not exist."""


class InvalidModelError(EdgekitError, ValueError):
    """The file exists but is not a usable model (wrong format, truncated, corrupt)."""


class UnsupportedModelError(EdgekitError, ValueError):
    """The model is valid but edgekit cannot handle it (a layer, a dtype, a platform)."""


class MetadataError(EdgekitError, ValueError):
    """Model metadata is missing what is needed, or is malformed."""


class InputError(EdgekitError, ValueError):
    """An input given to a model or a command has the wrong shape, dtype or content."""


class RecipeError(EdgekitError, ValueError):
    """A quantization recipe or its options cannot work for this model."""


class CalibrationError(EdgekitError, ValueError):
    """Calibration or verification data is missing, empty or does not fit the model."""


class VerificationError(EdgekitError, ValueError):
    """The exported model does not answer like the source model; nothing was written.

    ``row`` holds the export-report row of the refused export, when there is one.
    """

    row = None

    def with_row(self, row):
        self.row = row
        return self


class OutputPathError(EdgekitError, OSError):
    """The output path cannot be written (missing folder, not writable, already exists)."""


class ClosedError(EdgekitError, RuntimeError):
    """A model or task was used after ``close()`` (or after its ``with`` block ended)."""


class CallbackError(EdgekitError, RuntimeError):
    """A LIVE_STREAM ``result_callback`` raised; the task's next call raises this in the caller's thread.

    The callback's own exception is ``__cause__``. The stream goes on (the input that raised it was processed).
    """


def closed_error(what: str, method: str) -> ClosedError:
    """The error for ``what.method()`` called after close()."""
    return ClosedError(
        f"{what}.{method}() was called after close()",
        hint=f"load or create a new {what}; close() (or leaving its `with` block) releases it",
    )


class MissingDependencyError(EdgekitError, ImportError):
    """An optional dependency is not installed; the hint names the extra to install."""


class NoInterpreterError(MissingDependencyError):
    """No TFLite interpreter (ai-edge-litert, tflite-runtime, tensorflow) can be imported."""


#: The name edgekit is published under (``pip install edgekit-ml``); the import name is ``edgekit``.
DISTRIBUTION = "edgekit-ml"


def install_hint(extra: str) -> str:
    """How to install an extra: from the package index, or, for the converters, from a checkout."""
    if extra in ("convert", "zoo"):  # the converters live in the repository, not in the wheel (see setup.py)
        return (
            f'in a clone of the edgekit repository: pip install -e ".[{extra}]" '
            f"(the {DISTRIBUTION} wheel holds the runtime only)"
        )
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def raise_interruption(exc: BaseException) -> None:
    """Re-raise a Ctrl-C or SIGTERM that a failed import wrapped, else return.

    A signal handled while an extension module initialises is raised inside its init function, and
    pybind11 turns that into ``ImportError("initialization failed")`` with the KeyboardInterrupt (or the
    CLI's ``Stopped``) as its cause. Code that catches the import error to try another package, or to say
    the package is missing, would swallow the signal: it calls this first.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if not isinstance(link, Exception):  # KeyboardInterrupt, SystemExit, the CLI's Stopped
            raise link
        seen.add(id(link))
        link = link.__cause__ or link.__context__


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency or raise MissingDependencyError naming the extra.

    Args:
        module: the module to import, e.g. ``"tensorflow"``.
        extra: the edgekit extra that installs it, e.g. ``"convert"``.
        purpose: what it is needed for, e.g. ``"converting models"``.

    Returns:
        The imported module.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise_interruption(exc)
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{module.split('.')[0]}', which is not installed ({exc})",
            hint=install_hint(extra),
        ) from exc


class CorruptModelError(InvalidModelError):
    """The model file's structure is damaged (an offset, index, size or parameter out of range).

    Found by edgekit's own check of the flatbuffer before any interpreter reads the file.
    ``table`` and ``field`` name the part that is wrong, e.g. ``Tensor`` and ``quantization.zero_point``.
    """

    def __init__(self, message: str, hint: str = "", table: str = "", field: str = ""):
        super().__init__(message, hint)
        self.table = table
        self.field = field


class LimitError(EdgekitError, ValueError):
    """A resource limit of :mod:`edgekit.limits` was hit; ``limit`` is its name, the hint says how to raise it."""

    def __init__(self, message: str, hint: str = "", limit: str = ""):
        super().__init__(message, hint)
        self.limit = limit
