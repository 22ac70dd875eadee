"""Load models into tflite-runtime and run them on given input tensors; one JSON line per model.

Runs inside the tflite-runtime 2.14 venv (runtime_env.sh; numpy<2), with tflite-runtime's own
Interpreter (not edgekit), so it is an independent measurement of what that runtime does.

    python tflite_runtime_run.py MANIFEST.json
    MANIFEST: [{"model": PATH, "inputs": IN.npy or null, "outputs": OUT.npy}, ...]
    IN.npy holds N input tensors stacked (each in the model's own dtype and shape); OUT.npy gets the
    first output of each, stacked. Prints {"model", "loads", "error", "runtime"} per entry; with
    "repeat": N in an entry, also "invoke_ms_p50": the median of N timed invoke() calls on its first
    input, after 10 untimed ones (one thread).
"""

import json
import sys


def run(entry: dict) -> dict:
    import numpy as np
    import tflite_runtime
    from tflite_runtime.interpreter import Interpreter

    answer = {"model": entry["model"], "runtime": f"tflite-runtime {tflite_runtime.__version__}"}
    try:
        interpreter = Interpreter(model_path=entry["model"], num_threads=1)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        return answer | {"loads": False, "error": str(exc).strip().splitlines()[0]}
    if entry.get("inputs"):
        inputs = np.load(entry["inputs"])
        detail_in = interpreter.get_input_details()[0]
        detail_out = interpreter.get_output_details()[0]
        outputs = []
        for tensor in inputs:
            interpreter.set_tensor(detail_in["index"], tensor[None])
            interpreter.invoke()
            outputs.append(interpreter.get_tensor(detail_out["index"])[0].copy())
        np.save(entry["outputs"], np.stack(outputs))
        if entry.get("repeat"):
            import time

            interpreter.set_tensor(detail_in["index"], inputs[0][None])
            times = []
            for run_number in range(10 + int(entry["repeat"])):
                start = time.perf_counter()
                interpreter.invoke()
                if run_number >= 10:
                    times.append((time.perf_counter() - start) * 1e3)
            answer["invoke_ms_p50"] = float(np.median(times))
    return answer | {"loads": True, "error": ""}


def main(argv: list) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} MANIFEST.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        for entry in json.load(handle):
            print(json.dumps(run(entry)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
