"""The model being exported: a Keras 3 model (object or .keras/.h5 file) or a SavedModel folder."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends._quiet import quiet_tensorflow
from edgekit.errors import InvalidModelError, ModelNotFoundError, UnsupportedModelError, require
from edgekit.media import DEFAULT_SAMPLE_RATE_HZ
from edgekit.metadata import ImageSpec, ModelCard, Task

from .normalization import GraphNormalization, infer_graph_normalization, spec_from_graph

REFERENCE_BATCH = 1  # inputs per call of the source when computing reference outputs (see SourceModel.predict)


def import_tensorflow():
    with quiet_tensorflow():
        tf = require("tensorflow", "convert", "converting models")
        require("keras", "convert", "converting Keras models")
    return tf


@dataclass(frozen=True)
class SourceInput:
    key: str
    shape: tuple[int | None, ...]
    dtype: str


class SourceModel:
    """Uniform access to the source: its inputs, a reference ``predict`` and a TFLite converter."""

    def __init__(self, kind: str, description: str, keras_model: Any = None, saved_model_dir: Path | None = None):
        self.kind = kind
        self.description = description
        self.keras_model = keras_model
        self.saved_model_dir = saved_model_dir
        tf = import_tensorflow()
        if keras_model is not None:
            self.inputs = [SourceInput(t.name, tuple(t.shape), _dtype_name(t.dtype)) for t in keras_model.inputs]
            self.output_keys = [f"output_{i}" for i in range(len(keras_model.outputs))]
            self._signature = None
        else:
            with quiet_tensorflow():
                loaded = tf.saved_model.load(str(saved_model_dir))
            if "serving_default" not in loaded.signatures:
                raise UnsupportedModelError(
                    f"{saved_model_dir} has no 'serving_default' signature",
                    hint="export it with a serving signature (Keras 3: model.export(path))",
                )
            self._loaded = loaded
            self._signature = loaded.signatures["serving_default"]
            specs = self._signature.structured_input_signature[1]
            self.inputs = [SourceInput(k, tuple(s.shape), s.dtype.name) for k, s in sorted(specs.items())]
            self.output_keys = sorted(self._signature.structured_outputs)

    # ------------------------------------------------------------------ reference outputs
    def predict(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Run the source on every input, one at a time; ``inputs`` in ``self.inputs`` order.

        One at a time because that is how an exported file runs: a layer that reduces over the
        batch (Keras' MelSpectrogram clips at the batch's maximum) answers differently in batches.

        Returns:
            Outputs by key, stacked.
        """
        if self.keras_model is not None:
            with quiet_tensorflow():
                outputs = self.keras_model.predict(
                    inputs if len(inputs) > 1 else inputs[0], verbose=0, batch_size=REFERENCE_BATCH
                )
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            return {key: np.asarray(value) for key, value in zip(self.output_keys, outputs)}
        tf = import_tensorflow()
        results: dict[str, list[np.ndarray]] = {k: [] for k in self.output_keys}
        count = len(inputs[0])
        for start in range(0, count, REFERENCE_BATCH):
            feed = {
                spec.key: tf.constant(array[start : start + REFERENCE_BATCH], dtype=spec.dtype)
                for spec, array in zip(self.inputs, inputs)
            }
            out = self._signature(**feed)
            for key in self.output_keys:
                results[key].append(out[key].numpy())
        return {key: np.concatenate(parts) for key, parts in results.items()}

    # ------------------------------------------------------------------ conversion
    def tflite_converter(self):
        """A TFLiteConverter that keeps the weights (never from_concrete_functions on Keras 3).

        ``TFLiteConverter.from_keras_model`` writes the Keras model out as a SavedModel on every call
        (EfficientNet-Lite0: about 20 s). A Keras model is written once here, the same way, and every
        recipe converts from that folder: the flatbuffers come out byte-identical except the conversion
        metadata's source type (TF_SAVED_MODEL, not KERAS_MODEL). A model that cannot be written so goes
        through ``from_keras_model``, whose own fallback then applies.
        """
        tf = import_tensorflow()
        if self.keras_model is None:
            return tf.lite.TFLiteConverter.from_saved_model(str(self.saved_model_dir))
        folder = self._keras_as_saved_model()
        if folder is None:
            return tf.lite.TFLiteConverter.from_keras_model(self.keras_model)
        return tf.lite.TFLiteConverter.from_saved_model(str(folder))

    def saved_model_folder(self) -> Path | None:
        """The SavedModel folder every recipe converts from (the source's own, or the Keras model written
        once); None when the Keras model cannot be written as one."""
        if self.keras_model is None:
            return self.saved_model_dir
        return self._keras_as_saved_model()

    def _keras_as_saved_model(self) -> Path | None:
        """The Keras model as a SavedModel in a temporary folder (written on first use, removed with this
        object or at exit), exactly as ``from_keras_model`` writes it; None when that fails."""
        if hasattr(self, "_saved_copy"):
            return self._saved_copy
        import functools
        import shutil
        import tempfile
        import weakref

        import keras

        tf = import_tensorflow()
        model = self.keras_model
        self._saved_copy: Path | None = None
        # Functional and Sequential models only, as TFLite's converter decides (a subclassed model has no inputs)
        if not isinstance(model, (keras.src.models.Functional, keras.Sequential)) or not model.inputs:
            return None
        remove_orphaned_saved_models()
        folder = Path(tempfile.mkdtemp(prefix=f"{SAVED_MODEL_PREFIX}{os.getpid()}-"))
        weakref.finalize(self, shutil.rmtree, folder, True)
        signature: list[Any] = [tf.TensorSpec(t.shape, dtype=t.dtype, name=t.name) for t in model.inputs]
        try:
            archive = keras.export.ExportArchive()
            archive.track(model)
            # Keras' model.export() would serve training=True; TFLite's converter serves training=False.
            archive.add_endpoint(
                "serve",
                functools.partial(model.__call__, training=False),
                [signature] if len(signature) > 1 else signature,
            )
            with quiet_tensorflow():
                archive.write_out(str(folder))
        except Exception:  # as TFLiteConverter does: the Keras path takes over
            return None
        self._saved_copy = folder
        return folder

    # ------------------------------------------------------------------ inference of the card
    def guess_card(self) -> tuple[ModelCard, list[str]]:
        """A starting card from the model's shape and layers, and notes on what was assumed."""
        notes: list[str] = []
        first = self.inputs[0]
        shapes = self.output_shapes()
        out_shape = shapes[0] if shapes else ()
        classes = out_shape[-1] if out_shape and out_shape[-1] else 0
        if len(first.shape) == 4 and first.shape[-1] in (1, 3) and first.dtype.startswith("float"):
            height, width, channels = first.shape[1], first.shape[2], first.shape[3]
            if not height or not width:
                height = width = 224
                notes.append("the model takes any image size; assumed 224x224 (override with --size)")
            mean, std, _ = spec_from_graph(self.graph_normalization())
            image = ImageSpec(
                width=width,
                height=height,
                channels=channels,
                color_order="RGB" if channels == 3 else "GRAY",
                mean=mean,
                std=std,
            )
            task = Task.IMAGE_CLASSIFIER if len(out_shape) == 2 and classes > 1 else Task.CUSTOM
            return ModelCard(task=task, image=image), notes
        if len(first.shape) == 2 and first.dtype.startswith(("int", "uint")):
            notes.append("integer input: a text model (give --vocab to embed the tokenizer)")
            return ModelCard(task=Task.TEXT_CLASSIFIER if classes > 1 else Task.CUSTOM), notes
        if len(first.shape) == 2 and first.dtype.startswith("float") and (first.shape[1] or 0) >= 1000:
            notes.append(f"1-D float input: treated as audio (give --sample-rate; default {DEFAULT_SAMPLE_RATE_HZ} Hz)")
            return ModelCard(task=Task.AUDIO_CLASSIFIER if classes > 1 else Task.CUSTOM), notes
        return ModelCard(task=Task.CUSTOM), notes

    def output_shapes(self) -> list[tuple]:
        """The shape of each output, in output order (None for a dimension the model leaves open)."""
        if self.keras_model is not None:
            return [tuple(t.shape) for t in self.keras_model.outputs]
        return [tuple(self._signature.structured_outputs[k].shape) for k in self.output_keys]

    def graph_normalization(self) -> GraphNormalization | None:
        """The normalization the model's graph applies to its image input (measured once), or None."""
        if not hasattr(self, "_graph_normalization"):
            found = None
            if self.keras_model is not None and len(self.inputs) == 1 and len(self.inputs[0].shape) == 4:
                with quiet_tensorflow():
                    found = infer_graph_normalization(self.keras_model)
            self._graph_normalization = found
        return self._graph_normalization


