"""The Core ML cells of the runtime matrix for the bundled trained models (fashion, keywords, topics).

coremltools converts Keras, not .tflite, and these models are trained by the zoo (their Keras sources
exist only after ``./dev.sh zoo``). So each source is the zoo's architecture with the weights read back
from the bundled float16 file (:mod:`tests.support.zoo_sources`), checked against that file, then exported
by ``converters.coreml`` and run through edgekit's task on the package's own metadata (the deployed path)
in the NumPy reference evaluator. Goldens come from outside the Core ML path: the bundled .tflite files
run by ai-edge-litert, and the data's own labels. Used by tests/fidelity/test_fidelity_coreml_trained_zoo.py
and ``python -m benchmarks.fidelity --only coreml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit import zoo

RECIPES = ("float16", "int8")  # Core ML's default and its int8 weights
DECISIVE_MARGIN = 0.1  # the bundled float16 file's top-1 leads its runner-up by more than this


@dataclass
class Data:
    """What a model is checked on: task inputs, what the source takes for verification, labels."""

    inputs: list  # images (uint8 arrays), 2 s windows (float32) or lines (str), as the task takes them
    source_inputs: np.ndarray  # the same as the Keras source takes them (verification data)
    labels: np.ndarray  # the true class index, -1 where there is none (real speech)


def fashion_data() -> Data:
    """120 official Fashion-MNIST test images (every 83rd) at 28 px, and 12 of them enlarged to 100x140 (a
    resize on the deployed path), with their official labels."""
    from PIL import Image

    from converters.zoo import fashion

    images, labels = fashion.load("t10k")
    picked = list(range(0, len(images), 83))
    chosen = [images[i] for i in picked]
    larger = [np.asarray(Image.fromarray(images[i]).resize((100, 140), Image.BILINEAR)) for i in picked[:12]]
    return Data(
        chosen + larger, np.stack(chosen).astype(np.float32), np.concatenate([labels[picked], labels[picked[:12]]])
    )


def keywords_data(cache: Path) -> Data:
    """2 s windows: each keyword by three voices (espeak-ng en-us, en+f3, flite slt) starting at 0.4-0.9 s
    over faint noise, and six windows of real read speech (pocketsphinx-testdata, label -1)."""
    from converters.zoo import keywords
    from tests.support import audio_fixtures as speech

    rng = np.random.default_rng(10)
    windows, labels = [], []
    voices = [speech.Voice("espeak-ng", "en-us"), speech.Voice("espeak-ng", "en", "f3"), speech.Voice("flite", "slt")]
    for index, word in enumerate(keywords.LABELS[:10]):
        for voice in voices:
            spoken = speech.spoken_word(word, voice, cache)
            window = (rng.standard_normal(keywords.WINDOW_SAMPLES) * 1e-3).astype(np.float32)
            start = int(rng.integers(6400, 14400))
            window[start : start + spoken.size] += spoken[: keywords.WINDOW_SAMPLES - start]
            windows.append(window)
            labels.append(index)
    for path in speech.pocketsphinx_files()[:6]:
        samples = speech.read_speech_file(path)[: keywords.WINDOW_SAMPLES]
        windows.append(np.pad(samples, (0, keywords.WINDOW_SAMPLES - samples.size)).astype(np.float32))
        labels.append(-1)
    return Data(windows, np.stack(windows), np.array(labels))


def topics_data(text_spec) -> Data:
    """The 558 held-out chat lines of the topics split (regenerated from chatterbot-corpus)."""
    from converters.zoo import topics
    from edgekit.processing.text import Tokenizer

    rows = topics.load_split(seed=0)["test"]
    lines = [text for text, _ in rows]
    tokens = np.stack([Tokenizer(text_spec)(line) for line in lines]).astype(np.int32)
    return Data(lines, tokens, np.array([label for _, label in rows]))


def export(model, card, data: np.ndarray | Path, folder: Path, name: str) -> dict[str, object]:
    """``{recipe: package path or the refusal}``, each verified by the exporter on ``data`` (arrays as the
    source takes them, or a folder of images)."""
    from converters.coreml import CoreMLConfig, CoreMLExporter
    from edgekit.errors import VerificationError

    if isinstance(data, np.ndarray):
        np.save(folder / "verification.npy", data)
        data = folder / "verification.npy"
    exporter = CoreMLExporter(model, card, verification_path=str(data), show_progress=False)
    written: dict[str, object] = {}
    for recipe in RECIPES:
        out = folder / f"{name}_{recipe}.mlpackage"
        try:
            written[recipe] = exporter.export(CoreMLConfig(recipe), out).path
        except VerificationError as refusal:
            assert not out.exists()
            written[recipe] = refusal
    return written


def scores(kind: str, model_path, inputs: list, model=None) -> np.ndarray:
    """The task's scores (label order) for each input. ``kind``: image, audio or text. Audio inputs are
    one window long; the task streams a clip at its hop, so the last window is the whole input."""
    import edgekit

    task_class = {"image": edgekit.ImageClassifier, "audio": edgekit.AudioClassifier, "text": edgekit.TextClassifier}[
        kind
    ]
    task = task_class(task_class.options_class(model_path=str(model_path), max_results=-1), model=model)
    try:
        rows = []
        for item in inputs:
            if kind == "audio":
                categories = task.classify(item, 16000).classifications[-1].categories
            else:
                categories = task.classify(item).categories
            row = np.zeros(len(categories), np.float32)
            for category in categories:
                row[category.index] = category.score
            rows.append(row)
    finally:
        task.close()
    return np.stack(rows)


@dataclass
class Cell:
    """One Core ML package against a bundled file."""

    model: str
    recipe: str  # the Core ML recipe
    against: str  # the bundled file
    agreement: float  # top-1 agreement on every input
    decisive_agreement: float  # where the bundled file's top-1 leads by more than DECISIVE_MARGIN
    decisive: int
    inputs: int
    max_difference: float  # the largest score difference
    accuracy: float | None  # the package's, on the inputs with a label
    bundled_accuracy: float | None  # the bundled file's

    def line(self) -> str:
        accuracy = (
            "" if self.accuracy is None else f"; accuracy {self.accuracy:.1%} (the .tflite {self.bundled_accuracy:.1%})"
        )
        return (
            f"{self.model} Core ML {self.recipe} vs {self.against}: top-1 agreement {self.agreement:.1%} "
            f"({self.decisive_agreement:.1%} on {self.decisive} decisive of {self.inputs}), "
            f"max score difference {self.max_difference:.4f}{accuracy}"
        )


def compare(name: str, recipe: str, ours: np.ndarray, against: str, theirs: np.ndarray, labels: np.ndarray) -> Cell:
    same = ours.argmax(1) == theirs.argmax(1)
    ranked = np.sort(theirs, axis=1)
    decisive = ranked[:, -1] - ranked[:, -2] > DECISIVE_MARGIN
    known = labels >= 0
    return Cell(
        name,
        recipe,
        against,
        float(same.mean()),
        float(same[decisive].mean()) if decisive.any() else 1.0,
        int(decisive.sum()),
        int(same.size),
        float(np.abs(ours - theirs).max()),
        float((ours[known].argmax(1) == labels[known]).mean()) if known.any() else None,
        float((theirs[known].argmax(1) == labels[known]).mean()) if known.any() else None,
    )


KINDS = {"fashion": "image", "keywords": "audio", "topics": "text"}


def source_and_data(name: str, work: Path):
    """``(keras_model, card_options, data)`` of a bundled model, rebuilt from its float16 file."""
    from tests.support import zoo_sources

    if name == "fashion":
        from converters.zoo import fashion

        return zoo_sources.fashion_keras(), fashion.card_options(), fashion_data()
    if name == "keywords":
        from converters.zoo import keywords

        cache = work / "speech"
        cache.mkdir(exist_ok=True)
        return zoo_sources.keywords_keras(), keywords.card_options(), keywords_data(cache)
    model, options = zoo_sources.topics_keras()
    return model, options, topics_data(options.text_spec)


def rebuild_difference(name: str, model, data: Data) -> float:
    """The rebuilt source against the bundled float16 file on (up to) 60 of the inputs."""
    from tests.support.zoo_sources import rebuilt_difference

    step = max(1, len(data.source_inputs) // 60)
    return rebuilt_difference(model, zoo.path(name, "float16"), data.source_inputs[::step])


def cells(name: str, packages: dict[str, object], data: Data) -> list[Cell]:
    """Every written package against the bundled float16 file and, for int8, the bundled int8 file."""
    from converters.coreml.reference import load_reference

    kind = KINDS[name]
    bundled = {recipe: scores(kind, zoo.path(name, recipe), data.inputs) for recipe in RECIPES}
    found = []
    for recipe, package in packages.items():
        if isinstance(package, Exception):
            continue
        ours = scores(kind, package, data.inputs, model=load_reference(package))
        found.append(compare(name, recipe, ours, f"{name}_float16.tflite", bundled["float16"], data.labels))
        if recipe == "int8":
            found.append(compare(name, recipe, ours, f"{name}_int8.tflite", bundled["int8"], data.labels))
    return found


# -------------------------------------------------------------------------------------------------- faces
# The face detector is Google's own .tflite: there is no Keras source at all, so the source is its graph
# rebuilt op by op (tests/support/tflite_keras.py), checked against the file on both outputs.


def face_photos() -> dict[str, np.ndarray]:
    """scikit-image's photos with faces (astronaut; the cameraman, grey as RGB) in several sizes, crops and
    pads, and photos without one (the cat, the coffee cup)."""
    import skimage.data
    from PIL import Image

    astronaut = skimage.data.astronaut()
    cameraman = np.repeat(skimage.data.camera()[..., None], 3, axis=2)
    padded = np.zeros((600, 640, 3), np.uint8)
    padded[40:552, 100:612] = astronaut
    return {
        "astronaut": astronaut,
        "astronaut_half": np.asarray(Image.fromarray(astronaut).resize((256, 256), Image.BILINEAR)),
        "astronaut_mirrored": astronaut[:, ::-1].copy(),
        "astronaut_face_crop": astronaut[32:288, 128:384].copy(),
        "astronaut_padded": padded,
        "astronaut_wide_crop": astronaut[100:356].copy(),
        "cameraman": cameraman,
        "cameraman_tall_crop": cameraman[:, 100:400].copy(),
        "chelsea": skimage.data.chelsea(),
        "coffee": skimage.data.coffee(),
    }


def faces_source():
    """``(keras_model, card_options, rebuild_difference)``: the bundled face detector rebuilt from its file."""
    from converters.tflite import CardOptions
    from edgekit.backends import load
    from tests.support.tflite_keras import keras_from_tflite

    path = zoo.path("faces", "float32")
    runtime = load(str(path))
    card = runtime.card
    model = keras_from_tflite(path, "faces")
    inputs = np.random.default_rng(3).uniform(-1, 1, (4, *model.inputs[0].shape[1:])).astype(np.float32)
    rebuilt = [np.asarray(output) for output in model.predict_on_batch(inputs)]
    difference = max(
        float(np.abs(ours[i] - theirs[0]).max())
        for i in range(len(inputs))
        for ours, theirs in zip(rebuilt, runtime.run(inputs[i : i + 1]))
    )
    options = CardOptions(
        task="object-detector",
        labels=list(card.labels),
        name="faces",
        image_spec=card.image,
        extra=dict(card.extra),
        license=card.license,
        author=card.author,
        description=card.description,
    )
    return model, options, difference


def detections(model_path, images: dict[str, np.ndarray], model=None) -> dict[str, list]:
    """The detector task's detections (above the card's threshold) for each image."""
    import edgekit

    options = edgekit.ObjectDetector.options_class(model_path=str(model_path))
    with edgekit.ObjectDetector(options, model=model) as task:
        return {name: list(task.detect(image).detections) for name, image in images.items()}


@dataclass
class FaceCell:
    recipe: str
    against: str
    images: int
    same_detections: int  # images with as many faces in both, each matched
    min_iou: float  # of matched boxes
    max_score_difference: float
    faces: int  # detections in the bundled file's answers

    def line(self) -> str:
        return (
            f"faces Core ML {self.recipe} vs {self.against}: the same detections on {self.same_detections} of "
            f"{self.images} images ({self.faces} faces), box IoU >= {self.min_iou:.4f}, max score difference "
            f"{self.max_score_difference:.4f}"
        )


def face_cells(packages: dict[str, object], images: dict[str, np.ndarray]) -> list[FaceCell]:
    from converters.coreml.reference import load_reference

    bundled = detections(zoo.path("faces", "float32"), images)
    found = []
    for recipe, package in packages.items():
        if isinstance(package, Exception):
            continue
        ours = detections(package, images, model=load_reference(package))
        same, ious, differences = 0, [1.0], [0.0]
        for name, theirs in bundled.items():
            mine = ours[name]
            if len(mine) != len(theirs):
                continue
            pairs = [(a, max(mine, key=lambda b: b.box.iou(a.box))) for a in theirs]
            ious += [a.box.iou(b.box) for a, b in pairs]
            differences += [abs(a.top.score - b.top.score) for a, b in pairs]
            same += 1
        faces = sum(len(found_faces) for found_faces in bundled.values())
        found.append(FaceCell(recipe, "faces_float32.tflite", len(images), same, min(ious), max(differences), faces))
    return found
