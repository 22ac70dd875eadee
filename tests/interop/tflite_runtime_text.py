"""Run a text model on given token ids with tflite-runtime; print the scores as JSON.

Runs inside the tflite-runtime 2.14 venv made by ``runtime_env.sh`` (numpy<2, no edgekit). The
token ids come from edgekit's tokenizer (proven equal to MediaPipe's RegexTokenizer by
tests/fidelity/test_fidelity_text.py), so this checks only the interpreter: does the file load, and does it
compute the same scores as ai-edge-litert.

    python tflite_runtime_text.py MODEL.tflite TOKENS.json

TOKENS.json: a JSON list of token-id lists, one per text. Output: ``{"scores": [[...] per text]}``
with scores dequantized if the output is quantized. Exit 1 (message on stderr) if it cannot load.
"""

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} MODEL.tflite TOKENS.json", file=sys.stderr)
        return 2
    import numpy as np

    try:
        from tflite_runtime.interpreter import Interpreter

        interpreter = Interpreter(model_path=argv[1], num_threads=1)
        interpreter.allocate_tensors()
    except Exception as exc:  # an unknown operator version is a ValueError/RuntimeError with the op in the text
        print(f"tflite-runtime failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    with open(argv[2], encoding="utf-8") as handle:
        tokens = json.load(handle)
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero_point = target["quantization"]
    rows = []
    for ids in tokens:
        interpreter.set_tensor(source["index"], np.asarray([ids], dtype=source["dtype"]))
        interpreter.invoke()
        out = interpreter.get_tensor(target["index"])[0].astype(np.float64)
        rows.append(((out - zero_point) * scale if scale else out).tolist())
    print(json.dumps({"scores": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
