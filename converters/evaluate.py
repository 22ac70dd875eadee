"""Accuracy of a Keras source on labelled data, through the same tasks as a deployed file.

The source gets a model-like wrapper (``inputs``, ``outputs``, ``run``, ``card``) so that
``edgekit.eval.evaluate`` preprocesses its inputs exactly as it does for an exported file; only the
card differs: the source is fed the way its own graph says (raw pixels when it normalizes itself),
so a wrong spec forced into an export shows as an accuracy drop against it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends._quiet import quiet_tensorflow
from edgekit.eval import EvalReport, evaluate
from edgekit.labelled import LabelledData
from edgekit.metadata import ModelCard
from edgekit.model import TensorSpec

from .normalization import spec_from_graph
from .source import SourceModel, load_source


class KerasAsModel:
    """A Keras source with the part of the :class:`edgekit.Model` interface the tasks use."""

    def __init__(self, source: SourceModel, card: ModelCard, name: str):
        self.source = source
        self.card = card
        self.path = Path(name)
        self.inputs = tuple(
            TensorSpec(
                spec.key,
                index,
                (1,) + tuple(d or 1 for d in spec.shape[1:]),
                np.dtype(_numpy(spec.dtype)),
                key=spec.key,
            )
            for index, spec in enumerate(source.inputs)
        )
        shapes = source.output_shapes()
        self.outputs = tuple(
            TensorSpec(key, index, (1,) + tuple(d or 1 for d in shape[1:]), np.dtype(np.float32), key=key)
            for index, (key, shape) in enumerate(zip(source.output_keys, shapes))
        )

    def run(self, *inputs: Any) -> list[np.ndarray]:
        arrays = [np.asarray(a, spec.dtype) for a, spec in zip(inputs, self.inputs)]
        if self.source.keras_model is not None:
            with quiet_tensorflow():
                # predict_on_batch runs the compiled graph (traced once): an eager call of EfficientNet-Lite0
                # took 0.64 s per image here, 128 s of a 200-image evaluation.
                outputs = self.source.keras_model.predict_on_batch(arrays if len(arrays) > 1 else arrays[0])
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            return [np.asarray(o, np.float32) for o in outputs]
        results = self.source.predict(arrays)
        return [np.asarray(results[key], np.float32) for key in self.source.output_keys]

    def close(self) -> None:
        pass


def _numpy(dtype: str) -> str:
    return dtype if dtype in ("float32", "float16", "int32", "int64", "uint8", "int8") else "float32"


def source_card(source: SourceModel, card: ModelCard) -> ModelCard:
    """``card`` with the image mean/std the source's own graph implies (when it tells)."""
    found = source.graph_normalization() if card.image is not None else None
    mean, std, assumed = spec_from_graph(found)
    if card.image is None or assumed:
        return card
    return card.replace(image=dataclasses.replace(card.image, mean=mean, std=std))


def evaluate_source(source: SourceModel, card: ModelCard, data: LabelledData, name: str = "") -> EvalReport:
    """Accuracy of the source on ``data``, fed as its graph says (see :func:`source_card`)."""
    model = KerasAsModel(source, source_card(source, card), name or source.description)
    return evaluate(model, data)


def keras_for_eval(path: str, labels: list[str] | None, data: LabelledData) -> tuple[KerasAsModel, list[str]]:
    """Open a Keras source for ``edgekit eval``: its card as the converter would infer it, plus notes.

    Without ``labels``, classes are the data's label names in sorted order (Keras'
    ``image_dataset_from_directory`` order); a note says so.
    """
    from .tflite import CardOptions, build_card

    source = load_source(path)
    notes: list[str] = []
    if not labels:
        labels = sorted(set(data.labels))
        outputs = source.output_shapes()
        count = outputs[0][-1] if outputs and outputs[0] else None
        if all(name.isdigit() for name in labels) and count:
            labels = [str(i) for i in range(count)]
        notes.append(f"no --labels: class {0} is {labels[0]!r}, … in sorted order of the data's label names")
    card = build_card(source, CardOptions(labels=list(labels), name=Path(path).stem), notes)
    return KerasAsModel(source, source_card(source, card), Path(path).name), notes


# ------------------------------------------------------------------ the export report's accuracy column
def eval_workers() -> int:
    """Interpreters scoring one file at once: every core, up to 4."""
    return max(1, min(4, os.cpu_count() or 1))


