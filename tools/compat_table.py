"""Measure which (builtin operator, version) pairs an installed TFLite interpreter resolves; write JSON.

Run it with the python of the runtime's venv (tests/interop/runtime_env.sh tflite-runtime-2.14), the
checkout on the path for edgekit's flatbuffer writer:

    PYTHONPATH=. "$(bash tests/interop/runtime_env.sh tflite-runtime-2.14)" tools/compat_table.py OUT.json

Each probe is a minimal model: one operator code (builtin code, version), one empty subgraph. The
interpreter builder resolves every operator code in the file before it looks at any node (TFLite's
InterpreterBuilder::BuildLocalIndexToRegistrationMapping), so loading the probe succeeds exactly when
the op resolver has a kernel for that version: a measurement, not a reading of release notes. Custom
operators are only looked up when a node uses them, so each is probed with one node, in a child
process (a kernel's Init on an empty node must not take the whole table down).

The JSON (edgekit/compat/tflite_runtime_2.14.json) is read by edgekit.compat without TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # edgekit's flatbuffer writer, run from anywhere

from flatbuffers import number_types as nt  # noqa: E402

from edgekit.metadata._flatbuf import I8, U32, Obj, encode_root  # noqa: E402

I32 = nt.Int32Flags
CODES = range(256)  # every value a builtin code of the current schema can take, and margin
VERSIONS = range(1, 17)  # no builtin reached version 13 by TF 2.21; 16 leaves margin
CUSTOM_CODE, PLACEHOLDER_FOR_GREATER_OP_CODES = 32, 127
# Custom operators a file from elsewhere may carry: the ones TFLite's builtin resolver registers, and
# a Select-TF (Flex) op and an unknown name, which no plain interpreter has.
CUSTOM_NAMES = ("TFLite_Detection_PostProcess", "Mfcc", "AudioSpectrogram", "FlexAddV2", "EdgekitUnknownOp")


def probe_model(code: int, version: int, custom: str | None = None) -> bytes:
    """A model whose only content is one operator code (and, for custom ops, one node using it)."""
    opcode = {0: (I8, min(code, PLACEHOLDER_FOR_GREATER_OP_CODES)), 2: (I32, version), 3: (I32, code)}
    nodes = []
    if custom is not None:
        opcode[1] = custom
        nodes = [Obj(9, {0: (U32, 0), 1: np.zeros(0, np.int32), 2: np.zeros(0, np.int32)})]
    subgraph = Obj(5, {0: [], 1: np.zeros(0, np.int32), 2: np.zeros(0, np.int32), 3: nodes})
    model = Obj(8, {0: (U32, 3), 1: [Obj(4, opcode)], 2: [subgraph], 4: [Obj(3, {})]})
    return encode_root(model, b"TFL3")


def interpreter_class():
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime"
    except ImportError:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"


def loads(model: bytes) -> tuple[bool, str]:
    interpreter, _ = interpreter_class()
    try:
        interpreter(model_content=model).allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        return False, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return True, ""


def custom_op_resolved(name: str) -> bool:
    """Does the interpreter know custom op ``name``? Probed in a child process."""
    child = subprocess.run(
        [sys.executable, __file__, "--custom", name], capture_output=True, text=True, timeout=120, check=False
    )
    # Unresolved: "Encountered unresolved custom op", or for Select-TF ops "Select TensorFlow op(s) … not
    # supported". A known kernel loads, fails later (a node without inputs) or crashes in Init on the
    # empty node: all mean the op resolver found it.
    said = child.stdout + child.stderr
    return "unresolved custom op" not in said and "Select TensorFlow op" not in said


def measure() -> dict:
    _, runtime = interpreter_class()
    versions: dict[str, list[int]] = {}
    for code in CODES:
        if code == CUSTOM_CODE:
            continue
        accepted = [v for v in VERSIONS if loads(probe_model(code, v))[0]]
        if accepted:
            versions[str(code)] = accepted
    return {
        "runtime": runtime,
        "version": metadata.version(runtime),
        "measured_by": "tools/compat_table.py (loading one-operator models into the interpreter)",
        "probed": {"builtin_codes": [CODES.start, CODES.stop - 1], "versions": [VERSIONS.start, VERSIONS.stop - 1]},
        "builtin_versions": versions,
        "custom_ops": {name: custom_op_resolved(name) for name in CUSTOM_NAMES},
    }


def write(table: dict, path: Path) -> None:
    """One operator per line, so a regenerated table diffs readably."""
    lines = ["{"]
    for key in ("runtime", "version", "measured_by", "probed", "custom_ops"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(table[key])},")
    lines.append('  "builtin_versions": {')
    items = list(table["builtin_versions"].items())
    lines += [
        f"    {json.dumps(k)}: {json.dumps(v)}" + ("," if i < len(items) - 1 else "") for i, (k, v) in enumerate(items)
    ]
    lines += ["  }", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", help="where to write the JSON table")
    parser.add_argument("--custom", help=argparse.SUPPRESS)  # child-process probe of one custom op
    args = parser.parse_args(argv)
    if args.custom:
        ok, message = loads(probe_model(CUSTOM_CODE, 1, args.custom))
        print("loaded" if ok else message)
        return 0
    if not args.output:
        parser.error("give the output path")
    write(measure(), Path(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
