"""ObjectDetector: a frame → boxes (and keypoints) with categories, in the frame's pixel coordinates."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, MetadataError, UnsupportedModelError
from ..media import InputFormat
from ..metadata.card import ImageSpec, Task
from ..model import Model
from ..processing import detection as det
from ..processing.classification import label_of
from ..processing.image import Placement
from ..results import BoundingBox, Category, Detection, DetectionResult, Keypoint
from ..tasks import BaseTask, TaskOptions
from ._input import check_color_order, image_plan_for, image_spec_for, prepare_image

DECODER_CHOICES = ("auto",) + det.DECODERS

#: MediaPipe's short-range BlazeFace (no metadata in the file), as its face_detection graph runs it.
MEDIAPIPE_FACE_SHORT_RANGE = (
    ImageSpec(128, 128, color_order="RGB", resize_mode="letterbox", mean=(127.5,), std=(127.5,)),
    det.SsdConfig(
        input_width=128, input_height=128, strides=(8, 16, 16, 16), num_layers=4,
        min_scale=0.1484375, max_scale=0.75, fixed_anchor_size=True,
        num_keypoints=6, box_format="xywh", x_scale=128, y_scale=128, w_scale=128, h_scale=128,
        sigmoid_score=True, score_clipping_threshold=100, min_score=0.5, nms="weighted", iou_threshold=0.3,
        labels=("face",),
        keypoint_labels=("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"),
    ),
)  # fmt: skip

#: Models without metadata that work with zero configuration, keyed by (input shape, sorted output shapes).
KNOWN_DETECTORS: dict[tuple, tuple[ImageSpec, det.SsdConfig]] = {
    ((1, 128, 128, 3), ((1, 896, 1), (1, 896, 16))): MEDIAPIPE_FACE_SHORT_RANGE,
}

#: Pre-NMS score filter and IoU threshold when neither the options nor the model say (each project's default).
YOLO_DEFAULTS = {"v8": (0.25, 0.7), "v5": (0.25, 0.45)}

EXPECTED_OUTPUTS = (
    "detection outputs: 4 from TFLite_Detection_PostProcess (boxes (1, N, 4), classes (1, N), scores (1, N), "
    "count (1,)); or 2 from an anchor-based SSD (boxes (1, N, 4 + 2K), scores (1, N, C)); or 1 YOLO output "
    "((1, 4 + C, N) ultralytics v8, or (1, N, 5 + C) v5)"
)


@dataclass(frozen=True)
class ObjectDetectorOptions(TaskOptions):
    """Options for :class:`ObjectDetector` (see :class:`edgekit.tasks.TaskOptions` for the common ones).

    ``score_threshold`` filters detections before NMS; 0 (the default) means the model's own default
    (0.5 for MediaPipe's face detector, 0.25 for YOLO, the card's ``min_score`` for an SSD).

    Attributes:
        iou_threshold: NMS overlap threshold in (0, 1]; None: the model's default (0.3 for faces,
            0.7 YOLOv8, 0.45 YOLOv5, the card's ``iou_threshold`` for an SSD). PostProcess models ran
            their NMS inside the graph and ignore it.
        decoder: "auto" (tell from the output shapes), "postprocess", "ssd" or "yolo".
        color_order: the channel order of numpy frames you pass: "RGB" (default) or "BGR" (OpenCV).
        image_spec: overrides the preprocessing from the model's metadata.
        detector_config: overrides the card's ``extra["detector"]`` dict (e.g. SSD anchors for a model
            without metadata): ``{"type": "ssd", ...SsdConfig fields}`` or ``{"type": "yolo", "version": "v8"}``.
    """

    iou_threshold: float | None = None
    decoder: str = "auto"
    color_order: str = "RGB"
    image_spec: ImageSpec | None = None
    detector_config: Mapping[str, Any] | None = None

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "color_order", check_color_order(self.color_order))
        if self.iou_threshold is not None:
            try:
                iou = float(self.iou_threshold)
            except (TypeError, ValueError):
                iou = math.nan
            if not 0 < iou <= 1:
                raise InputError(f"ObjectDetectorOptions: iou_threshold must be in (0, 1], got {self.iou_threshold!r}")
            object.__setattr__(self, "iou_threshold", iou)
        if self.decoder not in DECODER_CHOICES:
            close = difflib.get_close_matches(str(self.decoder), DECODER_CHOICES, n=1)
            raise InputError(
                f"ObjectDetectorOptions: unknown decoder {self.decoder!r}",
                hint=(f"did you mean {close[0]!r}? " if close else "") + f"use one of {DECODER_CHOICES}",
            )


@dataclass(frozen=True)
class _Plan:
    """How this model's outputs become detections (settled once, when the task is created)."""

    layout: det.OutputLayout
    min_score: float
    iou_threshold: float
    nms: str
    labels: tuple[str, ...]
    keypoint_labels: tuple[str, ...] = ()
    ssd: det.SsdConfig | None = None
    anchors: np.ndarray | None = None
    allowed_classes: np.ndarray | None = None  # class indices named in category_allowlist
    denied_classes: np.ndarray | None = None  # class indices named in category_denylist
    candidates: det.SsdCandidates | None = None  # anchors worth decoding (SSD), on reused buffers


