"""Detect faces with MediaPipe Tasks' FaceDetector on a given .tflite; one JSON line per image on stdout.

Runs inside a MediaPipe venv (``runtime_env.sh``), 0.10.21 or 1.2.2: the FaceDetector task reads the
model's own metadata (normalization) and letterboxes with its image-to-tensor step, so the golden
includes MediaPipe's resampling. Boxes are MediaPipe's integer pixels (it truncates the relative box
times the image size); keypoints and scores are its floats, keypoints converted to pixels here.

    python mediapipe_face_task.py MODEL.tflite IMAGE.png [IMAGE.png ...]
"""

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(f"usage: {argv[0]} MODEL.tflite IMAGE.png [IMAGE.png ...]", file=sys.stderr)
        return 2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceDetectorOptions(
        base_options=BaseOptions(model_asset_path=argv[1]), min_detection_confidence=0.5, min_suppression_threshold=0.3
    )
    try:
        with vision.FaceDetector.create_from_options(options) as detector:
            for image_path in argv[2:]:
                image = mp.Image.create_from_file(image_path)
                width, height = image.width, image.height
                faces = []
                for detection in detector.detect(image).detections:
                    box = detection.bounding_box
                    faces.append(
                        {
                            "score": float(detection.categories[0].score),
                            "box": [box.origin_x, box.origin_y, box.width, box.height],
                            "keypoints": [[k.x * width, k.y * height] for k in detection.keypoints],
                        }
                    )
                print(json.dumps({"mediapipe": mp.__version__, "image": [width, height], "faces": faces}), flush=True)
    except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with the problem in the text
        print(f"mediapipe failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
