"""The task framework and the image and text classifiers, end to end against the Keras models' answers.

Goldens come from Keras (the original model), never from edgekit's own output. Tolerances: float32
exports within 1e-5 of Keras probabilities; int8 within 0.2 (the bound test_model.py measured for this
model: ambiguous digits swing most), and the same top class wherever Keras's top-2 margin exceeds 0.4.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit import CallbackError, ImageClassifier, InputError, RunningMode, TextClassifier, UnsupportedModelError, zoo
from edgekit.text import TextClassifierOptions
from edgekit.vision import ImageClassifierOptions
from tests.interop.fetch_models import default_cache, fetch  # noqa: E402
from tests.support.fixtures import held_out_images

TOLERANCE = {"float32": 1e-5, "int8": 0.2}


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale: bilinear resizing back with half-pixel centres recovers ``image`` exactly."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


@pytest.fixture(scope="module")
def digit_images(digits):
    return held_out_images(digits, count=12)


@pytest.fixture(scope="module")
def keras_digit_scores(digits_keras_model, digit_images):
    images, _ = digit_images
    return np.asarray(digits_keras_model(images.astype(np.float32), training=False))


@pytest.mark.parametrize("recipe", ["float32", "int8"])
def test_image_classifier_matches_keras_on_frames_of_any_size(recipe, digits_exports, digit_images, keras_digit_scores):
    images, _ = digit_images
    with ImageClassifier.create_from_model_path(digits_exports[recipe]) as classifier:
        for image, expected in zip(images, keras_digit_scores):
            for frame, options in (
                (image, {}),
                (upscale(image, 10), {}),  # 320x320: resized back exactly
                (upscale(image, 10)[:, :, ::-1].copy(), {"color_order": "BGR"}),
            ):
                result = classifier.classify(frame, **options)
                assert len(result.categories) == 10
                scores = np.zeros(10)
                for category in result.categories:
                    scores[category.index] = category.score
                np.testing.assert_allclose(scores, expected, atol=TOLERANCE[recipe])
                margin = np.diff(np.sort(expected)[-2:])[0]
                if recipe == "float32" or margin > 0.4:
                    assert result.top.label == str(int(np.argmax(expected)))


def test_region_of_interest_and_file_input(digits_exports, digit_images, keras_digit_scores, tmp_path):
    images, _ = digit_images
    canvas = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
    canvas[100:420, 200:520] = upscale(images[0], 10)
    with ImageClassifier.create_from_model_path(digits_exports["float32"], max_results=1) as classifier:
        result = classifier.classify(canvas, region_of_interest=(200, 100, 320, 320))
        assert result.top.score == pytest.approx(keras_digit_scores[0].max(), abs=1e-5)
        path = tmp_path / "digit.png"
        import cv2

        cv2.imwrite(str(path), images[1][:, :, ::-1])
        assert classifier.classify(path).top.score == pytest.approx(keras_digit_scores[1].max(), abs=1e-5)
        assert classifier.classify(str(path)).top.index == int(np.argmax(keras_digit_scores[1]))


def test_filters_max_results_threshold_allow_and_deny(digits_exports, digit_images, keras_digit_scores):
    images, _ = digit_images
    expected = keras_digit_scores[0]
    order = [str(i) for i in np.argsort(-expected)]
    path = digits_exports["float32"]
    with ImageClassifier.create_from_model_path(path, max_results=3) as c:
        assert [x.label for x in c.classify(images[0]).categories] == order[:3]
    threshold = float(np.sort(expected)[-2]) - 1e-6  # keeps exactly the two best
    with ImageClassifier.create_from_model_path(path, score_threshold=threshold) as c:
        assert [x.label for x in c.classify(images[0]).categories] == order[:2]
    with ImageClassifier.create_from_model_path(path, category_allowlist=["3", "5"]) as c:
        assert {x.label for x in c.classify(images[0]).categories} == {"3", "5"}
    with ImageClassifier.create_from_model_path(path, category_denylist=[order[0]], max_results=1) as c:
        assert c.classify(images[0]).top.label == order[1]


def test_video_mode_needs_increasing_timestamps(digits_exports, digit_images):
    images, _ = digit_images
    with ImageClassifier.create_from_model_path(digits_exports["float32"], running_mode="VIDEO") as c:
        assert c.classify_for_video(images[0], 10).timestamp_ms == 10
        with pytest.raises(InputError, match="must increase, got 10 after 10"):
            c.classify_for_video(images[0], 10)
        with pytest.raises(InputError, match="for running_mode IMAGE.*created with VIDEO"):
            c.classify(images[0])
        with pytest.raises(InputError, match="LIVE_STREAM"):
            c.classify_async(images[0], 20)


def test_live_stream_delivers_on_a_worker_thread_and_drops_the_stale_frame(digits_exports, digit_images):
    images, _ = digit_images
    delivered: list[tuple[float, int, str]] = []
    release = threading.Event()

    def callback(result, frame, timestamp_ms):
        delivered.append((timestamp_ms, result.top.index, threading.current_thread().name))
        release.wait(5)  # keeps the worker busy while more frames arrive

    options = ImageClassifierOptions(
        model_path=digits_exports["float32"], running_mode=RunningMode.LIVE_STREAM, result_callback=callback
    )
    with ImageClassifier.create_from_options(options) as c:
        c.classify_async(images[0], 0)
        deadline = time.monotonic() + 5
        while not delivered and time.monotonic() < deadline:
            time.sleep(0.005)
        for timestamp in range(1, 6):  # the worker is busy: each replaces the one waiting
            c.classify_async(images[timestamp], timestamp)
        release.set()
        assert c.flush(10)
        stats = c.stats
    assert [d[0] for d in delivered] == [0, 5]  # the first, then the newest
    assert stats["dropped"] == 4 and stats["processed"] == 2 and stats["submitted"] == 6
    assert all(name.startswith("edgekit-") for _, _, name in delivered)
    assert threading.current_thread().name not in {name for _, _, name in delivered}


def test_a_callback_that_raises_is_logged_raised_by_the_next_call_and_the_stream_goes_on(
    digits_exports, digit_images, caplog
):
    images, _ = digit_images
    seen = []

    def callback(result, frame, timestamp_ms):
        seen.append(timestamp_ms)
        if timestamp_ms == 1:
            raise RuntimeError("user bug")

    with ImageClassifier.create_from_model_path(
        digits_exports["float32"], running_mode="live_stream", result_callback=callback
    ) as c:
        with caplog.at_level(logging.ERROR, logger="edgekit.tasks"):
            c.classify_async(images[1], 1)
            with pytest.raises(CallbackError, match="user bug"):  # issue 14: never silent
                c.flush(10)
            for timestamp in range(2, 4):
                c.classify_async(images[timestamp], timestamp)
                assert c.flush(10)
        assert c.stats["callback_errors"] == 1
    assert seen == [1, 2, 3]
    assert "result_callback raised" in caplog.text and "user bug" in caplog.text


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_results": 0}, "max_results must be a positive integer or -1 .all., got 0"),
        ({"max_results": 2.5}, "max_results must be an integer, got 2.5"),
        ({"score_threshold": float("nan")}, "score_threshold must be a finite number"),
        ({"num_threads": 0}, "num_threads must be an integer >= 1, got 0"),
        ({"running_mode": "stream"}, "unknown running mode 'stream'"),
        ({"running_mode": "LIVE_STREAM"}, "LIVE_STREAM needs a result_callback"),
        ({"result_callback": print}, "only used in LIVE_STREAM mode, but running_mode is IMAGE"),
        ({"category_allowlist": ["1"], "category_denylist": ["2"]}, "both given"),
        ({"category_allowlist": ["seven"]}, r"not labels of .*\['seven'\]"),
        ({"color_order": "RGBA"}, "color_order must be one of"),
        ({"model_path": ""}, "model_path is empty"),
    ],
)
def test_options_are_validated_on_creation(options, message, digits_exports):
    arguments = {"model_path": digits_exports["float32"]} | options
    with pytest.raises(InputError, match=message):
        ImageClassifier.create_from_options(ImageClassifierOptions(**arguments))


def test_running_mode_typo_suggests_the_name():
    with pytest.raises(InputError) as error:
        RunningMode.parse("live_stram")
    assert "LIVE_STREAM" in error.value.hint


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((32, 32, 3), bool), "must be uint8"),
        (np.zeros((32, 32, 2), np.uint8), r"must have shape \(H, W, 3\).*got \(32, 32, 2\)"),
        (np.zeros((2, 32, 32, 3), np.uint8), r"got \(2, 32, 32, 3\)"),
        (np.full((32, 32, 3), np.nan, np.float32), "NaN"),
        (np.zeros((0, 32, 3), np.uint8), "empty"),
        ("no/such/picture.png", "image file not found"),
        ([[1, 2], [3, 4]], "must be a numpy array"),
    ],
)
def test_bad_frames_get_one_clear_error(frame, message, digits_exports):
    with (
        ImageClassifier.create_from_model_path(digits_exports["float32"]) as c,
        pytest.raises(InputError, match=message),
    ):
        c.classify(frame)


def test_region_outside_the_image_is_refused(digits_exports, digit_images):
    images, _ = digit_images
    c = ImageClassifier.create_from_model_path(digits_exports["float32"])
    with c, pytest.raises(InputError, match="does not overlap the 32x32 image"):
        c.classify(images[0], region_of_interest=(40, 40, 10, 10))


@pytest.mark.slow
def test_a_detector_given_to_image_classifier_is_refused_with_what_it_has():
    face = fetch(default_cache()) / "face_detection_short_range.tflite"
    with pytest.raises(UnsupportedModelError) as error:
        ImageClassifier.create_from_model_path(face)
    assert "expects" in str(error.value) and "(1, 896, 16)" in str(error.value)
    assert "ObjectDetector" in str(error.value)


def test_models_of_other_tasks_are_refused():
    with pytest.raises(UnsupportedModelError, match="ImageClassifier expects .*text-classifier"):
        ImageClassifier.create_from_model_path(zoo.path("topics", "int8"))
    with pytest.raises(UnsupportedModelError, match="TextClassifier expects a text model"):
        TextClassifier.create_from_model_path(zoo.path("fashion", "int8"))


# --- text -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_export(text_model, tmp_path_factory):
    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter

    model, vocabulary = text_model
    out = tmp_path_factory.mktemp("text") / "text_float32.tflite"
    options = CardOptions(vocabulary=vocabulary, task="text-classifier", labels=["a", "b", "c"], max_length=12)
    Exporter(model, options, show_progress=False).export(RecipeConfig("float32"), out)
    return out, model, vocabulary


def test_text_classifier_matches_keras_on_hand_tokenized_text(text_export):
    path, model, vocabulary = text_export
    # Token ids worked out by hand from the vocabulary: words as written (the standard RegexTokenizer never
    # lower-cases, so "W3" is unknown), unknown → <UNKNOWN> (2), <START> first, padded with 0.
    cases = {
        "W3 w7 zzz": [2, vocabulary.index("w7"), 2],
        "": [],
        "w1, w2... w3!": [vocabulary.index(w) for w in ("w1", "w2", "w3")],
        " ".join(["w5"] * 40): [vocabulary.index("w5")] * 12,
    }
    card = edgekit.load(path).card
    start = [vocabulary.index(card.text.start_token)] if card.text.start_token else []
    with TextClassifier.create_from_model_path(path) as classifier:
        for text, ids in cases.items():
            tokens = np.zeros((1, 12), np.int32)
            row = (start + ids)[:12]
            tokens[0, : len(row)] = row
            expected = np.asarray(model(tokens, training=False))[0]
            scores = {c.label: c.score for c in classifier.classify(text).categories}
            np.testing.assert_allclose([scores[k] for k in "abc"], expected, atol=1e-5)


@pytest.mark.parametrize(
    "text",
    ["", "x" * 1_000_000, "😀 🚀 ✨ w3", b"w3 \xff\xfe\xfd w4", "\x00\n\t", "w3 " * 200_000],
    ids=["empty", "1MB", "emoji", "invalid-utf8", "control", "many-words"],
)
def test_text_classifier_survives_odd_text(text, text_export):
    path, _, _ = text_export
    with TextClassifier.create_from_model_path(path) as classifier:
        result = classifier.classify(text)
    scores = [c.score for c in result.categories]
    assert len(scores) == 3 and np.isclose(sum(scores), 1, atol=1e-5)


def test_text_classifier_refuses_non_text(text_export):
    path, _, _ = text_export
    with TextClassifier.create_from_model_path(path) as classifier:
        with pytest.raises(InputError, match="text must be str or UTF-8 bytes, got int"):
            classifier.classify(42)
        with pytest.raises(InputError, match="limit"):
            classifier.classify("x" * 10_000_001)


def test_text_classifier_modes(text_export):
    path, _, _ = text_export
    got = []
    options = TextClassifierOptions(
        model_path=path, running_mode="live_stream", result_callback=lambda r, text, ts: got.append((text, ts))
    )
    with TextClassifier.create_from_options(options) as classifier:
        classifier.classify_async("w1", 1)
        classifier.classify_async("w2", 2)
        classifier.flush()
    assert got and got[-1] == ("w2", 2)
    with TextClassifier.create_from_model_path(path, running_mode="video") as classifier:
        classifier.classify_for_stream("w1", 5)
        with pytest.raises(InputError, match="must increase"):
            classifier.classify_for_stream("w1", 4)


# --- the bundled zoo models against their original Keras models (trained by `./dev.sh zoo`) ----------


def zoo_keras(name: str):
    folder = Path(os.environ.get("EDGEKIT_ZOO_WORK", "/nonexistent")) / name
    path = folder / f"{name}.keras"
    if not path.is_file():
        pytest.skip(f"zoo model {name} not trained here: set EDGEKIT_ZOO_WORK to the zoo work folder")
    import keras

    return keras.saving.load_model(path, compile=False)


@pytest.mark.slow
# Per-image max probability difference bounds, above what was measured on these 200 images (float16 0.0024,
# int8 0.095 on ambiguous ones); the top class must agree on 98 %.
@pytest.mark.parametrize("recipe, tolerance", [("float16", 0.01), ("int8", 0.25)])
def test_zoo_fashion_classifier_matches_keras(recipe, tolerance):
    from converters.zoo.fashion import load

    model = zoo_keras("fashion")
    images, _ = load("t10k")
    images = images[:200]
    frames = np.repeat(images[..., None], 3, axis=3) if images.ndim == 3 else images
    expected = np.asarray(model.predict(frames.astype(np.float32), verbose=0))
    agree = 0
    with ImageClassifier.create_from_model_path(zoo.path("fashion", recipe)) as classifier:
        for frame, golden in zip(frames, expected):
            result = classifier.classify(upscale(frame, 8))  # a 224x224 frame, resized back exactly
            scores = np.zeros(10)
            for category in result.categories:
                scores[category.index] = category.score
            assert np.abs(scores - golden).max() <= tolerance
            agree += int(result.top.index == int(np.argmax(golden)))
    assert agree / len(frames) >= 0.98


@pytest.mark.slow
@pytest.mark.parametrize("recipe, tolerance", [("float16", 2e-3), ("int8", 0.15)])  # int8: 0.093 measured
def test_zoo_topics_classifier_matches_keras(recipe, tolerance):
    model = zoo_keras("topics")
    card = edgekit.load(zoo.path("topics", recipe)).card
    from edgekit.processing.text import Tokenizer

    tokenizer = Tokenizer(card.text)
    texts = ["my computer will not start after the update", "what is the capital of france", "i feel sad today", ""]
    with TextClassifier.create_from_model_path(zoo.path("topics", recipe)) as classifier:
        for text in texts:
            golden = np.asarray(model(tokenizer(text)[None], training=False))[0]
            scores = {c.index: c.score for c in classifier.classify(text).categories}
            assert max(abs(scores[i] - golden[i]) for i in range(len(golden))) <= tolerance
