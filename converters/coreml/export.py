"""Keras 3 / SavedModel → Core ML ``.mlpackage`` (ML Program) in a recipe, verified, written atomically.

Over 400 lines: the exporter with its verification, accuracy and report rows; conversion is graph.py and
recipes.py, the reference evaluator reference.py.

Every export is checked before it is written: the saved package is evaluated with edgekit's NumPy
reference evaluator (and with Core ML itself on macOS) on held-out inputs and compared with the
source model, and the result is one export-report row, as for TFLite. Just over 400 lines: convert,
verify and write-or-refuse read as one flow; the shared verdict (issue 15 point 4) will shorten it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import edgekit
from edgekit.backends.coreml import CARD_KEY, VOCABULARY_KEY, load_coreml, package_size
from edgekit.errors import OutputPathError, VerificationError
from edgekit.io import probe_prefix, remove_leftovers, staging_dir
from edgekit.metadata import ModelCard

from .. import normalization
from ..progress import Progress
from ..tflite import CardOptions, Exporter
from ..verify import Comparison, ReportRow, compare, latency_ms
from . import graph
from .recipes import CoreMLConfig, CoreMLRecipe
from .reference import load_reference


def check_package_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check that a ``.mlpackage`` can be written at ``path`` before any long work starts.

    Raises:
        OutputPathError: wrong suffix, missing or unwritable folder, or the package exists and
            ``overwrite`` is False.
    """
    out = Path(path)
    if out.suffix.lower() != ".mlpackage":
        raise OutputPathError(
            f"a Core ML package must end in .mlpackage, got {str(out)!r}",
            hint=f"use -o {out.with_suffix('.mlpackage')}",
        )
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise OutputPathError(
            f"output folder {str(folder)!r} does not exist", hint=f"create it first (mkdir -p {folder})"
        )
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{str(out)!r} exists and is a file, not a package", hint="choose another -o path")
    if out.exists() and not overwrite:
        raise OutputPathError(f"{str(out)!r} already exists", hint="pass --overwrite to replace it")
    try:
        probe = tempfile.mkdtemp(prefix=probe_prefix(), dir=folder)
    except OSError as exc:
        raise OutputPathError(
            f"cannot write to folder {str(folder)!r}: {exc.strerror or exc}", hint="choose a writable folder with -o"
        ) from exc
    os.rmdir(probe)
    remove_leftovers(folder)
    return out


@contextlib.contextmanager
def atomic_package(path: Path) -> Iterator[Path]:
    """Yield a package path in a temporary folder next to ``path``; move it to ``path`` only if the
    block succeeds. A failure leaves ``path`` as it was (an old package stays whole)."""
    with staging_dir(path) as staging:
        package = staging / path.name
        yield package
        # A folder cannot be renamed over a non-empty folder: move the old one aside first.
        backup = staging / "previous"
        if path.exists():
            os.rename(path, backup)
        try:
            os.rename(package, path)
        except BaseException:
            if backup.exists():
                os.rename(backup, path)
            raise


@dataclass
class CoreMLExportResult:
    """One Core ML export: its export-report row and what went into it."""

    row: ReportRow
    path: Path | None
    comparison: Comparison  # NumPy reference evaluation vs the source
    predict_comparison: Comparison | None  # Core ML predict vs the source (macOS only)
    config: CoreMLConfig
    timings: dict[str, float]  # convert, compress, save, verify (seconds)
    compression: graph.CompressionStats | None
    notes: list[str] = field(default_factory=list)

    @property
    def export_seconds(self) -> float:
        """Conversion + compression + writing (verification excluded)."""
        return sum(self.timings.get(k, 0.0) for k in ("convert", "compress", "save"))


