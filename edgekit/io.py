"""Atomic writes and output-path checks shared by every writer in edgekit and converters."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError, OutputPathError


def check_output_path(path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Check that ``path`` can be written before any long work starts.

    Raises:
        OutputPathError: the folder is missing, is not a folder, is not writable, or the file
            exists and ``overwrite`` is False.
    """
    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.exists():
        raise OutputPathError(
            f"output folder {str(folder)!r} does not exist",
            hint=f"create it first (mkdir -p {folder}) or choose another -o path",
        )
    if not folder.is_dir():
        raise OutputPathError(f"{str(folder)!r} is not a folder", hint="choose an -o path inside a folder")
    if out.is_dir():
        raise OutputPathError(f"output path {str(out)!r} is a folder", hint="give a file name with -o")
    if out.exists() and not overwrite:
        raise OutputPathError(f"{str(out)!r} already exists", hint="pass --overwrite to replace it")
    # os.access is not enough (root passes it on read-only mounts): try to create a file.
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgekit-probe-", dir=folder)
    except OSError as exc:
        raise OutputPathError(
            f"cannot write to folder {str(folder)!r}: {exc.strerror or exc}",
            hint="choose a writable folder with -o",
        ) from exc
    os.close(fd)
    os.unlink(probe)
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only if the block succeeds.

    A crash or an exception inside the block leaves ``path`` untouched and removes the temp file.
    """
    out = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent or ".")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a model file is as readable as any other
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def check_input_file(path: str | os.PathLike, kind: str) -> Path:
    """A missing path, a folder or an empty file: one clear InputError before any decoder sees it.

    Args:
        kind: what the file should hold, for the message ("image", "audio").
    """
    path = Path(path)
    article = "an" if kind[:1] in "aeiou" else "a"
    if path.is_dir():
        raise InputError(f"{path} is a folder, not {article} {kind} file", hint=f"give the {kind} files inside it")
    if not path.is_file():
        raise InputError(f"{kind} file not found: {path}", hint="check the path (and the current folder)")
    if path.stat().st_size == 0:
        raise InputError(
            f"{path} is empty (0 bytes), not {article} {kind} file", hint="the file was not written completely"
        )
    return path
