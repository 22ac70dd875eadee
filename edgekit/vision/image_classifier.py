"""ImageClassifier: a frame → ranked categories."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..media import InputFormat
from ..metadata.card import ImageSpec, Task
from ..model import Model
from ..processing.classification import classify_outputs
from ..results import ClassificationResult
from ..tasks import BaseTask, TaskOptions
from ._input import check_color_order, image_plan_for, image_spec_for, prepare_image


@dataclass(frozen=True)
class ImageClassifierOptions(TaskOptions):
    """Options for :class:`ImageClassifier` (see :class:`edgekit.tasks.TaskOptions` for the common ones).

    Attributes:
        color_order: the channel order of numpy frames you pass: "RGB" (default) or "BGR"
            (OpenCV frames). Files are always read correctly.
        image_spec: overrides the preprocessing in the model's metadata (for models without any).
    """

    color_order: str = "RGB"
    image_spec: ImageSpec | None = None

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "color_order", check_color_order(self.color_order))


class ImageClassifier(BaseTask[ImageClassifierOptions]):
    """Classifies images with a model whose card says (or whose tensors imply) image classification.

    Tensor contract: one input (1, H, W, C), C in {1, 3}, uint8/int8 or float32 (normalized as the
    metadata's ImageSpec says); one or more outputs of shape (1, N) (or (1, ..., N)) with one score per
    class. The first output's classes are named by the model's labels.
    """

    options_class = ImageClassifierOptions
    task_name = "image-classifier"

    @classmethod
    def check_fits(cls, model: Model, options: TaskOptions | None = None) -> None:
        card = model.card
        if card is not None and card.task not in (Task.IMAGE_CLASSIFIER, Task.CUSTOM):
            raise cls._unfit(model, "an image classification model (one score per class)")
        inputs, outputs = model.inputs, model.outputs
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[3] not in (1, 3):
            raise cls._unfit(model, "one image input of shape (1, H, W, 1 or 3)")
        if any(int(np.prod(o.shape[:-1])) != 1 for o in outputs):
            # (1, anchors, coordinates) or (1, boxes, 4): per-object outputs, not one score per class
            raise cls._unfit(
                model, "score outputs of shape (1, classes); these look like a detector's, use ObjectDetector"
            )
        if any(o.dtype not in ("float32", "float16", "uint8", "int8") for o in outputs):
            raise cls._unfit(model, "float or quantized score outputs")
        labels = card.labels if card else ()
        if labels and int(np.prod(outputs[0].shape[1:])) != len(labels):
            raise cls._unfit(model, f"{len(labels)} scores (one per label in its metadata)")

    def _configure(self) -> None:
        self.image_spec = image_spec_for(self.model, self.options.image_spec)
        self.image_plan = image_plan_for(self.model, self.image_spec)

    def last_input_image(self) -> np.ndarray | None:
        """See :meth:`BaseTask.last_input_image`."""
        kept = self._last_input
        return None if kept is None else self.image_plan.pixels(kept)

    @property
    def input_format(self) -> InputFormat:
        return InputFormat("video", channels=self.image_spec.channels)

    def _process(
        self,
        image: Any,
        timestamp_ms: float,
        region_of_interest: Sequence[float] | None = None,
        color_order: str | None = None,
    ) -> ClassificationResult:
        order = check_color_order(color_order) if color_order else self.options.color_order
        tensor, _ = prepare_image(image, self.image_spec, order, region_of_interest, self.image_plan)
        self._keep_input(tensor)
        outputs = self.model.run(tensor)
        heads = [o[0] for o in outputs]
        names = [spec.key for spec in self.model.outputs]
        return ClassificationResult(classify_outputs(heads, self.labels, names, **self.options.filters), timestamp_ms)

    def classify(
        self,
        image: np.ndarray | str | Path,
        region_of_interest: Sequence[float] | None = None,
        color_order: str | None = None,
    ) -> ClassificationResult:
        """IMAGE mode: classify one image (numpy RGB/BGR frame of any size, or a file path).

        Args:
            image: (H, W, 3) uint8 frame, (H, W) grey, or an image file path.
            region_of_interest: (x, y, width, height) in pixels; only that part is classified.
            color_order: "RGB" or "BGR" for this frame (default: the options' color_order).

        Raises:
            InputError: wrong mode, dtype, shape or channels, or NaN values.
        """
        return self._run_once(image, "classify", region_of_interest=region_of_interest, color_order=color_order)

    def classify_for_video(
        self, frame: np.ndarray, timestamp_ms: float, region_of_interest: Sequence[float] | None = None
    ) -> ClassificationResult:
        """VIDEO mode: classify one frame of a stream; ``timestamp_ms`` must increase."""
        return self._run_stream(frame, timestamp_ms, "classify_for_video", region_of_interest=region_of_interest)

    def classify_async(self, frame: np.ndarray, timestamp_ms: float) -> None:
        """LIVE_STREAM mode: queue a frame; the result goes to ``result_callback(result, frame, timestamp_ms)``.

        If the worker is busy, this frame replaces the one waiting (counted in ``stats["dropped"]``).
        """
        self._run_async(frame, timestamp_ms, "classify_async")
