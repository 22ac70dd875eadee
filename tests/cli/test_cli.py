"""The `edgekit` command as a user meets it: --help, happy paths, and one clear error per bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli_helpers import edgekit_cli
from tests.support.fixtures import held_out_images

pytestmark = pytest.mark.slow


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "hint:" in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize(
    "command, flags",
    [
        (
            "convert",
            [
                "--to",
                "--quantize",
                "--calibration",
                "--labels",
                "-o",
                "--force",
                "--overwrite",
                "--task",
                "--mean",
                "--std",
            ],
        ),
        ("info", ["--json"]),
        ("run", ["--json", "--text", "--source"]),
        ("bench", ["--runs", "--threads", "--json"]),
    ],
)
def test_help(command, flags):
    result = edgekit_cli(command, "--help")
    assert result.returncode == 0
    for flag in flags:
        assert flag in result.stdout


def test_convert_every_recipe_then_info_run_bench(digits, tmp_path):
    out = tmp_path / "models"
    out.mkdir()
    result = edgekit_cli(
        "convert",
        str(digits["keras"]),
        "--to",
        "tflite",
        "--quantize",
        "all",
        "--calibration",
        str(digits["calibration"]),
        "--labels",
        str(digits["labels"]),
        "-o",
        str(out),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["recipe"] for r in rows] == ["float32", "float16", "dynamic", "int8", "int16x8"]
    assert all(r["verdict"] == "ok" and r["agreement"] >= 0.95 and r["latency_p50_ms"] > 0 for r in rows)
    assert all(r["data"].startswith("60 held-out of") for r in rows)
    model = out / "digits_int8.tflite"
    written = sorted(f"digits_{r['recipe']}.tflite" for r in rows) + ["report.html"]
    assert sorted(p.name for p in out.iterdir()) == sorted(written)

    info = json.loads(edgekit_cli("info", str(model), "--json").stdout)
    assert info["interpreter"].startswith("ai-edge-litert")
    assert info["inputs"][0]["dtype"] == "uint8" and info["inputs"][0]["scale"] > 0
    assert info["metadata"]["labels"] == [str(d) for d in range(10)]
    assert info["operators"]["CONV_2D"] == 3
    text_info = edgekit_cli("info", str(model))
    assert "task image-classifier" in text_info.stdout and "quantized: scale=" in text_info.stdout

    files = sorted(Path(digits["test"]).glob("*.png"))[:20]
    run = edgekit_cli("run", str(model), *map(str, files), "--json")
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(results) == len(files)
    truth = [f.stem.split("label")[1] for f in files]
    correct = sum(r["classes"][0]["label"] == t for r, t in zip(results, truth))
    assert correct >= 18  # the float model is ~96% accurate; int8 agrees with it

    bench = edgekit_cli("bench", str(model), "--runs", "20", "--threads", "1,2", "--json")
    assert bench.returncode == 0, bench.stderr
    rows = [json.loads(line) for line in bench.stdout.splitlines()]
    assert [r["threads"] for r in rows] == [1, 2]
    assert all(0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["peak_rss_mib"] > 0 for r in rows)


def test_run_plain_text_output(digits_exports, digits):
    file = sorted(Path(digits["test"]).glob("*.png"))[0]
    result = edgekit_cli("run", str(digits_exports["float32"]), str(file))
    assert result.returncode == 0
    label, score = result.stdout.split(": ")[1].split(",")[0].split()
    assert label in [str(d) for d in range(10)] and 0 < float(score) <= 1


# ----------------------------------------------------------------------------- bad input, one clear error each
def test_missing_model_file(tmp_path):
    assert_clean_error(edgekit_cli("info", str(tmp_path / "nope.tflite")), "model file not found")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.tflite"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert_clean_error(edgekit_cli("run", str(path), "x.png"), "is not a TFLite model")


def test_truncated_tflite(digits_exports, tmp_path):
    data = digits_exports["float32"].read_bytes()
    path = tmp_path / "truncated.tflite"
    path.write_bytes(data[: len(data) // 3])
    # refused by the model check before any interpreter sees it, naming the table and field
    assert_clean_error(edgekit_cli("info", str(path)), "corrupt TFLite model", "Model.description")


def test_text_file_named_keras(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("this is not a model\n")
    assert_clean_error(edgekit_cli("convert", str(path), "-o", str(tmp_path / "o.tflite")), "not a Keras archive")
    assert_clean_error(edgekit_cli("info", str(path)), "is not a TFLite model")
    assert not (tmp_path / "o.tflite").exists()


def test_empty_calibration_folder(digits, tmp_path):
    (tmp_path / "empty").mkdir()
    result = edgekit_cli(
        "convert",
        str(digits["keras"]),
        "--quantize",
        "int8",
        "--calibration",
        str(tmp_path / "empty"),
        "-o",
        str(tmp_path / "o.tflite"),
    )
    assert_clean_error(result, "has no usable data")
    assert not (tmp_path / "o.tflite").exists()


def test_wrongly_shaped_calibration_array(digits, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((50, 28, 28), np.float32))
    result = edgekit_cli(
        "convert",
        str(digits["keras"]),
        "--quantize",
        "int8",
        "--calibration",
        str(tmp_path / "bad.npy"),
        "-o",
        str(tmp_path / "o.tflite"),
    )
    assert_clean_error(result, "(50, 28, 28)", "(N, 32, 32, 3)")
    assert not (tmp_path / "o.tflite").exists()


def test_few_calibration_samples_warn_in_cli(digits, tmp_path):
    images, _ = held_out_images(digits, 30)
    np.save(tmp_path / "few.npy", images.astype(np.float32))
    result = edgekit_cli(
        "convert",
        str(digits["keras"]),
        "--quantize",
        "int8",
        "--calibration",
        str(tmp_path / "few.npy"),
        "-o",
        str(tmp_path / "o.tflite"),
        "--force",
    )
    assert result.returncode == 0, result.stderr
    assert "warning: only 24 calibration samples; at least 100 are recommended" in result.stdout


def test_wrong_input_shape_at_run(digits_exports, tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((1, 28, 28, 3), np.float32))
    result = edgekit_cli("run", str(digits_exports["float32"]), str(tmp_path / "wrong.npy"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "expects shape (?,32,32,3) float32, got (1, 28, 28, 3)" in result.stderr


@pytest.mark.parametrize(
    "output, message",
    [
        ("missing/dir/out.tflite", "does not exist"),
        ("/proc/edgekit-out.tflite", "cannot write to folder"),  # not writable even for root
        ("afile/out.tflite", "is not a folder"),
    ],
)
def test_unusable_output_path_fails_before_work(output, message, digits, tmp_path):
    (tmp_path / "afile").write_text("x")
    result = edgekit_cli("convert", str(digits["keras"]), "-o", output, cwd=tmp_path)
    assert_clean_error(result, message)


def test_existing_output_needs_overwrite(digits_exports, digits, tmp_path):
    out = tmp_path / "exists.tflite"
    out.write_bytes(b"keep me")
    assert_clean_error(edgekit_cli("convert", str(digits["keras"]), "-o", str(out)), "already exists", "--overwrite")
    assert out.read_bytes() == b"keep me"


def test_debug_shows_traceback(tmp_path):
    result = edgekit_cli("--debug", "info", str(tmp_path / "nope.tflite"))
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_unknown_recipe_suggests(digits, tmp_path):
    assert_clean_error(
        edgekit_cli("convert", str(digits["keras"]), "--quantize", "int9"),
        "unknown TFLite recipe",
        "did you mean 'int8'",
    )


def test_no_inputs_to_run(digits_exports):
    assert_clean_error(edgekit_cli("run", str(digits_exports["float32"])), "no inputs given")


def test_demo_classifies_a_folder(digits_exports, digits, tmp_path):
    folder = tmp_path / "pngs"
    folder.mkdir()
    files = sorted(Path(digits["test"]).glob("*.png"))[:10]
    for file in files:
        (folder / file.name).write_bytes(file.read_bytes())
    demo = Path(__file__).parents[2] / "demos" / "classify_images.py"
    result = subprocess.run(
        [sys.executable, str(demo), str(digits_exports["int8"]), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 11 and "images/s" in lines[-1]
    right = sum(line.split("label")[1].split(".")[0] == line.split(": ")[1].split()[0] for line in lines[:10])
    assert right >= 9
    empty = subprocess.run(
        [sys.executable, str(demo), str(digits_exports["int8"]), str(tmp_path / "pngs" / "..")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert empty.returncode == 1 and "no images" in empty.stderr
