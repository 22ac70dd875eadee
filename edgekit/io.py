"""Atomic writes and output-path checks shared by every writer in edgekit and converters.

Every temporary edgekit makes beside an output is named ``.NAME.edgekit-PID-XXXXXXXX.part`` (a file, or a
folder for Core ML packages and bundles; probes are ``.edgekit-probe-PID-XXXXXXXX``). Ctrl-C, SIGTERM and
SIGHUP remove it on the way out; after a SIGKILL (or a power cut) it stays, and the next edgekit run that
writes into that folder removes it, once the process named by PID is gone (or the temporary is older than
:data:`STALE_AFTER_S`), and says so in one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError, OutputPathError

log = logging.getLogger("edgekit.io")

#: A leftover whose process still runs (or whose pid was reused) is removed once it is this old (seconds).
STALE_AFTER_S = 6 * 3600.0
#: ``.NAME.edgekit-PID-XXXXXXXX.part`` (a temporary output) and ``.edgekit-probe-PID-XXXXXXXX`` (a write probe).
_LEFTOVER = re.compile(r"^\.(?:.+\.edgekit-(?P<pid>\d+)-[a-z0-9_]+\.part|edgekit-probe-(?P<probe>\d+)-[a-z0-9_]+)$")


def temp_prefix(name: str) -> str:
    """The prefix of a temporary for output ``name`` (pass ``suffix=".part"`` to mkstemp/mkdtemp with it)."""
    return f".{name}.edgekit-{os.getpid()}-"


def probe_prefix() -> str:
    """The prefix of a write probe (a file or folder made and removed at once to test a folder)."""
    return f".edgekit-probe-{os.getpid()}-"


def make_temp_dir(path: str | os.PathLike) -> Path:
    """A new empty folder next to ``path`` named like edgekit's temporaries (the caller removes it)."""
    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    remove_leftovers(folder)
    return Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), suffix=".part", dir=folder))


@contextlib.contextmanager
def staging_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A new empty folder next to ``path`` (see :func:`make_temp_dir`), removed with all it holds when the
    block ends, however it ends (a signal included: none can land between its creation and the clean-up)."""
    held = _hold_signals()
    try:
        staging = make_temp_dir(path)
    except BaseException:
        _release_signals(held)
        raise
    try:
        _release_signals(held)
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except (OSError, OverflowError):  # not a pid this system can have
        return False
    return True


def find_leftovers(folder: str | os.PathLike, now: float | None = None) -> list[Path]:
    """The temporaries in ``folder`` that an edgekit process left behind (killed, or the power went).

    A temporary counts when the process named in it is gone, or when it is older than
    :data:`STALE_AFTER_S` (a reused pid). Symbolic links, other programs' files and other users'
    files never count.
    """
    now = time.time() if now is None else now
    found = []
    try:
        entries = list(os.scandir(os.fspath(folder)))
    except OSError:
        return []
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if match is None or entry.is_symlink():
            continue
        pid = int(match.group("pid") or match.group("probe"))
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if hasattr(os, "getuid") and info.st_uid != os.getuid():  # another user's: not this user's to remove
            continue
        if not _process_alive(pid) or now - info.st_mtime > STALE_AFTER_S:
            found.append(Path(entry.path))
    return sorted(found)


def remove_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Remove :func:`find_leftovers` from ``folder``; one log line (a warning) names what went.

    Returns:
        The paths removed.
    """
    removed = []
    for path in find_leftovers(folder):
        try:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        except FileNotFoundError:  # another run removed it first
            continue
        except OSError:  # not ours to remove after all (permissions): leave it
            continue
        removed.append(path)
    if removed:
        names = ", ".join(p.name for p in removed)
        log.warning(
            "note: removed %d leftover temporar%s of an interrupted edgekit run from %s: %s",
            len(removed),
            "y" if len(removed) == 1 else "ies",
            Path(folder),
            names,
        )
    return removed


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
        fd, probe = tempfile.mkstemp(prefix=probe_prefix(), dir=folder)
    except OSError as exc:
        raise OutputPathError(
            f"cannot write to folder {str(folder)!r}: {exc.strerror or exc}",
            hint="choose a writable folder with -o",
        ) from exc
    os.close(fd)
    os.unlink(probe)
    remove_leftovers(folder)
    return out


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only if the block succeeds.

    A crash or an exception inside the block leaves ``path`` untouched and removes the temp file.
    """
    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    remove_leftovers(folder)
    # A signal (Ctrl-C, SIGTERM) between creating the temporary and entering the ``try`` below would leave it
    # behind: hold those signals until the clean-up is armed (they are delivered right after, inside it).
    held = _hold_signals()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(out.name), suffix=".part", dir=folder)
    except BaseException:
        _release_signals(held)
        raise
    tmp = Path(tmp_name)
    try:
        _release_signals(held)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a model file is as readable as any other
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


_HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _hold_signals() -> set | None:
    """Block SIGINT/SIGTERM/SIGHUP in this thread (POSIX); the previous mask, or None where that cannot be done."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)


def _release_signals(previous: set | None) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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


def read_text_lines(path: str | os.PathLike, what: str, hint: str) -> list[str]:
    """The lines of a UTF-8 text file (``what``: "labels file", for messages), without line ends.

    Raises:
        InputError: missing, a folder, or not UTF-8 text (``hint`` says what the file should hold).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a text file", hint=hint)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}", hint="check the path (and the current folder)")
    try:
        return path.read_text("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x})",
                         hint=hint) from exc  # fmt: skip
