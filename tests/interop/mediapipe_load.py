"""Try to open models with MediaPipe Tasks, each with the task for its kind; one JSON line per model.

Runs inside a MediaPipe venv (runtime_env.sh). Opening the task is where MediaPipe checks the file
(tensor types, colour space, normalization, tokenizer, audio format), so "loads" is what it decided.

    python mediapipe_load.py MODEL KIND [MODEL KIND ...]
    KIND: ImageClassifier | FaceDetector | AudioClassifier | TextClassifier
"""

import json
import sys


def open_task(model: str, kind: str) -> None:
    from mediapipe.tasks.python import BaseOptions, audio, text, vision

    base = BaseOptions(model_asset_path=model)
    if kind == "ImageClassifier":
        task = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions(base_options=base))
    elif kind == "FaceDetector":
        task = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(base_options=base))
    elif kind == "AudioClassifier":
        task = audio.AudioClassifier.create_from_options(audio.AudioClassifierOptions(base_options=base))
    elif kind == "TextClassifier":
        task = text.TextClassifier.create_from_options(text.TextClassifierOptions(base_options=base))
    else:
        raise SystemExit(f"unknown kind {kind}")
    task.close()


def main(argv: list) -> int:
    if len(argv) < 3 or len(argv) % 2 == 0:
        print(f"usage: {argv[0]} MODEL KIND [MODEL KIND ...]", file=sys.stderr)
        return 2
    import mediapipe as mp

    for model, kind in zip(argv[1::2], argv[2::2]):
        try:
            open_task(model, kind)
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with its status message
            result = {"loads": False, "error": f"{type(exc).__name__}: {str(exc).strip()[:500]}"}
        else:
            result = {"loads": True, "error": ""}
        print(json.dumps({"model": model, "kind": kind, "mediapipe": mp.__version__} | result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
