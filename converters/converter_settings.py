"""TFLite converter settings per recipe, shared by the exporter and its second process (converters.prefetch)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .progress import Progress
from .recipes import Recipe, RecipeConfig
from .source import import_tensorflow


def representative_data(arrays: Sequence[np.ndarray], limit: int, progress: Progress | None = None):
    """TFLite's representative dataset: the first ``limit`` samples of ``arrays``, one at a time."""

    def generate() -> Iterable[list[np.ndarray]]:
        for index in range(min(len(arrays[0]), limit)):
            yield [array[index : index + 1] for array in arrays]
            if progress is not None:
                progress.update()

    return generate


def configure_converter(converter: Any, config: RecipeConfig, representative: Any = None) -> None:
    """Set a TFLiteConverter up for ``config`` (``representative``: the calibration data of int8/int16x8).

    The only place a recipe becomes converter settings: the exporter and its second process
    (``converters.prefetch``) both use it, so their files are the same bytes.
    """
    tf = import_tensorflow()
    recipe = config.recipe
    if recipe is not Recipe.FLOAT32:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if recipe is Recipe.FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
    if recipe.needs_calibration:
        converter.representative_dataset = representative
    if recipe is Recipe.INT8:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[config.io_dtype]
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    if recipe is Recipe.INT16X8:
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        # 16x8 is always quantized by the older quantizer, which calibrates by itself; with the MLIR
        # quantizer on (the default) TF first runs a calibration pass whose result it then drops. Off,
        # the file is byte-identical and the calibration data runs once (EfficientNet: 130 ms a sample).
        converter.experimental_new_quantizer = False
