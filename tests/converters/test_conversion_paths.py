"""edgekit's shortcuts through TensorFlow's converter give TensorFlow's own files.

Two shortcuts save conversion time (see converters/source.py and converters/tflite.py):
- a Keras model is written as a SavedModel once, and each recipe converts from that folder
  (``TFLiteConverter.from_keras_model`` writes it again on every call);
- int16x8 runs with the MLIR quantizer off (the default calibrates once for nothing, then again).

The reference is TensorFlow's standard call, ``from_keras_model`` with default settings, on the same
model and calibration data: the files must be byte for byte the same, except the one byte of the
conversion metadata that names the source type (KERAS_MODEL against TF_SAVED_MODEL).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from converters.recipes import RecipeConfig  # noqa: E402
from converters.tflite import CardOptions, Exporter  # noqa: E402

pytestmark = pytest.mark.slow  # about 20 s: ten conversions


def _model():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((24, 24, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _tensorflow_reference(model, recipe: str, samples: np.ndarray) -> bytes:
    """TensorFlow's standard conversion, set as the TFLite guide sets each recipe."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if recipe != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if recipe == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if recipe in ("int8", "int16x8"):
        converter.representative_dataset = lambda: ([row[None]] for row in samples)
    if recipe == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.uint8
    if recipe == "int16x8":
        ops = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        converter.target_spec.supported_ops = [ops]
    return bytes(converter.convert())


def _model_type(content: bytes) -> int:
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as schema
    from tensorflow.lite.python import schema_py_generated as tflite

    model = tflite.Model.GetRootAsModel(content, 0)
    for index in range(model.MetadataLength()):
        entry = model.Metadata(index)
        if entry.Name() == b"CONVERSION_METADATA":
            data = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
            return schema.ConversionMetadata.GetRootAs(data, 0).Environment().ModelType()
    raise AssertionError("no CONVERSION_METADATA")


@pytest.mark.parametrize("recipe", ["float32", "float16", "dynamic", "int8", "int16x8"])
def test_each_recipe_is_tensorflows_own_file(tmp_path, recipe):
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as schema

    model = _model()
    samples = np.random.default_rng(1).uniform(0, 255, (40, 24, 24, 3)).astype(np.float32)
    np.save(tmp_path / "calibration.npy", samples)
    exporter = Exporter(model, CardOptions(task="custom"), str(tmp_path / "calibration.npy"), show_progress=False)
    ours = exporter.convert(RecipeConfig(recipe))
    used = exporter.calibration_set.arrays[0]  # the share of the .npy the exporter calibrates on
    assert 20 <= len(used) <= len(samples)
    theirs = _tensorflow_reference(model, recipe, used)

    assert len(ours) == len(theirs)
    differing = np.flatnonzero(np.frombuffer(ours, np.uint8) != np.frombuffer(theirs, np.uint8))
    assert differing.size <= 1, f"{differing.size} bytes differ, first at {differing[:5]}"
    assert _model_type(theirs) == schema.ModelType.KERAS_MODEL
    assert _model_type(ours) == schema.ModelType.TF_SAVED_MODEL
    # The SavedModel is written once per source, whatever the number of recipes.
    folder = exporter.source._keras_as_saved_model()
    assert folder is not None and (folder / "saved_model.pb").is_file()
    assert exporter.source._keras_as_saved_model() == folder


