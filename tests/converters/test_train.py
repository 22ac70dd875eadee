"""`edgekit train` and converters.train: data checks and splits on real files, and real end-to-end training.

The slow tests train for real (no mocks), export real TFLite files and measure accuracy on the held-out
test split through the edgekit runtime, the way an app runs the file.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import InputError, OutputPathError
from tests.support.cli_helpers import assert_output_untouched

pytest.importorskip("cv2")


def _png(path: Path, value: int = 128, size: int = 16, channels: int = 3) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size, size, channels) if channels > 1 else (size, size)
    cv2.imwrite(str(path), rng.integers(0, 256, shape, dtype=np.uint8))
    return path


def _image_folder(root: Path, counts: dict[str, int]) -> Path:
    seed = 0  # a distinct seed per file: hash((name, number)) % 10_000 collided in about 8 % of runs (str hashes are
    for name, count in counts.items():  # salted per process), making two files identical by accident
        for number in range(count):
            seed += 1
            _png(root / name / f"{number}.png", value=seed)
    return root


def _table(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def _cli(*argv: str) -> int:
    from edgekit.cli.main import main

    return main(["train", *argv])


# ------------------------------------------------------------------------------------------ data
def test_images_skip_zero_byte_and_undecodable_files_with_a_count(tmp_path):
    from converters.train.data import check_classes, discover_images

    root = _image_folder(tmp_path / "data", {"cat": 6, "dog": 6})
    (root / "cat" / "empty.png").write_bytes(b"")
    (root / "dog" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "dog" / "notes.md").write_text("hello")
    data = discover_images(root)
    assert len(data) == 12
    assert sorted(Path(item).name for item, _ in data.skipped) == ["broken.jpg", "empty.png", "notes.md"]
    reasons = dict((Path(item).name, reason) for item, reason in data.skipped)
    assert reasons["empty.png"] == "zero-byte file"
    warnings = check_classes(data)
    assert warnings[0].startswith("skipped 3 unusable file(s)")


def test_mixed_image_modes_are_all_readable(tmp_path):
    import cv2

    from converters.train.data import discover_images
    from converters.train.image import _pixels

    root = tmp_path / "data"
    grey = np.full((20, 30), 200, np.uint8)
    (root / "a").mkdir(parents=True)
    cv2.imwrite(str(root / "a" / "grey.png"), grey)
    cv2.imwrite(str(root / "a" / "rgba.png"), np.dstack([grey, grey, grey, np.full_like(grey, 255)]))
    cv2.imwrite(str(root / "a" / "deep.png"), grey.astype(np.uint16) * 257)
    cv2.imwrite(str(root / "a" / "photo.jpg"), np.dstack([grey] * 3))
    data = discover_images(root)
    assert len(data) == 4 and not data.skipped
    for item in data.items:
        pixels = _pixels(item, 24)
        assert pixels.shape == (24, 24, 3)
        np.testing.assert_allclose(pixels, 200, atol=2)  # every mode → RGB 8-bit, same grey


def test_a_single_class_is_refused(tmp_path):
    from converters.train.data import check_classes, discover_images

    with pytest.raises(InputError, match="at least 2 classes, found 1") as caught:
        check_classes(discover_images(_image_folder(tmp_path / "data", {"only": 8})))
    assert "subfolder" in caught.value.hint


def test_a_class_with_fewer_than_five_usable_examples_is_refused(tmp_path):
    from converters.train.data import check_classes, discover_images

    root = _image_folder(tmp_path / "data", {"cat": 8, "dog": 5})
    (root / "dog" / "0.png").write_bytes(b"")  # skipping it leaves 4
    with pytest.raises(InputError, match=r"fewer than 5 usable examples: 'dog': 4 \(after skipping"):
        check_classes(discover_images(root))


def test_csv_without_a_label_column_is_refused(tmp_path):
    from converters.train.data import discover_texts

    table = _table(tmp_path / "t.csv", [["text", "author"], ["hello there", "me"], ["bye", "you"]])
    with pytest.raises(InputError, match="has no label column") as caught:
        discover_texts(table)
    assert "--label-column" in caught.value.hint
    with pytest.raises(InputError, match="no column 'kind'"):
        discover_texts(table, label_column="kind")
    assert discover_texts(table, label_column="author").classes == ["me", "you"]


def test_tsv_and_txt_folders_with_spaces_and_unicode_labels(tmp_path):
    from converters.train.data import discover_texts

    table = _table(
        tmp_path / "t.tsv", [["sentence", "category"], ["il fait beau", "météo"], ["a b", "small talk"]], "\t"
    )
    data = discover_texts(table)
    assert data.items == ["il fait beau", "a b"] and data.classes == ["météo", "small talk"]
    folder = tmp_path / "texts"
    for label, text in (("small talk", "how are you"), ("天気", "it is sunny")):
        (folder / label).mkdir(parents=True)
        (folder / label / "1.txt").write_text(text + "\n", "utf-8")
    (folder / "天気" / "empty.txt").write_text("  \n", "utf-8")
    data = discover_texts(folder)
    assert data.classes == ["small talk", "天気"] and data.labels == ["small talk", "天気"]
    assert data.skipped == [(str(folder / "天気" / "empty.txt"), "empty text")]


def test_splits_are_stratified_seeded_and_keep_identical_files_together(tmp_path):
    from converters.train.data import discover_images, split_dataset

    root = _image_folder(tmp_path / "data", {"a": 30, "b": 10})
    for copy in range(3):  # the same bytes three times in class a
        (root / "a" / f"copy{copy}.png").write_bytes((root / "a" / "0.png").read_bytes())
    data = discover_images(root)
    first, again = split_dataset(data, 0.2, 0.2, seed=0), split_dataset(data, 0.2, 0.2, seed=0)
    other = split_dataset(data, 0.2, 0.2, seed=1)
    assert all(np.array_equal(getattr(first, p), getattr(again, p)) for p in ("train", "val", "test"))
    assert not np.array_equal(first.test, other.test)
    indices = np.concatenate([first.train, first.val, first.test])
    assert sorted(indices.tolist()) == list(range(len(data)))  # a partition
    labels = np.array(data.labels)
    for part in (first.val, first.test):
        assert {"a", "b"} <= set(labels[part])  # every class in every held-out split
    (group,) = first.duplicate_groups
    assert len(group) == 4
    where = {p for p in ("train", "val", "test") for i in group if i in getattr(first, p)}
    assert len(where) == 1  # the copies never straddle two splits
    assert "found 3 exact duplicate(s)" in " ".join(first.describe(data))


def test_imbalance_warns_with_counts_and_weights(tmp_path):
    from converters.train.data import check_classes, class_weights, discover_texts, weighting

    rows = [["text", "label"]] + [[f"big {i}", "big"] for i in range(40)] + [[f"small {i}", "small"] for i in range(5)]
    data = discover_texts(_table(tmp_path / "t.csv", rows))
    (warning,) = check_classes(data)
    assert "imbalanced (40 vs 5" in warning and "'small': 5 (weight 4.50)" in warning
    assert "not weighted" in warning and not weighting(data)  # 8x: reported, not weighted by default
    assert "the loss is weighted" in check_classes(data, "balanced")[0] and weighting(data, "balanced")
    assert class_weights(data) == pytest.approx({0: 45 / 80, 1: 45 / 10})
    more = discover_texts(_table(tmp_path / "u.csv", rows + [[f"big x{i}", "big"] for i in range(20)]))
    assert weighting(more)  # 12x: weighted


def test_unknown_recipe_is_refused_before_training():
    from converters.train import TrainOptions
    from edgekit.errors import RecipeError

    with pytest.raises(RecipeError, match="unknown TFLite recipe 'int9'"):
        TrainOptions(quantize="float32,int9")
    assert TrainOptions(to=("tflite", "coreml"), quantize="int8,palettize4").quantize  # each target takes its own


# ------------------------------------------------------------------------------------------ CLI errors
@pytest.mark.parametrize(
    "case",
    ["one-class", "few", "no-label-column", "exists", "audio"],
)
def test_cli_bad_input_is_one_error_and_a_hint_and_writes_nothing(tmp_path, capfd, case):
    out = tmp_path / "out"
    if case == "one-class":
        argv = ["image-classifier", str(_image_folder(tmp_path / "d", {"x": 6})), "--backbone", "small-cnn"]
    elif case == "few":
        argv = ["image-classifier", str(_image_folder(tmp_path / "d", {"x": 6, "y": 3})), "--backbone", "small-cnn"]
    elif case == "no-label-column":
        argv = ["text-classifier", str(_table(tmp_path / "t.csv", [["text", "x", "y"], ["a", "b", "c"]]))]
    elif case == "exists":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
        argv = ["text-classifier", str(_table(tmp_path / "t.csv", [["text", "label"], ["a", "b"]]))]
    else:
        argv = ["audio-classifier", str(tmp_path)]
    assert _cli(*argv, "-o", str(out)) == 1
    err = capfd.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and any(line.startswith("hint: ") for line in err), err
    expected = {
        "one-class": "at least 2 classes",
        "few": "fewer than 5 usable examples: 'y': 3",
        "no-label-column": "has no label column",
        "exists": "already exists",
        "audio": "has no class subfolders",
    }[case]
    assert expected in errors[0]
    assert_output_untouched(tmp_path, out, existed=case == "exists")


def test_existing_output_is_refused_by_the_api_before_reading_data(tmp_path):
    from converters.train import train_text_classifier

    (tmp_path / "out").mkdir()
    with pytest.raises(OutputPathError, match="already exists"):
        train_text_classifier(tmp_path / "missing.csv", tmp_path / "out")


# ------------------------------------------------------------------------------------------ training
@pytest.mark.slow
def test_ctrl_c_keeps_the_best_epoch_and_before_the_first_leaves_nothing(tmp_path):
    import keras

    from converters.train import TrainOptions, train_text_classifier

    class Interrupt(keras.callbacks.Callback):
        def __init__(self, epoch: int | None):
            super().__init__()
            self.at = epoch

        def on_epoch_end(self, epoch, logs=None):
            if self.at is not None and epoch + 1 == self.at:
                raise KeyboardInterrupt

        def on_train_batch_end(self, batch, logs=None):
            if self.at is None:
                raise KeyboardInterrupt

    rng = np.random.default_rng(0)
    words = {"sport": ["ball", "goal", "team", "match"], "food": ["bread", "soup", "salt", "cake"]}
    rows = [["text", "label"]] + [[" ".join(rng.choice(words[label], 4)), label] for label in words for _ in range(30)]
    table = _table(tmp_path / "t.csv", rows)
    options = TrainOptions(epochs=50, quantize="float32", show=False, callbacks=(Interrupt(3),))
    result = train_text_classifier(table, tmp_path / "out", options)
    training = result.report["training"]
    assert training["interrupted"] and training["epochs_run"] == 3 and 1 <= training["best_epoch"] <= 3
    assert (tmp_path / "out" / "out_float32.tflite").is_file()
    with pytest.raises(KeyboardInterrupt):
        train_text_classifier(
            table, tmp_path / "out2", TrainOptions(epochs=5, show=False, callbacks=(Interrupt(None),))
        )
    assert not (tmp_path / "out2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out2.")]


@pytest.mark.slow
def test_text_classifier_end_to_end_on_the_chat_corpus(tmp_path):
    """Trains on the zoo's chatterbot-corpus topics (7 classes, spaces in labels), exports float32 and int8."""
    pytest.importorskip("chatterbot_corpus")
    import edgekit
    from converters.train.samples import chat_csv

    table = chat_csv(tmp_path / "chat.csv")
    out = tmp_path / "chat"
    argv = ["text-classifier", str(table), "-o", str(out), "--epochs", str(TEXT_EPOCHS), "--quantize", "float32,int8"]
    assert _cli(*argv, "--quiet") == 0  # the command line is a thin layer over train_text_classifier
    report = json.loads((out / "report.json").read_text("utf-8"))
    source, baseline = report["source"]["test_accuracy"], report["baselines"]["bag_of_words_logistic_regression"]
    assert source >= baseline - TEXT_MARGIN, (source, baseline)
    int8 = next(row["test_accuracy"] for row in report["exports"] if row["recipe"] == "int8")
    assert int8 is not None and int8 >= source - 0.02
    model = edgekit.load(out / "chat_int8.tflite")
    assert "small talk" in model.card.labels and model.card.text.vocabulary[:3] == ("<PAD>", "<START>", "<UNKNOWN>")
    _check_report_folder(out, report)


