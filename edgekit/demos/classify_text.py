"""Text classification at a prompt: type a line, get its topic (bundled chatterbot-corpus model).

python -m edgekit.demos.classify_text                    # interactive; Ctrl-D or an empty line ends
echo "my laptop will not boot" | python -m edgekit.demos.classify_text --max-results 2
"""

from __future__ import annotations

import argparse
import sys
import time

import edgekit
from edgekit import TextClassifier, zoo


def run(model: str, max_results: int, score_threshold: float, lines) -> int:
    with TextClassifier.create_from_model_path(
        model, max_results=max_results, score_threshold=score_threshold
    ) as classifier:
        interactive = sys.stdin.isatty()
        if interactive:
            print(f"topics: {', '.join(classifier.labels)}. Type a sentence (empty line ends).")
        for line in lines:
            text = line.rstrip("\n")
            if interactive and not text:
                break
            start = time.perf_counter()
            result = classifier.classify(text)
            took_ms = (time.perf_counter() - start) * 1000
            shown = ", ".join(f"{c.label} {c.score:.2f}" for c in result.categories) or "(nothing above threshold)"
            print(f"{text[:60]!r}: {shown}  [{took_ms:.2f} ms]", flush=True)
            if interactive:
                print("> ", end="", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgekit.demos.classify_text", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(zoo.path("topics", "int8")), help="text model (bundled topics)")
    p.add_argument("--max-results", type=int, default=3)
    p.add_argument("--score-threshold", type=float, default=0.0)
    p.add_argument("--text", action="append", help="classify these instead of reading stdin (repeatable)")
    args = p.parse_args(argv)
    try:
        return run(args.model, args.max_results, args.score_threshold, args.text or sys.stdin)
    except edgekit.EdgekitError as error:
        print(f"error: {error}" + (f"\nhint: {error.hint}" if error.hint else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