def test_a_killed_exports_saved_model_is_removed_by_the_next_one(tmp_path):
    """A SIGKILL leaves the temporary SavedModel behind in the temp folder; the next export removes the
    folders of processes that no longer run, and keeps those of live ones."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from converters.source import SAVED_MODEL_PREFIX, load_source

    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed.kill()
    killed.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        temp = Path(tempfile.gettempdir())
        orphan = temp / f"{SAVED_MODEL_PREFIX}{killed.pid}-test"
        living = temp / f"{SAVED_MODEL_PREFIX}{alive.pid}-test"
        for folder in (orphan, living):
            (folder / "variables").mkdir(parents=True)
            (folder / "saved_model.pb").write_bytes(b"x")
        source = load_source(_model())
        folder = source._keras_as_saved_model()
        assert folder is not None and folder.name.startswith(f"{SAVED_MODEL_PREFIX}{os.getpid()}-")
        assert not orphan.exists()
        assert living.is_dir()
    finally:
        alive.kill()
        alive.wait()
        shutil.rmtree(living, ignore_errors=True)


def test_int16x8_converted_in_a_second_process_is_the_same_file(tmp_path, monkeypatch):
    """With several recipes asked, int16x8 is converted by a child process while the parent does the others
    (converters/prefetch.py): the child's file is the in-process file, byte for byte; a child that fails is
    replaced by the in-process conversion; EDGEKIT_NO_PREFETCH=1 starts none."""
    from converters import prefetch

    model = _model()
    samples = np.random.default_rng(2).uniform(0, 255, (40, 24, 24, 3)).astype(np.float32)
    np.save(tmp_path / "calibration.npy", samples)
    configs = [RecipeConfig("float32"), RecipeConfig("int16x8")]
    monkeypatch.delenv("EDGEKIT_NO_PREFETCH", raising=False)
    monkeypatch.setattr(prefetch.os, "cpu_count", lambda: 2)

    exporter = Exporter(model, CardOptions(task="custom"), str(tmp_path / "calibration.npy"), show_progress=False)
    exporter.prefetch(configs)
    child = exporter.prefetched._children[configs[1].recipe]
    assert child.process.wait(timeout=300) == 0, (child.folder / "log.txt").read_text()
    from_child = exporter.convert(configs[1])
    assert not child.folder.exists()  # cleaned up once collected
    assert not exporter.prefetched._children
    in_process = exporter.convert(configs[1])  # nothing prefetched any more: converted here
    assert from_child == in_process

    # A child that fails (here: a SavedModel folder that is not one) leaves the in-process conversion.
    broken = Exporter(model, CardOptions(task="custom"), str(tmp_path / "calibration.npy"), show_progress=False)
    broken.prepare_data()
    broken.prefetched.start(tmp_path, configs[1], broken.calibration_set.arrays)
    assert broken.convert(configs[1]) == in_process

    monkeypatch.setenv("EDGEKIT_NO_PREFETCH", "1")
    off = Exporter(model, CardOptions(task="custom"), str(tmp_path / "calibration.npy"), show_progress=False)
    off.prefetch(configs)
    assert not off.prefetched._children


KILLED_EXPORT = """
import sys, time
import numpy as np
import keras
from converters.recipes import RecipeConfig
from converters.tflite import CardOptions, Exporter

keras.utils.set_random_seed(4)
inputs = keras.Input((24, 24, 3))
model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(inputs)))
exporter = Exporter(model, CardOptions(task="custom"), sys.argv[1], show_progress=False)
exporter.prefetch([RecipeConfig("float32"), RecipeConfig("int16x8")])
(child,) = exporter.prefetched._children.values()
print(child.process.pid, child.folder, flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped (a container's PID 1 may not)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_exports_converter_process_dies_and_its_folder_goes(tmp_path, monkeypatch):
    """SIGKILL of an export while int16x8 converts in its second process: that process dies with it (no
    converter left running), and the next export removes the folder it left in the temp directory."""
    import os
    import signal
    import subprocess
    import time
    from pathlib import Path

    from converters.prefetch import FOLDER_PREFIX
    from converters.source import remove_orphaned_temporaries

    np.save(tmp_path / "calibration.npy", np.random.default_rng(0).uniform(0, 1, (40, 24, 24, 3)).astype(np.float32))
    env = {key: value for key, value in os.environ.items() if key != "EDGEKIT_NO_PREFETCH"}
    export = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXPORT, str(tmp_path / "calibration.npy")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        pid, folder = export.stdout.readline().split()
        child, folder = int(pid), Path(folder)
        assert folder.name.startswith(f"{FOLDER_PREFIX}{export.pid}-") and folder.is_dir()
        time.sleep(1.5)  # the child is past its first imports, importing TensorFlow (several seconds)
    finally:
        export.send_signal(signal.SIGKILL)
        export.wait()
    # Left to itself the child would import TensorFlow and convert for several more seconds.
    deadline = time.monotonic() + 3
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(child), f"the converter process {child} outlived its killed export"
    assert folder.is_dir()  # nobody cleaned up: the export was killed
    assert folder in remove_orphaned_temporaries(FOLDER_PREFIX)
    assert not folder.exists()
