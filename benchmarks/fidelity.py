"""Same file, same answer everywhere: the fidelity matrix of issue 10, every section in one run.

Each section is its own script (run alone for details) with a ``run(json_out) -> list[dict]`` function:

- ``fidelity_images.py``    image classifiers and the face detector vs MediaPipe Tasks 1.2.2 and 0.10.21
- ``fidelity_text.py``      the topics models vs MediaPipe's TextClassifier
- ``fidelity_audio.py``     the keyword spotter vs MediaPipe's AudioClassifier (windows)
- ``fidelity_runtimes.py``  the compatibility verdict vs what tflite-runtime 2.14 really loads, and agreement
- ``fidelity_coreml.py``    the bundled models as Core ML packages (reference evaluator) vs the bundled files

    python -m benchmarks.fidelity [--only images,text,audio,runtimes,coreml] [--json]

The third-party runtimes run in their own venvs (tests/interop/runtime_env.sh makes them once and caches
them under ~/.cache/edgekit); the first run needs PyPI for that, later runs none.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

SECTIONS = ("images", "text", "audio", "runtimes", "coreml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--json", action="store_true", help="one JSON object per row instead of tables")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    rows: list[dict] = []
    for name in chosen:
        start = time.perf_counter()
        if not args.json:
            print(f"\n== {name} ==", flush=True)
        section = importlib.import_module(f"benchmarks.fidelity_{name}")
        for row in section.run(json_out=args.json):
            rows.append({"section": name, **row})
        if not args.json:
            print(f"({name}: {time.perf_counter() - start:.0f} s)", flush=True)
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
