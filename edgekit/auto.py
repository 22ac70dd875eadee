"""Choose the task for a model from its metadata (or, without metadata, from its tensors)."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any

from .backends import load
from .errors import EdgekitError, UnsupportedModelError
from .metadata.card import Task
from .model import Model
from .tasks._base import BaseTask


def task_class_for(model: Model) -> type[BaseTask]:
    """The task class that fits ``model``.

    Raises:
        UnsupportedModelError: the metadata names no task edgekit runs, and the tensors don't say either.
    """
    task = model.card.task if model.card else Task.CUSTOM
    if task is Task.IMAGE_CLASSIFIER:
        from .vision.image_classifier import ImageClassifier

        return ImageClassifier
    if task is Task.OBJECT_DETECTOR:
        from .vision.object_detector import ObjectDetector

        return ObjectDetector
    if task is Task.AUDIO_CLASSIFIER:
        from .audio.audio_classifier import AudioClassifier

        return AudioClassifier
    if task is Task.TEXT_CLASSIFIER:
        from .text.text_classifier import TextClassifier

        return TextClassifier
    return _guess_from_tensors(model)


def _guess_from_tensors(model: Model) -> type[BaseTask]:
    """Models from elsewhere often have no task in their metadata: try the tasks that can recognise them."""
    from .audio.audio_classifier import AudioClassifier
    from .vision.image_classifier import ImageClassifier
    from .vision.object_detector import ObjectDetector

    problems = []
    candidates: tuple[type[BaseTask], ...] = (ObjectDetector, AudioClassifier, ImageClassifier)
    for cls in candidates:
        try:
            cls.check_fits(model)
            return cls
        except EdgekitError as exc:  # each task says why it does not fit; collected for the error
            problems.append(f"{cls.__name__}: {exc}")
    raise UnsupportedModelError(
        f"{model.path.name}: edgekit cannot tell which task runs this model (its metadata names none)",
        hint="re-export it with `edgekit convert --task ...`, or use the task class directly in Python. "
        + " | ".join(problems),
    )


def create_task(model: str | os.PathLike | Model, num_threads: int | None = None, **options: Any) -> BaseTask:
    """Wrap a model in the task its metadata names (loading it once, when given a path).

    Options that the chosen task does not have (e.g. ``color_order`` for audio) are ignored, so a
    caller can pass one set of options for any model.

    Args:
        model: a model file, or a loaded model (the task takes it over and closes it).
        num_threads: interpreter threads (a loaded model keeps the ones it was loaded with; the task's
            options record this, e.g. for a streaming model the task reloads).
        options: task options by name; None values are left at the task's default.

    Returns:
        The task, in the running mode ``options`` say (IMAGE by default).

    Raises:
        UnsupportedModelError: no task fits the model.
        InputError: an option value the task refuses.
    """
    loaded = load(model, num_threads=num_threads) if isinstance(model, (str, os.PathLike)) else model
    try:
        cls = task_class_for(loaded)
        known = {f.name for f in fields(cls.options_class)}
        chosen = {k: v for k, v in options.items() if k in known and v is not None}
        if num_threads is not None:
            chosen["num_threads"] = num_threads
        return cls(cls.options_class(model_path=os.fspath(loaded.path), **chosen), model=loaded)
    except Exception:
        loaded.close()
        raise