class CoreMLExporter:
    """Holds one source model, its card and verification data; exports it in as many recipes as asked.

    Card and data handling are the TFLite exporter's (one preprocessing spec for both formats).
    Core ML recipes need no calibration: data given is used only to verify.
    """

    def __init__(
        self,
        model: Any,
        card_options: CardOptions | None = None,
        verification_path: str | None = None,
        verification_samples: int = 100,
        show_progress: bool = True,
    ):
        self._base = Exporter(
            model,
            card_options,
            verification_path=verification_path,
            verification_samples=verification_samples,
            show_progress=show_progress,
        )
        self.source, self.card, self.notes = self._base.source, self._base.card, self._base.notes
        self.show_progress = show_progress
        self.plan = graph.plan_graph(self.source, self.card)
        self._converted: dict[tuple[str, str], graph.Converted] = {}
        self._inputs: list[np.ndarray] | None = None
        self._reference: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ data
    def prepare_data(self) -> None:
        """Verification inputs (image pixels rounded to whole values, as a camera gives) and the
        source's outputs on exactly those inputs."""
        if self._reference is not None:
            return
        self._base.prepare_data()
        arrays = [np.asarray(a) for a in self._base.verification_set.arrays]
        for index, planned in enumerate(self.plan.inputs):
            if planned.image is not None and self.card.image is not None:
                mean = np.asarray(self.card.image.mean, np.float32)
                std = np.asarray(self.card.image.std, np.float32)
                pixels = np.clip(np.rint(arrays[index] * std + mean), 0, 255)
                arrays[index] = ((pixels - mean) / std).astype(np.float32)
        self._inputs = arrays
        self._reference = self.source.predict(arrays)

    @property
    def accuracy(self):  # AccuracyCheck | None: labelled verification data, read by prepare_data
        return self._base.accuracy

    @property
    def verification_origin(self) -> str:
        return self._base.verification_set.origin if self._base.verification_set is not None else ""

    # ------------------------------------------------------------------ conversion
    def convert(self, config: CoreMLConfig) -> tuple[Any, dict[str, str], graph.CompressionStats | None, float]:
        """The recipe's MLModel (not saved yet), output renames, compression stats and conversion time.

        Conversions are shared between recipes with the same precision and target (int8 and the
        palettize recipes start from the same float16 program).
        """
        key = (config.compute_precision, config.deployment_target)
        if key not in self._converted:
            self._converted[key] = graph.convert(self.source, self.plan, config)
        converted = self._converted[key]
        model, stats = graph.compress(converted.model, config)
        return model, converted.renames, stats, converted.seconds

    def _package_card(self, config: CoreMLConfig) -> ModelCard:
        from edgekit.backends._coremltools import import_coremltools

        return self.card.replace(
            extra={
                **self.card.extra,
                "recipe": config.recipe.value,
                "compute_precision": config.compute_precision,
                "deployment_target": config.deployment_target,
                "weight_threshold": config.weight_threshold,
                "source": self.source.description,
                "converter": f"coremltools {import_coremltools().__version__}",
                "exported_by": f"edgekit {edgekit.__version__}",
            }
        )

    def _finish(self, model: Any, renames: dict[str, str], config: CoreMLConfig) -> Any:
        """Rename outputs and write the metadata apps and Xcode show; returns the model to save."""
        import coremltools as ct

        spec = model.get_spec()
        for old, new in renames.items():
            ct.utils.rename_feature(spec, old, new)
        final = ct.models.MLModel(spec, weights_dir=model.weights_dir)
        card = self._package_card(config)
        final.author = card.author
        final.license = card.license
        final.version = card.version
        final.short_description = card.description or (
            f"{card.name}: {card.task.value} exported by edgekit ({config.recipe.value})"
        )
        user = {CARD_KEY: card.to_json(), "edgekit.recipe": config.recipe.value}
        if card.text is not None:
            user[VOCABULARY_KEY] = "\n".join(card.text.vocabulary)
        for planned in self.plan.inputs:
            final.input_description[planned.name] = _describe_input(planned, card)
            if planned.image is not None:
                user["edgekit.image_scale"] = repr(planned.image.scale)
                user["edgekit.image_bias"] = ",".join(repr(b) for b in planned.image.bias)
                if planned.image.channel_multiplier is not None:
                    user["edgekit.image_channel_multiplier_in_graph"] = ",".join(
                        repr(m) for m in planned.image.channel_multiplier
                    )
        final.user_defined_metadata.update(user)
        if self.plan.labels is not None:
            final.output_description[graph.CLASS_LABEL] = "The most likely class label"
            final.output_description[graph.CLASS_PROBABILITIES] = "The probability of each class label"
        else:
            for key, name in zip(self.source.output_keys, self.plan.output_names):
                final.output_description[name] = f"Output {key} of the source model"
        return final

    # ------------------------------------------------------------------ verification
    def verify(self, package: Path) -> tuple[Comparison, Comparison | None, float | None]:
        """Compare the saved package with the source: reference evaluator always, Core ML on macOS.

        Returns:
            (reference comparison, Core ML predict comparison or None, predict p50 latency ms or None)
        """
        self.prepare_data()
        reference_model = load_reference(package)
        comparison = compare(self._reference, self._run(reference_model, "verifying (NumPy reference)"))
        if sys.platform != "darwin":
            return comparison, None, None
        model = load_coreml(package)
        predicted = compare(self._reference, self._run(model, "verifying (Core ML)"))
        sample = [a[:1] for a in self._inputs]
        return comparison, predicted, latency_ms(lambda: model.run(*sample))

    def _run(self, model: Any, title: str) -> dict[str, np.ndarray]:
        count = len(self._inputs[0])
        parts: list[list[np.ndarray]] = [[] for _ in model.outputs]
        with Progress(title, count, self.show_progress) as progress:
            for index in range(count):
                for part, value in zip(parts, model.run(*[a[index : index + 1] for a in self._inputs])):
                    part.append(value)
                progress.update()
        by_name = {spec.name: np.concatenate(part) for spec, part in zip(model.outputs, parts)}
        return {key: by_name[name] for key, name in zip(self.source.output_keys, self.plan.output_names)}

    # ------------------------------------------------------------------ the whole job
    def export(
        self, config: CoreMLConfig, output: str | os.PathLike, force: bool = False, overwrite: bool = True
    ) -> CoreMLExportResult:
        """Convert, compress, add metadata, save, verify, and move the package to ``output``.

        Raises:
            VerificationError: the export misses the recipe's tolerance (nothing is written unless
                ``force``); ``.row`` holds its export-report row.
            OutputPathError: ``output`` cannot be written (checked before any work).
        """
        output = check_package_path(output, overwrite=overwrite)
        self.prepare_data()
        timings: dict[str, float] = {}
        model, renames, stats, convert_seconds = self.convert(config)
        timings["convert"] = convert_seconds
        timings["compress"] = stats.seconds if stats else 0.0
        notes = [f"{config.recipe.value}: {stats.describe(config.weight_threshold)}"] if stats else []
        final = self._finish(model, renames, config)
        with atomic_package(output) as package:
            start = time.perf_counter()
            final.save(str(package))
            timings["save"] = time.perf_counter() - start
            size = package_size(package)
            start = time.perf_counter()
            comparison, predicted, latency = self.verify(package)
            timings["verify"] = time.perf_counter() - start
            reasons = _failures(comparison, config)
            if predicted is not None:
                reasons += _failures(predicted, config, "Core ML predict: ")
            # accuracy through the package's own metadata (the reference evaluator), as for TFLite files
            check = self.accuracy
            accuracy = check.of_file(package) if check else None
            lost = check.failure(accuracy, config.tolerance.min_agreement) if check else None
            reasons += [lost] if lost else []
            spec = normalization.spec_refusals(self.card)
            reasons += spec
            verdict = "ok"
            where = _locate(self, package, config) if reasons else None
            if reasons and not force:
                row = ReportRow(
                    config.recipe.value,
                    str(output),
                    size,
                    comparison,
                    latency,
                    "REFUSED: " + "; ".join(reasons),
                    self.verification_origin,
                    where,
                    accuracy=accuracy,
                )
                raise VerificationError(
                    f"Core ML {config.recipe.value} export not written: "
                    + "; ".join(reasons)
                    + f" (on {self.verification_origin}); {where.describe()}",
                    hint=normalization.SPEC_HINT if lost or spec else _retry_hint(config.recipe),
                ).with_row(row)
            if reasons:
                verdict = "FORCED: " + "; ".join(reasons)
        row = ReportRow(
            config.recipe.value,
            str(output),
            size,
            comparison,
            latency,
            verdict,
            self.verification_origin,
            where,
            accuracy=accuracy,
        )
        return CoreMLExportResult(row, output, comparison, predicted, config, timings, stats, notes)


