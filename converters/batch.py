"""Several recipes of one model in one run: a recipe that fails never costs the others.

Every recipe is exported in turn. One that misses its tolerance (refused) or whose conversion
fails gets its export-report row with the reason and leaves no file; the others are written and
verified as usual. The result lists what happened to each recipe, so a script can tell which
files exist without parsing text (the CLI turns it into its exit status).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, MissingDependencyError, VerificationError

from .verify import ReportRow


@dataclass(frozen=True)
class RecipeOutcome:
    """What one recipe of a batch came to.

    ``result`` is the exporter's result (``ExportResult`` / ``CoreMLExportResult``) when the file was
    written; ``error`` is why not, otherwise (a ``VerificationError`` for a refused export).
    """

    recipe: str
    output: Path
    row: ReportRow
    result: Any = None
    error: Exception | None = None

    @property
    def written(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class BatchResult:
    """Every recipe's outcome, in the order asked."""

    outcomes: tuple[RecipeOutcome, ...]

    @property
    def written(self) -> list[RecipeOutcome]:
        return [outcome for outcome in self.outcomes if outcome.written]

    @property
    def failed(self) -> list[RecipeOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.written]

    @property
    def ok(self) -> bool:
        """True when every recipe was written."""
        return not self.failed

    def summary_error(self, what: str = "export(s)") -> VerificationError:
        """The one error the CLI prints when some recipes were not written (call only if not ``ok``)."""
        failed = self.failed
        names = "; ".join(f"{o.recipe} ({_short(o)})" for o in failed)
        written = ", ".join(str(o.output) for o in self.written) or "none"
        return VerificationError(
            f"{len(failed)} of {len(self.outcomes)} {what} not written: {names}",
            hint=f"written: {written}; see the report above (--force writes refused ones anyway)",
        )


def _short(outcome: RecipeOutcome) -> str:
    return "refused" if isinstance(outcome.error, VerificationError) else "failed"


def export_each(
    exporter: Any,
    configs: Sequence[Any],
    outputs: Sequence[str | os.PathLike],
    *,
    force: bool = False,
    overwrite: bool = True,
    on_outcome: Callable[[RecipeOutcome], None] | None = None,
) -> BatchResult:
    """Export ``configs[i]`` to ``outputs[i]`` with ``exporter`` (TFLite ``Exporter`` or ``CoreMLExporter``).

    Args:
        exporter: holds the source model, its card and data; its ``export(config, output, force,
            overwrite)`` writes one file atomically or raises.
        configs: one recipe config per output.
        outputs: where each goes.
        force: write exports that miss their tolerance anyway.
        overwrite: replace existing files.
        on_outcome: called after each recipe (the CLI prints its row there).

    Returns:
        A :class:`BatchResult`; failed recipes left no file.

    Raises:
        MissingDependencyError: a package needed by every recipe is missing (nothing to continue with).
    """
    outcomes = []
    prefetch = getattr(exporter, "prefetch", None)  # TFLite: int16x8's conversion starts now, beside the others
    if prefetch is not None and len(configs) > 1:
        # An optimization only: each recipe still converts (and fails) on its own below.
        with contextlib.suppress(Exception):
            prefetch(configs)
    for config, output in zip(configs, outputs):
        recipe = config.recipe.value
        try:
            result = exporter.export(config, output, force=force, overwrite=overwrite)
            outcome = RecipeOutcome(recipe, Path(output), result.row, result=result)
        except MissingDependencyError:
            raise
        except VerificationError as exc:
            row = exc.row or _failed_row(recipe, output, "REFUSED: " + str(exc))
            outcome = RecipeOutcome(recipe, Path(output), row, error=exc)
        except EdgekitError as exc:
            outcome = RecipeOutcome(recipe, Path(output), _failed_row(recipe, output, f"FAILED: {exc}"), error=exc)
        except Exception as exc:  # a converter crash in one recipe must not lose the others
            message = f"FAILED: internal error ({type(exc).__name__}: {exc})"
            outcome = RecipeOutcome(recipe, Path(output), _failed_row(recipe, output, message), error=exc)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return BatchResult(tuple(outcomes))


def _failed_row(recipe: str, output: str | os.PathLike, verdict: str) -> ReportRow:
    return ReportRow(recipe, str(output), None, None, None, verdict)


def export_recipes(
    model: Any,
    recipes: str | Sequence[str] = "all",
    output_folder: str | os.PathLike = ".",
    *,
    to: str = "tflite",
    calibration_path: str | None = None,
    verification_path: str | None = None,
    card_options: Any = None,
    force: bool = False,
    overwrite: bool = True,
    show_progress: bool = False,
    exporter_class: Any = None,
) -> BatchResult:
    """Export ``model`` in several recipes (the Python API behind ``edgekit convert --quantize all``).

    Args:
        model: a Keras model, a .keras/.h5 file or a SavedModel folder.
        recipes: ``"all"``, a comma-separated string or a list of recipe names.
        output_folder: existing folder; files are named ``<name>_<recipe>.tflite`` (``.mlpackage``).
        to: ``"tflite"`` or ``"coreml"``.
        calibration_path: calibration data (TFLite int8/int16x8); Core ML verifies on it.
        verification_path: inputs to verify on.
        card_options: labels, task and preprocessing overrides (``converters.tflite.CardOptions``).
        force: write exports that miss their tolerance anyway.
        overwrite: replace existing files.
        show_progress: print progress bars.
        exporter_class: TFLite only: a subclass of ``converters.tflite.Exporter`` (e.g. one converting a recipe
            its own way: the audio trainer's int8 keeps the log-mel front end in float).

    Returns:
        A :class:`BatchResult`: one :class:`RecipeOutcome` per recipe, written or not, with its row.

    Raises:
        RecipeError, CalibrationError, OutputPathError: problems found before any conversion.
    """
    from edgekit.errors import OutputPathError
    from edgekit.io import check_output_path

    folder = Path(output_folder)
    if not folder.is_dir():
        raise OutputPathError(f"output folder {str(folder)!r} does not exist", hint=f"mkdir -p {folder}")
    name = card_options.name if card_options is not None and card_options.name else getattr(model, "name", "model")
    if isinstance(model, (str, os.PathLike)):
        name = Path(str(model).rstrip("/")).stem
    if to == "coreml":
        from .coreml import CoreMLExporter, check_package_path
        from .coreml.recipes import CoreMLConfig, CoreMLRecipe

        names = _names(recipes, [r.value for r in CoreMLRecipe])
        configs = [CoreMLConfig(n) for n in names]
        outputs = [check_package_path(folder / f"{name}_{n}.mlpackage", overwrite=overwrite) for n in names]
        exporter = CoreMLExporter(
            model, card_options, verification_path or calibration_path, show_progress=show_progress
        )
    else:
        from .recipes import Recipe, RecipeConfig
        from .tflite import Exporter

        names = _names(recipes, [r.value for r in Recipe])
        configs = [RecipeConfig(n) for n in names]
        outputs = [check_output_path(folder / f"{name}_{n}.tflite", overwrite=overwrite) for n in names]
        exporter = (exporter_class or Exporter)(
            model, card_options, calibration_path, verification_path, show_progress=show_progress
        )
        for config in configs:
            exporter.check(config)
    exporter.prepare_data()
    return export_each(exporter, configs, outputs, force=force, overwrite=overwrite)


def _names(recipes: str | Sequence[str], every: list[str]) -> list[str]:
    if isinstance(recipes, str):
        if recipes.strip().lower() == "all":
            return every
        return [name.strip() for name in recipes.split(",") if name.strip()]
    return list(recipes)
