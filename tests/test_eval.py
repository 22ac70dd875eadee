"""`edgekit eval`: accuracy, per-class precision/recall and the confusion matrix through the deployed path,
checked against scikit-learn on the Keras model's own predictions; bad input through the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli_helpers import edgekit_cli
from tests.support.labelled_fixtures import LABELS, build_trap, keras_truth


@pytest.fixture(scope="session")
def trap(tmp_path_factory):
    """The trap model (trained once per session, shared on disk), exported to float32 and int8 by the CLI."""
    root = tmp_path_factory.getbasetemp() / "trap"
    root.mkdir(exist_ok=True)
    built = build_trap(root)
    exports = root / "eval_exports"
    if not (exports / "trap_int8.tflite").exists():
        exports.mkdir(exist_ok=True)
        done = edgekit_cli(
            "convert",
            str(built["keras"]),
            "--calibration",
            str(built["data"]),
            "--labels",
            str(built["labels"]),
            "--quantize",
            "float32,int8",
            "-o",
            str(exports),
            "--overwrite",
        )
        assert done.returncode == 0, done.stderr
    predicted, truth = keras_truth(built["keras"], built["data"])
    return built | {"exports": exports, "keras_predicted": predicted, "truth": truth}


def _eval_json(*args: str) -> dict:
    done = edgekit_cli("eval", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _sklearn(truth, predicted):
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(LABELS)))
    precision, recall, _, _ = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    return accuracy_score(truth, predicted), precision, recall, confusion_matrix(truth, predicted, labels=labels)


@pytest.mark.parametrize("recipe", ["float32", "int8"])
def test_eval_tflite_matches_sklearn_on_keras_predictions(trap, recipe):
    report = _eval_json(str(trap["exports"] / f"trap_{recipe}.tflite"), str(trap["data"]))
    accuracy, precision, recall, confusion = _sklearn(trap["truth"], trap["keras_predicted"])
    assert report["evaluated"] == len(trap["truth"]) == 300 and report["skipped"] == []
    assert report["classes"] == LABELS
    assert abs(report["accuracy"] - accuracy) <= 0.01
    got = np.array(report["confusion_matrix"])
    # float32 is the Keras model to 1e-6: same top-1 on every image; int8 may flip a few near-ties.
    assert np.abs(got - confusion).sum() <= (0 if recipe == "float32" else 2 * 6)
    by_label = {row["label"]: row for row in report["per_class"]}
    for index, name in enumerate(LABELS):
        tolerance = 1e-9 if recipe == "float32" else 0.1
        assert abs((by_label[name]["recall"] or 0) - recall[index]) <= tolerance
        assert abs((by_label[name]["precision"] or 0) - precision[index]) <= tolerance


def test_eval_keras_source_matches_sklearn(trap):
    report = _eval_json(str(trap["keras"]), str(trap["data"]), "--labels", str(trap["labels"]))
    accuracy, _, recall, confusion = _sklearn(trap["truth"], trap["keras_predicted"])
    assert report["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    np.testing.assert_array_equal(np.array(report["confusion_matrix"]), confusion)


def test_eval_mlpackage_with_the_reference_evaluator(trap, tmp_path):
    data = tmp_path / "small"
    for name in LABELS:  # 5 per class: the NumPy reference evaluator is slow
        (data / name).mkdir(parents=True)
        for path in sorted((trap["data"] / name).glob("*.png"))[:5]:
            shutil.copy(path, data / name / path.name)
    package = tmp_path / "trap.mlpackage"
    done = edgekit_cli(
        "convert",
        str(trap["keras"]),
        "--to",
        "coreml",
        "--quantize",
        "float32",
        "--labels",
        str(trap["labels"]),
        "--verify-data",
        str(data),
        "-o",
        str(package),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = _eval_json(str(package), str(data))
    predicted, truth = keras_truth(trap["keras"], data)
    accuracy, *_ = _sklearn(truth, predicted)
    assert report["evaluated"] == 50
    assert abs(report["accuracy"] - accuracy) <= 0.01
    assert "reference evaluator" in report["notes"][0]
    # the export's report card row carries the same accuracy column as a TFLite export's
    row = json.loads(done.stdout.splitlines()[-1])
    assert row["recipe"] == "float32" and abs(row["accuracy"] - accuracy) <= 0.01, row


def test_eval_plot_writes_a_png(trap, tmp_path):
    import cv2

    plot = tmp_path / "confusion.png"
    done = edgekit_cli("eval", str(trap["exports"] / "trap_float32.tflite"), str(trap["data"]), "--plot", str(plot))
    assert done.returncode == 0, done.stderr
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[0] > 200
    assert [p.name for p in tmp_path.iterdir()] == ["confusion.png"]  # no temp file left


def test_eval_plot_without_matplotlib_names_the_extra(trap, tmp_path):
    plot = tmp_path / "confusion.png"
    # A real process in which matplotlib cannot be imported (as on an install without the extra).
    code = "import sys; sys.modules['matplotlib'] = None; from edgekit.cli import main; sys.exit(main(sys.argv[1:]))"
    model = str(trap["exports"] / "trap_float32.tflite")
    done = subprocess.run(
        [sys.executable, "-c", code, "eval", model, str(trap["data"]), "--plot", str(plot)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: --plot needs matplotlib, which is not installed: {plot} is not written "
        '(pip install "edgekit-ml[plot]" adds it)'
    ]
    # The text report as without --plot, line for line (the evaluation is deterministic).
    assert done.stdout == edgekit_cli("eval", model, str(trap["data"])).stdout != ""
    assert not plot.exists()


# ------------------------------------------------------------------ bad input
def _copy_classes(trap, root: Path, names: list[str], per_class: int = 3) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        for path in sorted((trap["data"] / name).glob("*.png"))[:per_class]:
            shutil.copy(path, root / name / path.name)
    return root


def _fails(done, *words: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error:") and lines[1].startswith("hint:"), done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in done.stderr


def test_labels_the_model_does_not_have(trap, tmp_path):
    data = _copy_classes(trap, tmp_path / "data", ["bag", "coat"])
    (data / "jacket").mkdir()
    shutil.copy(next((trap["data"] / "coat").glob("*.png")), data / "jacket" / "a.png")
    plot = tmp_path / "cm.png"
    done = edgekit_cli("eval", str(trap["exports"] / "trap_int8.tflite"), str(data), "--plot", str(plot))
    _fails(done, "'jacket'", "tshirt, trouser, pullover")
    assert not plot.exists()


def test_empty_class_folder(trap, tmp_path):
    data = _copy_classes(trap, tmp_path / "data", ["bag", "coat"])
    (data / "boot").mkdir()
    done = edgekit_cli("eval", str(trap["exports"] / "trap_int8.tflite"), str(data))
    _fails(done, "boot", "empty")


def test_unreadable_files_are_listed_and_skipped(trap, tmp_path):
    data = _copy_classes(trap, tmp_path / "data", ["bag", "coat"], per_class=4)
    (data / "bag" / "broken.png").write_bytes(b"not a png")
    (data / "coat" / "notes.txt").write_text("hello")
    done = edgekit_cli("eval", str(trap["exports"] / "trap_int8.tflite"), str(data), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["evaluated"] == 8
    assert sorted(Path(s["item"]).name for s in report["skipped"]) == ["broken.png", "notes.txt"]
    text = edgekit_cli("eval", str(trap["exports"] / "trap_int8.tflite"), str(data)).stdout
    assert "skipped 2 unreadable file(s):" in text and "broken.png" in text


def test_items_shared_out_between_interpreters_give_one_interpreters_report(trap, tmp_path):
    """``more_models`` (how the converters score a file on every core) changes nothing but the time: the
    same confusion matrix as one interpreter alone, unreadable files listed in data order, and a label the
    model does not have refused as before."""
    import edgekit
    from edgekit.eval import evaluate
    from edgekit.labelled import read_labelled

    data = _copy_classes(trap, tmp_path / "data", list(LABELS), per_class=7)
    (data / "bag" / "broken.png").write_bytes(b"not a png")
    (data / "tshirt" / "empty.png").write_bytes(b"")
    labelled = read_labelled(data)
    for recipe in ("float32", "int8"):
        path = trap["exports"] / f"trap_{recipe}.tflite"
        models = [edgekit.load(path, num_threads=1) for _ in range(3)]
        alone = evaluate(models[0], labelled)
        shared = evaluate(models[0], labelled, more_models=models[1:])
        assert alone.evaluated == shared.evaluated == 7 * len(LABELS)
        np.testing.assert_array_equal(shared.confusion, alone.confusion)
        assert shared.skipped == alone.skipped and len(alone.skipped) == 2
    wrong = read_labelled(_copy_classes(trap, tmp_path / "other", ["bag"], per_class=2))
    wrong = type(wrong)(wrong.kind, wrong.items, ("bag", "parrot"), wrong.origin)
    with pytest.raises(Exception, match="parrot"):
        evaluate(models[0], wrong, more_models=models[1:])


# ------------------------------------------------------------------ text (CSV/TSV) and .npy pairs
@pytest.fixture(scope="module")
def text_export(text_model, tmp_path_factory):
    from converters.tflite import CardOptions, export_tflite

    model, vocabulary = text_model
    out = tmp_path_factory.mktemp("text") / "text.tflite"
    export_tflite(model, "float32", out, card_options=CardOptions(labels=["a", "b", "c"], vocabulary=vocabulary))
    return model, vocabulary, out


def _token_ids(words: list[str], vocabulary: list[str], length: int = 12) -> np.ndarray:
    ids = [vocabulary.index(w) for w in words][:length]
    return np.array(ids + [vocabulary.index("<PAD>")] * (length - len(ids)), np.int32)


def test_eval_csv_of_text_against_keras(text_export, tmp_path):
    model, vocabulary, path = text_export
    rng = np.random.default_rng(0)
    sentences = [[f"w{i}" for i in rng.integers(0, 37, 5)] for _ in range(40)]
    predicted = model.predict(np.stack([_token_ids(s, vocabulary) for s in sentences]), verbose=0).argmax(axis=1)
    # The first half labelled as Keras predicts, the second half with a wrong label: 50 % expected.
    truth = [p if n < 20 else (p + 1) % 3 for n, p in enumerate(predicted)]
    csv = tmp_path / "texts.csv"
    csv.write_text("text,label\n" + "".join(f"{' '.join(s)},{'abc'[t]}\n" for s, t in zip(sentences, truth)))
    report = _eval_json(str(path), str(csv))
    assert report["evaluated"] == 40 and report["accuracy"] == pytest.approx(0.5)


def test_csv_without_a_label_column(text_export, tmp_path):
    _, _, path = text_export
    csv = tmp_path / "texts.csv"
    csv.write_text("text\nw1 w2\nw3 w4\n")
    _fails(edgekit_cli("eval", str(path), str(csv)), "no label column")
    headerless = tmp_path / "lines.csv"
    headerless.write_text("w1 w2\nw3 w4\n")
    _fails(edgekit_cli("eval", str(path), str(headerless)), "no label column")


def test_eval_npy_pairs_against_keras(small_image_model, tmp_path):
    from converters.tflite import CardOptions, export_tflite

    out = tmp_path / "small.tflite"
    export_tflite(small_image_model, "float32", out, card_options=CardOptions(labels=["w", "x", "y", "z"], std=(1.0,)))
    inputs = np.random.default_rng(1).uniform(-1, 1, (30, 24, 24, 3)).astype(np.float32)
    predicted = small_image_model.predict(inputs, verbose=0).argmax(axis=1)
    np.save(tmp_path / "x.npy", inputs)
    np.save(tmp_path / "x_labels.npy", predicted)
    report = _eval_json(str(out), str(tmp_path / "x.npy"))
    assert report["evaluated"] == 30 and report["accuracy"] == 1.0
