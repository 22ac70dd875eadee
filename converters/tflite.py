"""Keras 3 / SavedModel → .tflite in a recipe, with the model card embedded, verified, written atomically.

Over 400 lines because it still holds the card builder beside the exporter; it shrinks when the card,
calibration and verdict move to shared modules (issue 15 point 4, converters by target).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import edgekit
from edgekit.backends._quiet import quiet_tensorflow
from edgekit.errors import CalibrationError, InvalidModelError, MetadataError, VerificationError
from edgekit.io import atomic_path, check_output_path, read_text_lines
from edgekit.media import DEFAULT_SAMPLE_RATE_HZ
from edgekit.metadata import AudioSpec, ImageSpec, ModelCard, Task, TextSpec, embed_card

from . import calibration, divergence, normalization
from .converter_settings import configure_converter, representative_data
from .evaluate import AccuracyCheck, OutputsMemo, eval_workers, remember
from .grayscale import needs_rgb_input, to_rgb_input
from .prefetch import PREFETCHED, Prefetched
from .progress import Progress
from .recipes import Recipe, RecipeConfig
from .source import SourceModel, import_tensorflow, load_source
from .text_card import check_text_spec
from .verify import Comparison, ReportRow, compare, latency_ms


@dataclass
class CardOptions:
    """What the user says about the model (CLI flags); None means 'infer it'."""

    task: str | None = None
    labels: list[str] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    color_order: str | None = None
    resize_mode: str | None = None
    resampling: str | None = None  # "area" keeps the old resampler (recorded in the card); default MediaPipe's
    image_size: tuple[int, int] | None = None
    sample_rate_hz: int | None = None
    hop_samples: int | None = None
    vocabulary: list[str] | None = None
    max_length: int | None = None
    name: str | None = None
    # A complete spec given by a build script overrides everything inferred or set above for that kind.
    image_spec: ImageSpec | None = None
    audio_spec: AudioSpec | None = None
    text_spec: TextSpec | None = None
    keep_grayscale: bool = False  # a 1-channel image model keeps its grey input (default: RGB, see grayscale.py)
    description: str = ""
    author: str = ""
    license: str = ""
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def read_labels(path: str | Path) -> list[str]:
    """One label per line; blank lines ignored."""
    path = Path(path)
    lines = read_text_lines(path, "labels file", hint="give a text file with one class name per line")
    labels = [line.strip() for line in lines if line.strip()]
    if not labels:
        raise MetadataError(f"labels file {path} is empty", hint="write one class name per line, in output order")
    return labels


def build_card(source: SourceModel, options: CardOptions, notes: list[str]) -> ModelCard:
    """The card: inferred from the model, then overridden by the user's options."""
    card, guessed = source.guess_card()
    notes.extend(guessed)
    task = Task.parse(options.task) if options.task else card.task
    image = card.image
    first = source.inputs[0]
    if image is not None or (task is Task.IMAGE_CLASSIFIER and len(first.shape) == 4):
        base = image or ImageSpec(
            width=first.shape[2] or 224, height=first.shape[1] or 224, channels=first.shape[3] or 3
        )
        width, height = options.image_size or (base.width, base.height)
        image = ImageSpec(
            width=width,
            height=height,
            channels=base.channels,
            color_order=options.color_order or base.color_order,
            resize_mode=options.resize_mode or base.resize_mode,
            mean=options.mean if options.mean is not None else base.mean,
            std=options.std if options.std is not None else base.std,
            resampling=options.resampling or base.resampling,
        )
    audio = text = None
    if task is Task.AUDIO_CLASSIFIER and options.audio_spec is None:
        window = int(first.shape[1] or DEFAULT_SAMPLE_RATE_HZ)  # 1 s
        rate = options.sample_rate_hz or DEFAULT_SAMPLE_RATE_HZ
        if not options.sample_rate_hz:
            notes.append(f"sample rate not given: assumed {rate} Hz (--sample-rate)")
        audio = AudioSpec(sample_rate_hz=rate, window_samples=window, hop_samples=options.hop_samples or window // 2)
    if (task is Task.TEXT_CLASSIFIER or options.vocabulary) and options.text_spec is None:
        if not options.vocabulary:
            raise MetadataError(
                "a text model needs its vocabulary to embed the tokenizer",
                hint="pass --vocab FILE (one token per line, line number = id)",
            )
        length = options.max_length or (first.shape[1] if len(first.shape) == 2 else None) or 1
        text = TextSpec(vocabulary=tuple(options.vocabulary), max_length=length)
    image = options.image_spec or (None if options.audio_spec or options.text_spec else image)
    if image is not None and image.resampling != "mediapipe":
        notes.append(
            f"resampling {image.resampling} (recorded in the card): edgekit resizes with it, but MediaPipe and "
            "other runtimes resample bilinearly, so their scores will differ on images not at the model's size"
        )
    audio = options.audio_spec or audio
    text = options.text_spec or text
    extra = dict(options.extra)
    if image is not None:
        given = options.image_spec is not None or options.mean is not None or options.std is not None
        extra |= normalization.note_preprocessing(source.graph_normalization(), image, given, notes)
    if text is not None:
        check_text_spec(text, first, notes)
    if image is not None and len(set(image.mean)) * len(set(image.std)) > 1:
        notes.append(
            "per-channel mean/std: edgekit and Android read it, but MediaPipe Tasks accepts only one "
            "value for all channels (fold it into the model to serve MediaPipe)"
        )
    labels = tuple(options.labels or ())
    outputs = source.output_shapes()
    if task is Task.OBJECT_DETECTOR:
        # An SSD detector's outputs are boxes (anchors x 4 + keypoints) and scores (anchors x classes), in
        # either order: one of them must have a score per label.
        widths = sorted({shape[-1] for shape in outputs if shape and shape[-1]})
        if labels and widths and len(labels) not in widths:
            raise MetadataError(
                f"the labels file has {len(labels)} labels but no output of the detector has that many classes "
                f"(last dimensions: {', '.join(map(str, widths))})",
                hint="give one label per score column of the detector, in order",
            )
    else:
        classes = outputs[0][-1] if outputs and outputs[0] else None
        if labels and classes and len(labels) != classes:
            raise MetadataError(
                f"the labels file has {len(labels)} labels but the model's first output has {classes} classes",
                hint="give one label per output class, in order",
            )
    if task in (Task.IMAGE_CLASSIFIER, Task.AUDIO_CLASSIFIER, Task.TEXT_CLASSIFIER) and not labels:
        notes.append("no --labels given: results will show class numbers")
    return ModelCard(
        task=task,
        name=options.name or "model",
        labels=labels,
        image=image,
        audio=audio,
        text=text,
        description=options.description,
        author=options.author,
        license=options.license,
        version=options.version,
        extra=extra,
    )


@dataclass
class ExportResult:
    row: ReportRow
    path: Path | None
    comparison: Comparison | None
    notes: list[str]
    preprocessing: str = ""  # one line: the image mean/std written, and whether inferred, given or assumed
    preprocessing_assumed: bool = False


class Exporter:
    """Holds one source model, its card and its data; exports it in as many recipes as asked."""

    def __init__(
        self,
        model: Any,
        card_options: CardOptions | None = None,
        calibration_path: str | None = None,
        verification_path: str | None = None,
        calibration_samples: int = 300,
        verification_samples: int = 100,
        show_progress: bool = True,
    ):
        """Load the source and build its card; data is read later, by :meth:`prepare_data`."""
        self.notes: list[str] = []
        self.show_progress = show_progress
        self.source = load_source(model)
        card_options = card_options or CardOptions()
        self.card = build_card(self.source, card_options, self.notes)
        if needs_rgb_input(self.card, card_options.keep_grayscale):
            self.source, self.card = to_rgb_input(self.source, self.card, self.notes)
        self.calibration_path = calibration_path
        self.verification_path = verification_path
        self.calibration_samples = calibration_samples
        self.verification_samples = verification_samples
        self.calibration_set: calibration.Dataset | None = None
        self.verification_set: calibration.Dataset | None = None
        self.reference: dict[str, np.ndarray] | None = None
        self.accuracy: AccuracyCheck | None = None
        self.outputs_memo: dict[bytes, list[np.ndarray]] = OutputsMemo()  # of the file being verified (see verify)
        self.prefetched = Prefetched()  # conversions running in a second process (see prefetch)

    def check(self, config: RecipeConfig) -> None:
        """Refuse a recipe that cannot work for this model, before any data is read or converted."""
        config.check_model([i.dtype for i in self.source.inputs], bool(self.calibration_path))

    def prepare_data(self) -> None:
        """Read calibration and verification data once, and the source's reference outputs."""
        if self.reference is not None:
            return
        if self.calibration_path:
            limit = self.calibration_samples + self.verification_samples
            with Progress("reading calibration data", limit, self.show_progress) as progress:
                data = calibration.load_dataset(self.calibration_path, self.card, self.source.inputs, limit, progress)
                progress.total = progress.done = len(data)
            self.calibration_set, self.verification_set = calibration.split(data, self.verification_samples)
            if len(self.calibration_set) == 0:
                self.calibration_set = data
            normalization.check_npy_data(self.calibration_path, data, self.card, self.notes)
            warning = calibration.warn_if_few(self.calibration_set)
            if warning:
                self.notes.append("warning: " + warning)
        if self.verification_path:
            self.verification_set = calibration.load_dataset(
                self.verification_path, self.card, self.source.inputs, self.verification_samples
            )
            normalization.check_npy_data(self.verification_path, self.verification_set, self.card, self.notes)
        if self.verification_set is None or len(self.verification_set) == 0:
            self.verification_set = calibration.random_inputs(self.card, self.source.inputs, 16)
            self.notes.append("verifying on random inputs: give --calibration or --verify-data for real ones")
        self.reference = self.source.predict(self.verification_set.arrays)
        batch_note = divergence.batch_dependence(
            self.source.keras_model, self.verification_set.arrays, list(self.reference.values())
        )
        self.notes.extend([batch_note] if batch_note else [])
        self.accuracy = AccuracyCheck(
            self.source, self.card, self.verification_path or self.calibration_path, self.notes
        )
        for key, value in self.reference.items():
            if not np.isfinite(value).all():
                raise VerificationError(
                    f"the source model itself outputs NaN or Inf (output {key!r}) on the verification inputs",
                    hint="check the model and its preprocessing",
                )

    # ------------------------------------------------------------------ conversion
    def convert(self, config: RecipeConfig) -> bytes:
        """Run the TFLite converter for ``config``; returns the flatbuffer bytes (no metadata yet)."""
        config = config.for_task(self.card.task)
        self.check(config)
        self.prepare_data()
        recipe = config.recipe
        calibration_arrays = self.calibration_set.arrays if self.calibration_set is not None else None
        done = self.prefetched.collect(config, calibration_arrays, self.show_progress)
        if done is not None:
            return done
        converter = self.source.tflite_converter()
        progress = None
        representative = None
        if recipe.needs_calibration:
            dataset = self.calibration_set
            progress = Progress(
                f"calibrating {recipe.value}", min(len(dataset), config.calibration_samples), self.show_progress
            )
            representative = self._representative(dataset, config.calibration_samples, progress)
        configure_converter(converter, config, representative)
        try:
            with quiet_tensorflow() as log:
                if progress is not None:
                    with progress:
                        return bytes(converter.convert())
                return bytes(converter.convert())
        except Exception as exc:
            detail = _converter_error(exc, log)
            layers = self._layers_with_unsupported_op(detail)
            if layers:
                raise InvalidModelError(
                    f"the TFLite converter failed for recipe {recipe.value}: {detail.rstrip('.')}, in layer "
                    + ", ".join(layers[:3])
                    + (f" and {len(layers) - 3} more" if len(layers) > 3 else ""),
                    hint=f"recipe {recipe.value} cannot quantize that layer: compute it outside the model "
                    "(e.g. as preprocessing) or choose another recipe (int8, dynamic, float16)",
                ) from exc
            raise InvalidModelError(
                f"the TFLite converter failed for recipe {recipe.value}: {detail}",
                hint="see the message above; --debug shows the converter's full log",
            ) from exc

    def _layers_with_unsupported_op(self, detail: str) -> list[str]:
        """For "not yet supported for op: 'FLOOR_DIV'": the Keras layers holding that operator (found in a float
        conversion, whose tensors keep the layers' names); [] when it cannot be told."""
        match = re.search(r"not (?:yet )?supported for op:? '?([A-Z0-9_]+)'?", detail)
        if match is None or self.source.keras_model is None:
            return []
        try:
            with quiet_tensorflow():
                content = bytes(self.source.tflite_converter().convert())
            return divergence.layers_with_op(self.source.keras_model, content, match.group(1))
        except Exception:  # a diagnosis only: the converter's own message stands without it
            return []

    def prefetch(self, configs: Iterable[RecipeConfig]) -> None:
        """Start converting int16x8 in a second process now, if it is among ``configs`` (see
        ``converters.prefetch``): its calibration holds Python's lock on one core for a long time
        (EfficientNet-Lite0: 39 s), so it runs beside the other recipes instead of after them."""
        configs = [config.for_task(self.card.task) for config in configs]
        wanted = [c for c in configs if c.recipe in PREFETCHED and type(self).convert is Exporter.convert]
        if not wanted:
            return
        self.prepare_data()
        folder = self.source.saved_model_folder()
        if folder is not None and self.calibration_set is not None:
            for config in wanted:
                self.prefetched.start(folder, config, self.calibration_set.arrays)

    @staticmethod
    def _representative(dataset: calibration.Dataset, limit: int, progress: Progress | None):
        return representative_data(dataset.arrays, limit, progress)

    # ------------------------------------------------------------------ verification
    def verify(self, path: Path) -> tuple[Comparison, float]:
        """Run the exported file on the held-out inputs; compare with the source; time it at 1 thread.

        The inputs are shared out between single-thread interpreters, one per core up to 4, run in threads
        (see ``evaluate.evaluate_file``: each input's outputs are those of a lone interpreter).
        """
        from concurrent.futures import ThreadPoolExecutor

        models = [edgekit.load(path, num_threads=1)]
        try:
            arrays = self._match_inputs(models[0])
            count = len(arrays[0])
            models += [edgekit.load(path, num_threads=1) for _ in range(min(eval_workers(), count) - 1)]
            # The accuracy check then runs the same file through the task: inputs that reach the
            # interpreter as the same tensors are not run again (int16x8's reference kernels: 433 ms each).
            self.outputs_memo = OutputsMemo()
            for model in models:
                remember(model, self.outputs_memo)
            results: list[list[np.ndarray] | None] = [None] * count
            with Progress("verifying", count, self.show_progress) as progress:
                lock = threading.Lock()

                def work(model: edgekit.Model, indices: np.ndarray) -> None:
                    for index in indices:
                        results[index] = model.run(*[a[index : index + 1] for a in arrays])
                        with lock:
                            progress.update()

                shares = np.array_split(np.arange(count), len(models))
                with ThreadPoolExecutor(len(models), thread_name_prefix="edgekit-verify") as pool:
                    for done in [pool.submit(work, m, share) for m, share in zip(models, shares)]:
                        done.result()
            exported = {
                spec.key: np.concatenate([row[position] for row in results if row is not None])
                for position, spec in enumerate(models[0].outputs)
            }
            if set(exported) != set(self.reference):
                exported = dict(zip(self.reference, exported.values()))  # positional when keys differ
            comparison = compare(self.reference, exported)
            sample = [a[:1] for a in arrays]
            return comparison, latency_ms(lambda: models[0].run(*sample))
        finally:
            for model in models:
                model.close()

    def _match_inputs(self, model: edgekit.Model) -> list[np.ndarray]:
        by_key = {spec.key: array for spec, array in zip(self.source.inputs, self.verification_set.arrays)}
        if set(by_key) == {spec.key for spec in model.inputs}:
            return [by_key[spec.key] for spec in model.inputs]
        return list(self.verification_set.arrays)

    # ------------------------------------------------------------------ the whole job
    def export(
        self, config: RecipeConfig, output: str | os.PathLike, force: bool = False, overwrite: bool = True
    ) -> ExportResult:
        """Convert, embed the card, verify, and write ``output`` atomically.

        Raises:
            VerificationError: the export misses the recipe's tolerance (nothing is written unless
                ``force``).
        """
        output = check_output_path(output, overwrite=overwrite)
        config = config.for_task(self.card.task)  # int8 I/O type: float32 for audio (MediaPipe), else uint8
        self.check(config)
        self.prepare_data()
        card = self.card.replace(
            extra={
                **self.card.extra,
                "recipe": config.recipe.value,
                "io_dtype": config.io_dtype,
                "source": self.source.description,
                "converter": f"tensorflow {import_tensorflow().__version__}",
                "exported_by": f"edgekit {edgekit.__version__}",
            }
        )
        data = embed_card(self.convert(config), card)
        with atomic_path(output) as temporary:
            temporary.write_bytes(data)
            comparison, latency = self.verify(temporary)
            reasons = comparison.failures(config.tolerance)
            accuracy = (
                self.accuracy.of_file(temporary, config.recipe.value, self.outputs_memo) if self.accuracy else None
            )
            self.outputs_memo = OutputsMemo()
            lost = self.accuracy.failure(accuracy, config.tolerance.min_agreement) if self.accuracy else None
            reasons += [lost] if lost else []
            spec = normalization.spec_refusals(self.card)
            reasons += spec
            verdict = "ok"
            where = self.locate_divergence(data, config) if reasons else None
            if reasons and not force:
                row = ReportRow(
                    config.recipe.value,
                    str(output),
                    len(data),
                    comparison,
                    latency,
                    "REFUSED: " + "; ".join(reasons),
                    self.verification_set.origin,
                    where,
                    accuracy=accuracy,
                )
                raise VerificationError(
                    f"{config.recipe.value} export not written: "
                    + "; ".join(reasons)
                    + f" (on {self.verification_set.origin}); {where.describe()}",
                    hint=normalization.SPEC_HINT
                    if lost or spec
                    else "try another recipe or more calibration data; --force writes it anyway",
                ).with_row(row)
            if reasons:
                verdict = "FORCED: " + "; ".join(reasons)
        row = ReportRow(
            config.recipe.value,
            str(output),
            len(data),
            comparison,
            latency,
            verdict,
            self.verification_set.origin,
            where,
            accuracy=accuracy,
        )
        extra = self.card.extra
        return ExportResult(
            row,
            output,
            comparison,
            self.notes,
            extra.get("preprocessing", ""),
            extra.get("preprocessing_assumed", False),
        )

    def locate_divergence(self, model_content: bytes, config: RecipeConfig) -> divergence.Divergence:
        """Where ``model_content`` stops answering like the source, layer by layer (never raises)."""
        tolerance = config.tolerance.max_relative_error
        return divergence.safely(
            lambda: divergence.locate_tflite(
                self.source.keras_model,
                model_content,
                self.verification_set.arrays,
                tolerance,
                [spec.key for spec in self.source.inputs],
            ),
            tolerance,
        )


def _converter_error(exc: Exception, log: list[str]) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in log if "error" in line.lower()]
    picked = (errors or lines or [type(exc).__name__])[0].strip()
    return picked[:400]


