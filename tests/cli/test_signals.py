"""Signals during `edgekit convert`: SIGTERM and SIGHUP clean up as Ctrl-C does (no `.part` temporary left,
exit 143 / 129, one line); after a SIGKILL, the next run writing into that folder removes the leftover and
says so in one line. Real signals to a real `edgekit convert` process, on a small Keras model made here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit import io as ek_io

pytestmark = pytest.mark.slow

PART_TIMEOUT_S = 600  # generous: the machine is shared; the test waits for the file, it never sleeps blindly


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory) -> Path:
    """Three 3x3 convolutions on 96x96 RGB: verification takes long enough to be interrupted."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((96, 96, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    for filters in (16, 32, 32):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    path = tmp_path_factory.mktemp("signals") / "conv.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def start_convert(model: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgekit", "convert", str(model), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def temporaries(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith(".") and ".part" in name)


def wait_for_temporary(process: subprocess.Popen, folder: Path) -> list[str]:
    """Poll (5 ms) until edgekit's temporary output appears in ``folder``; fail if the process ends first."""
    deadline = time.monotonic() + PART_TIMEOUT_S
    while time.monotonic() < deadline:
        found = temporaries(folder)
        if found:
            return found
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"convert ended (rc {process.returncode}) before writing a temporary:\n{out}\n{err}")
        time.sleep(0.005)
    process.kill()
    pytest.fail("no temporary appeared")


def stop_during_write(model: Path, out: Path, sig: int, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    process = start_convert(model, "-o", str(out), *args)
    found = wait_for_temporary(process, out.parent)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=PART_TIMEOUT_S)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), found


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_leave_no_temporary(sig, code, conv_model, tmp_path):
    out = tmp_path / "conv.tflite"
    result, found = stop_during_write(conv_model, out, sig)
    assert found and found[0].startswith(".conv.tflite.edgekit-") and found[0].endswith(".part")
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    stopped = [line for line in result.stderr.splitlines() if line.startswith("stopped by")]
    assert stopped == [
        f"stopped by {signal.Signals(sig).name}: edgekit convert ended early "
        "(finished outputs kept, unfinished ones removed)"
    ]
    assert os.listdir(tmp_path) == []  # no output, no temporary, no probe


def test_sigterm_during_coreml_export_removes_the_staging_folder(conv_model, tmp_path):
    pytest.importorskip("coremltools")
    out = tmp_path / "conv.mlpackage"
    result, found = stop_during_write(conv_model, out, signal.SIGTERM, "--to", "coreml")
    assert found[0].startswith(".conv.mlpackage.edgekit-")
    assert result.returncode == 143 and "Traceback" not in result.stderr, result.stderr
    assert os.listdir(tmp_path) == []