def _locate(exporter: CoreMLExporter, package: Path, config: CoreMLConfig):
    """Where the package stops answering like the source, layer by layer (never raises)."""
    from ..divergence_coreml import locate_coreml, safely

    tolerance = config.tolerance.max_relative_error
    return safely(
        lambda: locate_coreml(
            exporter.source.keras_model, package, exporter._inputs, tolerance, exporter.plan.output_names
        ),
        tolerance,
    )


def _failures(comparison: Comparison, config: CoreMLConfig, prefix: str = "") -> list[str]:
    reasons = comparison.failures(config.tolerance)
    bound = config.tolerance.max_abs_error
    if bound is not None and comparison.max_abs_error > bound:
        reasons.append(f"max abs error {comparison.max_abs_error:.3g} is above the recipe's {bound:.3g}")
    return [prefix + reason for reason in reasons]


def _retry_hint(recipe: CoreMLRecipe) -> str:
    if recipe.compression is not None:
        return (
            "try a recipe with more bits, or a higher --weight-threshold to leave more layers uncompressed; "
            "--force writes it anyway"
        )
    if recipe is CoreMLRecipe.FLOAT16:
        return "try --quantize float32; --force writes it anyway"
    return "--force writes it anyway"


def _describe_input(planned: graph.InputPlan, card: ModelCard) -> str:
    if planned.image is not None and card.image is not None:
        image = card.image
        text = (
            f"{image.width}x{image.height} {image.color_order} image, pixels 0..255; the model computes "
            f"(pixel - mean) / std with mean {list(image.mean)} and std {list(image.std)}"
        )
        return text + (" (per-channel std applied inside the model)" if planned.image.channel_multiplier else "")
    if card.audio is not None:
        return f"{planned.shape[1]} mono samples at {card.audio.sample_rate_hz} Hz, float32 in [-1, 1]"
    if card.text is not None:
        return f"{planned.shape[1]} int32 token ids (vocabulary in the metadata, edgekit.vocabulary)"
    return f"{'int32' if planned.integer else 'float32'} array of shape {list(planned.shape)}"


