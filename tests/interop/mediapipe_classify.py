"""Classify one image with MediaPipe Tasks and print what it returns, as one JSON line on stdout.

Runs inside the MediaPipe venv made by ``runtime_env.sh`` (MediaPipe needs numpy<2, so it never
shares the project's environment). Labels and preprocessing come only from the model's own TFLite
Metadata: that is what the interop test checks.

    python mediapipe_classify.py MODEL.tflite IMAGE.png
"""

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} MODEL.tflite IMAGE.png", file=sys.stderr)
        return 2
    model_path, image_path = argv[1], argv[2]
    try:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=model_path),
            max_results=-1,  # every class, not only the top ones
            score_threshold=0.0,  # keep classes that score 0 (possible in a uint8 output)
        )
        with vision.ImageClassifier.create_from_options(options) as classifier:
            result = classifier.classify(mp.Image.create_from_file(image_path))
    except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with the metadata problem in the text
        print(f"mediapipe failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    heads = result.classifications
    categories = [
        {"index": c.index, "category_name": c.category_name, "score": float(c.score)}
        for c in (heads[0].categories if heads else [])
    ]
    print(json.dumps({"mediapipe": mp.__version__, "categories": categories}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
