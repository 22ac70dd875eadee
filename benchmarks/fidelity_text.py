"""Text fidelity: the bundled topics models in edgekit vs other runtimes, on the 558 held-out lines.

For every bundled topics recipe, edgekit's TextClassifier (ai-edge-litert) is the reference; each
other runtime gets the same .tflite and the same lines:

- MediaPipe Tasks 1.2.2 and 0.10.21 (TextClassifier, tokenizing on their own from the standard metadata);
- tf.lite and tflite-runtime 2.14 (interpreters only: fed edgekit's token ids).

Prints, per model and runtime: whether it loads, top-1 agreement with edgekit, the largest score
difference, and the accuracy on the labels. The lines are regenerated from chatterbot-corpus as
converters/zoo/topics.py splits them (no network); the runtimes' venvs come from
tests/interop/runtime_env.sh (made once per machine, needs PyPI the first time).

    python -m benchmarks.fidelity_text [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
INTEROP = REPO / "tests" / "interop"
ZOO = REPO / "edgekit" / "zoo"
MODELS = ["topics_float16.tflite", "topics_int8.tflite"]
VENV_RUNTIMES = {  # runtime name → (runtime_env.sh argument, script run in that venv, feeds text or ids)
    "mediapipe-1.2.2": ("mediapipe-1.2.2", "mediapipe_text.py", "text"),
    "mediapipe-0.10.21": ("mediapipe-0.10.21", "mediapipe_text.py", "text"),
    "tflite-runtime-2.14": ("tflite-runtime-2.14", "tflite_runtime_text.py", "ids"),
}


def venv_python(runtime: str) -> str:
    made = subprocess.run(
        ["bash", str(INTEROP / "runtime_env.sh"), runtime], capture_output=True, text=True, timeout=1800
    )
    if made.returncode != 0:
        raise RuntimeError(f"could not make the {runtime} venv: {made.stderr[-500:]}")
    return made.stdout.strip().splitlines()[-1]


def run_in_venv(python: str, script: str, model: Path, payload: list, work: Path) -> np.ndarray | str:
    """Scores from ``script`` in another venv, or the reason it failed (first line of its error)."""
    data = work / "payload.json"
    data.write_text(json.dumps(payload))
    run = subprocess.run(
        [python, "-I", str(INTEROP / script), str(model), str(data)], capture_output=True, text=True, timeout=900
    )
    if run.returncode != 0:
        failed = [line for line in run.stderr.splitlines() if "failed:" in line]
        return (failed or run.stderr.strip().splitlines() or ["no output"])[-1][:200]
    return np.array(json.loads(run.stdout.strip().splitlines()[-1])["scores"], dtype=np.float64)


def edgekit_scores(model: Path, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """edgekit's scores by class index and the token ids it fed."""
    import edgekit

    with edgekit.TextClassifier.create_from_model_path(model, max_results=-1) as classifier:
        ids = np.stack([classifier.tokenizer(line) for line in lines])
        rows = []
        for line in lines:
            scores = np.zeros(len(classifier.labels))
            for category in classifier.classify(line).categories:
                scores[category.index] = category.score
            rows.append(scores)
    return np.stack(rows), ids


def tf_lite_scores(model: Path, ids: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero_point = target["quantization"]
    rows = []
    for row in ids:
        interpreter.set_tensor(source["index"], row[None].astype(source["dtype"]))
        interpreter.invoke()
        out = interpreter.get_tensor(target["index"])[0].astype(np.float64)
        rows.append((out - zero_point) * scale if scale else out)
    return np.stack(rows)


def run(json_out: bool = False) -> list[dict]:
    """Measure every (model, runtime) cell; print one line (or JSON object) per cell; return the cells."""
    from converters.zoo.topics import load_split

    rows = load_split(seed=0)["test"]
    lines, labels = [text for text, _ in rows], np.array([label for _, label in rows])
    pythons = {}
    for name, (runtime, _, _) in VENV_RUNTIMES.items():
        try:
            pythons[name] = venv_python(runtime)
        except RuntimeError as error:
            pythons[name] = error
    results = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for file_name in MODELS:
            model = ZOO / file_name
            reference, ids = edgekit_scores(model, lines)
            cells: dict[str, np.ndarray | str] = {"tf.lite": tf_lite_scores(model, ids)}
            for name, (_, script, feed) in VENV_RUNTIMES.items():
                python = pythons[name]
                if isinstance(python, Exception):
                    cells[name] = f"no venv: {python}"
                    continue
                cells[name] = run_in_venv(python, script, model, lines if feed == "text" else ids.tolist(), work)
            cell = {"model": file_name, "runtime": "edgekit (ai-edge-litert)", "lines": len(lines), "loads": True}
            results.append({**cell, "accuracy": float(np.mean(reference.argmax(1) == labels))})
            for name, scores in cells.items():
                cell = {"model": file_name, "runtime": name, "lines": len(lines)}
                if isinstance(scores, str):
                    results.append({**cell, "loads": False, "reason": scores})
                    continue
                results.append(
                    {
                        **cell,
                        "loads": True,
                        "top1_agreement": float(np.mean(scores.argmax(1) == reference.argmax(1))),
                        "max_score_difference": float(np.abs(scores - reference).max()),
                        "accuracy": float(np.mean(scores.argmax(1) == labels)),
                    }
                )
    for cell in results:
        if json_out:
            print(json.dumps(cell))
        elif not cell["loads"]:
            print(f"{cell['model']:<22} {cell['runtime']:<26} does not load: {cell['reason']}")
        elif "top1_agreement" not in cell:
            print(f"{cell['model']:<22} {cell['runtime']:<26} reference            accuracy {cell['accuracy']:.2%}")
        else:
            print(
                f"{cell['model']:<22} {cell['runtime']:<26} agreement {cell['top1_agreement']:7.2%}  "
                f"max diff {cell['max_score_difference']:.2g}  accuracy {cell['accuracy']:.2%}"
            )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per cell")
    run(parser.parse_args().json)
