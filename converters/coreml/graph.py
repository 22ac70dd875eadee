"""Keras/SavedModel → Core ML ML Program: the input plan, tracing, conversion and compression.

The source is traced into a TensorFlow concrete function with fixed batch-1 shapes and given to
coremltools as such. Going through a concrete function (never ``ct.convert(keras_model)``) is what
makes Keras 3 Sequential models work: coremltools 9.0's Keras path reads ``model.output_names``,
which Keras 3 Sequential models no longer have. It also lets edgekit fold per-channel std into
the graph in front of the model.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.backends._quiet import quiet_tensorflow
from edgekit.errors import InvalidModelError, UnsupportedModelError
from edgekit.metadata import ImageSpec, ModelCard, Task

from ..source import SourceModel, import_tensorflow
from .recipes import CoreMLConfig

CLASSIFIER_TASKS = (Task.IMAGE_CLASSIFIER, Task.AUDIO_CLASSIFIER, Task.TEXT_CLASSIFIER)
CLASS_LABEL = "classLabel"
CLASS_PROBABILITIES = "classLabel_probs"


@dataclass(frozen=True)
class ImageInput:
    """How Core ML's ImageType turns pixels (0..255) into the model's input.

    Core ML computes ``scale * pixel + bias[c]``: one scale for all channels. When the spec's std
    differs per channel, ``scale`` is 1, ``bias`` is ``-mean[c]`` and ``channel_multiplier``
    (``1 / std[c]``) is applied inside the graph, so nothing is averaged.
    """

    scale: float
    bias: tuple[float, ...]
    channel_multiplier: tuple[float, ...] | None
    color_layout: str  # coremltools' name: "RGB", "BGR" or "G"

    @classmethod
    def from_spec(cls, spec: ImageSpec) -> ImageInput:
        channels = spec.channels
        mean = spec.mean * channels if len(spec.mean) == 1 else spec.mean
        std = spec.std * channels if len(spec.std) == 1 else spec.std
        layout = {"RGB": "RGB", "BGR": "BGR", "GRAY": "G"}[spec.color_order]
        # (0.0 - m) rather than -m: a mean of 0 gives a bias of 0.0, not -0.0, in the metadata.
        if len(set(std)) == 1:
            return cls(1.0 / std[0], tuple((0.0 - m) / std[0] for m in mean), None, layout)
        return cls(1.0, tuple(0.0 - m for m in mean), tuple(1.0 / s for s in std), layout)


@dataclass(frozen=True)
class InputPlan:
    name: str  # the Core ML feature name
    key: str  # the source's input key
    shape: tuple[int, ...]  # batch 1, no unknown sizes
    source_dtype: str
    image: ImageInput | None = None

    @property
    def integer(self) -> bool:
        return self.source_dtype.startswith(("int", "uint"))


@dataclass(frozen=True)
class GraphPlan:
    """Names, shapes and types of the package's features, decided before conversion."""

    inputs: tuple[InputPlan, ...]
    output_names: tuple[str, ...]  # one per source output, in the source's order
    labels: tuple[str, ...] | None  # a classifier's class labels (ClassifierConfig), else None


def _feature_name(key: str, used: set[str]) -> str:
    name = re.sub(r"\W", "_", key).strip("_") or "input"
    if name[0].isdigit():
        name = f"input_{name}"
    while name in used:
        name += "_"
    used.add(name)
    return name


def plan_graph(source: SourceModel, card: ModelCard) -> GraphPlan:
    """Decide the package's inputs and outputs from the source and its card.

    Raises:
        UnsupportedModelError: an input size that the card cannot fix (Core ML needs fixed shapes).
    """
    used: set[str] = set()
    plans = []
    single = len(source.inputs) == 1
    for spec in source.inputs:
        shape = list(spec.shape)
        image = None
        looks_like_image = len(shape) == 4 and shape[-1] in (1, 3, None) and spec.dtype.startswith("float")
        if card.image is not None and looks_like_image and single:
            shape = [1, card.image.height, card.image.width, card.image.channels]
            image = ImageInput.from_spec(card.image)
            preferred = "image"
        elif card.audio is not None and single and len(shape) == 2:
            shape = [1, shape[1] or card.audio.window_samples]
            preferred = "audio"
        elif card.text is not None and single and len(shape) == 2:
            shape = [1, shape[1] or card.text.max_length]
            preferred = "tokens"
        else:
            preferred = spec.key
        shape[0] = 1
        if any(d is None for d in shape):
            raise UnsupportedModelError(
                f"Core ML export needs a fixed input shape; input {spec.key!r} has shape {tuple(spec.shape)}",
                hint="give the size with --size WxH (images), or export a model with a fixed input shape",
            )
        name = _feature_name(preferred, used)
        plans.append(InputPlan(name, spec.key, tuple(int(d) for d in shape), spec.dtype, image))
    outputs = source.output_shapes()
    labels = None
    if card.task in CLASSIFIER_TASKS and len(outputs) == 1 and len(outputs[0]) == 2 and (outputs[0][1] or 0) > 1:
        labels = card.labels or tuple(str(i) for i in range(outputs[0][1]))
        output_names = (CLASS_PROBABILITIES,)
    else:
        output_names = tuple(_feature_name(key, used) for key in source.output_keys)
    return GraphPlan(tuple(plans), output_names, labels)


