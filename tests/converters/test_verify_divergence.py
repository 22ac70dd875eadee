"""When an export fails verification, the report says where: the first layer whose output diverges.

Real Keras models, real conversions by the project's converter, real interpreters. The per-layer
golden values are computed here independently of converters/divergence.py: Keras sub-models for
each layer's output, and the interpreter's tensors found by operator type, not by name matching.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_fixtures import pocketsphinx_files, read_speech_file
from tests.support.cli_helpers import edgekit_cli

pytestmark = pytest.mark.slow

keras = pytest.importorskip("keras")


# ------------------------------------------------------------------------------------------ models
def mel_model(folder: Path) -> Path:
    """Keras' own MelSpectrogram (power → mel → dB, defaults) with a small head, as a user writes it."""
    keras.utils.set_random_seed(0)
    samples = keras.Input((16000,), name="audio")
    features = keras.layers.MelSpectrogram(
        num_mel_bins=32, sampling_rate=16000, sequence_stride=320, fft_length=512, name="mel_spectrogram"
    )(samples)
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(features)
    model = keras.Model(samples, keras.layers.Dense(4, name="logits")(pooled))
    path = folder / "mel.keras"
    model.save(path)
    return path


def speech_windows(folder: Path) -> Path:
    """One-second windows of real read speech (Debian's pocketsphinx-testdata), as a .npy."""
    files = pocketsphinx_files()
    if not files:
        pytest.skip("pocketsphinx-testdata is not installed (./dev.sh installs it)")
    speech = np.concatenate([read_speech_file(path) for path in files[:8]])
    count = len(speech) // 16000
    path = folder / "speech.npy"
    np.save(path, speech[: count * 16000].reshape(count, 16000).astype(np.float32))
    return path


def exp_model(folder: Path) -> tuple[Path, Path]:
    """Dense → exponential → Dense. The exponential's output spans e^-12 .. e^12 across inputs: one
    int8 scale for it (≈ e^12 / 255) turns every quiet input's activations into zeros."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16,), name="x")
    features = keras.layers.Dense(32, name="features")
    hidden = keras.layers.Activation("exponential", name="exp")(features(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4, name="head")(hidden), name="expnet")
    weights = np.random.default_rng(0).normal(0.0, 0.6, (16, 32)).astype(np.float32)
    features.set_weights([weights, np.zeros(32, np.float32)])
    data = np.random.default_rng(1).normal(0.0, 1.0, (200, 16)).astype(np.float32)
    model_path, data_path = folder / "expnet.keras", folder / "x.npy"
    model.save(model_path)
    np.save(data_path, data)
    return model_path, data_path


def json_rows(stdout: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {row["recipe"]: row for row in rows}


# ------------------------------------------------------------------------- independent comparison
def interpreter_tensors(path: Path, inputs: np.ndarray) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    """Each operator type's float output tensors (in execution order) and the model output, per input."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(path),
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def real(index: int) -> np.ndarray:
        scale, zero_point = details[index]["quantization"]
        value = interpreter.get_tensor(index)
        return (value.astype(np.float64) - zero_point) * scale if scale else value.astype(np.float64)

    by_op: dict[str, list[np.ndarray]] = {}
    outputs = []
    for row in inputs:
        scale, zero_point = source["quantization"]
        fed = np.clip(np.round(row / scale + zero_point), 0, 255).astype(source["dtype"]) if scale else row
        interpreter.set_tensor(source["index"], fed[None])
        interpreter.invoke()
        for op in interpreter._get_ops_details():
            if op["op_name"] in ("FULLY_CONNECTED", "EXP"):
                by_op.setdefault(op["op_name"], []).append(real(op["outputs"][0]))
        outputs.append(real(target["index"]))
    return by_op, np.concatenate(outputs)


def per_input_relative_error(reference: np.ndarray, exported: np.ndarray) -> float:
    """Worst input's max |difference| / max |reference| (the recipe's measure, input by input)."""
    reference = reference.reshape(len(reference), -1).astype(np.float64)
    exported = exported.reshape(reference.shape)
    return float((np.abs(exported - reference).max(axis=1) / np.abs(reference).max(axis=1)).max())


