"""Classify every image in a folder with an exported model; labels and preprocessing come from its metadata.

    python -m edgekit.demos.classify_images [MODEL.tflite] FOLDER [--threads 2] [--max-results 3]

Without MODEL, the bundled ImageNet classifier. The model is loaded once; each image is preprocessed as the
model's card says (size, resize mode, colour order, mean/std) and quantized at the model boundary by edgekit.
A file that cannot be read is one ``error:`` line (and its ``hint:``) and the others still run; the exit status
is then 1.
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
    failed = 0
    for file in files:
        try:
            print(format_result(runner.run(str(file))), flush=True)
        except edgekit.EdgekitError as error:  # a damaged file, or a format no installed decoder reads
            failed += 1
            hint = f"\nhint: {error.hint}" if error.hint else ""
            print(f"error: {file.name}: {error}{hint}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    done = len(files) - failed
    print(f"{done} images in {seconds:.2f} s ({done / seconds:.0f} images/s) with {model.backend}", end="")
    print(f"; {failed} could not be read" if failed else "")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    prog, description = "python -m edgekit.demos.classify_images", __doc__.split("\n\n")[0]
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("model", type=Path, nargs="?", help="an exported image model (default: the bundled imagenet)")
    parser.add_argument("folder", type=Path, help="a folder of images (" + " ".join(IMAGE_SUFFIXES) + ")")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-results", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        model = args.model if args.model is not None else edgekit.zoo.path("imagenet", "int8")
        return run(model, args.folder, args.threads, args.max_results)
    except edgekit.EdgekitError as error:
        print(f"error: {error}" + (f"\nhint: {error.hint}" if error.hint else ""), file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