TEXT_EPOCHS = 30
# The target: the model beats or matches a bag-of-words logistic regression on the same test split.
# Measured (206 test lines, seed 0): linear-head model 87.4 %, every export 87.4 %, the regression 86.9 %
# (the earlier hidden-layer model: 84.0 %). The margin is two lines (0.97 points) for TensorFlow's run-to-run
# variation on CPU.
TEXT_MARGIN = 2 / 206
# Measured: 79–87.5 % (19 to 21 of 24 test images, from run to run: TensorFlow's CPU training is not bit-exact
# across runs) for the source, float32 and int8 files; chance is 33 %. One image is 4.2 points: the bound keeps
# two images of margin below the lowest run seen.
IMAGE_THRESHOLD = 0.7


@pytest.mark.slow
def test_image_classifier_small_cnn_end_to_end_on_fashion_mnist_folders(tmp_path):
    """3 Fashion-MNIST classes × 40 PNGs at 96 px (grey, RGBA, 16-bit mixed), a broken file; small-cnn from scratch."""
    from converters.zoo.fashion import DATA_DIR

    if not DATA_DIR.exists():
        pytest.skip("apt-get install dataset-fashion-mnist")
    import edgekit
    from converters.train import TrainOptions, train_image_classifier
    from converters.train.samples import fashion_folders

    root = fashion_folders(tmp_path / "clothes", {"Trouser": 1, "Sneaker": 7, "Bag": 8}, per_class=40, size=96)
    (root / "Bag" / "broken.png").write_bytes(b"")
    out = tmp_path / "clothes_model"
    options = TrainOptions(epochs=10, quantize="float32,int8", show=False, test_split=0.2)
    result = train_image_classifier(root, out, options, backbone="small-cnn", image_size=96)
    report = result.report
    assert report["data"]["skipped"][0]["reason"] == "zero-byte file"
    assert report["data"]["split"]["test"] == 24
    assert report["source"]["test_accuracy"] >= IMAGE_THRESHOLD, report["source"]
    for recipe in ("float32", "int8"):
        assert result.export_accuracy(recipe) >= IMAGE_THRESHOLD, report["exports"]
    model = edgekit.load(out / "clothes_model_int8.tflite")
    assert model.card.labels == ("Bag", "Sneaker", "Trouser") or list(model.card.labels) == [
        "Bag",
        "Sneaker",
        "Trouser",
    ]
    spec = model.card.image
    assert (spec.width, spec.height, tuple(spec.mean), tuple(spec.std)) == (96, 96, (0.0,), (1.0,))
    _check_report_folder(out, report)


