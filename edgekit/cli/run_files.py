"""`edgekit run MODEL INPUT...`: one result per file (or --text string), through the model's task.

Files take the same path as cameras and streams: the task the model's metadata names preprocesses,
runs and ranks (``ImageClassifier``, ``ObjectDetector``, ``AudioClassifier``, ``TextClassifier``). An
audio clip runs once through the AudioClassifier: its windows give the clip's classes (the mean score
over the windows) and its keyword detections come from the same pass. A ``.npy`` file is the model's
input tensor as it is (no preprocessing); a classifier's scores are still ranked as the tasks rank them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..auto import task_class_for
from ..errors import InputError, MetadataError
from ..metadata import Task
from ..model import Model
from ..processing.arrays import read_npy
from ..processing.classification import rank_categories
from ..processing.image import IMAGE_SUFFIXES
from ..results import AudioClassifierResult
from ..tasks import BaseTask

#: None: the model's own hop, as live and in the Python API (one place: edgekit/audio/defaults.py).
FILE_AUDIO_HOP_MS: float | None = None
#: The tasks the metadata can name and `edgekit run` wraps; other models get their raw outputs.
RUNNABLE_TASKS = (Task.IMAGE_CLASSIFIER, Task.OBJECT_DETECTOR, Task.AUDIO_CLASSIFIER, Task.TEXT_CLASSIFIER)


if TYPE_CHECKING:  # the task classes load with the model's task (auto.task_class_for), not all at start-up
    from ..audio.audio_classifier import AudioClassifier
    from ..vision.image_classifier import ImageClassifier
    from ..vision.object_detector import ObjectDetector


class FileRunner:
    """Runs one loaded model on files and strings through its task; one result dict per input.

    Args:
        model: the loaded model (owned by the caller; not closed here).
        max_results: classes (or detections) per result.
        region_of_interest: (x, y, width, height) in pixels: image files are classified or searched there only.
    """

    def __init__(self, model: Model, max_results: int = 3, region_of_interest: Sequence[float] | None = None):
        self.model = model
        self.max_results = max_results
        self.region_of_interest = tuple(region_of_interest) if region_of_interest is not None else None
        self._task: BaseTask | None = None

    def task(self) -> BaseTask | None:
        """The model's task (made on first use), or None for a model whose metadata names no task."""
        card = self.model.card
        if self._task is None and card is not None and card.task in RUNNABLE_TASKS:
            cls = task_class_for(self.model)
            options: dict[str, Any] = {"model_path": str(self.model.path), "max_results": self.max_results}
            if card.task is Task.AUDIO_CLASSIFIER:
                # Every window's scores are kept (the clip's classes are their mean, ranked afterwards).
                options |= {"max_results": -1, "hop_ms": FILE_AUDIO_HOP_MS}
            self._task = cls(cls.options_class(**options), model=self.model)
        return self._task

    def run(self, item: str, text: bool = False) -> dict[str, Any]:
        """Run the model on a file path (image, WAV/FLAC, .npy) or, for text models, a string.

        Args:
            text: ``item`` is a text (``--text``), never a path.

        Raises:
            InputError: a missing or unreadable file, an input the model's task refuses, or a file
                path given to a text model (which reads strings: ``--text``).
            MetadataError: a model without metadata given anything but a .npy array.
        """
        if not text and Path(item).suffix.lower() == ".npy":
            return self._run_array(item)
        task = self.task()
        if task is None:
            raise MetadataError(
                f"{self.model.path.name} has no metadata naming a task, so edgekit cannot preprocess {item!r}",
                hint="give the input as a .npy array, or re-export the model with `edgekit convert`",
            )
        kind = task.input_format.kind
        if text and kind != "text":
            raise InputError(
                f"--text needs a text model; {self.model.path.name} is not one",
                hint="give this model image, WAV/FLAC or .npy files (edgekit info MODEL shows what it takes)",
            )
        result: dict[str, Any] = {"input": item}
        if kind == "audio":
            # on the first audio file: image runs never load it
            from ..processing.audio_decode import read_audio_file

            samples, rate = read_audio_file(item)
            audio = cast("AudioClassifier", task)  # the task the card's AUDIO_CLASSIFIER names
            return result | self._clip_summary(audio.classify(samples, rate), audio.window_ms)
        if kind == "text":
            if not text:
                _refuse_file_for_text(item, self.model.path.name)
            classified = task.classify(item)  # type: ignore[attr-defined]
        elif task.task_name == "object-detector":
            detector = cast("ObjectDetector", task)
            return result | detector.detect(item, region_of_interest=self.region_of_interest).to_dict()
        else:
            classifier = cast("ImageClassifier", task)
            classified = classifier.classify(item, region_of_interest=self.region_of_interest)
        return result | {"classes": [c.to_dict() for c in classified.categories]}

    def _clip_summary(self, result: AudioClassifierResult, window_ms: float) -> dict[str, Any]:
        """The clip's classes (each label's mean score over the windows inside the clip, ranked) and its keywords.

        A stream's first windows reach back before the clip (silence there); a clip's classes come from
        the windows that start at or after its first sample, the last one padded (as a clip is classified
        whole), so a one-word clip is scored on the word rather than on the silence around it.
        """
        labels = self.model.card.labels if self.model.card else ()
        inside = [w for w in result.classifications if w.timestamp_ms >= window_ms - 0.5] or list(
            result.classifications[-1:]
        )
        count = max([len(labels)] + [c.index + 1 for w in inside for c in w.categories])
        scores = np.zeros((max(1, len(inside)), count), np.float32)
        for row, window in enumerate(inside):
            for category in window.categories:
                scores[row, category.index] = category.score
        ranked = rank_categories(scores.mean(axis=0), labels, max_results=self.max_results)
        return {
            "classes": [c.to_dict() for c in ranked],
            "keywords": [k.to_dict() for k in result.keywords],
        }

    def _run_array(self, item: str) -> dict[str, Any]:
        """A .npy file: the model's input tensor as it is; classifier scores ranked, other outputs raw."""
        outputs = self.model.run(read_npy(item))
        card = self.model.card
        result: dict[str, Any] = {"input": item}
        if card is not None and card.task in (Task.IMAGE_CLASSIFIER, Task.AUDIO_CLASSIFIER, Task.TEXT_CLASSIFIER):
            rows = [
                [c.to_dict() for c in rank_categories(row, card.labels, max_results=self.max_results)]
                for row in outputs[0].reshape(len(outputs[0]), -1)
            ]
            if len(rows) == 1:
                result["classes"] = rows[0]
            else:  # a batch: one ranking per row
                result["rows"] = rows
        else:
            result["outputs"] = {spec.key: value.tolist() for spec, value in zip(self.model.outputs, outputs)}
        return result


