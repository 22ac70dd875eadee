"""The tflite-runtime rows of the cross-runtime matrix, with the compatibility verdict beside them.

For every bundled model (edgekit/zoo) and every recipe of the digits model (trained and exported here
by the project's converter): the verdict per runtime, what tflite-runtime 2.14 really does (loads?
agreement with ai-edge-litert on the same input bytes), TensorFlow's own tf.lite interpreter's
difference from ai-edge-litert on the same bytes, and what MediaPipe Tasks 1.2.2 and 0.10.21
do when their task for the model kind opens it. Then the speed of tflite-runtime 2.14 against
ai-edge-litert at one thread on one model (XNNPACK is off for quantized models in tflite-runtime).

    python -m benchmarks.fidelity_runtimes [--json] [--speed-model FILE.tflite] [--runs 50]

Needs the third-party venvs (tests/interop/runtime_env.sh makes them once; network the first time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.runtime_matrix import (
    KERNEL_STEPS,
    agreement,
    litert_invoke_ms,
    litert_outputs,
    mediapipe_results,
    sample_inputs,
    tf_lite_outputs,
    tflite_runtime_results,
)

REPO = Path(__file__).resolve().parents[1]

RECIPES = ("float32", "float16", "dynamic", "int8", "int16x8")


def runtime_python(runtime: str) -> str:
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    made = subprocess.run(
        ["bash", str(REPO / "tests" / "interop" / "runtime_env.sh"), runtime],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return made.stdout.strip().splitlines()[-1]


def digits_exports(folder: Path) -> tuple[dict[str, Path], list[Path]]:
    """Train the digits model (as the test fixture does) and export every TFLite recipe."""
    from converters.recipes import RecipeConfig
    from converters.tflite import CardOptions, Exporter, read_labels
    from converters.zoo.digits import train

    train(folder, epochs=30, seed=0)
    exporter = Exporter(
        str(folder / "digits.keras"),
        CardOptions(labels=read_labels(folder / "labels.txt"), name="digits"),
        calibration_path=str(folder / "calibration"),
        show_progress=False,
    )
    paths = {}
    for recipe in RECIPES:
        paths[recipe] = folder / f"digits_{recipe}.tflite"
        exporter.export(RecipeConfig(recipe), paths[recipe])
    return paths, sorted((folder / "test").glob("*.png"))


def run(json_out: bool, speed_model: Path | None = None, runs: int = 50) -> list[dict]:
    """Measure every bundled model and digits recipe; print a table (or JSON lines); return the rows."""
    import edgekit
    from edgekit.compat import check_compatibility

    tflite_python = runtime_python("tflite-runtime-2.14")
    mediapipe_pythons = {"1.2.2": runtime_python("mediapipe-1.2.2"), "0.10.21": runtime_python("mediapipe-0.10.21")}
    speed_model = speed_model or REPO / "edgekit" / "zoo" / "fashion_int8.tflite"
    with tempfile.TemporaryDirectory() as folder:
        digits, pngs = digits_exports(Path(folder) / "digits")
        files = sorted((REPO / "edgekit" / "zoo").glob("*.tflite")) + list(digits.values())
        runs_in = [(path, sample_inputs(path, pngs if path in digits.values() else None)) for path in files]
        speed_inputs = sample_inputs(speed_model)
        measured = tflite_runtime_results(tflite_python, runs_in + [(speed_model, speed_inputs)], {speed_model: runs})
        verdicts = {path: check_compatibility(path) for path in files}
        kinds = [(p, verdicts[p]["mediapipe"].label.split("(")[-1].rstrip(")")) for p in files]
        kinds = [k for k in kinds if k[1] != "MediaPipe Tasks"]
        opened = {
            version: {Path(r["model"]): r for r in mediapipe_results(python, kinds)}
            for version, python in mediapipe_pythons.items()
        }
        rows = []
        for (path, inputs), result in zip(runs_in, measured):
            compat = verdicts[path]
            card = edgekit.load(path).card
            classifier = card is not None and card.task.value.endswith("classifier")
            quantized = card is not None and card.extra.get("recipe") in ("dynamic", "int8", "int16x8")
            row = {
                "file": path.name,
                "verdict": {v.runtime: v.loads for v in compat.verdicts},
                "tflite_runtime_loads": result["loads"],
                "tflite_runtime_error": result["error"],
                "verdict_holds_tflite_runtime": result["loads"] is compat["tflite-runtime"].loads,
            }
            for version, by_path in opened.items():
                got = by_path.get(path)
                row[f"mediapipe_{version}_loads"] = got["loads"] if got else None
                row[f"mediapipe_{version}_error"] = got["error"] if got else ""
            if compat["ai-edge-litert"].loads:  # TensorFlow's own interpreter on the same bytes
                row["agreement_tf_lite"] = agreement(
                    litert_outputs(path, inputs), tf_lite_outputs(path, inputs), classifier, quantized
                )
            if result["loads"]:
                row["agreement"] = agreement(
                    litert_outputs(path, inputs), result["outputs"], classifier, quantized, steps=KERNEL_STEPS
                )
                row["agreement_builtin_kernels"] = agreement(
                    litert_outputs(path, inputs, xnnpack=False), result["outputs"], classifier, quantized
                )
            rows.append(row)
        speed_row = measured[-1]
        speed = {
            "file": speed_model.name,
            "tflite_runtime_ms_p50": speed_row.get("invoke_ms_p50"),
            "ai_edge_litert_ms_p50": litert_invoke_ms(speed_model, speed_inputs[0], runs),
        }
        if speed["tflite_runtime_ms_p50"]:
            speed["slowdown"] = speed["tflite_runtime_ms_p50"] / speed["ai_edge_litert_ms_p50"]
        rows.append({"speed_1_thread": speed})
    _print(rows, json_out)
    return rows


def _print(rows: list[dict], json_out: bool) -> None:
    if json_out:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    yes = {True: "yes", False: "no", None: "?"}
    print(f"{'file':<24} {'verdict tflrt':>13} {'tflrt loads':>11} {'diff vs XNN':>16} {'vs ref':>9} {'top-1':>6}  "
          f"{'verdict MP':>10} {'MP 1.2.2':>8} {'MP 0.10.21':>10} {'tf.lite diff':>12}")  # fmt: skip
    for row in rows:
        if "speed_1_thread" in row:
            s = row["speed_1_thread"]
            print(
                f"\nspeed at 1 thread, {s['file']}: tflite-runtime 2.14 {s['tflite_runtime_ms_p50']:.3f} ms, "
                f"ai-edge-litert {s['ai_edge_litert_ms_p50']:.3f} ms (ratio {s.get('slowdown', 0):.1f}x)"
            )
            continue
        a = row.get("agreement") or {}
        same = row.get("agreement_builtin_kernels") or {}
        diff = f"{a['max_difference']:.3g} {'steps' if a['unit'].startswith('q') else 'abs'}" if a else "-"
        top1 = f"{a['top1_agreement'] * 100:.0f}%" if a.get("top1_agreement") is not None else "-"
        t = row.get("agreement_tf_lite") or {}
        tf_lite = f"{t['max_difference']:.3g}{'' if t['within_tolerance'] else ' (!)'}" if t else "-"
        print(
            f"{row['file']:<24} {yes[row['verdict']['tflite-runtime']]:>13} {yes[row['tflite_runtime_loads']]:>11} "
            f"{diff:>16} {same.get('max_difference', '-')!s:>9} {top1:>6}  "
            f"{yes[row['verdict']['mediapipe']]:>10} {yes[row['mediapipe_1.2.2_loads']]:>8} "
            f"{yes[row['mediapipe_0.10.21_loads']]:>10} {tf_lite:>12}"
        )
    held = all(r.get("verdict_holds_tflite_runtime", True) for r in rows)
    print(f"tflite-runtime verdict holds for every file: {held}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--speed-model", type=Path, help="model for the speed ratio (default: zoo fashion_int8)")
    parser.add_argument("--runs", type=int, default=50, help="timed invokes per runtime (50)")
    args = parser.parse_args()
    run(args.json, args.speed_model, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
