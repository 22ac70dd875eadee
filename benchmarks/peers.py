"""edgekit against its peers on the same .tflite files, side by side in one run (issue 17's table).

Contenders, each in its own process so each one's CPU time, page faults and peak memory are its own:
- ``edgekit``: the task (ImageClassifier, ObjectDetector, TextClassifier) on a 640x480 RGB frame;
- ``mediapipe``: MediaPipe Tasks 1.2.2 in its own venv (``tests/interop/runtime_env.sh``), the same task
  on the same file and frame;
- ``bare``: a LiteRT interpreter doing set_tensor + invoke + get_tensor on an already-resized input;
- ``loop``: the plain numpy + OpenCV loop a user would write (cv2.resize, normalize, invoke, top 5).

Rounds are interleaved and their order alternates, so machine load hits every contender alike; ratios
are taken round by round against ``bare`` and reported as medians. CPU time (``time.process_time`` in
each worker) stands beside wall time: under load, wall time favours MediaPipe, which hands work to its
own threads. The run also checks exactness: edgekit's scores against MediaPipe's on the same frame.

    python -m benchmarks.peers [--rounds 15] [--calls 20] [--models DIR] [--json]

The workers are this same file (``--worker KIND``), run by the project's python (with the repository as
PYTHONPATH) or MediaPipe's (isolated, ``-I``: the workers on that side import only MediaPipe and numpy).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAME_SIZE = (640, 480)
SENTENCE = "The match went to extra time before the home side scored the winning goal."


# ----------------------------------------------------------------------------- workers (child side)
def _frame():
    import numpy as np

    return np.load(os.environ["PEERS_FRAME"])


def _clip():
    """A minute of 16 kHz audio (seeded noise: a window model's cost does not depend on what it hears)."""
    import numpy as np

    return np.random.default_rng(0).normal(0, 0.3, 16000 * 60).astype(np.float32)


def _top(scores, count=5):
    import numpy as np

    flat = np.asarray(scores, np.float32).reshape(-1)
    order = np.argsort(-flat, kind="stable")[:count]
    return [[int(i), float(flat[i])] for i in order]


def _bare_input(interpreter, frame, kind):
    """The model's input made once, outside the timed loop (as the issue's 'bare' baseline)."""
    import cv2
    import numpy as np

    detail = interpreter.get_input_details()[0]
    if kind == "text":  # token ids: a short sentence's worth, zero-padded
        ids = np.zeros(detail["shape"], detail["dtype"])
        ids.reshape(-1)[:16] = np.arange(1, 17)
        return ids
    _, height, width, _ = detail["shape"]
    resized = cv2.resize(frame, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    if detail["dtype"] == np.float32:
        return ((resized.astype(np.float32) - 127.5) / 127.5)[None]
    return resized[None].astype(detail["dtype"])


def make_worker(kind: str, model: str):
    """(call, check): one timed call, and what it answers for the exactness check."""
    task, _, contender = kind.partition(":")
    frame = _frame() if task not in ("text", "audio") else None
    if task == "audio":
        return _audio_worker(contender, model)
    if contender == "edgekit":
        import edgekit

        if task == "image":
            runner = edgekit.ImageClassifier.create_from_model_path(model, max_results=5)

            def call():
                return runner.classify(frame)

            def check():
                return [[c.index, c.score] for c in call().classifications[0].categories]
        elif task == "face":
            runner = edgekit.ObjectDetector.create_from_model_path(model)

            def call():
                return runner.detect(frame)

            def check():
                return [[d.box.x, d.box.y, d.categories[0].score] for d in call().detections]
        else:
            runner = edgekit.TextClassifier.create_from_model_path(model)

            def call():
                return runner.classify(SENTENCE)

            def check():
                return [[c.index, c.score] for c in call().classifications[0].categories]

        return call, check
    if contender == "mediapipe":
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, text, vision

        base = BaseOptions(model_asset_path=model)
        if task == "image":
            runner = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions(base, max_results=5))
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)

            def call():
                return runner.classify(image)

            def check():
                return [[c.index, c.score] for c in call().classifications[0].categories]
        elif task == "face":
            options = vision.FaceDetectorOptions(base, min_detection_confidence=0.5, min_suppression_threshold=0.3)
            runner = vision.FaceDetector.create_from_options(options)
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)

            def call():
                return runner.detect(image)

            def check():
                return [
                    [d.bounding_box.origin_x, d.bounding_box.origin_y, d.categories[0].score] for d in call().detections
                ]
        else:
            runner = text.TextClassifier.create_from_options(text.TextClassifierOptions(base))

            def call():
                return runner.classify(SENTENCE)

            def check():
                return [[c.index, c.score] for c in call().classifications[0].categories]

        return call, check
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=model, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if contender == "bare":
        tensor = _bare_input(interpreter, frame, task)

        def call():
            interpreter.set_tensor(inp["index"], tensor)
            interpreter.invoke()
            return interpreter.get_tensor(out["index"])

        return call, lambda: _top(call())
    import cv2
    import numpy as np

    _, height, width, _ = inp["shape"]
    floats = inp["dtype"] == np.float32
    scale, zero_point = out["quantization"]

    def call():  # the loop a user writes: resize, normalize, run, top 5
        resized = cv2.resize(frame, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
        tensor = ((resized.astype(np.float32) - 127.5) / 127.5)[None] if floats else resized[None]
        interpreter.set_tensor(inp["index"], tensor)
        interpreter.invoke()
        scores = interpreter.get_tensor(out["index"])[0]
        if scale:
            scores = (scores.astype(np.float32) - zero_point) * scale
        return np.argsort(-scores)[:5]

    return call, lambda: call().tolist()


def _audio_worker(contender: str, model: str):
    """One call = one minute of audio: edgekit's clip mode (the card's hop, or hop = window as MediaPipe
    strides), MediaPipe's AudioClassifier, or the bare interpreter on the minute's windows side by side."""
    clip = _clip()
    if contender.startswith("edgekit"):
        import edgekit

        runner = edgekit.AudioClassifier.create_from_model_path(model, max_results=5)
        if contender.endswith("hop=window"):  # MediaPipe's stride in clip mode: one window after the other
            runner = edgekit.AudioClassifier.create_from_model_path(model, max_results=5, hop_ms=runner.window_ms)

        def call():
            return runner.classify(clip, 16000)

        def check():
            return [[c.index, c.score] for c in call().classifications[0].classifications[0].categories]

        return call, check
    if contender == "mediapipe":
        from mediapipe.tasks.python import BaseOptions, audio
        from mediapipe.tasks.python.components.containers import audio_data

        options = audio.AudioClassifierOptions(base_options=BaseOptions(model_asset_path=model), max_results=5)
        runner = audio.AudioClassifier.create_from_options(options)
        data = audio_data.AudioData.create_from_array(clip, 16000)

        def call():
            return runner.classify(data)

        def check():
            return [[c.index, c.score] for c in call()[0].classifications[0].categories]

        return call, check
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=model, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero_point = inp["quantization"]
    width = int(inp["shape"][-1])  # the model's window (1 s or 2 s at 16 kHz), windows side by side
    windows = clip[: clip.size // width * width].reshape(-1, 1, width)
    if scale:  # quantized once, outside the timed loop
        info = np.iinfo(inp["dtype"])
        windows = np.clip(np.rint(windows / np.float32(scale) + zero_point), info.min, info.max).astype(inp["dtype"])

    def call():
        for window in windows:
            interpreter.set_tensor(inp["index"], window)
            interpreter.invoke()
            scores = interpreter.get_tensor(out["index"])
        return scores

    return call, lambda: _top(call())


def worker(kind: str, model: str) -> int:
    """Serve commands on stdin (one JSON line each), answer on stdout: ready, run N, check, quit."""
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing a library prints may break the protocol
    started = time.process_time()
    call, check = make_worker(kind, model)
    for _ in range(5):  # warm up (XNNPACK packs weights on the first invoke)
        call()
    ready = {"setup_cpu_s": time.process_time() - started}
    out.write(json.dumps(ready) + "\n")
    out.flush()
    for line in sys.stdin:
        command = json.loads(line)
        if "run" in command:
            usage, cpu, wall = resource.getrusage(resource.RUSAGE_SELF), time.process_time(), time.perf_counter()
            for _ in range(command["run"]):
                call()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - usage.ru_minflt
            reply = {"wall_s": wall, "cpu_s": cpu, "minflt": faults}
        elif "check" in command:
            reply = {"answer": check()}
        else:
            reply = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            out.write(json.dumps(reply) + "\n")
            out.flush()
            os._exit(0)  # MediaPipe's tasks raise at interpreter shutdown when left open
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


# ----------------------------------------------------------------------------- orchestration (parent side)
class Worker:
    def __init__(self, python: str, kind: str, model: Path, frame: Path):
        env = dict(os.environ, PEERS_FRAME=str(frame), PYTHONPATH=str(ROOT))
        flags = ["-I"] if "mediapipe" in kind else []  # MediaPipe's venv must not see the project's path
        self.kind = kind
        self.process = subprocess.Popen(
            [python, *flags, str(Path(__file__).resolve()), "--worker", kind, str(model)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(frame.parent / f"worker-{kind.replace(':', '-')}.log", "w"),  # noqa: SIM115
            text=True,
            env=env,
        )
        self.ready = self._read()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.kind} died (run it with --worker to see why)")
        return json.loads(line)

    def ask(self, command: dict) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> float:
        peak = self.ask({"quit": True})["peak_rss_mib"]
        self.process.wait(timeout=30)
        return peak


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def compare(name: str, workers: dict[str, Worker], rounds: int, calls: int) -> dict:
    """Interleaved rounds, order reversed every other round; per-call figures and ratios to ``bare``."""
    per = {kind: {"wall_ms": [], "cpu_ms": [], "minflt": []} for kind in workers}
    for round_index in range(rounds):
        order = list(workers) if round_index % 2 == 0 else list(workers)[::-1]
        for kind in order:
            reply = workers[kind].ask({"run": calls})
            per[kind]["wall_ms"].append(reply["wall_s"] / calls * 1000)
            per[kind]["cpu_ms"].append(reply["cpu_s"] / calls * 1000)
            per[kind]["minflt"].append(reply["minflt"] / calls)
    answers = {kind: worker.ask({"check": True})["answer"] for kind, worker in workers.items()}
    row: dict = {"model": name, "contenders": {}}
    for kind, series in per.items():
        entry = {key: median(values) for key, values in series.items()}
        if "bare" in per and kind != "bare":
            for key in ("wall_ms", "cpu_ms"):
                entry[f"{key.split('_')[0]}_x_bare"] = median([a / b for a, b in zip(series[key], per["bare"][key])])
        if "mediapipe" in per and kind.startswith("edgekit"):
            for key in ("wall_ms", "cpu_ms"):
                entry[f"{key.split('_')[0]}_mediapipe_over_edgekit"] = median(
                    [b / a for a, b in zip(series[key], per["mediapipe"][key])]
                )
        entry["setup_cpu_s"] = workers[kind].ready["setup_cpu_s"]
        row["contenders"][kind] = entry
    row["answers"] = answers
    ours = answers.get("edgekit-hop=window", answers.get("edgekit"))
    if "mediapipe" in answers and ours is not None:
        row["exactness"] = _agreement(ours, answers["mediapipe"])
    return row


def _agreement(ours, theirs) -> dict:
    """Top-5 (index, score) pairs, or face (x, y, score) rows: the scores compared position by position.

    With random weights (MobileNetV2 here) many classes tie, and the two sides may list tied classes in
    another order: ``tied_order_only`` says the classes differ only within equal scores.
    """
    diff = max((abs(a[-1] - b[-1]) for a, b in zip(ours, theirs)), default=0.0)
    result = {"count": [len(ours), len(theirs)], "max_score_diff": diff}
    if ours and len(ours[0]) == 2:
        same = [round(a[0]) for a in ours] == [round(b[0]) for b in theirs]
        result["same_top_classes"] = same
        if not same:
            scores = dict((round(i), v) for i, v in ours) | dict((round(i), v) for i, v in theirs)
            result["tied_order_only"] = diff == 0.0 and all(
                scores[round(a[0])] == scores[round(b[0])] for a, b in zip(ours, theirs)
            )
    else:
        result["max_position_diff_px"] = max(
            (max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(ours, theirs)), default=0.0
        )
    return result


def export_models(folder: Path) -> dict[str, Path]:
    """MobileNetV2 alpha 1.0 224 (weights=None) as float32 and int8 with uint8 I/O, by the project's converter."""
    paths = {recipe: folder / f"mobilenetv2_{recipe}.tflite" for recipe in ("float32", "int8")}
    if all(path.exists() for path in paths.values()):
        return paths
    subprocess.run(
        [sys.executable, "-m", "benchmarks.peers", "--export", str(folder)],
        check=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    return paths


def _export(folder: Path) -> None:
    from benchmarks.mobilenetv2 import make_images
    from converters.recipes import RecipeConfig
    from converters.source import import_tensorflow
    from converters.tflite import CardOptions, Exporter

    import_tensorflow()
    import keras

    folder.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(alpha=1.0, input_shape=(224, 224, 3), weights=None)
    make_images(folder / "calibration", 40)
    exporter = Exporter(
        model,
        CardOptions(mean=(127.5,), std=(127.5,), name="mobilenetv2"),
        calibration_path=str(folder / "calibration"),
        calibration_samples=32,
        verification_samples=8,
        show_progress=False,
    )
    exporter.prepare_data()
    exporter.export(RecipeConfig("float32"), folder / "mobilenetv2_float32.tflite", force=True)
    exporter.export(
        RecipeConfig("int8", calibration_samples=32, verification_samples=8),
        folder / "mobilenetv2_int8.tflite",
        force=True,
    )


BARE_SCRIPT = """
import sys, cv2, numpy as np
from ai_edge_litert.interpreter import Interpreter
interpreter = Interpreter(model_path=sys.argv[1], num_threads=1)
interpreter.allocate_tensors()
inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
_, height, width, _ = inp["shape"]
image = cv2.resize(cv2.imread(sys.argv[2])[:, :, ::-1], (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
tensor = ((image.astype(np.float32) - 127.5) / 127.5)[None] if inp["dtype"] == np.float32 else image[None]
interpreter.set_tensor(inp["index"], tensor)
interpreter.invoke()
scores = interpreter.get_tensor(out["index"])[0]
print([(int(i), float(scores[i])) for i in np.argsort(-scores)[:5]])
"""


def startup(model: Path, image: Path, repeats: int) -> dict:
    """`edgekit run MODEL IMAGE` against a bare LiteRT + OpenCV script: CPU time of the whole process.

    The bare script imports OpenCV (about 30-50 ms of CPU) to read and resize; a one-shot edgekit run does not
    (pyspng/simplejpeg and the numpy warp, the same pixels). Measured 2026-12-03, quiet: 0.98x (1.30x while
    edgekit imported OpenCV too).
    """
    # Bytecode as an installed package has it (pip compiles on install): a PYTHONDONTWRITEBYTECODE
    # environment would make every edgekit run compile the project's sources, which the bare script
    # (its libraries have their .pyc) never pays. The .pyc go to a private prefix, not the checkout.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=str(model.parent / "pycache"))
    commands = {
        "edgekit run": [sys.executable, "-m", "edgekit", "run", str(model), str(image)],
        "bare script": [sys.executable, "-c", BARE_SCRIPT, str(model), str(image)],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # once untimed: bytecode written, files in the page cache
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for index in range(repeats):
        for name in list(commands) if index % 2 == 0 else list(commands)[::-1]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(commands[name], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            times[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    # import edgekit in CPU time (fair under load): the process minus one that imports only numpy and
    # flatbuffers (what edgekit itself needs), alternating; and edgekit's own modules by -X importtime
    # (wall clock, so inflated on a loaded machine).
    imports = {"edgekit": "import edgekit", "deps": "import numpy, flatbuffers"}
    import_cpu: dict[str, list[float]] = {name: [] for name in imports}
    for index in range(repeats * 2):
        for name in list(imports) if index % 2 == 0 else list(imports)[::-1]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-c", imports[name]], check=True, env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            import_cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    own = []
    for _ in range(repeats):
        trace = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import edgekit"], env=env, capture_output=True, text=True
        ).stderr
        own.append(
            sum(
                int(line.split("|")[0].split(":")[1])
                for line in trace.splitlines()
                if line.rstrip().split("|")[-1].strip().startswith("edgekit")
            )
            / 1000
        )
    result = {f"{name}_cpu_s": median(values) for name, values in times.items()}
    result["run_x_bare_cpu"] = median([a / b for a, b in zip(times["edgekit run"], times["bare script"])])
    result["import_edgekit_own_ms"] = median(own)
    result["import_edgekit_cpu_over_deps_ms"] = (median(import_cpu["edgekit"]) - median(import_cpu["deps"])) * 1000
    return result


KEYWORD_CONTENDERS = ("edgekit", "edgekit-hop=window", "mediapipe", "bare")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20, help="calls per contender per round")
    parser.add_argument("--models", type=Path, default=Path.home() / ".cache" / "edgekit" / "peers")
    parser.add_argument(
        "--only", default="", help="comma-separated rows: float32,int8,face,text,keywords,keywords-int8,startup"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--without",
        default="",
        help="comma-separated contenders to leave out (e.g. mediapipe, when its venv is not made)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--export", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)
    if args.export:
        _export(args.export)
        return 0

    import cv2
    import numpy as np
    from skimage import data

    load_before = os.getloadavg()
    folder = args.models
    folder.mkdir(parents=True, exist_ok=True)
    rows_wanted = set(filter(None, args.only.split(","))) or {
        "float32",
        "int8",
        "face",
        "text",
        "keywords",
        "keywords-int8",
        "startup",
    }
    models = export_models(folder) if rows_wanted & {"float32", "int8", "startup"} else {}
    frame = cv2.resize(data.astronaut(), FRAME_SIZE, interpolation=cv2.INTER_AREA)
    np.save(folder / "frame.npy", frame)
    cv2.imwrite(str(folder / "frame.png"), frame[:, :, ::-1])
    left_out = set(filter(None, args.without.split(",")))
    mediapipe = (
        ""
        if "mediapipe" in left_out
        else (
            subprocess.run(
                ["bash", str(ROOT / "tests/interop/runtime_env.sh"), "mediapipe-1.2.2"],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    )
    from edgekit import zoo

    plan = [
        ("float32", "image", models.get("float32"), ("edgekit", "mediapipe", "bare", "loop")),
        ("int8", "image", models.get("int8"), ("edgekit", "mediapipe", "bare", "loop")),
        ("face", "face", zoo.path("faces", "float32"), ("edgekit", "mediapipe", "bare")),
        ("text", "text", zoo.path("topics", "float16"), ("edgekit", "mediapipe", "bare")),
        ("keywords", "audio", zoo.path("keywords", "float16"), KEYWORD_CONTENDERS),
        ("keywords-int8", "audio", zoo.path("keywords", "int8"), ("edgekit", "edgekit-hop=window", "bare")),
    ]
    report: dict = {"machine": {"cpus": os.cpu_count(), "loadavg_before": load_before}, "rows": []}
    for name, task, model, contenders in plan:
        if name not in rows_wanted:
            continue
        workers = {}
        try:
            for kind in (k for k in contenders if k not in left_out):
                python = mediapipe if kind == "mediapipe" else sys.executable
                workers[kind] = Worker(python, f"{task}:{kind}", model, folder / "frame.npy")
            calls = max(1, args.calls // 10) if task == "audio" else args.calls  # an audio call is a minute
            row = compare(f"{name} ({model.name})", workers, args.rounds, calls)
        finally:
            peaks = {kind: w.close() for kind, w in workers.items()}
        for kind, peak in peaks.items():
            row["contenders"][kind]["peak_rss_mib"] = peak
        report["rows"].append(row)
        if not args.json:
            print_row(row)
    if "startup" in rows_wanted:
        report["startup"] = startup(models["float32"], folder / "frame.png", repeats=5)
        if not args.json:
            print("\nstartup (CPU time of the whole process, median of 5, alternating):")
            for key, value in report["startup"].items():
                print(f"  {key:<28} {value:.3f}")
    report["machine"]["loadavg_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"\nload average before {load_before}, after {report['machine']['loadavg_after']} on {os.cpu_count()} CPUs"
        )
    return 0


def print_row(row: dict) -> None:
    print(f"\n{row['model']}: per call, medians over rounds")
    print(f"  {'':<19} {'wall ms':>8} {'cpu ms':>8} {'wall/bare':>9} {'cpu/bare':>9} {'minflt':>7} {'peak MiB':>9}")
    for kind, entry in row["contenders"].items():
        wall_x, cpu_x = entry.get("wall_x_bare"), entry.get("cpu_x_bare")
        print(
            f"  {kind:<19} {entry['wall_ms']:8.3f} {entry['cpu_ms']:8.3f} "
            f"{'' if wall_x is None else f'{wall_x:.3f}x':>9} {'' if cpu_x is None else f'{cpu_x:.3f}x':>9} "
            f"{entry['minflt']:7.1f} {entry['peak_rss_mib']:9.1f}"
        )
    for kind, edge in row["contenders"].items():
        if "cpu_mediapipe_over_edgekit" in edge:
            print(
                f"  MediaPipe time / {kind} time: wall {edge['wall_mediapipe_over_edgekit']:.3f}x, "
                f"cpu {edge['cpu_mediapipe_over_edgekit']:.3f}x"
            )
    if "exactness" in row:
        print(f"  exactness vs MediaPipe: {row['exactness']}")


if __name__ == "__main__":
    sys.exit(main())