def export_coreml(
    model: Any,
    recipe: str | CoreMLRecipe | CoreMLConfig = "float16",
    output: str | os.PathLike = "model.mlpackage",
    *,
    verification_path: str | None = None,
    card_options: CardOptions | None = None,
    force: bool = False,
    overwrite: bool = False,
    show_progress: bool = False,
) -> CoreMLExportResult:
    """Export ``model`` to a Core ML package in one recipe (the Python API behind ``--to coreml``).

    Args:
        model: a Keras model (Functional or Sequential), a .keras/.h5 file or a SavedModel folder.
        recipe: a recipe name, :class:`CoreMLRecipe` or :class:`CoreMLConfig`.
        output: the ``.mlpackage`` to write.
        verification_path: inputs to verify on (images/WAV folder, text file, .npy); random
            inputs otherwise.
        card_options: labels, task and preprocessing overrides (as for TFLite).
        force: write even if the export misses its tolerance.
        overwrite: replace an existing package.

    Returns:
        A :class:`CoreMLExportResult` with the export-report row.
    """
    config = recipe if isinstance(recipe, CoreMLConfig) else CoreMLConfig(CoreMLRecipe.parse(recipe))
    check_package_path(output, overwrite=overwrite)
    exporter = CoreMLExporter(
        model,
        card_options,
        verification_path,
        verification_samples=config.verification_samples,
        show_progress=show_progress,
    )
    return exporter.export(config, output, force=force, overwrite=overwrite)


__all__ = [
    "CoreMLConfig",
    "CoreMLExportResult",
    "CoreMLExporter",
    "CoreMLRecipe",
    "check_package_path",
    "export_coreml",
]
