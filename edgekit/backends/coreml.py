"""Core ML packages behind the :class:`edgekit.Model` interface.

On macOS, :func:`load_coreml` runs a ``.mlpackage`` with Core ML itself (through coremltools).
Elsewhere Core ML does not exist; ``converters.coreml.reference.load_reference`` runs the package's
ML Program with edgekit's NumPy reference evaluator instead (slow, for checking numbers, not for
deployment; it needs coremltools, so it lives with the converters and registers itself as the
``coreml-reference`` backend).

Both take the same inputs as the source model and the TFLite export: an image model takes its
normalized float input ``(pixel - mean) / std`` (N, H, W, C), which this module turns back into the
0..255 pixels Core ML's image input expects, using the card stored in the package. A classifier
returns its probabilities in label order, like the TFLite export.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, MetadataError, ModelNotFoundError, UnsupportedModelError, closed_error
from ..metadata import ModelCard
from ..model import TensorSpec
from ._coremltools import import_coremltools, load_program

CARD_KEY = "edgekit.card"
VOCABULARY_KEY = "edgekit.vocabulary"
_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "DOUBLE": "float64", "INT32": "int32"}


@dataclass(frozen=True)
class Feature:
    """One input or output of a Core ML package, as its spec declares it."""

    name: str
    kind: str  # image, multiarray, string, dictionary, …
    shape: tuple[int, ...] = ()
    dtype: str = ""
    color: str = ""  # images: RGB, BGR or GRAYSCALE
    description: str = ""

    def describe(self) -> str:
        if self.kind == "image":
            text = f"{self.name}: image {self.shape[1]}x{self.shape[0]} {self.color}"
        elif self.kind == "multiarray":
            text = f"{self.name}: {list(self.shape)} {self.dtype}"
        else:
            text = f"{self.name}: {self.kind}"
        return text + (f"  ({self.description})" if self.description else "")


@dataclass(frozen=True)
class PackageDescription:
    """What a ``.mlpackage`` says about itself (read without running it)."""

    path: Path
    size_bytes: int
    specification_version: int
    inputs: tuple[Feature, ...]
    outputs: tuple[Feature, ...]
    labels: tuple[str, ...]
    probabilities_output: str
    author: str
    license: str
    version: str
    short_description: str
    user_metadata: dict[str, str]
    card: ModelCard | None
    metadata_note: str
    operators: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        card = self.card
        return {
            "path": str(self.path),
            "format": "Core ML ML Program (.mlpackage)",
            "size_bytes": self.size_bytes,
            "specification_version": self.specification_version,
            "inputs": [vars(f) | {"shape": list(f.shape)} for f in self.inputs],
            "outputs": [vars(f) | {"shape": list(f.shape)} for f in self.outputs],
            "class_labels": list(self.labels),
            "author": self.author,
            "license": self.license,
            "version": self.version,
            "short_description": self.short_description,
            "user_metadata": {k: v for k, v in self.user_metadata.items() if k not in (CARD_KEY, VOCABULARY_KEY)},
            "operators": self.operators,
            "metadata": card.to_json_dict() | {"labels": list(card.labels)} if card else None,
            "metadata_note": self.metadata_note,
        }


def package_size(path: Path) -> int:
    """Bytes in all files of a package folder."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _feature(ct: Any, feature: Any) -> Feature:
    kind = feature.type.WhichOneof("Type")
    if kind == "imageType":
        image = feature.type.imageType
        color = ct.proto.FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(image.colorSpace)
        shape = (int(image.height), int(image.width))
        return Feature(feature.name, "image", shape, "", color, feature.shortDescription)
    if kind == "multiArrayType":
        array = feature.type.multiArrayType
        name = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array.dataType)
        dims = tuple(int(d) for d in array.shape)
        return Feature(feature.name, "multiarray", dims, _DTYPES.get(name, name.lower()), "", feature.shortDescription)
    return Feature(feature.name, kind.replace("Type", "") if kind else "unknown", description=feature.shortDescription)