def export_tflite(
    model: Any,
    recipe: str | Recipe | RecipeConfig = "float32",
    output: str | os.PathLike = "model.tflite",
    *,
    calibration_path: str | None = None,
    card_options: CardOptions | None = None,
    force: bool = False,
    overwrite: bool = True,
    show_progress: bool = False,
) -> ExportResult:
    """Export ``model`` in one recipe (the Python API behind ``edgekit convert``).

    Args:
        model: a Keras model, a .keras/.h5 file or a SavedModel folder.
        recipe: a recipe name, :class:`Recipe` or :class:`RecipeConfig`.
        output: where to write the .tflite.
        calibration_path: images/WAV folder, text file or .npy (needed for int8 and int16x8).
        card_options: labels, task and preprocessing overrides.
        force: write even if the export misses its tolerance.
        overwrite: replace an existing output file.

    Returns:
        An :class:`ExportResult` with the export-report row.
    """
    config = recipe if isinstance(recipe, RecipeConfig) else RecipeConfig(Recipe.parse(recipe))
    check_output_path(output, overwrite=overwrite)
    exporter = Exporter(
        model,
        card_options,
        calibration_path,
        calibration_samples=config.calibration_samples,
        verification_samples=config.verification_samples,
        show_progress=show_progress,
    )
    exporter.check(config)
    return exporter.export(config, output, force=force, overwrite=overwrite)


__all__ = ["CalibrationError", "CardOptions", "ExportResult", "Exporter", "export_tflite", "read_labels"]
