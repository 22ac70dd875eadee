"""`edgekit train image-classifier` on a big folder: peak memory (issue 13: 5,000 images of 4 MP under 3 GB RSS).

Writes N JPEG photos of W x H pixels (default 5,000 at 2304 x 1728, 4 MP) in 5 class folders: each class a
colour scheme and shape (smooth, camera-sized images, 0.3-0.6 MB each), then trains on them in a child
process with the frozen imagenet backbone and samples the child's resident memory every second. Prints the
peak (VmHWM, the kernel's high-water mark), the RSS samples over time, the wall time and the test accuracy.
With several recipes (--quantize float32,...,int16x8) the trainer converts int16x8 in a process of its own:
the samples are then of both together, and their peak is printed as the job's. Measured 2026-12-03 with
--images 1000 and all five recipes: trainer 1.57 GB, the job 2.52 GB, 126 s.

    python -m benchmarks.train_memory [--images 5000] [--width 2304 --height 1728] [--folder DIR] [--keep]

The images are written once per folder (kept with --keep and reused). Augmented copies are embedded after
the resize to 224 px, in batches of 32, so they cost time, not memory: --augment-copies 0 (default here)
keeps the run short; pass 2 for the trainer's default.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

CLASSES = ("red_discs", "green_bars", "blue_rings", "yellow_squares", "grey_stripes")


def _photo(args: tuple[Path, int, int, int, int]) -> None:
    """One smooth photo of class ``label``: drawn at 1/8 size, upscaled (a camera's smooth gradients)."""
    import cv2

    path, label, index, width, height = args
    rng = np.random.default_rng(label * 1_000_003 + index)
    w, h = width // 8, height // 8
    base = np.array([[200, 60, 60], [60, 170, 60], [60, 80, 200], [210, 200, 50], [128, 128, 128]][label])
    canvas = np.clip(base * rng.uniform(0.5, 1.1) + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 3)
    colour = tuple(int(c) for c in 255 - base)
    for _ in range(rng.integers(2, 6)):
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(h // 12, h // 4))
        if label == 0:
            cv2.circle(canvas, (x, y), r, colour, -1)
        elif label == 1:
            cv2.rectangle(canvas, (x, 0), (x + r // 2, h), colour, -1)
        elif label == 2:
            cv2.circle(canvas, (x, y), r, colour, max(2, r // 5))
        elif label == 3:
            cv2.rectangle(canvas, (x, y), (x + r, y + r), colour, -1)
        else:
            cv2.line(canvas, (0, y), (w, y + r), colour, max(2, r // 6))
    image = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image.astype(np.int16) + rng.integers(-3, 4, image.shape, dtype=np.int16), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    path.write_bytes(encoded.tobytes())


def write_photos(root: Path, count: int, width: int, height: int) -> float:
    """``count`` photos in ``root/<class>/`` (skipped when already there); returns the seconds it took."""
    start = time.perf_counter()
    jobs = []
    for index in range(count):
        label = index % len(CLASSES)
        path = root / CLASSES[label] / f"{index:05d}.jpg"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            jobs.append((path, label, index, width, height))
    with Pool(os.cpu_count() or 1) as pool:
        for done, _ in enumerate(pool.imap_unordered(_photo, jobs, chunksize=16), 1):
            if done % 500 == 0:
                print(f"  wrote {done}/{len(jobs)} photos", flush=True)
    return time.perf_counter() - start


CHILD = """
import json, sys, time
from pathlib import Path
from converters.train import TrainOptions, train_image_classifier
data, out, copies, quantize = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
start = time.perf_counter()
result = train_image_classifier(data, out, TrainOptions(quantize=quantize, show=False), augment_copies=copies,
                                cache_dir=Path(out).parent / "cache")
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
rows = [(r["file"], r["test_accuracy"]) for r in result.report["exports"] if r["written"]]
print(json.dumps({"seconds": time.perf_counter() - start, "vmhwm_kib": int(peak),
                  "source_test": result.report["source"]["test_accuracy"], "exports": rows,
                  "split": result.report["data"]["split"]}))
"""


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            return int(next(line for line in status if line.startswith("VmRSS")).split()[1])
    except (OSError, StopIteration):
        return None


def _tree_rss_kib(pid: int) -> int | None:
    """RSS of ``pid`` and every process under it (with several recipes asked, the trainer converts int16x8
    in a child process: the job's memory is both)."""
    own = _rss_kib(pid)
    if own is None:
        return None
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                children += [int(c) for c in listing.read().split()]
    except OSError:
        children = []
    return own + sum(_tree_rss_kib(child) or 0 for child in children)


def train_and_watch(data: Path, folder: Path, copies: int, quantize: str) -> tuple[dict, list[tuple[float, int]]]:
    out = folder / "model"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(folder / "cache", ignore_errors=True)  # embeddings computed for real, every run
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data), str(out), str(copies), quantize],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    samples, start = [], time.monotonic()
    while child.poll() is None:
        rss = _tree_rss_kib(child.pid)
        if rss is not None:
            samples.append((time.monotonic() - start, rss))
        time.sleep(1.0)
    output = child.stdout.read() if child.stdout else ""
    if child.returncode != 0:
        raise SystemExit(f"training failed (exit {child.returncode}); output:\n{output}")
    return json.loads(output.strip().splitlines()[-1]), samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--width", type=int, default=2304)
    parser.add_argument("--height", type=int, default=1728)
    parser.add_argument("--augment-copies", type=int, default=0)
    parser.add_argument("--quantize", default="int8", help="recipes exported and scored on the test split (int8)")
    parser.add_argument("--folder", type=Path, help="where the photos go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the photos for the next run")
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="edgekit-bench-train-memory-"))
    data = folder / "photos"
    try:
        seconds = write_photos(data, args.images, args.width, args.height)
        size = sum(p.stat().st_size for p in data.rglob("*.jpg"))
        print(
            f"{args.images} photos of {args.width}x{args.height} ({args.width * args.height / 1e6:.1f} MP), "
            f"{size / 1e9:.2f} GB of JPEG on disk, {size / 1e6 / args.images:.2f} MB each "
            f"(decoded: {args.images * args.width * args.height * 3 / 1e9:.0f} GB); written in {seconds:.0f} s",
            flush=True,
        )
        result, samples = train_and_watch(data, folder, args.augment_copies, args.quantize)
        peak_gb = result["vmhwm_kib"] * 1024 / 1e9
        print(
            f"train image-classifier (imagenet backbone, {args.augment_copies} augmented copies): "
            f"{result['seconds']:.0f} s, split {result['split']}"
        )
        print(f"  peak RSS (VmHWM) {peak_gb:.2f} GB (target < 3 GB)")
        if samples:
            job = max(kib for _, kib in samples) * 1024 / 1e9
            print(f"  peak RSS of the job (the trainer and its int16x8 converter process; 1 s samples): {job:.2f} GB")
        marks = [samples[int(i * (len(samples) - 1) / 10)] for i in range(11)] if samples else []
        print("  RSS over the run: " + ", ".join(f"{t:.0f} s {kib * 1024 / 1e9:.2f} GB" for t, kib in marks))
        print(
            f"  source test accuracy {result['source_test']:.1%}; "
            + ", ".join(f"{name} {acc:.1%}" for name, acc in result["exports"])
        )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