def _card(user: dict[str, str]) -> tuple[ModelCard | None, str]:
    text = user.get(CARD_KEY)
    if not text:
        return None, "this package has no edgekit model card: inputs are passed to Core ML as they are"
    try:
        vocabulary = tuple(user[VOCABULARY_KEY].split("\n")) if VOCABULARY_KEY in user else ()
        return ModelCard.from_json_dict(json.loads(text), vocabulary=vocabulary), ""
    except (ValueError, MetadataError) as exc:
        return None, f"the edgekit model card in the package is unreadable ({exc}); it is ignored"


def describe_package(path: str | Path) -> PackageDescription:
    """Read a package's inputs, outputs, class labels, metadata and ops, without running it.

    Raises:
        ModelNotFoundError, InvalidModelError, UnsupportedModelError: see
            :func:`edgekit.backends._coremltools.load_program`.
        MissingDependencyError: coremltools is not installed.
    """
    ct = import_coremltools()
    spec, program = load_program(path)
    description = spec.description
    labels: tuple[str, ...] = ()
    operators: dict[str, int] = {}
    for op in program.functions["main"].operations:
        operators[op.op_type] = operators.get(op.op_type, 0) + 1
        if op.op_type == "classify":
            labels = tuple(str(c) for c in op.inputs["classes"].val)
    user = dict(description.metadata.userDefined)
    card, note = _card(user)
    return PackageDescription(
        path=Path(path),
        size_bytes=package_size(Path(path)),
        specification_version=int(spec.specificationVersion),
        inputs=tuple(_feature(ct, f) for f in description.input),
        outputs=tuple(_feature(ct, f) for f in description.output),
        labels=labels,
        probabilities_output=description.predictedProbabilitiesName,
        author=description.metadata.author,
        license=description.metadata.license,
        version=description.metadata.versionString,
        short_description=description.metadata.shortDescription,
        user_metadata=user,
        card=card,
        metadata_note=note,
        operators=operators,
    )


class _CoreMLEngine:
    """Core ML through coremltools (macOS only): images as PIL images, RGB (Core ML reorders for BGR)."""

    def __init__(self, path: Path, colors: dict[str, str]):
        ct = import_coremltools()
        self.model = ct.models.MLModel(str(path))
        self.colors = colors

    def predict(self, feeds: dict[str, np.ndarray], images: set[str]) -> dict[str, Any]:
        from PIL import Image

        ready: dict[str, Any] = {}
        for name, value in feeds.items():
            if name not in images:
                ready[name] = value
                continue
            pixels = np.clip(np.rint(value[0]), 0, 255).astype(np.uint8)
            color = self.colors[name]
            if color == "GRAYSCALE":
                ready[name] = Image.fromarray(pixels[:, :, 0], mode="L")
            else:
                ready[name] = Image.fromarray(pixels[:, :, ::-1] if color == "BGR" else pixels, mode="RGB")
        return self.model.predict(ready)


