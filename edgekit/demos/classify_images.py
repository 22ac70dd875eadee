"""Classify every image in a folder with an exported model; labels and preprocessing come from its metadata.

    python -m edgekit.demos.classify_images MODEL.tflite FOLDER [--threads 2] [--max-results 3]

The model is loaded once; each image is preprocessed as the model's card says (size, resize mode,
colour order, mean/std) and quantized at the model boundary by edgekit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import edgekit
from edgekit.cli.run_files import FileRunner, format_result
from edgekit.processing.image import IMAGE_SUFFIXES


def run(model_path: Path, folder: Path, threads: int | None, max_results: int) -> int:
    model = edgekit.load(model_path, num_threads=threads)
    if model.card is None or model.card.image is None:
        print(
            f"error: {model_path} has no image preprocessing in its metadata; export it with `edgekit convert`",
            file=sys.stderr,
        )
        return 1
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        print(f"error: no images in {folder} (looked for {', '.join(IMAGE_SUFFIXES)})", file=sys.stderr)
        return 1
    runner = FileRunner(model, max_results)  # one task for every file
    start = time.perf_counter()
    for file in files:
        print(format_result(runner.run(str(file))))
    seconds = time.perf_counter() - start
    print(f"{len(files)} images in {seconds:.2f} s ({len(files) / seconds:.0f} images/s) with {model.backend}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-results", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        return run(args.model, args.folder, args.threads, args.max_results)
    except edgekit.EdgekitError as error:
        print(f"error: {error}" + (f"\nhint: {error.hint}" if error.hint else ""), file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