def _source_call(source: SourceModel):
    """A function: list of tensors in source input order → list of outputs in source output order."""
    tf = import_tensorflow()
    if source.keras_model is not None:
        model = source.keras_model

        def call_keras(tensors):
            outputs = model(tensors if len(tensors) > 1 else tensors[0], training=False)
            return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

        return call_keras
    with quiet_tensorflow():
        loaded = tf.saved_model.load(str(source.saved_model_dir))
    keys = [spec.key for spec in source.inputs]

    def call_saved_model(tensors):
        # Through `loaded`, which must stay referenced: a signature alone loses its variables.
        outputs = loaded.signatures["serving_default"](**dict(zip(keys, tensors)))
        return [outputs[key] for key in source.output_keys]

    return call_saved_model


def trace(source: SourceModel, plan: GraphPlan, call):
    """The source as a concrete function on the planned inputs (per-channel std folded in front).

    ``call`` (from :func:`_source_call`) must stay referenced until the function is converted: it
    holds the loaded SavedModel, whose variables vanish with it.
    """
    tf = import_tensorflow()
    specs = [tf.TensorSpec(p.shape, tf.int32 if p.integer else tf.float32, name=p.name) for p in plan.inputs]

    def exported(*tensors):
        prepared = []
        for p, tensor in zip(plan.inputs, tensors):
            if p.image is not None and p.image.channel_multiplier is not None:
                multiplier = np.asarray(p.image.channel_multiplier, np.float32).reshape(1, 1, 1, -1)
                tensor = tensor * tf.constant(multiplier)
            if tensor.dtype.name != p.source_dtype:
                tensor = tf.cast(tensor, p.source_dtype)
            prepared.append(tensor)
        return call(prepared)

    with quiet_tensorflow():
        return tf.function(exported).get_concrete_function(*specs)


def _layers(model: Any) -> list[Any]:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found.extend(_layers(layer))
    return found


def unsupported_op_error(exc: Exception, source: SourceModel) -> UnsupportedModelError | None:
    """Turn coremltools' "Conversion for TF op 'X' not implemented" into a message naming the layer."""
    import coremltools as ct

    text = str(exc)
    match = re.search(r"Conversion for TF op '([^']+)' not implemented", text)
    if match is None:
        return None
    tf_op = match.group(1)
    node = re.search(r'name: "([^"]+)"', text)
    node_name = node.group(1) if node else ""
    hint = "replace it with standard Keras layers Core ML supports, or export TFLite instead (--to tflite)"
    layers = {layer.name: layer for layer in _layers(source.keras_model)} if source.keras_model is not None else {}
    # TF scopes are model/layer/op; Keras 3 may add a "_1" to the scope of each layer name.
    for part in reversed(node_name.split("/")[:-1]):
        layer = layers.get(part) or layers.get(re.sub(r"_\d+$", "", part))
        if layer is not None:
            return UnsupportedModelError(
                f"layer {layer.name!r} ({type(layer).__name__}) cannot be converted to Core ML: it uses the "
                f"TensorFlow op '{tf_op}', which coremltools {ct.__version__} does not support",
                hint=hint,
            )
    return UnsupportedModelError(
        f"the TensorFlow op '{tf_op}' (node {node_name!r}) cannot be converted to Core ML by coremltools "
        f"{ct.__version__}",
        hint=hint,
    )


@dataclass(frozen=True)
class Converted:
    """coremltools' uncompressed ML Program, the output renames still to apply, and the time it took."""

    model: Any
    renames: dict[str, str]
    seconds: float