class CoreMLModel:
    """A Core ML package with the :class:`edgekit.Model` interface (``inputs``, ``outputs``, ``run``,
    ``card``, ``info``). Create with :func:`load_coreml` (macOS) or the reference evaluator.

    Inputs are those of the source model: image inputs are (1, H, W, C) float32 in the card's
    normalized domain; audio and token inputs are the package's MultiArrays. A classifier has one
    output, its probabilities (1, classes) in label order.
    """

    def __init__(self, description: PackageDescription, engine: Any, backend: str):
        self.path = description.path
        self.description = description
        self.size_bytes = description.size_bytes
        self.card = description.card
        self.metadata_note = description.metadata_note
        self.backend = backend
        self.num_threads: int | None = None  # Core ML chooses its own threads
        self._engine = engine
        self._images = {f.name for f in description.inputs if f.kind == "image"}
        self.inputs = tuple(self._input_spec(i, f) for i, f in enumerate(description.inputs))
        if description.labels and description.probabilities_output:
            shape = (1, len(description.labels))
            name = description.probabilities_output
            self.outputs: tuple[TensorSpec, ...] = (
                TensorSpec(name, 0, shape, np.dtype(np.float32), shape_signature=shape, key=name),
            )
        else:
            arrays = [f for f in description.outputs if f.kind == "multiarray"]
            self.outputs = tuple(
                TensorSpec(f.name, i, f.shape, np.dtype(f.dtype or "float32"), shape_signature=f.shape, key=f.name)
                for i, f in enumerate(arrays)
            )

    def _input_spec(self, index: int, feature: Feature) -> TensorSpec:
        if feature.kind == "image":
            channels = 1 if feature.color == "GRAYSCALE" else 3
            shape = (1, feature.shape[0], feature.shape[1], channels)
            return TensorSpec(feature.name, index, shape, np.dtype(np.float32), shape_signature=shape, key=feature.name)
        if feature.kind != "multiarray":
            raise UnsupportedModelError(f"{self.path.name}: input {feature.name!r} is a {feature.kind}, not supported")
        dtype = np.dtype(feature.dtype)
        return TensorSpec(feature.name, index, feature.shape, dtype, shape_signature=feature.shape, key=feature.name)

    def _pixels(self, array: np.ndarray) -> np.ndarray:
        """The model's normalized input back to 0..255 pixels: x * std + mean (per channel)."""
        spec = self.card.image if self.card is not None else None
        if spec is None:
            return array.astype(np.float32)
        mean = np.asarray(spec.mean, np.float32)
        std = np.asarray(spec.std, np.float32)
        return array.astype(np.float32) * std + mean

    def run(self, *inputs: Any, raw: bool = False) -> list[np.ndarray]:
        """Run once; same arguments and results as :meth:`edgekit.Model.run`.

        Raises:
            InputError: wrong number of inputs, shape or dtype (named in the message).
            ClosedError: the model was closed.
        """
        if self._engine is None:
            raise closed_error(type(self).__name__, "run")
        if len(inputs) == 1 and isinstance(inputs[0], dict):
            given = inputs[0]
            missing = [spec.name for spec in self.inputs if spec.name not in given]
            if missing or len(given) != len(self.inputs):
                raise InputError(
                    f"inputs by name do not match the model: missing {missing}",
                    hint=f"the model's inputs are {[s.name for s in self.inputs]}",
                )
            inputs = tuple(given[spec.name] for spec in self.inputs)
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) and len(self.inputs) > 1:
            inputs = tuple(inputs[0])
        if len(inputs) != len(self.inputs):
            raise InputError(f"the model takes {len(self.inputs)} input(s), got {len(inputs)}")
        feeds = {}
        for spec, value in zip(self.inputs, inputs):
            array = np.asarray(value)
            if array.ndim == len(spec.shape) - 1:
                array = array[np.newaxis]
            if array.shape != spec.shape:
                raise InputError(
                    f"input {spec.name!r} expects shape {spec.shape} {spec.dtype.name}, got {array.shape}",
                    hint="resize or reshape the input (see `edgekit info MODEL`)",
                )
            if spec.dtype.kind in "iu" and array.dtype.kind == "f":
                raise InputError(f"input {spec.name!r} expects integers ({spec.dtype.name}, e.g. token ids)")
            feeds[spec.name] = self._pixels(array) if spec.name in self._images else array.astype(spec.dtype)
        results = self._engine.predict(feeds, self._images)
        outputs = []
        for spec in self.outputs:
            value = results[spec.name]
            if isinstance(value, dict):  # a classifier's {label: probability}
                value = np.asarray([[value[label] for label in self.description.labels]], np.float32)
            value = np.asarray(value)
            outputs.append(value if raw else value.astype(np.float32))
        return outputs

    def operators(self) -> dict[str, int]:
        """MIL op type → count in the program's main function."""
        return dict(self.description.operators)

    def delegation(self) -> dict[str, int]:
        return {}

    def info(self) -> dict[str, Any]:
        """A JSON-ready description (what `edgekit info` prints)."""
        return self.description.to_dict() | {"interpreter": self.backend}

    def close(self) -> None:
        self._engine = None

    def __enter__(self) -> CoreMLModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        ins = ", ".join(s.describe() for s in self.inputs)
        return f"<edgekit Core ML model {self.path.name} [{self.backend}] inputs: {ins}>"


