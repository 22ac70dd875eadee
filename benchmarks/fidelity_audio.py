"""Audio fidelity: the bundled keyword spotter in MediaPipe Tasks' AudioClassifier vs edgekit, window by window.

For each bundled keywords file and each MediaPipe version (1.2.2, current; 0.10.21, older apps), both
runtimes classify the same clips: real read speech from Debian's pocketsphinx-testdata and keywords
spoken by espeak-ng, each clip also started 250/500/750 ms later so windows fall at four phases.
Windows are framed as MediaPipe frames them (back to back, the last padded with zeros; edgekit with
its hop set to the window length) and matched by their place in the clip. Printed per row: whether
MediaPipe loads the file, windows compared, top-1 agreement, windows only one side produced, and the
largest score difference. The target is >= 99 % window agreement.

The ``44100 Hz`` rows feed the same clips resampled to 44.1 kHz by sox (a phone microphone's rate):
then each runtime resamples to the model's 16 kHz with its own resampler, so they measure that too.

    python -m benchmarks.fidelity_audio [--json] [--rates 16000,44100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from tests.interop import mediapipe_audio  # the host side of tests/interop/mediapipe_audio.py

REPO = Path(__file__).resolve().parents[1]

MODELS = ["keywords_int8", "keywords_float16"]
RUNTIMES = ["mediapipe-1.2.2", "mediapipe-0.10.21"]
TARGET = 0.99


def runtime_python(runtime: str) -> str:
    """The venv's python for ``runtime``, made (once per machine) by tests/interop/runtime_env.sh."""
    made = subprocess.run(
        ["bash", str(REPO / "tests" / "interop" / "runtime_env.sh"), runtime], capture_output=True, text=True
    )
    if made.returncode != 0:
        raise RuntimeError(f"could not make the {runtime} venv:\n{made.stderr[-2000:]}")
    return made.stdout.strip().splitlines()[-1]


def _resampled(clips: list[Path], folder: Path, rate_hz: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for clip in clips:
        target = folder / clip.name
        subprocess.run(["sox", "-V1", "-D", str(clip), "-r", str(rate_hz), str(target)], check=True)
        out.append(target)
    return out


def run(json_out: bool, rates_hz: tuple[int, ...] = (16000,)) -> list[dict]:
    """Measure every (model, MediaPipe version, clip rate); print a table (or JSON lines); return the rows."""
    import edgekit

    rows = []
    with tempfile.TemporaryDirectory() as work:
        native = mediapipe_audio.write_clips(Path(work) / "16000")
        clip_sets = {16000: native}
        for rate in rates_hz:
            if rate != 16000:
                clip_sets[rate] = _resampled(native, Path(work) / str(rate), rate)
        pythons = {runtime: runtime_python(runtime) for runtime in RUNTIMES}
        for name in MODELS:
            model = REPO / "edgekit" / "zoo" / f"{name}.tflite"
            spec = edgekit.load(model).card.audio
            window_ms = spec.window_samples * 1000 / spec.sample_rate_hz
            for rate, clips in clip_sets.items():
                ours = mediapipe_audio.edgekit_windows(model, clips)
                for runtime, python in pythons.items():
                    row = {"model": name, "runtime": runtime, "clip_rate_hz": rate, "clips": len(clips)}
                    try:
                        version, theirs = mediapipe_audio.mediapipe_windows(python, model, clips)
                    except RuntimeError as error:
                        row |= {"loads": False, "reason": str(error).splitlines()[-1][:200]}
                    else:
                        row |= {"loads": True, "mediapipe": version}
                        row |= mediapipe_audio.compare(theirs, ours, window_ms)
                        row["meets_target"] = row["agreement"] >= TARGET
                    rows.append(row)
                    _print(row, json_out)
    return rows


def _print(row: dict, json_out: bool) -> None:
    if json_out:
        print(json.dumps(row), flush=True)
        return
    where = f"{row['model']:<17} {row['runtime']:<18} {row['clip_rate_hz']:>6} Hz"
    if not row["loads"]:
        print(f"{where}  does not load: {row['reason']}", flush=True)
        return
    print(
        f"{where}  windows {row['windows']:>4}  agreement {row['agreement']:7.2%}  unmatched {row['unmatched']}  "
        f"max score difference {row['max_score_difference']:.2g}  {'ok' if row['meets_target'] else 'BELOW TARGET'}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--rates", default="16000,44100", help="clip sample rates to feed (Hz, comma-separated)")
    args = parser.parse_args(argv)
    rows = run(args.json, tuple(int(rate) for rate in args.rates.split(",")))
    native = [row for row in rows if row["clip_rate_hz"] == 16000]
    return 0 if all(row.get("meets_target") for row in native) else 1


if __name__ == "__main__":
    raise SystemExit(main())
