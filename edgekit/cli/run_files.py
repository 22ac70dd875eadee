"""One input file (or string) → one result, using the preprocessing in the model's card.

This is what ``edgekit run MODEL INPUT...`` does; the task classes build on the same functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, MetadataError
from ..metadata import Task
from ..model import Model
from ..processing import audio as audio_proc
from ..processing import image as image_proc
from ..processing.text import Tokenizer


def top_k(scores: np.ndarray, labels: tuple[str, ...], k: int) -> list[dict[str, Any]]:
    """Highest ``k`` scores as [{"index", "label", "score"}], best first."""
    flat = np.asarray(scores, np.float32).reshape(-1)
    order = np.argsort(-flat, kind="stable")[:k]
    return [
        {"index": int(i), "label": labels[i] if i < len(labels) else str(int(i)), "score": float(flat[i])}
        for i in order
    ]


def _prepare(model: Model, item: str) -> tuple[list[np.ndarray], str]:
    card = model.card
    task = card.task if card else Task.CUSTOM
    path = Path(item)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise InputError(f"input file not found: {path}")
        return [np.load(path, allow_pickle=False)], "array"
    if card is None:
        raise MetadataError(
            f"{model.path.name} has no metadata, so edgekit cannot preprocess {item!r}",
            hint="give the input as a .npy array, or re-export the model with `edgekit convert`",
        )
    if card.image is not None:
        return [image_proc.preprocess(image_proc.read_image(path), card.image)[None]], "image"
    if card.audio is not None:
        samples, rate = audio_proc.read_wav(path)
        mono = audio_proc.resample(audio_proc.to_mono(samples), rate, card.audio.sample_rate_hz)
        return [audio_proc.windows(mono, card.audio.window_samples, card.audio.hop_samples)], "audio"
    if card.text is not None:
        return [Tokenizer(card.text)(item)[None]], "text"
    raise MetadataError(
        f"the model's task is {task.value} with no preprocessing in its metadata", hint="give the input as a .npy array"
    )


def run_on_input(model: Model, item: str, max_results: int = 3) -> dict[str, Any]:
    """Run ``model`` on a file path (image, WAV, .npy) or, for text models, a string."""
    if model.card is not None and model.card.task is Task.OBJECT_DETECTOR and not item.endswith(".npy"):
        return _detect(model, item, max_results)
    arrays, kind = _prepare(model, item)
    keywords = None
    if kind == "audio":  # one result per clip: the mean score over its windows, and the keywords heard
        per_window = [model.run(window[None])[0][0] for window in arrays[0]]
        outputs = [np.mean(per_window, axis=0)[None]]
        keywords = _keywords(model, item)
    else:
        outputs = model.run(*arrays)
    result: dict[str, Any] = {"input": item}
    card = model.card
    if card is not None and card.task in (Task.IMAGE_CLASSIFIER, Task.AUDIO_CLASSIFIER, Task.TEXT_CLASSIFIER):
        rows = [top_k(row, card.labels, max_results) for row in outputs[0].reshape(len(outputs[0]), -1)]
        if len(rows) == 1:
            result["classes"] = rows[0]
        else:  # a .npy batch: one ranking per row
            result["rows"] = rows
    else:
        result["outputs"] = {spec.key: value.tolist() for spec, value in zip(model.outputs, outputs)}
    if keywords is not None:
        result["keywords"] = keywords
    return result


def _detect(model: Model, item: str, max_results: int) -> dict[str, Any]:
    """Objects in an image file, boxes in its pixels (the task borrows the caller's model)."""
    from ..vision.object_detector import ObjectDetector, ObjectDetectorOptions

    detector = ObjectDetector(ObjectDetectorOptions(model_path=str(model.path), max_results=max_results), model=model)
    return {"input": item} | detector.detect(item).to_dict()


def _keywords(model: Model, item: str) -> list[dict[str, Any]]:
    """Keyword detections in a clip, streamed at a 100 ms hop (one per utterance, stream-time stamps)."""
    from ..audio.audio_classifier import AudioClassifier, AudioClassifierOptions

    # The task borrows the caller's model (not closed here); IMAGE mode starts no thread.
    spotter = AudioClassifier(AudioClassifierOptions(model_path=str(model.path), hop_ms=100.0), model=model)
    samples, rate = audio_proc.read_wav(item)
    return [k.to_dict() for k in spotter.classify(samples, rate).keywords]


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