def _check_report_folder(out: Path, report: dict) -> None:
    names = {p.name for p in out.iterdir()}
    assert {"report.json", "report.html", "labels.txt", f"{report['name']}.keras"} <= names
    assert (
        json.loads((out / "report.json").read_text("utf-8"))["source"]["test_accuracy"]
        == report["source"]["test_accuracy"]
    )
    page = (out / "report.html").read_text("utf-8")
    assert "http://" not in page and "https://" not in page and "<script" not in page  # opens offline
    pytest.importorskip("matplotlib")
    assert {"confusion_matrix.png", "training_curve.png"} <= names
    assert page.count("data:image/png;base64,") == 2
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def _pooled_pixels(size: int):
    """A fixed feature extractor: the image averaged down to 8x8 (a stand-in for a pretrained backbone)."""
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = keras.layers.AveragePooling2D(size // 8, name="pool")(x)
    return keras.Model(inputs, keras.layers.Flatten(name="flatten")(x), name="pooled_pixels")


@pytest.mark.slow
def test_frozen_backbone_path_caches_embeddings_and_trains_the_head(tmp_path, monkeypatch):
    """The path the pretrained 'imagenet' backbone takes (embeddings once, cached; head only; the exported model
    is backbone + head), exercised with a fixed extractor (8x8 average-pooled pixels): a linear head on those
    separates trousers, sneakers and bags well above chance (1/3)."""
    from converters.zoo.fashion import DATA_DIR

    if not DATA_DIR.exists():
        pytest.skip("apt-get install dataset-fashion-mnist")
    from converters.train import TrainOptions, image, train_image_classifier
    from converters.train.backbone_tflite import TFLiteBackbone
    from converters.train.samples import fashion_folders

    frozen = image.Backbone("pooled", 64, True, _pooled_pixels, 40, 1e-2, "8x8 pooled pixels (test)")
    monkeypatch.setitem(image.BACKBONES, "pooled", frozen)
    root = fashion_folders(tmp_path / "clothes", {"Trouser": 1, "Sneaker": 7, "Bag": 8}, per_class=30, size=64)
    cache = tmp_path / "cache"
    options = TrainOptions(quantize="float32", show=False, test_split=0.2)
    result = train_image_classifier(root, tmp_path / "a", options, backbone="pooled", cache_dir=cache)
    cached = sorted(cache.glob("*.npy"))
    assert sorted(np.load(p).shape[:2] for p in cached) == [(1, 9), (3, 63)]  # val; train + 2 augmented copies
    assert result.report["source"]["test_accuracy"] >= 0.7, result.report["source"]
    assert result.export_accuracy("float32") == pytest.approx(result.report["source"]["test_accuracy"], abs=0.05)
    extractor, items = _pooled_pixels(64), sorted(root.rglob("*.png"))[:5]
    first = image.embeddings(extractor, frozen, items, 64, 1, 0, cache, False)
    stamp = [p.stat().st_mtime_ns for p in sorted(cache.glob("*.npy"))]
    np.testing.assert_array_equal(image.embeddings(extractor, frozen, items, 64, 1, 0, cache, False), first)
    assert [p.stat().st_mtime_ns for p in sorted(cache.glob("*.npy"))] == stamp  # read back, not recomputed
    # The training embeddings came from the backbone converted to TFLite (one file, cached): the same
    # features as Keras' for every image, in order, whichever interpreter ran it.
    assert len(list((cache / "backbones").glob("pooled-64-*.tflite"))) == 1
    fast = TFLiteBackbone.convert(extractor, "pooled", 64, cache)
    assert fast is not None and len(fast.models) >= 1
    try:
        items = sorted(root.rglob("*.png"))[:37]
        by_keras = image.embeddings(extractor, frozen, items, 64, 0, 0, None, False)
        by_tflite = image.embeddings(extractor, frozen, items, 64, 0, 0, None, False, fast)
    finally:
        fast.close()
    np.testing.assert_allclose(by_tflite, by_keras, rtol=1e-5, atol=1e-4)
