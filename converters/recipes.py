"""Quantization recipes as data: an enum, a validated config, and the tolerances each promises.

Every check that can be made before conversion is made here, so an impossible combination is
refused with its reason before TensorFlow is even imported.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from enum import Enum

from edgekit.errors import RecipeError


class Recipe(str, Enum):
    """TFLite export recipes."""

    FLOAT32 = "float32"  # no quantization
    FLOAT16 = "float16"  # weights stored as float16, dequantized at load
    DYNAMIC = "dynamic"  # int8 weights, float activations (dynamic-range quantization)
    INT8 = "int8"  # full integer: int8 weights and activations, integer input/output
    INT16X8 = "int16x8"  # int8 weights, int16 activations (float input/output)

    @classmethod
    def parse(cls, value: str | Recipe) -> Recipe:
        if isinstance(value, Recipe):
            return value
        text = str(value).strip().lower().replace("-", "").replace("_", "")
        aliases = {
            "fp32": "float32",
            "fp16": "float16",
            "dynamicrange": "dynamic",
            "int16": "int16x8",
            "fullint8": "int8",
            "fullinteger": "int8",
        }
        text = aliases.get(text, text)
        for recipe in cls:
            if recipe.value.replace("-", "") == text:
                return recipe
        names = [r.value for r in cls]
        close = difflib.get_close_matches(str(value), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise RecipeError(f"unknown TFLite recipe {value!r}", hint=f"{hint}choose one of: {', '.join(names)}")

    @property
    def needs_calibration(self) -> bool:
        return self in (Recipe.INT8, Recipe.INT16X8)


@dataclass(frozen=True)
class Tolerance:
    """What an export must achieve against the source model on held-out inputs.

    ``min_agreement``: fraction of inputs whose top-1 class matches (classifier outputs only).
    ``max_relative_error``: max |exported - source| divided by the source outputs' peak |value|.
    """

    min_agreement: float
    max_relative_error: float

    def __post_init__(self):
        if not 0.0 <= self.min_agreement <= 1.0:
            raise RecipeError(f"min_agreement must be within 0..1, got {self.min_agreement}")
        if self.max_relative_error <= 0:
            raise RecipeError(f"max_relative_error must be positive, got {self.max_relative_error}")


# Stated per recipe (README "Recipes"); chosen from measurements on the zoo models and MobileNetV2.
DEFAULT_TOLERANCES = {
    Recipe.FLOAT32: Tolerance(min_agreement=0.99, max_relative_error=1e-4),
    Recipe.FLOAT16: Tolerance(min_agreement=0.97, max_relative_error=2e-2),
    Recipe.DYNAMIC: Tolerance(min_agreement=0.90, max_relative_error=0.15),
    Recipe.INT8: Tolerance(min_agreement=0.85, max_relative_error=0.25),
    Recipe.INT16X8: Tolerance(min_agreement=0.90, max_relative_error=0.15),
}

IO_DTYPES = ("uint8", "int8", "float32")


def default_io_dtype(task: str) -> str:
    """The int8 recipe's input/output type when none is asked for: what MediaPipe Tasks accepts.

    Its AudioClassifier takes only float16/float32 input ("Requested one of these types:
    float16/float32, got UINT8"), so an audio model quantizes inside the graph and keeps float
    samples at its boundary; its image tasks take uint8 or float32 (not int8), so image models get
    uint8, the smaller and faster of the two. Text models take integer token ids either way.
    """
    return "float32" if str(getattr(task, "value", task)) == "audio-classifier" else "uint8"


@dataclass(frozen=True)
class RecipeConfig:
    """A recipe with its options, validated on creation.

    Args:
        recipe: the :class:`Recipe` (or its name).
        io_dtype: for ``int8`` only: the input/output type, ``uint8``, ``int8`` or ``float32``
            (quantize inside the graph). None: the default for the model's task, from
            :func:`default_io_dtype` (float32 for audio, uint8 otherwise), set by the exporter.
        calibration_samples: how many calibration inputs to use at most.
        verification_samples: how many held-out inputs to compare on at most.
        tolerance: what the export must achieve; defaults to the recipe's stated tolerance.
    """

    recipe: Recipe
    io_dtype: str | None = None
    calibration_samples: int = 300
    verification_samples: int = 100
    tolerance: Tolerance | None = field(default=None)

    def __post_init__(self):
        object.__setattr__(self, "recipe", Recipe.parse(self.recipe))
        if self.io_dtype is not None and self.recipe is not Recipe.INT8:
            raise RecipeError(
                f"io_dtype={self.io_dtype!r} applies only to the int8 recipe, not {self.recipe.value}",
                hint="drop --io-dtype, or use --quantize int8",
            )
        if self.io_dtype is not None and self.io_dtype not in IO_DTYPES:
            raise RecipeError(f"io_dtype must be one of {IO_DTYPES}, got {self.io_dtype!r}")
        if self.calibration_samples < 1 or self.verification_samples < 1:
            raise RecipeError("calibration_samples and verification_samples must be positive")
        if self.tolerance is None:
            object.__setattr__(self, "tolerance", DEFAULT_TOLERANCES[self.recipe])

    def for_task(self, task: str) -> RecipeConfig:
        """This config with the int8 input/output type decided for a model of ``task`` (see
        :func:`default_io_dtype`); an explicit ``io_dtype`` and other recipes are returned unchanged."""
        if self.recipe is not Recipe.INT8 or self.io_dtype is not None:
            return self
        return replace(self, io_dtype=default_io_dtype(task))

    def check_model(self, input_dtypes: list[str], has_calibration: bool) -> None:
        """Refuse combinations that cannot work for a model with these input dtypes.

        Raises:
            RecipeError: with the reason and what to do instead.
        """
        integer_inputs = [d for d in input_dtypes if d.startswith(("int", "uint"))]
        if self.recipe is Recipe.INT16X8 and integer_inputs:
            raise RecipeError(
                "int16x8 cannot quantize a model with integer inputs (token ids): the TFLite converter "
                "needs float min/max for every input and rejects it",
                hint="use --quantize int8 or dynamic for text models",
            )
        if self.recipe.needs_calibration and not has_calibration:
            raise RecipeError(
                f"the {self.recipe.value} recipe needs calibration data to choose activation ranges",
                hint="pass --calibration PATH (a folder of images or WAV files, a text file of lines, or a .npy)",
            )
        if self.recipe is Recipe.INT8 and integer_inputs and self.io_dtype not in (None, "int8", "uint8", "float32"):
            raise RecipeError(f"unsupported io_dtype {self.io_dtype!r}")