class OutputsMemo(dict):
    """Outputs by input digest (see ``LiteRTModel.remember_outputs``), holding at most ``max_bytes`` of
    outputs: past that, new outputs are not kept (a segmentation model's 100 verification outputs could
    take gigabytes), and those inputs simply run again."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024):
        super().__init__()
        self.max_bytes, self.held_bytes = max_bytes, 0

    def __setitem__(self, key: bytes, values: list[np.ndarray]) -> None:
        size = sum(int(np.asarray(value).nbytes) for value in values)
        if key in self or self.held_bytes + size > self.max_bytes:
            return
        self.held_bytes += size
        super().__setitem__(key, values)


def remember(model, memo: dict | None) -> None:
    """Let ``model`` read and fill ``memo`` (see ``LiteRTModel.remember_outputs``); other models run as they are."""
    method = getattr(model, "remember_outputs", None)
    if method is not None:
        method(memo)


def evaluate_file(path: Path, data: LabelledData, memo: dict | None = None) -> EvalReport:
    """``edgekit.eval.evaluate`` of an exported file on every core: one single-thread interpreter per core
    (up to 4), the items shared out between them. Each item's scores are those of a lone interpreter:
    XNNPACK splits a layer's outputs between threads but sums each in one order, so its scores do not depend
    on the thread count, and int16x8's reference kernels have no threads at all (so this is what puts a
    second core to work on them: EfficientNet-Lite0 int16x8, 433 ms an image on one). A Core ML package
    goes through the reference evaluator (Core ML on macOS), alone. ``memo``: outputs of this file already
    computed, by input tensors (the exporter's verification run), read and extended.
    """
    if path.suffix.lower() == ".mlpackage" or path.is_dir():
        import sys

        if sys.platform == "darwin":
            from edgekit.backends.coreml import load_coreml

            model = load_coreml(path)
        else:
            from converters.coreml.reference import load_reference

            model = load_reference(path)
        try:
            return evaluate(model, data)
        finally:
            model.close()
    import edgekit

    models = []
    try:
        for _ in range(min(eval_workers(), max(1, len(data)))):
            models.append(edgekit.load(path, num_threads=1))
            remember(models[-1], memo)
        return evaluate(models[0], data, more_models=models[1:])
    finally:
        for model in models:
            model.close()


ACCURACY_SAMPLES = 300


class AccuracyCheck:
    """Accuracy of the source and of each export on the labelled part of the calibration/verification data.

    Exports are evaluated through edgekit's tasks reading the exported file's own metadata, so a spec
    that does not match the model costs accuracy here even when every converter array agrees.
    """

    def __init__(self, source: SourceModel, card: ModelCard, data_path: str | None, notes: list[str]):
        self.data: LabelledData | None = None
        self.source_report: EvalReport | None = None
        self.reports: dict[str, EvalReport] = {}  # per recipe, for the HTML report's confusion matrix
        if not data_path or card.task.value not in ("image-classifier", "audio-classifier", "text-classifier"):
            return
        from edgekit.errors import InputError
        from edgekit.labelled import is_labelled, read_labelled

        if not is_labelled(data_path):
            return
        try:
            data = read_labelled(data_path).subset(ACCURACY_SAMPLES)
            self.source_report = evaluate_source(source, card, data, "source")
        except InputError as exc:
            notes.append(f"no accuracy column: {exc}" + (f" ({exc.hint})" if exc.hint else ""))
            return
        self.data = data
        if self.source_report.skipped:
            notes.append(f"accuracy: skipped {len(self.source_report.skipped)} unreadable file(s) in {data_path}")

    @property
    def source_accuracy(self) -> float | None:
        return None if self.source_report is None else self.source_report.accuracy

    def describe_source(self) -> str:
        """The line for the source model (printed above the export rows)."""
        report = self.source_report
        return f"source accuracy {report.accuracy:.1%} on {report.evaluated} labelled items ({report.origin})"

    def of_file(self, path: Path, recipe: str | None = None, memo: dict | None = None) -> float | None:
        """Accuracy of an exported file, through edgekit's task on its own metadata (None without labels);
        the full report is kept in ``reports[recipe]`` when ``recipe`` is given. ``memo``: see evaluate_file."""
        if self.data is None:
            return None
        report = evaluate_file(path, self.data, memo)
        if recipe is not None:
            self.reports[recipe] = report
        return report.accuracy

    def failure(self, accuracy: float | None, min_agreement: float) -> str | None:
        """Why an export's accuracy is unacceptable: it lost more than the recipe's disagreement allows
        (at least 5 points) against the source; None when fine or unknown."""
        source = self.source_accuracy
        if accuracy is None or source is None:
            return None
        allowed = max(0.05, 1.0 - min_agreement)
        if source - accuracy <= allowed:
            return None
        return (
            f"deployed accuracy {accuracy:.1%} is {100 * (source - accuracy):.1f} points below the source's "
            f"{source:.1%} on {self.source_report.evaluated} labelled items: the preprocessing in the metadata "
            "does not match the model"
        )
