"""Core ML fidelity: the bundled models (fashion, keywords, topics, faces) as Core ML packages against the
bundled .tflite files.

coremltools converts Keras, not .tflite, so each source is the zoo's architecture with the weights read
back from the bundled float16 file (checked against it), exported by ``converters.coreml`` as float16 and
int8 weights, and run through edgekit's task on the package's own metadata in the NumPy reference evaluator
(Core ML predicts only on macOS). Each package is compared with the bundled float16 file (and int8 with the
bundled int8 file), run by ai-edge-litert: top-1 agreement, where that file is decisive, the largest score
difference, and the accuracy on the labels. The imagenet cells (source: Google's weights, no training) are
in tests/fidelity/test_fidelity_coreml_zoo.py. The face detector (Google's own .tflite, no Keras source
anywhere) is rebuilt op by op from its file and compared on detections: the same faces, box IoU, scores.
See tests/support/coreml_cells.py for the data.

    python -m benchmarks.fidelity_coreml [--json] [--models fashion,keywords,topics,faces]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

MODELS = ("fashion", "keywords", "topics", "faces")


def _faces(work: Path, json_out: bool) -> list[dict]:
    from PIL import Image

    from tests.support import coreml_cells

    model, options, rebuilt = coreml_cells.faces_source()
    photos = coreml_cells.face_photos()
    (work / "photos").mkdir()
    for name, image in photos.items():
        Image.fromarray(image).save(work / "photos" / f"{name}.png")
    packages = coreml_cells.export(model, options, work / "photos", work, "faces")
    rows = [
        {"model": "faces", "recipe": recipe, "refused": str(package).splitlines()[0]}
        for recipe, package in packages.items()
        if isinstance(package, Exception)
    ]
    if not json_out:
        print(f"faces: rebuilt op by op from faces_float32.tflite, max difference {rebuilt:.2e}", flush=True)
        for row in rows:
            print(f"faces Core ML {row['recipe']}: refused: {row['refused']}", flush=True)
    for cell in coreml_cells.face_cells(packages, photos):
        rows.append({"model": "faces", **dataclasses.asdict(cell), "rebuild_difference": rebuilt})
        if not json_out:
            print(cell.line(), flush=True)
    return rows


def run(json_out: bool = False, models: tuple[str, ...] = MODELS) -> list[dict]:
    """Export and measure every model's packages; print one line (or JSON object) per cell; return them."""
    from tests.support import coreml_cells

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        for name in models:
            work = Path(folder) / name
            work.mkdir()
            if name == "faces":
                rows += _faces(work, json_out)
                continue
            model, card, data = coreml_cells.source_and_data(name, work)
            rebuilt = coreml_cells.rebuild_difference(name, model, data)
            packages = coreml_cells.export(model, card, data.source_inputs, work, name)
            if not json_out:
                print(f"{name}: rebuilt from {name}_float16.tflite, max difference {rebuilt:.2e}", flush=True)
            for recipe, package in packages.items():
                if isinstance(package, Exception):
                    row = {"model": name, "recipe": recipe, "refused": str(package).splitlines()[0]}
                    rows.append(row)
                    if not json_out:
                        print(f"{name} Core ML {recipe}: refused: {row['refused']}", flush=True)
            for cell in coreml_cells.cells(name, packages, data):
                rows.append({**dataclasses.asdict(cell), "rebuild_difference": rebuilt})
                if not json_out:
                    print(cell.line(), flush=True)
    if json_out:
        for row in rows:
            print(json.dumps(row))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per cell")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    args = parser.parse_args(argv)
    chosen = tuple(name.strip() for name in args.models.split(",") if name.strip())
    unknown = sorted(set(chosen) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    run(args.json, chosen)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
