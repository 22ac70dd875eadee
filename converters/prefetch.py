"""Conversions started early in a second process, beside the other recipes.

TensorFlow's calibrator holds Python's lock while it runs the calibration data through the model, on one
core: int16x8 of EfficientNet-Lite0 spends 39 s there (130 ms a sample; two calibrations in two threads
take as long as one after the other). With every recipe asked (``edgekit convert --quantize all``,
``edgekit train``), the exporter starts int16x8's conversion in a child process before the first recipe,
from the SavedModel the other recipes convert from and the same calibration arrays, with the same
settings (``converters.converter_settings``): the file is the same bytes, made while the parent converts
and verifies the others. If the child fails for any reason the parent converts in-process as before, so
errors read the same. ``EDGEKIT_NO_PREFETCH=1`` turns it off; on one core it is off.

The child dies with its parent (Linux: PR_SET_PDEATHSIG), and a folder left by a killed parent is removed by
the next export, as the temporary SavedModel is.

    python -m converters.prefetch SAVED_MODEL RECIPE_JSON CALIBRATION_NPZ OUT PARENT_PID    (the child; internal)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .progress import say
from .recipes import Recipe, RecipeConfig
from .source import remove_orphaned_temporaries

PREFETCHED = (Recipe.INT16X8,)
FOLDER_PREFIX = "edgekit-prefetch-"  # + the parent's process id + "-" + random, in the temp directory


@dataclass
class _Child:
    process: subprocess.Popen
    folder: Path
    settings: dict

    @property
    def output(self) -> Path:
        return self.folder / "model.tflite"


class Prefetched:
    """The conversions running in child processes, by recipe."""

    def __init__(self) -> None:
        self._children: dict[Recipe, _Child] = {}
        weakref.finalize(self, _stop_all, self._children)

    def start(self, saved_model: Path, config: RecipeConfig, calibration: list[np.ndarray]) -> None:
        """Start converting ``config`` from ``saved_model`` with ``calibration`` (its first samples)."""
        if config.recipe in self._children or os.environ.get("EDGEKIT_NO_PREFETCH") or (os.cpu_count() or 1) < 2:
            return
        remove_orphaned_temporaries(FOLDER_PREFIX)
        folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
        count = min(len(calibration[0]), config.calibration_samples)
        np.savez(folder / "calibration.npz", *[array[:count] for array in calibration])
        settings = {"recipe": config.recipe.value, "calibration_samples": count, "io_dtype": config.io_dtype}
        command = [sys.executable, "-m", "converters.prefetch", str(saved_model), json.dumps(settings)]
        command += [str(folder / "calibration.npz"), str(folder / "model.tflite"), str(os.getpid())]
        try:
            with open(folder / "log.txt", "wb") as log:
                process = subprocess.Popen(
                    command, stdout=subprocess.DEVNULL, stderr=log, cwd=str(Path(__file__).resolve().parents[1])
                )
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            return
        self._children[config.recipe] = _Child(process, folder, settings)

    def collect(self, config: RecipeConfig, calibration: list[np.ndarray] | None, show: bool = False) -> bytes | None:
        """The child's file for ``config`` once it is done; None when none ran, it ran with other settings, or
        it failed (then the caller converts in-process)."""
        child = self._children.pop(config.recipe, None)
        if child is None:
            return None
        count = min(len(calibration[0]), config.calibration_samples) if calibration is not None else -1
        if child.settings != {"recipe": config.recipe.value, "calibration_samples": count, "io_dtype": config.io_dtype}:
            _stop_all({config.recipe: child})
            return None
        try:
            if child.process.poll() is None:
                say(f"  {config.recipe.value}: waiting for its conversion in a second process", show)
            code = child.process.wait()
            if code != 0 or not child.output.is_file():
                return None
            return child.output.read_bytes()
        finally:
            shutil.rmtree(child.folder, ignore_errors=True)


def _stop_all(children: dict[Recipe, _Child]) -> None:
    for child in children.values():
        if child.process.poll() is None:
            child.process.kill()
            child.process.wait()
        shutil.rmtree(child.folder, ignore_errors=True)
    children.clear()


def _die_with(parent: int) -> None:
    """Exit when ``parent`` is gone: at once if it already is, else (Linux) by a SIGKILL the kernel sends
    when it dies, so a killed export leaves no converter running; its folder goes with the next export."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        raise SystemExit(3)


def main(argv: list[str] | None = None) -> int:
    from edgekit.backends._quiet import quiet_tensorflow
    from edgekit.io import write_bytes_atomic

    from .converter_settings import configure_converter, representative_data
    from .source import import_tensorflow

    saved_model, settings, calibration, out, parent = argv if argv is not None else sys.argv[1:]
    _die_with(int(parent))
    config = RecipeConfig(**json.loads(settings))
    with np.load(calibration) as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    configure_converter(converter, config, representative_data(arrays, config.calibration_samples))
    with quiet_tensorflow():
        content = bytes(converter.convert())
    write_bytes_atomic(Path(out), content)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