# ----------------------------------------------------------------------------------------- tests
def test_mel_spectrogram_model_names_the_layer(tmp_path):
    """Reproduced: Keras' MelSpectrogram clips at the *batch's* maximum (top_db), so a reference
    computed in batches refused even the float32 export with no clue. The reference now runs one
    input at a time, as the exported file does; int8 is refused naming the layer (its power spectrum
    spans far more range than int8 holds); int16x8 fails in the converter and gets its row."""
    model_path, data = mel_model(tmp_path), speech_windows(tmp_path)
    model = keras.models.load_model(model_path)
    windows = np.load(data)
    batched = model.predict(windows, batch_size=len(windows), verbose=0)
    alone = np.concatenate([model.predict(w[None], verbose=0) for w in windows])
    assert np.abs(batched - alone).max() > 1e-3 * np.abs(alone).max()  # the source itself is batch-dependent

    out = tmp_path / "out"
    out.mkdir()
    run = edgekit_cli(
        "convert", str(model_path), "--quantize", "float32,int8,int16x8", "--calibration", str(data),
        "--task", "custom", "-o", str(out), "--json",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    rows = json_rows(run.stdout)
    assert rows["float32"]["verdict"] == "ok"
    assert (out / "mel_float32.tflite").is_file()
    refused = rows["int8"]
    assert refused["verdict"].startswith("REFUSED")
    assert refused["divergence"]["first_layer"] == "mel_spectrogram"
    first = refused["divergence"]["layers"][0]
    assert first["layer"] == "mel_spectrogram" and first["kind"] == "MelSpectrogram"
    assert first["relative_error"] > refused["divergence"]["tolerance"]
    assert rows["int16x8"]["verdict"].startswith("FAILED") and "16x8" in rows["int16x8"]["verdict"]
    # the converter names only an operator (FLOOR_DIV); the row names the Keras layer that holds it
    assert "in layer mel_spectrogram (MelSpectrogram)" in rows["int16x8"]["verdict"], rows["int16x8"]["verdict"]
    assert rows["int16x8"]["size_bytes"] is None
    assert sorted(p.name for p in out.iterdir()) == ["mel_float32.tflite", "report.html"]  # no refused file, no .part
    assert "2 of 3 export(s) not written: int8 (refused); int16x8 (failed)" in run.stderr
    assert "written: " + str(out / "mel_float32.tflite") in run.stderr

    # The Python API: the exception's message names the layer.
    from converters.tflite import export_tflite
    from edgekit.errors import VerificationError

    with pytest.raises(VerificationError, match=r"first divergence at layer 'mel_spectrogram' \(MelSpectrogram\)"):
        export_tflite(model, "int8", tmp_path / "mel_int8.tflite", calibration_path=str(data))
    assert not (tmp_path / "mel_int8.tflite").exists()


def test_first_divergence_matches_an_independent_layer_comparison(tmp_path):
    """int8 cannot hold the exponential's range: the named layer is 'exp', as a comparison made here
    from Keras sub-models and the interpreter's tensors (found by operator type) says."""
    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter

    model_path, data = exp_model(tmp_path)
    model = keras.models.load_model(model_path)
    held_out = np.random.default_rng(2).normal(0.0, 1.0, (32, 16)).astype(np.float32)
    np.save(tmp_path / "verify.npy", held_out)
    config = RecipeConfig("int8")
    tolerance = config.tolerance.max_relative_error
    exporter = Exporter(model, CardOptions(task="custom"), str(data), str(tmp_path / "verify.npy"), show_progress=False)
    exported = tmp_path / "expnet_int8.tflite"
    result = exporter.export(config, exported, force=True)
    assert result.row.verdict.startswith("FORCED")
    reported = {layer.name: layer for layer in result.row.divergence.layers}

    tensors, output = interpreter_tensors(exported, held_out)
    independent = {}
    for name, values in (
        ("features", tensors["FULLY_CONNECTED"][0::2]),
        ("exp", tensors["EXP"]),
        ("head", output),
    ):
        reference = keras.Model(model.inputs, model.get_layer(name).output).predict(held_out, verbose=0)
        independent[name] = per_input_relative_error(reference, np.concatenate(values) if name != "head" else values)

    assert independent["features"] <= tolerance < independent["exp"]
    assert result.row.divergence.first.name == "exp"
    assert result.row.divergence.first.kind == "Activation"
    for name, error in independent.items():
        assert reported[name].relative_error == pytest.approx(error, rel=1e-3, abs=1e-6), name
    summary = result.row.divergence.describe()
    assert "first divergence at layer 'exp' (Activation)" in summary
    assert "the 1 layer(s) before it agree within" in summary


def test_quantize_all_writes_every_recipe_that_passes(tmp_path):
    """One recipe refused: the other four are written and verified, the refused one has its row and
    no file, exit status 1 names it and lists what was written. The Python API says the same."""
    import edgekit
    from converters.batch import export_recipes

    model_path, data = exp_model(tmp_path)
    model = keras.models.load_model(model_path)
    out = tmp_path / "out"
    out.mkdir()
    run = edgekit_cli(
        "convert", str(model_path), "--quantize", "all", "--calibration", str(data), "--task", "custom",
        "-o", str(out), "--json",
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    rows = json_rows(run.stdout)
    assert list(rows) == ["float32", "float16", "dynamic", "int8", "int16x8"]
    assert rows["int8"]["verdict"].startswith("REFUSED")
    assert rows["int8"]["divergence"]["first_layer"] == "exp"
    written = ["float32", "float16", "dynamic", "int16x8"]
    assert sorted(p.name for p in out.iterdir()) == sorted([f"expnet_{r}.tflite" for r in written] + ["report.html"])
    assert "error: 1 of 5 export(s) not written: int8 (refused)" in run.stderr
    held_out = np.load(data)[-20:]
    reference = model.predict(held_out, verbose=0)
    for recipe in written:
        assert rows[recipe]["verdict"] == "ok"
        assert str(out / f"expnet_{recipe}.tflite") in run.stderr  # listed as written
        exported = edgekit.load(out / f"expnet_{recipe}.tflite")
        got = np.concatenate([exported.run(row[None])[0] for row in held_out])
        assert np.mean(got.argmax(1) == reference.argmax(1)) >= 0.9, recipe

    api = tmp_path / "api"
    api.mkdir()
    batch = export_recipes(model, "float32,int8", api, calibration_path=str(data))
    assert not batch.ok
    assert [o.recipe for o in batch.written] == ["float32"] and [o.recipe for o in batch.failed] == ["int8"]
    assert batch.failed[0].row.divergence.first.name == "exp"
    assert "first divergence at layer 'exp'" in str(batch.failed[0].error)
    assert sorted(p.name for p in api.iterdir()) == ["expnet_float32.tflite"]


def test_core_ml_layers_are_compared_through_the_reference_evaluator(tmp_path):
    """The Core ML float32 export of the same model: every layer is matched to an ML Program value
    and agrees (a wrong match would differ by orders of magnitude); the refusal on the recipe's
    absolute bound (outputs of ~1e4) says that no layer exceeds the relative tolerance."""
    pytest.importorskip("coremltools")
    from converters.coreml import CoreMLExporter
    from converters.coreml.recipes import CoreMLConfig
    from converters.tflite import CardOptions
    from edgekit.errors import VerificationError

    model_path, data = exp_model(tmp_path)
    exporter = CoreMLExporter(str(model_path), CardOptions(task="custom"), str(data), 32, show_progress=False)
    with pytest.raises(VerificationError, match="no layer's relative error exceeds") as refused:
        exporter.export(CoreMLConfig("float32"), tmp_path / "expnet.mlpackage")
    layers = refused.value.row.divergence.layers
    assert [layer.name for layer in layers] == ["features", "exp", "head"]
    assert all(layer.relative_error < 1e-5 for layer in layers)
    assert not (tmp_path / "expnet.mlpackage").exists()