SAVED_MODEL_PREFIX = "edgekit-savedmodel-"  # + the writing process's id + "-" + random


def remove_orphaned_saved_models() -> list[Path]:
    """Remove the temporary SavedModels of processes that no longer run (a SIGKILL gives no chance to clean
    up); those of live processes stay. Returns what was removed."""
    return remove_orphaned_temporaries(SAVED_MODEL_PREFIX)


def remove_orphaned_temporaries(prefix: str) -> list[Path]:
    """Remove the temporary folders ``<prefix><pid>-*`` whose process no longer runs; returns them."""
    import shutil
    import tempfile

    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        owner = folder.name[len(prefix) :].split("-", 1)[0]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        try:
            os.kill(int(owner), 0)
            continue  # still running (or a process that reused its id): not ours to remove
        except ProcessLookupError:
            pass
        except OSError:  # PermissionError: alive under another user
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _dtype_name(dtype: Any) -> str:
    return getattr(dtype, "name", str(dtype))


def load_source(model: Any) -> SourceModel:
    """Open the source model.

    Args:
        model: a Keras model object, a ``.keras``/``.h5`` file, or a SavedModel folder.

    Raises:
        ModelNotFoundError, InvalidModelError, UnsupportedModelError: with what was found and what
            is accepted.
    """
    if not isinstance(model, (str, Path)):
        if hasattr(model, "layers") and hasattr(model, "inputs"):
            return SourceModel("keras", f"Keras model {getattr(model, 'name', '')}", keras_model=model)
        raise UnsupportedModelError(
            f"cannot export a {type(model).__name__}", hint="give a Keras model, a .keras file or a SavedModel folder"
        )
    path = Path(model)
    if not path.exists():
        raise ModelNotFoundError(f"model not found: {path}", hint="check the path")
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise InvalidModelError(
                f"{path} is a folder without saved_model.pb, so not a SavedModel",
                hint="give a .keras file or a SavedModel folder",
            )
        return SourceModel("saved_model", f"SavedModel {path}", saved_model_dir=path)
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        raise UnsupportedModelError(
            f"{path} is already a TFLite model", hint="convert the original Keras model or SavedModel instead"
        )
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise InvalidModelError(
            f"{path} is not a Keras archive (a .keras file is a zip; this one is not)",
            hint="save the model with model.save('name.keras')",
        )
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise UnsupportedModelError(
            f"{path}: unknown model format {suffix or '(no extension)'!r}",
            hint="give a .keras file, a .h5 file or a SavedModel folder",
        )
    import_tensorflow()
    import keras

    try:
        with quiet_tensorflow():
            keras_model = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; report its first line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise InvalidModelError(
            f"{path} cannot be loaded as a Keras model: {first}",
            hint="check that the file is complete and saved by Keras 3",
        ) from exc
    return SourceModel("keras", f"Keras model {path.name}", keras_model=keras_model)
