"""``.npy`` files as model inputs: the header checked (dtype, shape, size against the file) before loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import limits
from ..errors import InputError

_HINT = "save the input with numpy.save(path, array) (a numeric array, no objects)"


def read_npy(path: str | Path) -> np.ndarray:
    """Load a ``.npy`` file after checking its header: numeric dtype, a size the file holds, under ``tensor_bytes``.

    Raises:
        InputError: missing, damaged, truncated, or not a numeric array (object arrays are never unpickled).
        LimitError: the array is bigger than the ``tensor_bytes`` limit.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            offset = handle.tell()
    except Exception as exc:  # ValueError, EOFError, SyntaxError/TokenError from the header's Python literal
        raise InputError(f"{path} is not a readable .npy file ({type(exc).__name__}: {exc})", hint=_HINT) from exc
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InputError(f"{path} holds a {dtype} array; a model input must be numeric (bool, int, float)", hint=_HINT)
    count = 1
    for dim in shape:
        count *= int(dim)
    nbytes = count * dtype.itemsize
    limits.check("tensor_bytes", nbytes, f"{path} (array {tuple(shape)} {dtype})")
    available = path.stat().st_size - offset
    if available < nbytes:
        raise InputError(
            f"{path} is truncated: its header says {tuple(shape)} {dtype} ({nbytes} bytes), the file holds {available}",
            hint=_HINT,
        )
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path} is not a readable .npy file ({type(exc).__name__}: {exc})", hint=_HINT) from exc
