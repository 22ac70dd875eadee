"""The model check that runs before any interpreter sees a .tflite file (edgekit/backends/_tflite_check.py).

Every bundled model and converter-made models pass; hand-made corruptions of a real bundled model are each
refused with a CorruptModelError naming the table and field. Semantic corruptions are made through the
TFLite schema's object API (unpack, change one value, pack again), structural ones by editing bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

import edgekit
from edgekit import limits
from edgekit.backends._tflite_check import verify_tflite
from edgekit.errors import CorruptModelError, InvalidModelError, LimitError
from edgekit.metadata._flatbuf import View

ZOO = Path(edgekit.__file__).parent / "zoo"
BUNDLED = sorted(ZOO.glob("*.tflite"))
INT8 = ZOO / "fashion_int8.tflite"  # per-channel int8 weights, int8 activations, metadata + zip
FLOAT = ZOO / "faces_float32.tflite"


def schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def unpack(path: Path):
    s = schema()
    return s.ModelT.InitFromObj(s.Model.GetRootAs(bytearray(path.read_bytes()), 0))  # writable arrays


def pack(model) -> bytes:
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def refused(data: bytes, table: str, field: str) -> CorruptModelError:
    with pytest.raises(CorruptModelError) as caught:
        verify_tflite(data, "bad.tflite")
    error = caught.value
    assert (error.table, error.field) == (table, field), str(error)
    assert f"{table}.{field}" in str(error) and error.hint
    assert isinstance(error, InvalidModelError)
    return error


def first_quantized(model, per_axis: bool):
    """The first int8 tensor quantized per tensor (or per axis)."""
    graph = model.subgraphs[0]
    for tensor in graph.tensors:
        q = tensor.quantization
        if q is not None and q.scale is not None and (len(q.scale) > 1) == per_axis and tensor.type == 9:  # INT8
            return tensor
    raise AssertionError("no such tensor")


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_every_bundled_model_passes(path):
    verify_tflite(path.read_bytes(), path.name)


def test_repacked_model_passes():
    """The object-API round trip the corruptions below start from is itself accepted."""
    verify_tflite(pack(unpack(INT8)))


def test_int8_zero_point_outside_dtype():
    model = unpack(INT8)
    first_quantized(model, per_axis=False).quantization.zeroPoint[0] = 200
    error = refused(pack(model), "QuantizationParameters", "zero_point")
    assert "200 is outside INT8 (-128..127)" in str(error)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -0.5])
def test_activation_scale_not_finite_positive(value):
    model = unpack(INT8)
    first_quantized(model, per_axis=False).quantization.scale[0] = value
    refused(pack(model), "QuantizationParameters", "scale")


def test_zero_point_count_differs_from_scales():
    model = unpack(INT8)
    tensor = first_quantized(model, per_axis=True)
    tensor.quantization.zeroPoint = tensor.quantization.zeroPoint[:-1]
    refused(pack(model), "QuantizationParameters", "zero_point")


def test_per_axis_scales_wrong_length():
    model = unpack(INT8)
    q = first_quantized(model, per_axis=True).quantization
    q.scale, q.zeroPoint = list(q.scale) + [0.5], list(q.zeroPoint) + [0]
    refused(pack(model), "QuantizationParameters", "scale")


def test_per_axis_dimension_out_of_range():
    model = unpack(INT8)
    first_quantized(model, per_axis=True).quantization.quantizedDimension = 7
    refused(pack(model), "QuantizationParameters", "quantized_dimension")


def test_negative_dimension():
    model = unpack(INT8)
    model.subgraphs[0].tensors[0].shape = [1, -28, 28, 1]
    refused(pack(model), "Tensor", "shape")


@pytest.mark.parametrize("dims", [[257, 224, 224, 3], [1, 8416, 224, 3], [1, 224, 224, 5]])
def test_graph_input_shape_differs_from_its_signature(dims):
    """The interpreter sizes every activation from the inputs: imagenet_int8 with its input's batch turned
    257 (a bit flip) took 4.1 GB of tensors, with one side 8416 638 MB RSS while loading."""
    model = unpack(ZOO / "imagenet_int8.tflite")
    graph = model.subgraphs[0]
    tensor = graph.tensors[graph.inputs[0]]
    assert list(tensor.shapeSignature) == [-1, 224, 224, 3]
    tensor.shape = dims
    error = refused(pack(model), "Tensor", "shape")
    assert "shape_signature" in str(error) and str(dims) in str(error)


def test_constant_buffer_shorter_than_its_shape():
    model = unpack(INT8)
    graph = model.subgraphs[0]
    tensor = next(t for t in graph.tensors if t.buffer and model.buffers[t.buffer].data is not None)
    tensor.shape = [int(d) * 2 for d in tensor.shape]
    refused(pack(model), "Tensor", "buffer")


def test_tensor_buffer_index_out_of_range():
    model = unpack(INT8)
    model.subgraphs[0].tensors[3].buffer = len(model.buffers) + 5
    refused(pack(model), "Tensor", "buffer")


def test_unknown_tensor_type():
    model = unpack(FLOAT)
    model.subgraphs[0].tensors[0].type = 99
    refused(pack(model), "Tensor", "type")


def test_operator_input_out_of_range():
    model = unpack(FLOAT)
    graph = model.subgraphs[0]
    graph.operators[2].inputs[0] = len(graph.tensors) + 1
    refused(pack(model), "Operator", "inputs")


def test_operator_code_index_out_of_range():
    model = unpack(FLOAT)
    model.subgraphs[0].operators[0].opcodeIndex = len(model.operatorCodes)
    refused(pack(model), "Operator", "opcode_index")


def test_subgraph_output_out_of_range():
    model = unpack(FLOAT)
    model.subgraphs[0].outputs[0] = -3
    refused(pack(model), "SubGraph", "outputs")


def test_metadata_buffer_out_of_range():
    model = unpack(INT8)
    model.metadata[0].buffer = 10_000
    refused(pack(model), "Metadata", "buffer")


def test_signature_tensor_index_out_of_range():
    model = unpack(INT8)
    assert model.signatureDefs, "the bundled model has a signature"
    model.signatureDefs[0].inputs[0].tensorIndex = 10_000
    refused(pack(model), "TensorMap", "tensor_index")


def test_external_buffer_past_the_file():
    """Files over 2 GB keep buffers after the flatbuffer (offset, size): both must lie in the file."""
    model = unpack(INT8)
    buffer = model.buffers[model.metadata[0].buffer]
    size = len(buffer.data)
    buffer.data, buffer.offset, buffer.size = None, 1 << 40, size
    refused(pack(model), "Buffer", "offset")


def test_if_options_subgraph_index_out_of_range():
    s = schema()
    model = unpack(FLOAT)
    op = model.subgraphs[0].operators[0]
    options = s.IfOptionsT()
    options.thenSubgraphIndex, options.elseSubgraphIndex = 0, 3
    op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.IfOptions, options
    refused(pack(model), "Operator", "builtin_options.subgraph_index")


def test_oversized_activation_is_a_limit(monkeypatch):
    model = unpack(FLOAT)
    graph = model.subgraphs[0]
    graph.tensors[graph.inputs[0]].shape = [1, 1 << 15, 1 << 15, 3]
    data = pack(model)
    with pytest.raises(LimitError) as caught:
        verify_tflite(data, "big.tflite")
    assert caught.value.limit == "tensor_bytes" and "EDGEKIT_MAX_TENSOR_BYTES" in caught.value.hint
    with limits.override(tensor_bytes=1 << 40):
        verify_tflite(data, "big.tflite")


# ------------------------------------------------------------------ structure (bytes)
def test_truncated_file():
    data = INT8.read_bytes()
    refused(data[: len(data) // 3], "Model", "description")  # strings sit at the end


def test_root_offset_outside_the_file():
    data = bytearray(FLOAT.read_bytes())
    struct.pack_into("<I", data, 0, len(data) + 100)
    refused(bytes(data), "Model", "(table)")


def test_vtable_outside_the_file():
    data = bytearray(FLOAT.read_bytes())
    (root,) = struct.unpack_from("<I", data, 0)
    struct.pack_into("<i", data, root, -(len(data)))
    refused(bytes(data), "Model", "(vtable)")


def test_tensor_vector_pointing_outside_the_file():
    data = bytearray(FLOAT.read_bytes())
    graph = View.root(bytes(data)).tables(2)[0]
    field = graph.tab.Pos + graph.tab.Offset(4)  # SubGraph.tensors
    struct.pack_into("<I", data, field, len(data))
    refused(bytes(data), "SubGraph", "tensors")


def test_string_without_terminator():
    data = bytearray(FLOAT.read_bytes())
    tensor = View.root(bytes(data)).tables(2)[0].tables(0)[0]
    name = tensor.tab.Pos + tensor.tab.Offset(4 + 2 * 3)
    start = name + struct.unpack_from("<I", data, name)[0]
    (length,) = struct.unpack_from("<I", data, start)
    data[start + 4 + length] = ord("x")
    refused(bytes(data), "Tensor", "name")


def test_load_refuses_before_the_interpreter(tmp_path):
    model = unpack(INT8)
    first_quantized(model, per_axis=False).quantization.zeroPoint[0] = -1000
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(pack(model))
    with pytest.raises(CorruptModelError, match="zero_point"):
        edgekit.load(bad)


@pytest.mark.slow
def test_converter_made_models_pass(digits_exports):
    for recipe, path in digits_exports.items():
        verify_tflite(path.read_bytes(), f"{recipe}: {path.name}")
        edgekit.load(path).close()


def test_no_copy_of_the_weights():
    """The check reads numbers through views of the bytes it is given (any buffer type works)."""
    data = INT8.read_bytes()
    verify_tflite(memoryview(data))
    verify_tflite(bytearray(data))
    assert np.frombuffer(data, np.uint8).base is not None


def test_cli_info_names_the_table_and_field(tmp_path, capsys):
    from edgekit.cli.main import main

    model = unpack(INT8)
    first_quantized(model, per_axis=True).quantization.quantizedDimension = 9
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(pack(model))
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "QuantizationParameters.quantized_dimension" in err and "hint:" in err and "internal error" not in err


def test_interpreter_refusing_to_run_is_an_invalid_model_error(tmp_path):
    """A value the check lets through (an int32 bias zero point of 5) but XNNPACK refuses when it prepares
    the graph at the first run: an InvalidModelError with a hint, not a raw RuntimeError."""
    model = unpack(INT8)
    bias = next(
        t for t in model.subgraphs[0].tensors if t.type == 2 and t.quantization and t.quantization.scale is not None
    )
    bias.quantization.zeroPoint = [5] * len(bias.quantization.zeroPoint)
    path = tmp_path / "bias.tflite"
    path.write_bytes(pack(model))
    try:
        loaded = edgekit.load(path)
    except InvalidModelError as exc:  # some interpreters refuse it while loading: as good
        assert exc.hint
        return
    with loaded, pytest.raises(InvalidModelError) as caught:
        spec = loaded.inputs[0]
        loaded.run(np.zeros(spec.shape, spec.dtype))
    assert caught.value.hint and "cannot run" in str(caught.value)


def test_external_buffer_inside_the_file_passes():
    """A buffer stored after the flatbuffer (offset, size; how files over 2 GB keep their weights) passes."""
    model = unpack(INT8)
    entry = next(m for m in model.metadata if m.name in (b"TFLITE_METADATA", "TFLITE_METADATA"))
    buffer = model.buffers[entry.buffer]
    blob = bytes(np.asarray(buffer.data, np.uint8))
    buffer.data, buffer.offset, buffer.size = None, 1 << 40, len(blob)
    length = len(pack(model))
    buffer.offset = length
    data = pack(model)
    assert len(data) == length
    verify_tflite(data + blob)
    from edgekit.metadata.tflite import find_metadata_buffer

    assert find_metadata_buffer(data + blob) == blob
