"""Core ML export recipes as data: an enum, a validated config, deployment targets and tolerances.

Everything that can be refused before conversion is refused here, before coremltools is imported.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum

from edgekit.errors import RecipeError

from ..recipes import Tolerance

# Core ML specification version each deployment target brings (ML Programs start at 6).
# macOS and iOS releases of the same year share the version, so either name can be given.
DEPLOYMENT_TARGETS = {
    "iOS15": 6,
    "macOS12": 6,
    "iOS16": 7,
    "macOS13": 7,
    "iOS17": 8,
    "macOS14": 8,
    "iOS18": 9,
    "macOS15": 9,
}
DEFAULT_DEPLOYMENT_TARGET = "iOS15"
COMPUTE_PRECISIONS = ("float16", "float32")
# coremltools leaves weight tensors with at most this many elements uncompressed (its default).
DEFAULT_WEIGHT_THRESHOLD = 2048


def parse_deployment_target(value: str) -> str:
    """Canonical name of a deployment target (``ios16`` → ``iOS16``).

    Raises:
        RecipeError: not one this version of edgekit knows, with the list.
    """
    text = str(value).strip().lower().replace(" ", "").replace("_", "")
    for name in DEPLOYMENT_TARGETS:
        if name.lower() == text:
            return name
    raise RecipeError(f"unknown deployment target {value!r}", hint=f"choose one of: {', '.join(DEPLOYMENT_TARGETS)}")


class CoreMLRecipe(str, Enum):
    """Core ML export recipes: compute precision, or weight compression on top of float16 compute."""

    FLOAT32 = "float32"  # float32 weights and compute
    FLOAT16 = "float16"  # float16 weights and compute (the Core ML default)
    INT8 = "int8"  # int8 weights, linear symmetric per output channel; decompressed at load
    PALETTIZE8 = "palettize8"  # weights as 8-bit indices into a 256-entry table (k-means)
    PALETTIZE6 = "palettize6"  # 64-entry table
    PALETTIZE4 = "palettize4"  # 16-entry table

    @classmethod
    def parse(cls, value: str | CoreMLRecipe) -> CoreMLRecipe:
        """The recipe named by ``value`` (case and dashes ignored; fp16, pal4 … accepted).

        Raises:
            RecipeError: unknown name, with the closest match.
        """
        if isinstance(value, CoreMLRecipe):
            return value
        text = str(value).strip().lower().replace("-", "").replace("_", "")
        aliases = {"fp32": "float32", "fp16": "float16", "linear8": "int8", "linearint8": "int8"}
        aliases.update({f"pal{bits}": f"palettize{bits}" for bits in (4, 6, 8)})
        text = aliases.get(text, text)
        for recipe in cls:
            if recipe.value == text:
                return recipe
        names = [r.value for r in cls]
        close = difflib.get_close_matches(str(value), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise RecipeError(f"unknown Core ML recipe {value!r}", hint=f"{hint}choose one of: {', '.join(names)}")

    @property
    def compression(self) -> str | None:
        """``"linear"``, ``"palettize"`` or None (no weight compression)."""
        if self is CoreMLRecipe.INT8:
            return "linear"
        return "palettize" if self.value.startswith("palettize") else None

    @property
    def nbits(self) -> int | None:
        """Bits per compressed weight (None for the float recipes)."""
        return {"int8": 8, "palettize8": 8, "palettize6": 6, "palettize4": 4}.get(self.value)

    @property
    def minimum_target(self) -> str:
        """Oldest deployment target that can run the recipe.

        Compressed weights are ``constexpr_*`` ops, which Core ML has only from iOS 16 / macOS 13.
        """
        return "iOS16" if self.compression else DEFAULT_DEPLOYMENT_TARGET


@dataclass(frozen=True)
class CoreMLTolerance(Tolerance):
    """A :class:`Tolerance`, plus an optional bound on the largest absolute output error."""

    max_abs_error: float | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.max_abs_error is not None and self.max_abs_error <= 0:
            raise RecipeError(f"max_abs_error must be positive, got {self.max_abs_error}")


# Stated per recipe (docs/coreml.md "Tolerances"), checked against the NumPy reference evaluation of
# the saved package. float32 must match to 1e-4 absolute. float16 computes every activation in
# float16; its bound is the TFLite float16 one (measured: 2.5e-3 on the digits CNN). The compressed
# recipes add weight error on top; their bounds are about 1.2-1.5x the worst relative error measured
# on the trained digits CNN with every layer compressed (--weight-threshold 0): int8 0.11,
# palettize8 0.012, palettize6 0.20, palettize4 0.34 (agreement 100, 100, 98, 96 %).
DEFAULT_TOLERANCES = {
    CoreMLRecipe.FLOAT32: CoreMLTolerance(min_agreement=0.99, max_relative_error=1e-4, max_abs_error=1e-4),
    CoreMLRecipe.FLOAT16: CoreMLTolerance(min_agreement=0.97, max_relative_error=2e-2),
    CoreMLRecipe.INT8: CoreMLTolerance(min_agreement=0.95, max_relative_error=0.15),
    CoreMLRecipe.PALETTIZE8: CoreMLTolerance(min_agreement=0.95, max_relative_error=0.10),
    CoreMLRecipe.PALETTIZE6: CoreMLTolerance(min_agreement=0.90, max_relative_error=0.25),
    CoreMLRecipe.PALETTIZE4: CoreMLTolerance(min_agreement=0.85, max_relative_error=0.40),
}


@dataclass(frozen=True)
class CoreMLConfig:
    """A Core ML recipe with its options, validated on creation.

    Args:
        recipe: the :class:`CoreMLRecipe` (or its name).
        compute_precision: ``float16`` or ``float32``. The float recipes fix it; the compressed
            recipes default to ``float16`` (weights are decompressed to it at load).
        deployment_target: oldest OS the package must run on (``iOS15``, ``iOS16``, … or the macOS
            names). Default: iOS15, or the recipe's minimum when that is newer (iOS16 for compression).
        weight_threshold: compressed recipes only: weight tensors with at most this many elements
            stay uncompressed (coremltools' default 2048 skips small layers; 0 compresses all).
        verification_samples: how many inputs to compare on at most.
        tolerance: what the export must achieve; defaults to the recipe's stated tolerance.
    """

    recipe: CoreMLRecipe
    compute_precision: str | None = None
    deployment_target: str | None = None
    weight_threshold: int | None = None
    verification_samples: int = 100
    tolerance: CoreMLTolerance | None = None

    def __post_init__(self):
        recipe = CoreMLRecipe.parse(self.recipe)
        object.__setattr__(self, "recipe", recipe)
        self._resolve_precision(recipe)
        self._resolve_target(recipe)
        if recipe.compression is None and self.weight_threshold is not None:
            raise RecipeError(
                f"weight_threshold applies only to the compressed recipes (int8, palettize*), not {recipe.value}",
                hint="drop --weight-threshold, or use --quantize int8 / palettize8 / palettize6 / palettize4",
            )
        if recipe.compression is not None:
            threshold = DEFAULT_WEIGHT_THRESHOLD if self.weight_threshold is None else self.weight_threshold
            if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
                raise RecipeError(f"weight_threshold must be a whole number >= 0, got {self.weight_threshold!r}")
            object.__setattr__(self, "weight_threshold", threshold)
        if self.verification_samples < 1:
            raise RecipeError("verification_samples must be positive")
        if self.tolerance is None:
            object.__setattr__(self, "tolerance", DEFAULT_TOLERANCES[recipe])

    def _resolve_precision(self, recipe: CoreMLRecipe) -> None:
        precision = self.compute_precision
        if precision is not None and precision not in COMPUTE_PRECISIONS:
            raise RecipeError(f"compute precision must be one of {', '.join(COMPUTE_PRECISIONS)}, got {precision!r}")
        fixed = recipe.value if recipe.compression is None else None
        if fixed and precision and precision != fixed:
            raise RecipeError(
                f"the {recipe.value} recipe computes in {fixed}; compute precision {precision} contradicts it",
                hint=f"use --quantize {precision} (or drop --compute-precision)",
            )
        object.__setattr__(self, "compute_precision", precision or fixed or "float16")

    def _resolve_target(self, recipe: CoreMLRecipe) -> None:
        if self.deployment_target is None:
            object.__setattr__(self, "deployment_target", recipe.minimum_target)
            return
        target = parse_deployment_target(self.deployment_target)
        if DEPLOYMENT_TARGETS[target] < DEPLOYMENT_TARGETS[recipe.minimum_target]:
            raise RecipeError(
                f"the {recipe.value} recipe needs deployment target {recipe.minimum_target} (macOS13) or newer: "
                f"Core ML reads compressed weights only from iOS 16; {target} was given",
                hint=f"pass --deployment-target {recipe.minimum_target} (or newer), or use --quantize float16",
            )
        object.__setattr__(self, "deployment_target", target)

    @property
    def specification_version(self) -> int:
        """The Core ML specification version of the deployment target."""
        return DEPLOYMENT_TARGETS[self.deployment_target]
