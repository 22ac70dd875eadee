"""The error promise on the command line: every command given a wrong file, a missing file, a folder or an
empty file prints one ``error:`` line and a ``hint:``, exits non-zero, and shows no traceback; in a batch
each bad input is one error line, the good inputs still run, and the exit status is 1 at the end.

Real files, the bundled zoo models and the real ``edgekit`` entry point in a fresh process.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit import zoo
from tests.support.cli_helpers import edgekit_cli
from tests.support.fixtures import write_wav

IMAGE_MODEL = str(zoo.path("fashion", "int8"))
AUDIO_MODEL = str(zoo.path("keywords", "int8"))
TEXT_MODEL = str(zoo.path("topics", "int8"))


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def assert_one_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert len(error_lines(result)) == 1, result.stderr
    assert sum(line.startswith("hint: ") and len(line) > 8 for line in result.stderr.splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    """A wrong file (text), a missing path, a folder, an empty file and random bytes, in tmp_path."""
    rng = np.random.default_rng(14)
    files = {
        "wrong": tmp_path / "notes.txt",
        "missing": tmp_path / "missing.tflite",
        "folder": tmp_path / "folder",
        "empty": tmp_path / "empty.tflite",
        "random": tmp_path / "random.bin",
    }
    files["wrong"].write_text("shopping list: eggs\n")
    files["folder"].mkdir()
    files["empty"].write_bytes(b"")
    files["random"].write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return files


@pytest.fixture
def labelled_folder(tmp_path) -> Path:
    """One class folder named after a fashion label, holding one real PNG."""
    import cv2

    folder = tmp_path / "data" / "Bag"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "one.png"), np.full((28, 28), 128, np.uint8))
    return folder.parent


KINDS = ["wrong", "missing", "folder", "empty", "random"]


COMMANDS = [
    ["info", "{bad}"],
    ["info", "--json", "{bad}"],
    ["run", "{bad}", "x.png"],
    ["bench", "--runs", "1", "--warmup", "1", "{bad}"],
    ["eval", "{bad}", "{data}"],
    ["convert", "{bad}", "-o", "{out}/o.tflite"],
    ["convert", "{bad}", "--to", "coreml", "-o", "{out}/o.mlpackage"],
    ["bundle", "{bad}", "-o", "{out}/bundle"],
    ["deploy", "{bad}", "ssh://nobody@127.0.0.1:1"],  # refused before any connection
]


def _matrix() -> list:
    """Every command with every kind of bad file; the fast set (`-m "not slow"`, 0.3 s a process) keeps every
    command on a random file and `run` on every kind, the full cross runs with the slow tests."""
    cases = []
    for command in COMMANDS:
        name = "-".join(part for part in command if not part.startswith("{"))[:30]
        for kind in KINDS:
            fast = kind == "random" or command[0] == "run"
            marks = () if fast else (pytest.mark.slow,)
            cases.append(pytest.param(command, kind, marks=marks, id=f"{name}-{kind}"))
    return cases


@pytest.mark.parametrize("command, kind", _matrix())
def test_every_command_on_a_bad_model_file(command, kind, bad_files, labelled_folder, tmp_path):
    bad = bad_files[kind]
    if command[0] == "deploy" and kind == "folder":
        bad = bad_files["folder"]  # a folder is read as a bundle: "not an edgekit bundle"
    args = [a.format(bad=bad, data=labelled_folder, out=tmp_path) for a in command]
    result = edgekit_cli(*args)
    assert_one_clean_error(result)
    assert "cannot reach" not in result.stderr  # deploy: the file is refused locally, first
    assert not (tmp_path / "o.tflite").exists() and not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_eval_on_bad_data(kind, bad_files):
    assert_one_clean_error(edgekit_cli("eval", IMAGE_MODEL, str(bad_files[kind])))


def test_image_batch_goes_on_past_bad_inputs(tmp_path, bad_files):
    import cv2

    good = tmp_path / "a.png"
    cv2.imwrite(str(good), np.full((28, 28), 200, np.uint8))
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    items = [
        good,
        tmp_path / "zero.png",
        tmp_path / "corrupt.png",
        bad_files["wrong"],
        tmp_path / "missing.png",
        bad_files["folder"],
        good,
    ]
    result = edgekit_cli("run", IMAGE_MODEL, *map(str, items))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    # Both copies of the good image ran, the last one after five bad inputs.
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [str(good), str(good)]
    errors = error_lines(result)
    assert len(errors) == 5, result.stderr
    for item, line in zip(items[1:-1], errors):
        assert line.startswith(f"error: {item}: ")
    assert result.stderr.count("\nhint: ") + result.stderr.startswith("hint: ") == 5
    assert "empty (0 bytes)" in errors[0] and "is a folder" in errors[4] and "not found" in errors[3]


def test_audio_batch_goes_on_past_bad_inputs(tmp_path, bad_files):
    good = write_wav(tmp_path / "good.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "zero.wav").write_bytes(b"")
    (tmp_path / "header.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")  # cut inside the header
    items = [tmp_path / "zero.wav", tmp_path / "header.wav", bad_files["wrong"], bad_files["folder"], good]
    result = edgekit_cli("run", AUDIO_MODEL, *map(str, items))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines() if not line.startswith(" ")] == [str(good)]
    assert len(error_lines(result)) == 4
    assert "()" not in result.stderr  # every reason is named


def test_json_batch_has_one_error_object_per_bad_input(tmp_path):
    import json

    import cv2

    good = tmp_path / "a.png"
    cv2.imwrite(str(good), np.full((28, 28), 200, np.uint8))
    (tmp_path / "zero.png").write_bytes(b"")
    result = edgekit_cli("run", "--json", IMAGE_MODEL, str(tmp_path / "zero.png"), str(good))
    assert result.returncode == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert "error" in rows[0] and rows[0]["hint"] and "classes" in rows[1]


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_text_model_asks_for_text_instead_of_reading_a_file_name(tmp_path):
    import cv2

    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.zeros((8, 8), np.uint8))
    notes = tmp_path / "notes"  # an existing file without a suffix is still a file
    notes.write_text("hello there")
    for item in (photo, notes, tmp_path / "clip.wav", tmp_path):  # existing, existing, a WAV name, a folder
        result = edgekit_cli("run", TEXT_MODEL, str(item))
        assert_one_clean_error(result, "text model", "--text")
        assert result.stdout == ""
    # Plain words still classify, and --text takes a string even when it names a file.
    words = edgekit_cli("run", TEXT_MODEL, "hello how are you", "--text", str(photo))
    assert words.returncode == 0, words.stderr
    assert [line.split(":")[0] for line in words.stdout.splitlines()] == ["hello how are you", str(photo)]


def test_text_flag_on_an_image_model():
    assert_one_clean_error(edgekit_cli("run", IMAGE_MODEL, "--text", "hello"), "--text needs a text model")


# ----------------------------------------------------------------------------- convert's other files
@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--labels", "{missing}"], "labels file not found"),
        (["--labels", "{folder}"], "is a folder"),
        (["--labels", "{random}"], "not UTF-8 text"),
        (["--labels", "{empty}"], "is empty"),
        (["--quantize", "int8", "--calibration", "{bad_folder}"], "cannot use calibration image"),
        (["--quantize", "int8", "--calibration", "{empty}"], ""),
        (["--quantize", "int8", "--calibration", "{missing}"], ""),
        (["--verify-data", "{wrong}"], ""),
    ],
)
def test_convert_with_bad_side_files(flags, fragment, tiny_keras, bad_files, tmp_path):
    bad_folder = tmp_path / "calibration"
    bad_folder.mkdir()
    (bad_folder / "zero.png").write_bytes(b"")
    (bad_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    names = {k: str(v) for k, v in bad_files.items()} | {"bad_folder": str(bad_folder)}
    out = tmp_path / "out.tflite"
    result = edgekit_cli("convert", str(tiny_keras), *[f.format(**names) for f in flags], "-o", str(out))
    assert_one_clean_error(result, fragment)
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".")]