def test_after_sigkill_the_next_run_removes_the_leftover(conv_model, tmp_path):
    killed, found = stop_during_write(conv_model, tmp_path / "first.tflite", signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert temporaries(tmp_path) == found  # SIGKILL cannot be handled: the temporary stays …
    # … until the next run writing into this folder, which says so in one line.
    again = subprocess.run(
        [sys.executable, "-m", "edgekit", "convert", str(conv_model), "-o", str(tmp_path / "second.tflite")],
        capture_output=True,
        text=True,
        timeout=PART_TIMEOUT_S,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert again.returncode == 0, again.stderr
    notes = [line for line in again.stderr.splitlines() if "leftover" in line]
    assert notes == [f"note: removed 1 leftover temporary of an interrupted edgekit run from {tmp_path}: {found[0]}"], (
        again.stderr
    )
    assert sorted(os.listdir(tmp_path)) == ["report.html", "second.tflite"]


# ---------------------------------------------------------------------------- which leftovers count
def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_edgekit_temporaries_of_gone_processes_are_removed(tmp_path):
    gone = dead_pid()
    dead_file = tmp_path / f".model.tflite.edgekit-{gone}-abcd1234.part"
    dead_file.write_bytes(b"half a model")
    dead_folder = tmp_path / f".model.mlpackage.edgekit-{gone}-x_y_z123.part"
    (dead_folder / "model.mlpackage").mkdir(parents=True)
    dead_probe = tmp_path / f".edgekit-probe-{gone}-q1w2e3r4"
    dead_probe.write_bytes(b"")
    kept = [
        tmp_path / f".mine.tflite.edgekit-{os.getpid()}-abcd1234.part",  # this process is running
        tmp_path / ".init.tflite.edgekit-1-abcd1234.part",  # pid 1 runs
        tmp_path / ".download.part",  # another program's
        tmp_path / ".model.tflite.abcd1234.part",  # no pid in the name: not provably edgekit's
        tmp_path / "model.tflite.edgekit-999999-abcd1234.part",  # not hidden
    ]
    for path in kept:
        path.write_bytes(b"keep")
    link = tmp_path / f".link.tflite.edgekit-{gone}-abcd1234.part"
    link.symlink_to(kept[0])
    removed = ek_io.remove_leftovers(tmp_path)
    assert sorted(removed) == sorted([dead_file, dead_folder, dead_probe])
    assert all(path.exists() for path in kept) and link.is_symlink()
    assert not dead_file.exists() and not dead_folder.exists() and not dead_probe.exists()


def test_a_running_pid_counts_once_the_temporary_is_stale(tmp_path):
    old = tmp_path / ".model.tflite.edgekit-1-abcd1234.part"  # pid 1 runs, but may be a reused pid
    old.write_bytes(b"old")
    assert ek_io.find_leftovers(tmp_path) == []
    past = time.time() - ek_io.STALE_AFTER_S - 60
    os.utime(old, (past, past))
    assert ek_io.find_leftovers(tmp_path) == [old]


def test_temporaries_carry_the_pid(tmp_path):
    out = tmp_path / "x.bin"
    with ek_io.atomic_path(out) as tmp:
        assert tmp.name.startswith(f".x.bin.edgekit-{os.getpid()}-") and tmp.name.endswith(".part")
        assert ek_io.find_leftovers(tmp_path) == []  # our own, in use
        tmp.write_bytes(b"done")
    assert out.read_bytes() == b"done" and os.listdir(tmp_path) == ["x.bin"]


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_command_that_writes_nothing_stops_with_one_line(sig, code):
    from edgekit import zoo

    process = subprocess.Popen(
        [sys.executable, "-m", "edgekit", "bench", str(zoo.path("fashion")), "--runs", "10000000", "--warmup", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until the command runs: the interpreter's library is mapped only by load(), inside the handlers.
    deadline = time.monotonic() + PART_TIMEOUT_S
    maps = Path(f"/proc/{process.pid}/maps")
    while time.monotonic() < deadline and process.poll() is None:
        if "ai_edge_litert" in maps.read_text(errors="replace"):
            break
        time.sleep(0.01)
    # … and is timing (its CPU time grows), not still importing: a signal during the interpreter's import can be
    # lost (see the note in edgekit/cli/signals.py); then a repeated signal, a second later, still stops it.
    cpu = Path(f"/proc/{process.pid}/stat")
    start = int(cpu.read_text().split(")")[1].split()[11])
    while time.monotonic() < deadline and process.poll() is None:
        if int(cpu.read_text().split(")")[1].split()[11]) - start >= 100:  # 1 s of user time (100 ticks)
            break
        time.sleep(0.05)
    process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.send_signal(sig)  # the first was lost: the second must stop it
        _, stderr = process.communicate(timeout=PART_TIMEOUT_S)
    assert process.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == f"stopped by {signal.Signals(sig).name}: edgekit bench ended early"
    assert "Traceback" not in stderr


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="chown to another user needs root")
def test_another_users_leftover_is_not_touched(tmp_path):
    theirs = tmp_path / f".model.tflite.edgekit-{dead_pid()}-abcd1234.part"
    theirs.write_bytes(b"theirs")
    os.chown(theirs, 54321, 54321)
    assert ek_io.remove_leftovers(tmp_path) == [] and theirs.exists()
