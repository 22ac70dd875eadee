"""A SIGTERM (or Ctrl-C) that lands while the interpreter's extension module initialises stops the command.

pybind11 runs the signal's Python handler inside the module's init function and turns the raised
``Stopped`` into ``ImportError("initialization failed")`` (the Stopped as its cause). ``find_backend``
caught that as a broken install and went on to the next interpreter: the signal was lost and the command
ran on. Now the cause is raised again (``edgekit.errors.raise_interruption``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edgekit.backends import litert
from edgekit.cli.signals import Stopped
from edgekit.errors import raise_interruption

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys, time
    from edgekit.cli.signals import stop_on_signals
    from edgekit.backends.litert import find_backend
    try:
        with stop_on_signals():
            print("go", flush=True)
            backend = find_backend()
            time.sleep(3)  # a signal that comes after the import is raised here
        print("not stopped", backend.name, flush=True)
    except KeyboardInterrupt as exc:
        print("stopped", type(exc).__name__, flush=True)
    """
)


@pytest.mark.slow
def test_sigterm_during_the_interpreter_import_is_not_lost():
    """Real SIGTERMs 0-38 ms after the child starts importing ai-edge-litert: before the fix about half of
    them landed in the extension's init and the child printed 'not stopped tensorflow' (or failed with
    NoInterpreterError) instead of stopping."""
    pytest.importorskip("ai_edge_litert")
    env = dict(os.environ, PYTHONPATH=str(ROOT), EDGEKIT_INTERPRETER="")
    env.pop("EDGEKIT_INTERPRETER")
    outcomes = []
    for delay_ms in range(0, 40, 2):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "go"
        time.sleep(delay_ms / 1000)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=120)
        outcomes.append((delay_ms, out.strip() or f"exit {child.returncode}: {err.strip()[-200:]}"))
    lost = [(delay, outcome) for delay, outcome in outcomes if outcome != "stopped Stopped"]
    assert not lost, lost


def test_an_interrupt_wrapped_in_an_import_error_is_raised_again():
    try:
        try:
            raise Stopped(signal.SIGTERM)
        except Stopped as stopped:
            raise ImportError("initialization failed") from stopped
    except ImportError as wrapped:
        with pytest.raises(Stopped):
            raise_interruption(wrapped)
    raise_interruption(ImportError("No module named 'tflite_runtime'"))  # a real import error: nothing raised


def test_find_backend_does_not_fall_back_on_an_interrupted_import(tmp_path, monkeypatch):
    """A module whose init is interrupted (as pybind11 reports it) stops the search for an interpreter."""
    (tmp_path / "interrupted_interpreter.py").write_text(
        "try:\n    raise KeyboardInterrupt\nexcept KeyboardInterrupt as exc:\n"
        "    raise ImportError('initialization failed') from exc\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("EDGEKIT_INTERPRETER", raising=False)
    monkeypatch.setattr(litert, "_cached", None)
    monkeypatch.setattr(litert, "_CANDIDATES", (("interrupted", "interrupted_interpreter", "x"), *litert._CANDIDATES))
    with pytest.raises(KeyboardInterrupt):
        litert.find_backend()
