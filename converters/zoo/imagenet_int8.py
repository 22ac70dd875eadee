"""The imagenet model's int8 recipe: every layer int8 except the stem and the first two blocks (float32).

Why: measured with TensorFlow's QuantizationDebugger on real photos, the stem convolution and block 0's
depthwise convolution lose 2.5 and 2.9 output steps (RMSE / scale) when quantized, where every other layer
loses 0.3–0.6: their batch-norm-folded weights reach 17–18 (folding factors up to 54, for channels whose
ReLU6 clips most of the range away), so the 1 % rounding of per-channel int8 weights is already several
steps of a 0..6 output. Full int8 agreed with float32 on 85.6 % of 374 real and augmented photos (top-1);
the stem alone in float 84.5 %, stem and block 0 88.8 %, stem and blocks 0–1 93.9 % (98.9 % where float32's
top-1 leads by more than 0.05), blocks 0–3 93.6 %: so the first two blocks stay float (about 50 M of
the network's 400 M multiply-adds), everything after them is int8.

The file still takes uint8 pixels (as MediaPipe Tasks needs, with the metadata's mean 127 / std 128): its
input is uint8 with scale 1/128 and zero point 127, so the first op, a DEQUANTIZE, computes exactly
(pixel - 127) / 128; the softmax output is uint8 (scale 1/256) as in a full-int8 file.
"""

from __future__ import annotations

import copy

from converters import tflite as tflite_export
from converters.progress import Progress
from converters.recipes import Recipe, RecipeConfig
from edgekit.errors import InvalidModelError

# Keras layer-name prefixes kept in float32 (see the module docstring for the measurements).
FLOAT_LAYERS = ("conv_stem", "bn0", "stem_relu6", "blocks_0_", "blocks_1_")
INPUT_SCALE, INPUT_ZERO_POINT = 1 / 128, 127  # uint8 pixel p stands for (p - 127) / 128


def float_nodes(model_content: bytes, prefixes: tuple[str, ...]) -> list[str]:
    """Names of the op outputs in a (calibrated) TFLite model that come from Keras layers in ``prefixes``.

    TFLite names a fused op's output after all the layers fused into it (``model_1/stem_relu6_1/Relu6;
    model_1/bn0_1/...``): an op is kept in float when its first layer is one of ``prefixes``.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(model_content, 0)
    graph = model.Subgraphs(0)
    names = []
    for index in range(graph.OperatorsLength()):
        operator = graph.Operators(index)
        for position in range(operator.OutputsLength()):
            name = graph.Tensors(operator.Outputs(position)).Name().decode()
            layer = name.split(";")[0].split("/")[1] if "/" in name else name
            if layer.startswith(prefixes):
                names.append(name)
    return names


def uint8_pixel_input(model_content: bytes, scale: float, zero_point: int) -> bytes:
    """Give a model whose first ops are float a uint8 input: a DEQUANTIZE (uint8 → float32) in front.

    Raises:
        InvalidModelError: the model's input is not float32 (nothing to put in front of).
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.python import util

    model = util._convert_model_from_bytearray_to_object(model_content)
    graph = model.subgraphs[0]
    old = graph.inputs[0]
    if graph.tensors[old].type != schema.TensorType.FLOAT32:
        raise InvalidModelError("the partly quantized model's input is not float32", hint="report this")
    tensor = copy.deepcopy(graph.tensors[old])
    tensor.name = tensor.name + b"_uint8" if isinstance(tensor.name, bytes) else tensor.name + "_uint8"
    tensor.type = schema.TensorType.UINT8
    tensor.quantization = schema.QuantizationParametersT()
    tensor.quantization.scale, tensor.quantization.zeroPoint = [scale], [zero_point]
    model.buffers.append(schema.BufferT())
    tensor.buffer = len(model.buffers) - 1
    graph.tensors.append(tensor)
    new = len(graph.tensors) - 1
    code = next(
        (
            number
            for number, opcode in enumerate(model.operatorCodes)
            if max(opcode.builtinCode, opcode.deprecatedBuiltinCode) == schema.BuiltinOperator.DEQUANTIZE
        ),
        None,
    )
    if code is None:
        opcode = schema.OperatorCodeT()
        opcode.builtinCode = opcode.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
        opcode.version = 1
        model.operatorCodes.append(opcode)
        code = len(model.operatorCodes) - 1
    dequantize = schema.OperatorT()
    dequantize.opcodeIndex, dequantize.inputs, dequantize.outputs = code, [new], [old]
    graph.operators.insert(0, dequantize)
    graph.inputs = [new] + list(graph.inputs[1:])
    for signature in model.signatureDefs or []:
        for item in signature.inputs:
            if item.tensorIndex == old:
                item.tensorIndex = new
    return util._convert_model_from_object_to_bytearray(model)


class Exporter(tflite_export.Exporter):
    """The project's TFLite exporter, with the int8 recipe keeping FLOAT_LAYERS in float (other recipes as is)."""

    def convert(self, config: RecipeConfig) -> bytes:
        config = config.for_task(self.card.task)
        if config.recipe is not Recipe.INT8 or config.io_dtype != "uint8":
            return super().convert(config)
        from tensorflow.lite.python import convert as tf_convert
        from tensorflow.lite.python import util

        tf = tflite_export.import_tensorflow()
        self.check(config)
        self.prepare_data()
        converter = self.source.tflite_converter()
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        dataset = self.calibration_set
        progress = Progress("calibrating int8", min(len(dataset), config.calibration_samples), self.show_progress)
        converter.representative_dataset = self._representative(dataset, config.calibration_samples, progress)
        converter._experimental_calibrate_only = True
        with tflite_export.quiet_tensorflow(), progress:
            calibrated = converter.convert()
            quantized = tf_convert.mlir_quantize(
                calibrated,
                fully_quantize=False,
                denylisted_nodes=float_nodes(calibrated, FLOAT_LAYERS),
            )
            model = util._convert_model_from_bytearray_to_object(quantized)
            util._modify_model_output_type(model, tf.uint8)  # the softmax's DEQUANTIZE becomes int8 -> uint8
            quantized = util._convert_model_from_object_to_bytearray(model)
        return uint8_pixel_input(quantized, INPUT_SCALE, INPUT_ZERO_POINT)
