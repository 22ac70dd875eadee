"""Classify many images with one MediaPipe ImageClassifier; one JSON line per image on stdout.

Like mediapipe_classify.py (labels and preprocessing only from the model's TFLite Metadata), but one
process for a whole set of images: MediaPipe's start-up is the slow part.

    python -I mediapipe_classify_images.py MODEL.tflite IMAGE.png [IMAGE.png ...]

    first line: {"mediapipe": version}; then {"image": path, "scores": [score by class index]} per image.
    exit 1 (reason on stderr) if MediaPipe refuses the model.
"""

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(f"usage: {argv[0]} MODEL.tflite IMAGE.png [IMAGE.png ...]", file=sys.stderr)
        return 2
    try:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=argv[1]), max_results=-1, score_threshold=0.0
        )
        classifier = vision.ImageClassifier.create_from_options(options)
    except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with the metadata problem in the text
        print(f"mediapipe failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"mediapipe": mp.__version__}), flush=True)
    with classifier:
        for path in argv[2:]:
            categories = classifier.classify(mp.Image.create_from_file(path)).classifications[0].categories
            scores = [0.0] * (max(c.index for c in categories) + 1)
            for category in categories:
                scores[category.index] = float(category.score)
            print(json.dumps({"image": path, "scores": scores}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
