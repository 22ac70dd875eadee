"""Vision input shared by image tasks: frames or files → the model's input tensor and a Placement."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, MetadataError
from ..media import Frame
from ..metadata.card import ImageSpec
from ..model import Model
from ..processing import image as image_proc
from ..processing.image_plan import ImagePlan

COLOR_ORDERS = ("RGB", "BGR")


def image_spec_for(model: Model, override: ImageSpec | None = None) -> ImageSpec:
    """The model's ImageSpec: ``override``, else its metadata, else what its input tensor implies.

    Without metadata, an integer input gets the pixels as they are (mean 0, std 1); a float input
    cannot be guessed (0..1? -1..1?), so it needs metadata or an explicit spec.
    """
    if override is not None:
        return override
    if model.card is not None and model.card.image is not None:
        return model.card.image
    spec = model.inputs[0]
    if len(spec.shape) != 4 or spec.shape[3] not in (1, 3):
        raise MetadataError(f"{model.path.name}: cannot tell the image size from input shape {spec.shape}")
    if spec.dtype in ("uint8", "int8"):
        return ImageSpec(width=int(spec.shape[2]), height=int(spec.shape[1]), channels=int(spec.shape[3]))
    raise MetadataError(
        f"{model.path.name} has a {spec.dtype} image input but no metadata saying how to normalize pixels",
        hint="pass image_spec=ImageSpec(width, height, mean=..., std=...) in the options, or re-export the "
        "model with `edgekit convert --mean M --std S`",
    )


def check_color_order(value: str, what: str = "color_order") -> str:
    order = str(value).upper()
    if order not in COLOR_ORDERS:
        raise InputError(f"{what} must be one of {COLOR_ORDERS}, got {value!r}")
    return order


def image_plan_for(model: Model, spec: ImageSpec) -> ImagePlan:
    """The preprocessing plan that writes frames straight into ``model``'s input dtype and quantization."""
    tensor = model.inputs[0]
    return ImagePlan(spec, tensor.dtype, tensor.scale, tensor.zero_point)


def prepare_image(
    image: Frame | np.ndarray | str | Path,
    spec: ImageSpec,
    color_order: str,
    region_of_interest: Sequence[float] | None = None,
    plan: ImagePlan | None = None,
) -> tuple[np.ndarray, image_proc.Placement]:
    """A frame (RGB/BGR numpy, any size), a source Frame (carries its colour order) or an image file →
    (1, H, W, C) tensor and its Placement: float32 without a plan, else the plan's reused buffer in the
    model's own input dtype (overwritten by the next call)."""
    if isinstance(image, Frame):  # a source's frame says its own colour order
        color_order = image.color_order
        image = image.image
    if isinstance(image, (str, Path)):
        frame, color_order = image_proc.read_image(image), "RGB"
    else:
        frame = image_proc.as_image(image)
    if plan is not None:
        return plan.prepare(frame, color_order, region_of_interest)
    # The region is sampled in place (as MediaPipe's ROI is), not cut out first: pixels just outside
    # it still feed the bilinear taps at its edges, and fractional corners stay fractional.
    tensor, placement = image_proc.preprocess_placed(frame, spec, source_order=color_order, region=region_of_interest)
    return tensor[None], placement