def _refuse_file_for_text(item: str, model_name: str) -> None:
    """A text model reads strings: an existing file, or a name ending like an image or audio file, is not one."""
    path = Path(item)
    try:
        suffix, exists, folder = path.suffix.lower(), path.exists(), path.is_dir()
    except (OSError, ValueError):  # a sentence longer than a file name can be (or with a NUL) is no path
        return
    from ..processing.audio import AUDIO_SUFFIXES

    if exists or suffix in IMAGE_SUFFIXES + AUDIO_SUFFIXES + (".npy",):
        what = "a folder" if folder else "a file" if exists else f"a {suffix} file name"
        raise InputError(
            f"{model_name} is a text model and {item!r} is {what}; it reads text, not files",
            hint=f'pass the text itself: edgekit run {model_name} --text "..."',
        )


def run_on_input(model: Model, item: str, max_results: int = 3) -> dict[str, Any]:
    """One input through ``model``'s task (see :class:`FileRunner`; keep one runner for many inputs)."""
    return FileRunner(model, max_results).run(item)


def format_result(result: dict[str, Any]) -> str:
    if "classes" in result:
        best = ", ".join(f"{c['label']} {c['score']:.3f}" for c in result["classes"])
        heard = "".join(
            f"\n  keyword {k['label']} ({k['score']:.2f}) at {k['timestamp_ms'] / 1000:.2f} s"
            for k in result.get("keywords", [])
        )
        return f"{result['input']}: {best}{heard}"
    if result.get("type") == "detection":
        from ..live.sinks import summary

        return f"{result['input']}: {summary(result)}"
    if "rows" in result:
        return "\n".join(
            f"{result['input']}[{i}]: " + ", ".join(f"{c['label']} {c['score']:.3f}" for c in row)
            for i, row in enumerate(result["rows"])
        )
    shapes = ", ".join(f"{k} {np.asarray(v).shape}" for k, v in result["outputs"].items())
    return f"{result['input']}: outputs {shapes}: " + "; ".join(
        f"{k}={np.array2string(np.asarray(v).reshape(-1)[:8], precision=4)}" for k, v in result["outputs"].items()
    )