def convert(source: SourceModel, plan: GraphPlan, config: CoreMLConfig) -> Converted:
    """Run coremltools on the traced source.

    Raises:
        UnsupportedModelError: a layer uses an op coremltools cannot convert (names the layer).
        InvalidModelError: any other converter failure (first line of its message).
    """
    from edgekit.backends._coremltools import import_coremltools

    ct = import_coremltools()
    start = time.perf_counter()
    call = _source_call(source)
    function = trace(source, plan, call)
    inputs = []
    for p in plan.inputs:
        if p.image is not None:
            bias = list(p.image.bias) if p.image.color_layout != "G" else p.image.bias[0]
            inputs.append(
                ct.ImageType(
                    name=p.name, shape=p.shape, scale=p.image.scale, bias=bias, color_layout=p.image.color_layout
                )
            )
        else:
            inputs.append(ct.TensorType(name=p.name, shape=p.shape, dtype=np.int32 if p.integer else np.float32))
    # Named float32 outputs keep float32 I/O for iOS16+ float16 programs (else coremltools makes them float16).
    outputs = [ct.TensorType(name=t.name.split(":")[0], dtype=np.float32) for t in function.outputs]
    classifier = ct.ClassifierConfig(list(plan.labels)) if plan.labels is not None else None
    try:
        with quiet_tensorflow():
            model = ct.convert(
                [function],
                source="tensorflow",
                convert_to="mlprogram",
                inputs=inputs,
                outputs=outputs,
                classifier_config=classifier,
                minimum_deployment_target=getattr(ct.target, config.deployment_target),
                compute_precision=ct.precision.FLOAT16
                if config.compute_precision == "float16"
                else ct.precision.FLOAT32,
            )
    except Exception as exc:
        named = unsupported_op_error(exc, source)
        if named is not None:
            raise named from exc
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:400]
        raise InvalidModelError(f"the Core ML converter failed: {first}", hint="--debug shows the full error") from exc
    del call  # the converted program holds the weights now
    graph_outputs = [t.name.split(":")[0] for t in function.outputs]
    renames = {} if plan.labels is not None else dict(zip(graph_outputs, plan.output_names))
    return Converted(model, renames, time.perf_counter() - start)


@dataclass(frozen=True)
class CompressionStats:
    """How much of the weight data a compressed recipe actually compressed."""

    compressed_tensors: int
    compressed_elements: int
    float_tensors: int  # float constants left as they were (at most weight_threshold elements, or not weights)
    float_elements: int
    seconds: float

    @property
    def compressed_fraction(self) -> float:
        total = self.compressed_elements + self.float_elements
        return self.compressed_elements / total if total else 0.0

    def describe(self, weight_threshold: int) -> str:
        if self.compressed_tensors == 0:
            return (
                f"nothing compressed: every weight tensor has at most {weight_threshold} elements "
                "(coremltools skips small layers); --weight-threshold 0 compresses them too"
            )
        return (
            f"compressed {self.compressed_tensors} weight tensor(s), {self.compressed_fraction:.0%} of the "
            f"constant elements; {self.float_tensors} other constant(s) stay float (biases, parameters, and "
            f"weights of at most {weight_threshold} elements: --weight-threshold)"
        )


def compress(model: Any, config: CoreMLConfig) -> tuple[Any, CompressionStats | None]:
    """Apply the recipe's weight compression (none for the float recipes)."""
    recipe = config.recipe
    if recipe.compression is None:
        return model, None
    import coremltools.optimize.coreml as cto

    start = time.perf_counter()
    if recipe.compression == "linear":
        op_config = cto.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=config.weight_threshold
        )
        with quiet_tensorflow():
            compressed = cto.linear_quantize_weights(model, cto.OptimizationConfig(global_config=op_config))
    else:
        op_config = cto.OpPalettizerConfig(
            mode="kmeans", nbits=recipe.nbits, granularity="per_tensor", weight_threshold=config.weight_threshold
        )
        with quiet_tensorflow():
            compressed = cto.palettize_weights(model, cto.OptimizationConfig(global_config=op_config))
    return compressed, _stats(compressed._mil_program, time.perf_counter() - start)


def _is_float_tensor(value: Any) -> bool:
    # Scalars are parameters (epsilon, scale), not weights.
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 1


def _stats(program: Any, seconds: float) -> CompressionStats:
    counts = [0, 0, 0, 0]
    for op in program.functions["main"].operations:
        value = op.outputs[0]
        if op.op_type.startswith("constexpr_"):
            counts[0] += 1
            counts[1] += int(np.prod(value.shape))
        elif op.op_type == "const" and _is_float_tensor(value.val):
            counts[2] += 1
            counts[3] += value.val.size
    return CompressionStats(*counts, seconds)
