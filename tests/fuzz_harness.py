"""A seeded fuzzer for edgekit: mutated bundled models and bad input files, each case in a child process.

Cases are numbered; case ``i`` of seed ``s`` is rebuilt from ``numpy.random.default_rng([s, i])`` inside the
child, so a failure is reproduced by its number alone (``--models N --cases I``). Model cases mutate one
bundled model (bit flips, overwritten bytes, truncation, a changed zero point or scale, a damaged appended
zip or edgekit.json), then load it, describe it (``info()`` and ``check_compatibility``, as ``edgekit info``
does), make its task and run it once on zeros. Input cases feed damaged images, WAVs, .npy arrays and texts
through ``edgekit run``'s FileRunner.

Children run batches of cases under ``resource.setrlimit(RLIMIT_AS)`` and report each case as it starts
and ends (with its CPU time and the child's peak RSS); a case still running after 60 s is killed. A child
killed by a signal thus points at its case: that case is re-run alone to confirm, and the rest of the batch
continues in a new child. Outcomes:

    ok         no error
    clean      an EdgekitError (with a message and hint)
    raw        any other exception (a broken error promise)
    crash      the child died from a signal (segfault, abort)
    timeout    a case used more than 10 s of CPU, or was killed after the wall-clock limit
    memory     MemoryError under the address-space limit

    python -m tests.fuzz_harness [--models 2000] [--inputs 300] [--seed 0] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "edgekit" / "zoo"
MODELS = sorted(p.name for p in ZOO.glob("*.tflite"))
MODEL_MUTATIONS = ("bitflip", "overwrite", "truncate", "zero_point", "scale", "zip", "card")
INPUT_KINDS = ("image", "wav", "npy", "text")
CPU_LIMIT_S = 10.0  # a case over this is a "timeout"
WALL_LIMIT_S = 60.0  # a case still running after this (on a loaded machine) is killed
ADDRESS_SPACE = 6 << 30  # per child: far above the 500 MB RSS target, below the machine's memory
BATCH = 150


# ============================================================================ the child
@dataclass
class Anchors:
    """Byte positions inside one model worth mutating (found once per child)."""

    data: bytes
    zero_points: list[tuple[int, int]] = field(default_factory=list)  # (position, dtype code)
    scales: list[int] = field(default_factory=list)
    zip_start: int = -1
    card_span: tuple[int, int] | None = None


def _anchors(name: str) -> Anchors:
    from edgekit.metadata._flatbuf import View

    data = (ZOO / name).read_bytes()
    anchors = Anchors(data)
    root = View.root(data)
    for graph in root.tables(2):
        for tensor in graph.tables(0):
            q = tensor.table(4)
            if q is None:
                continue
            kind = tensor.scalar(1, __import__("flatbuffers").number_types.Int8Flags)
            for slot, out in ((3, "zp"), (2, "scale")):
                off = q.tab.Offset(4 + 2 * slot)
                if not off:
                    continue
                start, count = q.tab.Vector(off), q.tab.VectorLen(off)
                for k in range(count):
                    if out == "zp":
                        anchors.zero_points.append((start + 8 * k, kind))
                    else:
                        anchors.scales.append(start + 4 * k)
    end = data.rfind(b"PK\x05\x06")
    if end > 0:
        (cd_offset,) = struct.unpack_from("<I", data, end + 16)
        (cd_size,) = struct.unpack_from("<I", data, end + 12)
        first = data.find(b"PK\x03\x04", 0, end)
        anchors.zip_start = first if first > 0 else cd_offset
        del cd_size
        card = data.find(b'{\n  "', anchors.zip_start)
        if card > 0:
            close = data.find(b"\n}", card)
            anchors.card_span = (card, close + 2)
    return anchors


def _bomb_zip(data: bytes, anchors: Anchors, rng: np.random.Generator) -> bytes:
    """The model with its zip replaced by one of too many files, or one whose directory claims a deflated
    entry of 200 MB in 2 bytes (a zip bomb's ratio)."""
    stream = io.BytesIO()
    stream.write(data[: anchors.zip_start])
    with zipfile.ZipFile(stream, "a", compression=zipfile.ZIP_STORED) as archive:
        if rng.random() < 0.5:
            for index in range(int(rng.integers(1001, 1100))):
                archive.writestr(f"f{index}.txt", b"x")
        else:
            archive.writestr("labels.txt", b"a\n")
    blob = bytearray(stream.getvalue())
    if rng.random() < 0.5 and blob.rfind(b"PK\x01\x02") > 0:  # claim 200 MB in the directory
        central = blob.rfind(b"PK\x01\x02")
        struct.pack_into("<HH", blob, central + 8, 0, 8)  # flags, deflated
        struct.pack_into("<II", blob, central + 20, 2, 200 << 20)  # compressed, uncompressed size
    return bytes(blob)


def mutate_model(seed: int, index: int, cache: dict[str, Anchors]) -> tuple[str, str, bytes]:
    """(model name, mutation, mutated bytes) of model case ``index``."""
    rng = np.random.default_rng([seed, index])
    name = MODELS[int(rng.integers(len(MODELS)))]
    if name not in cache:
        cache[name] = _anchors(name)
    anchors = cache[name]
    kind = MODEL_MUTATIONS[int(rng.integers(len(MODEL_MUTATIONS)))]
    data = bytearray(anchors.data)
    size = len(data)

    # where: mostly the flatbuffer's tables (the first and last tens of kB), sometimes anywhere
    def position() -> int:
        region = rng.random()
        if region < 0.4:
            return int(rng.integers(0, min(size, 65536)))
        if region < 0.8:
            return int(rng.integers(max(0, size - 65536), size))
        return int(rng.integers(0, size))

    if kind == "bitflip":
        for _ in range(int(rng.integers(1, 9))):
            at = position()
            data[at] ^= 1 << int(rng.integers(8))
    elif kind == "overwrite":
        at = position()
        length = int(rng.integers(1, 17))
        choice = rng.random()
        if choice < 0.3:
            fill = b"\xff" * length
        elif choice < 0.5:
            fill = b"\0" * length
        else:
            fill = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        data[at : at + length] = fill[: size - at]
    elif kind == "truncate":
        cut = int(rng.integers(0, size)) if rng.random() < 0.5 else int(size - rng.integers(1, 4096))
        data = data[: max(cut, 0)]
    elif kind == "zero_point" and anchors.zero_points:
        at, _ = anchors.zero_points[int(rng.integers(len(anchors.zero_points)))]
        value = int(rng.choice([-129, 128, 255, 256, -1, 1, 127, -128, 32767, 1 << 31, -(1 << 40)]))
        if rng.random() < 0.3:
            value = int(rng.integers(-300, 300))
        struct.pack_into("<q", data, at, value)
    elif kind == "scale" and anchors.scales:
        at = anchors.scales[int(rng.integers(len(anchors.scales)))]
        value = float(rng.choice([0.0, -1.0, np.nan, np.inf, -np.inf, 1e-45, 1e38, 1e-30, 1e30, 3.0]))
        struct.pack_into("<f", data, at, value)
    elif kind == "zip" and anchors.zip_start > 0:
        if rng.random() < 0.3:
            data = bytearray(_bomb_zip(bytes(data), anchors, rng))
        else:
            for _ in range(int(rng.integers(1, 6))):
                at = int(rng.integers(anchors.zip_start, size))
                data[at] = int(rng.integers(256)) if rng.random() < 0.5 else data[at] ^ (1 << int(rng.integers(8)))
    elif kind == "card" and anchors.card_span:
        start, end = anchors.card_span
        card = json.loads(bytes(data[start:end]))
        _mutate_card(card, rng)
        blob = json.dumps(card, indent=2).encode()
        if rng.random() < 0.15:
            blob = b"[" * 100_000 + b"]" * 100_000  # deep nesting
        # Keep the length so the zip's offsets still hold (pad with spaces, or cut: a broken card is a case too)
        blob = blob[: end - start].ljust(end - start, b" ")
        data[start:end] = blob
        _fix_crc(data, "edgekit.json", start, end)
    else:  # the model has no such anchor: flip a byte instead
        at = position()
        data[at] ^= 0xFF
        kind = "bitflip"
    return name, kind, bytes(data)


def _fix_crc(data: bytearray, name: str, start: int, end: int) -> None:
    """Write the CRC of the changed (stored) entry into its local header and central directory record,
    so the change reaches the card parser instead of stopping at zipfile's CRC check."""
    crc = zlib.crc32(bytes(data[start:end]))
    local = data.rfind(b"PK\x03\x04", 0, start)
    if local >= 0:
        struct.pack_into("<I", data, local + 14, crc)
    central = data.find(b"PK\x01\x02", end)
    while central >= 0:
        (length,) = struct.unpack_from("<H", data, central + 28)
        if bytes(data[central + 46 : central + 46 + length]) == name.encode():
            struct.pack_into("<I", data, central + 16, crc)
            return
        central = data.find(b"PK\x01\x02", central + 4)


def _mutate_card(card: dict, rng: np.random.Generator) -> None:
    section = next((k for k in ("image", "audio", "text") if isinstance(card.get(k), dict)), None)
    choices = [
        ("labels", ["x"] * int(rng.integers(0, 3))),
        ("task", str(rng.choice(["image-classifier", "object-detector", "audio-classifier", "text-classifier", "?"]))),
        ("name", None),
        ("labels", 5),
    ]
    if section:
        spec = card[section]
        for key in list(spec)[:20]:
            choices.append((f"{section}.{key}", None))
            value = spec[key]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                for new in (0, -1, 1e9, 10**12, 0.5, float("nan") if rng.random() < 0.3 else 1e-9):
                    choices.append((f"{section}.{key}", new))
            if isinstance(value, str):
                choices.append((f"{section}.{key}", "(((" if rng.random() < 0.5 else "\\p{Zzz}"))
            if isinstance(value, list):
                choices.append((f"{section}.{key}", []))
                choices.append((f"{section}.{key}", [0] * 7))
    key, value = choices[int(rng.integers(len(choices)))]
    if "." in key:
        section_name, sub = key.split(".", 1)
        card[section_name][sub] = value
    else:
        card[key] = value


def _image_case(rng: np.random.Generator, folder: Path) -> Path:
    import cv2

    height, width = int(rng.integers(1, 64)), int(rng.integers(1, 64))
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    suffix = str(rng.choice([".png", ".jpg", ".bmp", ".webp", ".tiff", ".ppm"]))
    ok, encoded = cv2.imencode(suffix, pixels)
    data = bytearray(encoded.tobytes()) if ok else bytearray(b"")
    choice = rng.random()
    if choice < 0.15:  # header claims a huge size
        big = int(rng.choice([70_000, 200_000, 65_535, 1 << 30]))
        if suffix == ".png":
            struct.pack_into(">II", data, 16, big, big)
        elif suffix == ".bmp":
            struct.pack_into("<ii", data, 18, big, -big)
        elif suffix == ".jpg":
            sof = data.find(b"\xff\xc0")
            if sof > 0:
                struct.pack_into(">HH", data, sof + 5, min(big, 65535), min(big, 65535))
        else:
            data[10:20] = b"\xff" * 10
    elif choice < 0.3:
        data = data[: int(rng.integers(0, max(1, len(data))))]
    elif choice < 0.55:
        for _ in range(int(rng.integers(1, 8))):
            if data:
                at = int(rng.integers(len(data)))
                data[at] = int(rng.integers(256))
    elif choice < 0.65:
        data = bytearray(rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8).tobytes())
    elif choice < 0.7:
        data = bytearray(b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\0" * 20)
    path = folder / f"case{suffix}"
    path.write_bytes(bytes(data))
    return path


def _wav_case(rng: np.random.Generator, folder: Path) -> Path:
    rate = int(rng.choice([16000, 8000, 44100]))
    samples = (np.sin(np.arange(int(rng.integers(0, rate))) * 0.05) * 8000).astype("<i2")
    fmt = [1, 1, rate, rate * 2, 2, 16]  # format, channels, rate, byte rate, align, bits
    data_len = samples.nbytes
    choice = rng.random()
    if choice < 0.5:
        slot = int(rng.integers(6))
        fmt[slot] = int(
            rng.choice(
                [0, 1, 3, 7, 12, 255, 65535, 1 << 31, 0xFFFFFFFF]
                if slot in (2, 3)
                else [0, 1, 3, 7, 12, 255, 1000, 65535]
            )
        )
    elif choice < 0.65:
        data_len = int(rng.choice([0, 0xFFFFFFFF, data_len * 1000, 1, 3]))
    body = struct.pack("<4sI4s", b"RIFF", 36 + samples.nbytes, b"WAVE")
    body += struct.pack(
        "<4sIHHIIHH", b"fmt ", 16, *[v & (0xFFFFFFFF if i in (2, 3) else 0xFFFF) for i, v in enumerate(fmt)]
    )
    body += struct.pack("<4sI", b"data", data_len & 0xFFFFFFFF) + samples.tobytes()
    raw = bytearray(body)
    if 0.65 <= choice < 0.8:
        raw = raw[: int(rng.integers(0, len(raw) + 1))]
    elif 0.8 <= choice < 0.95:
        for _ in range(int(rng.integers(1, 5))):
            at = int(rng.integers(0, min(len(raw), 48)))
            raw[at] = int(rng.integers(256))
    path = folder / "case.wav"
    path.write_bytes(bytes(raw))
    return path


def _npy_case(rng: np.random.Generator, folder: Path) -> Path:
    shape = [(1, 28, 28, 1), (28, 28, 1), (1, 28, 28), (3, 28, 28, 1), (0,), (1, 2, 3, 4, 5, 6, 7), ()][
        int(rng.integers(7))
    ]
    dtype = str(rng.choice(["float32", "float64", "int8", "uint8", "int64", "bool", "complex64", "U3", "uint16"]))
    array = np.zeros(shape, dtype=dtype)
    if dtype.startswith("float") and array.size and rng.random() < 0.4:
        array.flat[0] = rng.choice([np.nan, np.inf, 1e30])
    stream = io.BytesIO()
    np.save(stream, array)
    raw = bytearray(stream.getvalue())
    choice = rng.random()
    if choice < 0.3:
        raw = raw[: int(rng.integers(0, len(raw) + 1))]
    elif choice < 0.55:
        header = raw.find(b"'shape': (")
        if header > 0:
            raw[header + 10 : header + 10] = b"100000000, "
    elif choice < 0.75:
        for _ in range(int(rng.integers(1, 5))):
            at = int(rng.integers(0, min(len(raw), 128)))
            raw[at] = int(rng.integers(32, 127))
    elif choice < 0.8:
        raw = bytearray(b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(128))
    path = folder / "case.npy"
    path.write_bytes(bytes(raw))
    return path


def _text_case(rng: np.random.Generator) -> str:
    choice = rng.random()
    if choice < 0.2:
        return "word " * int(rng.integers(1000, 200_000))
    if choice < 0.4:
        return "".join(
            chr(int(c)) for c in rng.integers(1, 0x10FFFF, int(rng.integers(0, 200))) if not 0xD800 <= c < 0xE000
        )
    if choice < 0.5:
        return ""
    if choice < 0.6:
        return "\0" * int(rng.integers(1, 100))
    return " ".join(str(w) for w in rng.choice(["the", "laptop", "<PAD>", "<START>", "<UNKNOWN>", "ß", "🙂"], 20))


def input_case(seed: int, index: int, folder: Path) -> tuple[str, str, str]:
    """(model file name, input kind, input: a path or a text) of input case ``index``."""
    rng = np.random.default_rng([seed, index, 1])
    kind = INPUT_KINDS[int(rng.integers(len(INPUT_KINDS)))]
    if kind == "image":
        return str(rng.choice(["fashion_int8.tflite", "faces_float32.tflite"])), kind, str(_image_case(rng, folder))
    if kind == "wav":
        return "keywords_int8.tflite", kind, str(_wav_case(rng, folder))
    if kind == "npy":
        return "fashion_int8.tflite", kind, str(_npy_case(rng, folder))
    return "topics_int8.tflite", kind, _text_case(rng)


def _run_model(path: Path) -> None:
    import edgekit
    from edgekit.cli.run_files import FileRunner
    from edgekit.compat import check_compatibility

    model = edgekit.load(path)
    try:
        model.info()
        check_compatibility(path)  # what `edgekit info` adds: every runtime's verdict
        FileRunner(model).task()
        arrays = []
        for spec in model.inputs:
            if int(np.prod(spec.shape)) * spec.dtype.itemsize > 64 << 20:
                return
            arrays.append(np.zeros(spec.shape, spec.dtype))
        model.run(*arrays)
    finally:
        model.close()


def _run_input(model_name: str, item: str, runners: dict) -> None:
    import edgekit
    from edgekit.cli.run_files import FileRunner

    if model_name not in runners:
        runners[model_name] = FileRunner(edgekit.load(ZOO / model_name))
    runners[model_name].run(item)


def _peak_rss_mb() -> int:
    """This process's own peak RSS: VmHWM of its memory map. Not ru_maxrss: Linux carries the forked parent's
    high-water mark across exec into it, so a child of a 1.4 GB pytest process (after the training tests) reported
    1.4 GB from its first case on."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def child_main(seed: int, cases: list[int], models: int) -> None:
    """Run ``cases`` one after another, printing ``S i`` when one starts and ``R i outcome cpu rss detail`` after."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    os.environ.setdefault("EDGEKIT_INTERPRETER", "ai-edge-litert")
    from edgekit.errors import EdgekitError

    folder = Path(tempfile.mkdtemp(prefix="edgekit-fuzz-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    cache: dict[str, Anchors] = {}
    runners: dict = {}
    out = sys.stdout
    crash_case = int(os.environ.get("EDGEKIT_FUZZ_CRASH_CASE", "-1"))  # the harness's own test
    for index in cases:
        out.write(f"S {index}\n")
        out.flush()
        if index == crash_case:
            os.kill(os.getpid(), signal.SIGSEGV)
        cpu = time.process_time()
        detail = ""
        try:
            if index < models:
                _, _, data = mutate_model(seed, index, cache)
                path = folder / "case.tflite"
                path.write_bytes(data)
                _run_model(path)
            else:
                model_name, _, item = input_case(seed, index, folder)
                _run_input(model_name, item, runners)
            outcome = "ok"
        except MemoryError:
            outcome = "memory"
        except EdgekitError as exc:
            outcome = "clean"
            if not exc.hint:  # still a clean error; counted so the hints can be completed
                detail = f"no hint: {type(exc).__name__}: {exc}"[:300]
        except Exception as exc:  # the broken error promise the fuzzer looks for
            outcome, detail = "raw", f"{type(exc).__name__}: {exc}"[:300]
            import traceback

            frames = traceback.extract_tb(exc.__traceback__)
            if frames:
                detail += f" @ {Path(frames[-1].filename).name}:{frames[-1].lineno}"
        used = time.process_time() - cpu
        rss = _peak_rss_mb()
        if used > CPU_LIMIT_S:
            outcome = "timeout"
        out.write(f"R {index} {outcome} {used:.3f} {rss} {json.dumps(detail)}\n")
        out.flush()


# ============================================================================ the parent
@dataclass
class Result:
    index: int
    outcome: str
    cpu_s: float = 0.0
    rss_mb: int = 0
    detail: str = ""
    rss_step_mb: int = 0  # how much this case raised its child's peak RSS


def _spawn(seed: int, cases: list[int], models: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.fuzz_harness", "--child", "--seed", str(seed), "--models", str(models)]
    command += ["--cases", ",".join(map(str, cases))]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
    )


def _run_batch(seed: int, cases: list[int], models: int) -> tuple[list[Result], int | None, int | None]:
    """Run cases in one child: (results, the case that was running when the child died, its signal)."""
    process = _spawn(seed, cases, models)
    results: list[Result] = []
    running: int | None = None
    started = time.monotonic()
    assert process.stdout is not None
    while True:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            parts = line.rstrip("\n").split(" ", 5)
            if parts[0] == "S":
                running, started = int(parts[1]), time.monotonic()
            elif parts[0] == "R":
                result = Result(int(parts[1]), parts[2], float(parts[3]), int(parts[4]), json.loads(parts[5]))
                result.rss_step_mb = result.rss_mb - (results[-1].rss_mb if results else 0)
                results.append(result)
                running = None
        elif running is not None and time.monotonic() - started > WALL_LIMIT_S:
            process.kill()
            process.wait()
            return results, running, -1
        if process.poll() is not None and not ready:
            break
    code = process.wait()
    if running is not None:
        return results, running, -code if code < 0 else code
    return results, None, None


def run_cases(seed: int, cases: list[int], models: int, workers: int = 2) -> list[Result]:
    """Run every case (batches on ``workers`` children); a case that kills its child is re-run alone."""
    pending = [cases[i : i + BATCH] for i in range(0, len(cases), BATCH)]
    results: list[Result] = []
    active: list[tuple[list[int], subprocess.Popen]] = []
    from concurrent.futures import ThreadPoolExecutor

    def work(batch: list[int]) -> list[Result]:
        out: list[Result] = []
        while batch:
            got, culprit, code = _run_batch(seed, batch, models)
            out += got
            done = {r.index for r in got}
            if culprit is None:
                missing = [i for i in batch if i not in done]
                if not missing:
                    break
                culprit = missing[0]  # the child ended without starting it (should not happen)
                code = code or 0
            # re-run the culprit alone: a crash that repeats is the case's; one that does not is still a crash
            alone, again, alone_code = _run_batch(seed, [culprit], models)
            if alone:
                out += alone
            elif alone_code == -1 or code == -1:
                out.append(Result(culprit, "timeout", WALL_LIMIT_S, 0, "killed after the wall-clock limit"))
            else:
                name = signal.Signals(-alone_code).name if alone_code and alone_code < 0 else f"exit {alone_code}"
                out.append(Result(culprit, "crash", 0.0, 0, f"child died: {name}"))
            del again
            batch = [i for i in batch if i not in done and i != culprit]
        return out

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for got in pool.map(work, pending):
            results += got
    del active
    return results


def describe(seed: int, index: int, models: int) -> str:
    if index < models:
        rng = np.random.default_rng([seed, index])
        name = MODELS[int(rng.integers(len(MODELS)))]
        kind = MODEL_MUTATIONS[int(rng.integers(len(MODEL_MUTATIONS)))]
        return f"model/{kind} ({name})"
    rng = np.random.default_rng([seed, index, 1])
    return f"input/{INPUT_KINDS[int(rng.integers(len(INPUT_KINDS)))]}"


OUTCOMES = ("ok", "clean", "raw", "crash", "timeout", "memory")


def table(seed: int, results: list[Result], models: int) -> str:
    rows: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        rows[describe(seed, r.index, models).split(" ")[0]][r.outcome] += 1
    lines = [f"{'case kind':20}" + "".join(f"{o:>9}" for o in OUTCOMES) + f"{'total':>9}"]
    total: Counter = Counter()
    for kind in sorted(rows):
        total.update(rows[kind])
        lines.append(f"{kind:20}" + "".join(f"{rows[kind][o]:9d}" for o in OUTCOMES) + f"{sum(rows[kind].values()):9d}")
    lines.append(f"{'all':20}" + "".join(f"{total[o]:9d}" for o in OUTCOMES) + f"{sum(total.values()):9d}")
    return "\n".join(lines)


def fuzz(seed: int, models: int, inputs: int, workers: int = 2) -> tuple[list[Result], float]:
    start = time.monotonic()
    cases = list(range(models + inputs))
    results = run_cases(seed, cases, models, workers)
    return sorted(results, key=lambda r: r.index), time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--inputs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cases", default="", help="run only these case numbers (comma-separated)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.seed, [int(i) for i in args.cases.split(",") if i], args.models)
        return 0
    if args.cases:
        results = run_cases(args.seed, [int(i) for i in args.cases.split(",")], args.models, args.workers)
        elapsed = 0.0
    else:
        results, elapsed = fuzz(args.seed, args.models, args.inputs, args.workers)
    print(f"seed {args.seed}: {args.models} model mutants, {args.inputs} bad inputs, {elapsed:.0f} s")
    print(table(args.seed, results, args.models))
    peak = max((r.rss_mb for r in results), default=0)
    slowest = max(results, key=lambda r: r.cpu_s, default=None)
    print(f"peak RSS of a child: {peak} MB; slowest case: {slowest.cpu_s if slowest else 0:.2f} s CPU")
    for r in sorted(results, key=lambda r: -r.rss_step_mb)[:5]:
        print(f"  case {r.index} [{describe(args.seed, r.index, args.models)}] raised its child's RSS to {r.rss_mb} MB")
    no_hint = [r for r in results if r.outcome == "clean" and r.detail.startswith("no hint")]
    print(f"clean errors without a hint: {len(no_hint)}")
    for message, count in Counter(r.detail.split(" (")[0][:120] for r in no_hint).most_common(8):
        print(f"  {count:5d}  {message}")
    bad = [r for r in results if r.outcome in ("raw", "crash", "timeout", "memory")]
    for r in bad[:40]:
        print(f"  case {r.index} [{describe(args.seed, r.index, args.models)}]: {r.outcome} {r.detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
