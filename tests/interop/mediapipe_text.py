"""Classify lines of text with MediaPipe Tasks' TextClassifier; print every line's scores as JSON.

Runs inside a MediaPipe venv made by ``runtime_env.sh`` (never the project's environment). The
tokenizer (RegexTokenizer: delimiter, vocabulary, <START>/<PAD>/<UNKNOWN>) and the labels come only
from the model's own TFLite Metadata, and the maximum length from its input tensor: that is what
the fidelity test compares with edgekit.

    python mediapipe_text.py MODEL.tflite TEXTS.json

TEXTS.json is a JSON list of strings. Output: one JSON object on stdout,
``{"mediapipe": VERSION, "scores": [[score of class 0, class 1, ...] per text]}``, scores placed by
category index so they line up with the model's output.
"""

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} MODEL.tflite TEXTS.json", file=sys.stderr)
        return 2
    model_path, texts_path = argv[1], argv[2]
    with open(texts_path, encoding="utf-8") as handle:
        texts = json.load(handle)
    try:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, text

        options = text.TextClassifierOptions(
            base_options=BaseOptions(model_asset_path=model_path),
            max_results=-1,  # every class, not only the top ones
            score_threshold=0.0,  # keep classes that score 0 (possible after quantization)
        )
        rows = []
        with text.TextClassifier.create_from_options(options) as classifier:
            for line in texts:
                heads = classifier.classify(line).classifications
                categories = heads[0].categories if heads else []
                scores = [0.0] * (max((c.index for c in categories), default=-1) + 1)
                for category in categories:
                    scores[category.index] = float(category.score)
                rows.append(scores)
    except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with the metadata problem in the text
        print(f"mediapipe failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"mediapipe": mp.__version__, "scores": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
