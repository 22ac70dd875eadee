"""Resource limits: how much edgekit agrees to read, decode or allocate for one file, by name.

A model file or an input file can ask for far more than its own size (a 48 KB PNG that decodes to
2.4 GB, a zip entry that inflates a thousandfold, a WAV header claiming 1 Hz). Each limit below is
checked from headers and declared sizes *before* the work is done, and hitting one raises
:class:`~edgekit.errors.LimitError` naming the limit and how to raise it.

Every limit has a default, an environment variable (read at each check, so ``EDGEKIT_MAX_IMAGE_PIXELS=
200000000 edgekit run …`` works) and a Python override::

    import edgekit.limits
    edgekit.limits.set_limit("image_pixels", 200_000_000)   # for the rest of the process
    with edgekit.limits.override(image_pixels=200_000_000): # for a block
        ...

Precedence: :func:`override` / :func:`set_limit`, then the environment, then the default.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import LimitError

MiB = 1 << 20


@dataclass(frozen=True)
class Limit:
    """One named limit: ``what`` is counted, ``default`` applies unless ``env`` or an override says otherwise."""

    name: str
    default: int
    what: str
    unit: str = ""

    @property
    def env(self) -> str:
        return "EDGEKIT_MAX_" + self.name.upper()


LIMITS: dict[str, Limit] = {
    limit.name: limit
    for limit in (
        # models
        # 64 MiB: a 2048x2048x4 float32 activation; one corrupt dimension must not make a load take gigabytes
        Limit("tensor_bytes", 64 * MiB, "bytes of one non-constant tensor of a model (or a .npy input)", "bytes"),
        Limit("model_tensors", 1_000_000, "tensors in one subgraph of a model"),
        Limit("model_operators", 1_000_000, "operators in one subgraph of a model"),
        Limit("model_subgraphs", 10_000, "subgraphs in a model"),
        Limit("model_buffers", 1_000_000, "buffers in a model"),
        # associated files (the zip archive appended to a .tflite)
        Limit("associated_bytes", 64 * MiB, "uncompressed bytes of a model's associated files", "bytes"),
        Limit("associated_files", 1_000, "associated files packed in a model"),
        Limit("associated_ratio", 100, "compression ratio of one associated file (uncompressed / compressed)"),
        Limit("labels", 100_000, "labels of a model"),
        Limit("vocabulary", 1_000_000, "vocabulary tokens of a text model"),
        Limit("text_max_length", 100_000, "tokens per text (max_length) of a text model"),
        # inputs
        Limit("image_pixels", 50_000_000, "pixels of an image file (width x height)", "pixels"),
        Limit("audio_seconds", 600, "seconds of audio in one audio file", "s"),
        Limit("audio_channels", 64, "channels of an audio file"),
    )
}

_overrides: dict[str, int] = {}


def _known(name: str) -> Limit:
    if name not in LIMITS:
        raise KeyError(f"no limit named {name!r}; the limits are {', '.join(LIMITS)}")
    return LIMITS[name]


def get(name: str) -> int:
    """The value of limit ``name`` now (override, else ``EDGEKIT_MAX_<NAME>``, else the default)."""
    limit = _known(name)
    if name in _overrides:
        return _overrides[name]
    raw = os.environ.get(limit.env, "").strip().replace("_", "")
    if raw:
        try:
            value = int(float(raw))
        except ValueError:
            raise LimitError(
                f"{limit.env}={os.environ[limit.env]!r} is not a number",
                hint=f"set {limit.env} to a whole number of {limit.unit or 'items'} (default {limit.default})",
                limit=name,
            ) from None
        if value > 0:
            return value
    return limit.default


def set_limit(name: str, value: int | None) -> None:
    """Set limit ``name`` for this process (None: back to the environment / default)."""
    _known(name)
    if value is None:
        _overrides.pop(name, None)
    else:
        if int(value) <= 0:
            raise ValueError(f"limit {name} must be positive, got {value!r}")
        _overrides[name] = int(value)


@contextmanager
def override(**values: int) -> Iterator[None]:
    """Set limits for the duration of a ``with`` block: ``with override(image_pixels=10**8): ...``."""
    saved = {name: _overrides.get(name) for name in values}
    try:
        for name, value in values.items():
            set_limit(name, value)
        yield
    finally:
        for name, old in saved.items():
            set_limit(name, old)


def hint_for(name: str, got: int | float | None = None) -> str:
    """How to raise limit ``name`` (suggesting a value that would let ``got`` through)."""
    limit = _known(name)
    suggested = max(int(got) + 1, 2 * get(name)) if got is not None else 2 * get(name)
    return (
        f"if the file is trusted, raise the limit: {limit.env}={suggested} in the environment, or "
        f'edgekit.limits.set_limit("{name}", {suggested}) in Python'
    )


def check(name: str, got: int | float, where: str) -> None:
    """Raise LimitError if ``got`` exceeds limit ``name``; ``where`` names the file or part (message prefix)."""
    value = get(name)
    if got > value:
        limit = LIMITS[name]
        unit = f" {limit.unit}" if limit.unit and limit.unit != "pixels" else ""
        raise LimitError(
            f"{where}: {got:,}{unit} {limit.what} is over the limit {name} = {value:,}",
            hint=hint_for(name, got),
            limit=name,
        )