def check_package(path: Path) -> None:
    if not path.exists():
        raise ModelNotFoundError(f"model not found: {path}", hint="check the path (and the current folder)")
    if not path.is_dir() or path.suffix.lower() != ".mlpackage":
        raise InputError(f"{path} is not a Core ML package (.mlpackage folder)")


def load_coreml(path: str | Path, num_threads: int | None = None) -> CoreMLModel:
    """Load a ``.mlpackage`` to run with Core ML (macOS only; Core ML chooses its own threads).

    Raises:
        UnsupportedModelError: not on macOS (Core ML runs only on Apple platforms); the hint names
            the reference evaluator (``edgekit run MODEL --reference``).
    """
    path = Path(path)
    check_package(path)
    if sys.platform != "darwin":
        raise UnsupportedModelError(
            f"{path} is a Core ML package; Core ML runs only on Apple platforms (macOS, iOS), not on {sys.platform}",
            hint=f"check it here with edgekit's NumPy reference evaluator: edgekit run {path} --reference INPUT... "
            "(or export a .tflite to run on Linux: edgekit convert MODEL --to tflite)",
        )
    description = describe_package(path)
    colors = {f.name: f.color for f in description.inputs if f.kind == "image"}
    ct = import_coremltools()
    return CoreMLModel(description, _CoreMLEngine(path, colors), f"coremltools {ct.__version__} (Core ML)")


def format_description(info: dict[str, Any]) -> list[str]:
    """Lines for `edgekit info` on a package (from :meth:`PackageDescription.to_dict`)."""
    lines = [f"{info['path']}  ({info['size_bytes'] / 1e3:.1f} kB, {info['format']})"]
    lines.append(f"Core ML specification version {info['specification_version']}; runs with: {info['interpreter']}")
    for title in ("inputs", "outputs"):
        lines.append(f"{title}:")
        lines.extend(f"  {Feature(**(f | {'shape': tuple(f['shape'])})).describe()}" for f in info[title])
    if info["class_labels"]:
        shown = ", ".join(info["class_labels"][:10]) + (" …" if len(info["class_labels"]) > 10 else "")
        lines.append(f"class labels ({len(info['class_labels'])}): {shown}")
    lines.append("operators: " + ", ".join(f"{k} x{v}" for k, v in sorted(info["operators"].items())))
    about = {k: info[k] for k in ("author", "license", "version", "short_description") if info[k]}
    lines.append("metadata: " + (", ".join(f"{k} {v!r}" for k, v in about.items()) or "none"))
    for key, value in sorted(info["user_metadata"].items()):
        lines.append(f"  {key}: {value}")
    card = info["metadata"]
    if card is None:
        lines.append(f"edgekit card: none. Note: {info['metadata_note']}")
    else:
        lines.append(f"edgekit card: task {card['task']}, name {card['name']!r}")
        if card.get("image"):
            i = card["image"]
            mean, std = list(i["mean"]), list(i["std"])
            lines.append(f"  image: {i['width']}x{i['height']} {i['color_order']}, mean {mean}, std {std}")
        if card.get("audio"):
            a = card["audio"]
            lines.append(f"  audio: {a['sample_rate_hz']} Hz, window {a['window_samples']}, hop {a['hop_samples']}")
        if card.get("text"):
            lines.append(f"  text: max length {card['text']['max_length']}")
    return lines