def _detector_config(data: Any) -> tuple[str, det.SsdConfig | None, dict[str, Any]]:
    """A card's ``extra["detector"]`` dict → (type, SsdConfig or None, other settings)."""
    if not isinstance(data, Mapping) or data.get("type") not in det.DECODERS:
        raise MetadataError(
            f"detector config must be a dict with a 'type' in {det.DECODERS}, got {data!r}",
            hint='e.g. {"type": "ssd", "input_width": 128, ...} or {"type": "yolo", "version": "v8"}',
        )
    kind = data["type"]
    if kind == "ssd":
        return kind, det.SsdConfig.from_dict(dict(data)), {}
    allowed = {"type", "min_score", "iou_threshold"} | ({"version"} if kind == "yolo" else set())
    unknown = set(data) - allowed
    if unknown:
        raise MetadataError(f"unknown {kind} detector fields {sorted(unknown)}", hint=f"allowed: {sorted(allowed)}")
    if kind == "yolo" and data.get("version", "v8") not in det.YOLO_VERSIONS:
        raise MetadataError(f"yolo version must be one of {det.YOLO_VERSIONS}, got {data['version']!r}")
    return kind, None, dict(data)


class ObjectDetector(BaseTask[ObjectDetectorOptions]):
    """Finds objects in images with a detection model; results are in the input image's pixels.

    Tensor contract: one image input (1, H, W, C), C in {1, 3}, float32 (normalized as the ImageSpec
    says) or uint8/int8; outputs in one of three layouts: (a) TFLite_Detection_PostProcess — boxes
    (1, N, 4) as normalized [y_min, x_min, y_max, x_max], classes (1, N), scores (1, N) in [0, 1],
    count (1,), any order; (b) an anchor-based SSD — raw boxes (1, N, 4 + 2K) and scores (1, N, C),
    decoded with anchors from the card's ``extra["detector"]`` or the known-model table (MediaPipe's
    short-range face detector works without metadata); (c) YOLO — (1, 4 + C, N) ultralytics v8 or
    (1, N, 5 + C) v5, boxes as cx, cy, w, h in input pixels or normalized, class-wise NMS.
    """

    options_class = ObjectDetectorOptions
    task_name = "object-detector"

    @classmethod
    def _layout(
        cls, model: Model, options: ObjectDetectorOptions
    ) -> tuple[det.OutputLayout, det.SsdConfig | None, dict[str, Any], ImageSpec | None]:
        """How to read ``model``'s outputs: the layout, SSD anchors, settings, and a known model's ImageSpec.

        Raises:
            UnsupportedModelError: the tensors or metadata do not fit a detector.
        """
        card = model.card
        if card is not None and card.task not in (Task.OBJECT_DETECTOR, Task.CUSTOM):
            raise cls._unfit(model, EXPECTED_OUTPUTS)
        inputs, outputs = model.inputs, model.outputs
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[3] not in (1, 3):
            raise cls._unfit(model, "one image input of shape (1, H, W, 1 or 3)")
        shapes = [o.shape for o in outputs]
        known = KNOWN_DETECTORS.get((inputs[0].shape, tuple(sorted(shapes))))
        config = options.detector_config
        if config is None and card is not None:
            config = card.extra.get("detector")
        kind, ssd, settings = _detector_config(config) if config is not None else ("auto", None, {})
        if ssd is None and known is not None and kind in ("auto", "ssd"):
            ssd = known[1]
        decoder = options.decoder if options.decoder != "auto" else kind
        names = [f"{o.name} {o.key}" for o in outputs]
        layout = det.find_layout(shapes, names, decoder, ssd, settings.get("version", ""))
        if layout is None:
            raise cls._unfit(model, EXPECTED_OUTPUTS if decoder == "auto" else f"{decoder} detection outputs")
        if layout.decoder == "ssd" and ssd is None:
            raise UnsupportedModelError(
                f"{model.path.name} has outputs {shapes} like an anchor-based SSD, but no anchor settings",
                hint='give detector_config={"type": "ssd", "input_width": ..., "strides": [...], ...} or write it '
                'into the model card\'s extra["detector"]',
            )
        return layout, ssd, settings, known[0] if known is not None else None

    @classmethod
    def check_fits(cls, model: Model, options: TaskOptions | None = None) -> None:
        if not isinstance(options, ObjectDetectorOptions):
            options = ObjectDetectorOptions(model_path=str(model.path))
        cls._layout(model, options)

    def _configure(self) -> None:
        layout, ssd, settings, known_spec = self._layout(self.model, self.options)
        image_spec = self.options.image_spec or (self.card.image if self.card else None) or known_spec
        self.image_spec = image_spec_for(self.model, image_spec)
        self.image_plan = image_plan_for(self.model, self.image_spec)
        self.plan = self._plan(layout, ssd, settings)

    def last_input_image(self) -> np.ndarray | None:
        """See :meth:`BaseTask.last_input_image`."""
        kept = self._last_input
        return None if kept is None else self.image_plan.pixels(kept)

    @property
    def input_format(self) -> InputFormat:
        return InputFormat("video", channels=self.image_spec.channels)

    def _plan(self, layout: det.OutputLayout, ssd: det.SsdConfig | None, settings: dict[str, Any]) -> _Plan:
        labels = self.labels or (ssd.labels if ssd else ())
        self.labels = labels  # the base class checks allow/deny lists against these, after _configure
        if layout.decoder == "ssd":
            assert ssd is not None  # _layout refuses an SSD layout without anchor settings
            min_score, iou, nms = ssd.min_score, ssd.iou_threshold, ssd.nms
        elif layout.decoder == "yolo":
            (min_score, iou), nms = YOLO_DEFAULTS[layout.yolo_version], "class_wise"
        else:
            min_score, iou, nms = 0.0, 1.0, "none"
        min_score = self.options.score_threshold or float(settings.get("min_score", min_score))
        anchors = det.generate_ssd_anchors(ssd) if ssd is not None and layout.decoder == "ssd" else None
        return _Plan(
            layout,
            min_score=min_score,
            iou_threshold=self.options.iou_threshold or float(settings.get("iou_threshold", iou)),
            nms=nms,
            labels=labels,
            keypoint_labels=ssd.keypoint_labels if ssd else (),
            ssd=ssd,
            anchors=anchors,
            candidates=det.SsdCandidates(ssd, len(anchors), min_score)
            if ssd is not None and anchors is not None
            else None,
            allowed_classes=self._class_indices(tuple(self.options.category_allowlist), labels),
            denied_classes=self._class_indices(tuple(self.options.category_denylist), labels),
        )

    @staticmethod
    def _class_indices(names: tuple[str, ...], labels: tuple[str, ...]) -> np.ndarray | None:
        # Label names → class indices once, so filtering thousands of YOLO rows is one isin() per frame.
        return np.asarray([i for i, label in enumerate(labels) if label in names], np.int64) if names else None

    # ------------------------------------------------------------------ processing
    def _decode(self, outputs: list[np.ndarray]) -> det.Detections:
        plan = self.plan
        picked = [outputs[i] for i in plan.layout.outputs]
        if plan.layout.decoder == "postprocess":
            boxes, classes, scores, count = picked
            if not plan.layout.order_known:
                classes, scores = det.split_classes_scores(classes, scores, int(np.asarray(count).reshape(-1)[0]))
            found = det.decode_postprocess(boxes, classes, scores, count)
        elif plan.layout.decoder == "ssd":
            assert plan.anchors is not None and plan.ssd is not None  # made together in _plan
            found = det.decode_ssd_candidates(picked[0], picked[1], plan.anchors, plan.ssd, plan.candidates)
        else:
            height, width = self.model.inputs[0].shape[1:3]
            found = det.decode_yolo(picked[0], plan.layout.yolo_version, width, height)
        # Before NMS, as MediaPipe filters classes: a dropped class never suppresses a kept one.
        if plan.allowed_classes is not None:
            found = found.take(np.flatnonzero(np.isin(found.classes, plan.allowed_classes)))
        if plan.denied_classes is not None:
            found = found.take(np.flatnonzero(~np.isin(found.classes, plan.denied_classes)))
        limit = self.options.max_results
        if plan.nms == "none":
            found = found.take(np.argsort(-found.scores, kind="stable"))
            found = found.take(np.flatnonzero(found.scores >= plan.min_score))
            return found.take(np.arange(found.scores.size if limit < 0 else min(limit, found.scores.size)))
        return det.select(found, plan.min_score, plan.iou_threshold, plan.nms, limit)

    def _to_result(self, found: det.Detections, placement: Placement, timestamp_ms: float) -> DetectionResult:
        count = len(found)
        if not count:
            return DetectionResult((), timestamp_ms)
        # Box corners and keypoints mapped back in one call, then read as Python floats in one tolist()
        # (per-element float() calls were a visible share of a face detector's post-processing).
        corners_and_points = np.concatenate([found.boxes.reshape(count, 2, 2), found.keypoints], axis=1)
        mapped = placement.to_source(corners_and_points).tolist()
        classes, scores = found.classes.tolist(), found.scores.tolist()
        names = self.plan.keypoint_labels
        labels = self.plan.labels
        detections = []
        for row, ((x0, y0), (x1, y1), *points) in enumerate(mapped):
            category = Category(int(classes[row]), float(scores[row]), label_of(int(classes[row]), labels))
            keypoints = tuple(Keypoint(x, y, names[k] if k < len(names) else "") for k, (x, y) in enumerate(points))
            box = BoundingBox(x0, y0, x1 - x0, y1 - y0)
            detections.append(Detection(box, (category,), keypoints))
        return DetectionResult(tuple(detections), timestamp_ms)

    def _process(
        self,
        image: Any,
        timestamp_ms: float,
        region_of_interest: Sequence[float] | None = None,
        color_order: str | None = None,
    ) -> DetectionResult:
        order = check_color_order(color_order) if color_order else self.options.color_order
        tensor, placement = prepare_image(image, self.image_spec, order, region_of_interest, self.image_plan)
        self._keep_input(tensor)
        outputs = self.model.run(tensor)
        return self._to_result(self._decode(outputs), placement, timestamp_ms)

    # ------------------------------------------------------------------ the three running modes
    def detect(
        self,
        image: np.ndarray | str | Path,
        region_of_interest: Sequence[float] | None = None,
        color_order: str | None = None,
    ) -> DetectionResult:
        """IMAGE mode: detect objects in one image (numpy RGB/BGR frame of any size, or a file path).

        Args:
            image: (H, W, 3) uint8 frame, (H, W) grey, or an image file path.
            region_of_interest: (x, y, width, height) in pixels; only that part is searched, and results
                are still in the full image's pixels.
            color_order: "RGB" or "BGR" for this frame (default: the options' color_order).

        Returns:
            A DetectionResult: detections best score first, boxes and keypoints in the image's pixels.

        Raises:
            InputError: wrong mode, dtype, shape or channels, NaN values, or a region outside the image.
        """
        return self._run_once(image, "detect", region_of_interest=region_of_interest, color_order=color_order)

    def detect_for_video(
        self, frame: np.ndarray, timestamp_ms: float, region_of_interest: Sequence[float] | None = None
    ) -> DetectionResult:
        """VIDEO mode: detect in one frame of a stream; ``timestamp_ms`` must increase."""
        return self._run_stream(frame, timestamp_ms, "detect_for_video", region_of_interest=region_of_interest)

    def detect_async(self, frame: np.ndarray, timestamp_ms: float) -> None:
        """LIVE_STREAM mode: queue a frame; the result goes to ``result_callback(result, frame, timestamp_ms)``.

        If the worker is busy, this frame replaces the one waiting (counted in ``stats["dropped"]``).
        """
        self._run_async(frame, timestamp_ms, "detect_async")
