"""Give an existing full-integer .tflite float32 input and output, without converting it again.

An int8 export with uint8 (or int8) input/output starts with a QUANTIZE op (integer → int8) and
ends with one (int8 → integer). MediaPipe's AudioClassifier refuses integer input, and re-exporting
needs the Keras model and its calibration data, which a user (or the zoo, for a model trained on
another machine) may no longer have. This rewrites the boundary in place: the input becomes float32
and its QUANTIZE op now quantizes float → int8 with the same int8 scale and zero point, and the final
QUANTIZE becomes a DEQUANTIZE (int8 → float32). Every integer value inside the graph stays the same,
so the outputs are the old ones dequantized: what the converter makes with ``io_dtype="float32"``
from the same model and calibration (tests/fidelity/test_fidelity_audio.py checks both claims).

    python -m converters.float_io IN.tflite OUT.tflite     # the card's io_dtype becomes float32
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgekit.errors import InvalidModelError

from .source import import_tensorflow

_INTEGER_TYPES = {"UINT8", "INT8"}


def float_interface(data: bytes) -> bytes:
    """The .tflite ``data`` with float32 input and output instead of uint8/int8 ones.

    Args:
        data: a full-integer model whose single input feeds a QUANTIZE op and whose single output
            comes from a QUANTIZE op (what the TFLite converter writes for integer I/O).

    Returns:
        The rewritten flatbuffer (metadata buffers kept as they are; update the card separately).

    Raises:
        InvalidModelError: the model's boundary is not the integer QUANTIZE pattern.
    """
    import_tensorflow()
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    graph = model.subgraphs[0]
    names = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    if len(model.subgraphs) != 1 or len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise InvalidModelError("float_interface handles one subgraph with one input and one output")
    first = _only_op_touching(graph, graph.inputs[0], reads=True)
    last = _only_op_touching(graph, graph.outputs[0], reads=False)
    quantize = schema.BuiltinOperator.QUANTIZE
    for op, tensor in ((first, graph.inputs[0]), (last, graph.outputs[0])):
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) != quantize:
            raise InvalidModelError("the model's integer input/output is not converted by a QUANTIZE op")
        if names[graph.tensors[tensor].type] not in _INTEGER_TYPES:
            raise InvalidModelError("the model's input/output is not uint8 or int8")
    for tensor in (graph.inputs[0], graph.outputs[0]):
        graph.tensors[tensor].type = schema.TensorType.FLOAT32
        graph.tensors[tensor].quantization = None
    dequantize = schema.OperatorCodeT()
    dequantize.builtinCode = dequantize.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
    dequantize.version = 2  # version 2: int8 input
    model.operatorCodes.append(dequantize)
    last.opcodeIndex = len(model.operatorCodes) - 1
    last.builtinOptionsType, last.builtinOptions = schema.BuiltinOptions.DequantizeOptions, schema.DequantizeOptionsT()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _only_op_touching(graph, tensor: int, reads: bool):
    ops = [op for op in graph.operators if tensor in (op.inputs if reads else op.outputs)]
    if len(ops) != 1:
        raise InvalidModelError("the model's input/output is not converted by exactly one op")
    return ops[0]


def rewrite_file(source: Path, target: Path) -> None:
    """``float_interface`` on a file whose edgekit card is updated to say so; written atomically."""
    import edgekit
    from edgekit.io import write_bytes_atomic
    from edgekit.metadata import embed_card

    card = edgekit.load(source).card
    data = float_interface(source.read_bytes())
    if card is not None:
        note = "float32 input/output given to the int8 file by converters.float_io (integer graph unchanged)"
        card = card.replace(extra={**card.extra, "io_dtype": "float32", "interface": note})
        data = embed_card(data, card)
    write_bytes_atomic(target, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args(argv)
    rewrite_file(args.source, args.target)
    print(f"{args.source} -> {args.target}: float32 input and output")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
