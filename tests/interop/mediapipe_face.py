"""Detect faces with MediaPipe's own runtime and print them as one JSON line on stdout (pixels).

Runs inside the MediaPipe venv made by ``runtime_env.sh`` (MediaPipe needs numpy<2). It uses the
legacy ``mediapipe.solutions.face_detection`` graph with ``model_selection=0``: the short-range
BlazeFace model (the same .tflite edgekit is tested with), MediaPipe's own letterboxing, anchors,
decoding and weighted NMS, all in C++. That makes it an independent golden for edgekit's detector.

    python mediapipe_face.py IMAGE.png [IMAGE.png ...]     # one JSON line per image, in order
"""

import json
import sys

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion")


def describe(image_path: str) -> dict:
    """Run a fresh detector on one image (IMAGE-like use: no tracking state carried between images)."""
    import cv2
    import mediapipe as mp
    from mediapipe.python.solutions import face_detection

    bgr = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {image_path}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    height, width = rgb.shape[:2]
    with face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5) as detector:
        result = detector.process(rgb)
    faces = []
    for detection in result.detections or []:
        box = detection.location_data.relative_bounding_box
        faces.append(
            {
                "score": float(detection.score[0]),
                # MediaPipe gives boxes relative to the image; the golden is in pixels like edgekit's results.
                "box": {
                    "x": box.xmin * width,
                    "y": box.ymin * height,
                    "width": box.width * width,
                    "height": box.height * height,
                },
                "keypoints": [
                    {"label": name, "x": point.x * width, "y": point.y * height}
                    for name, point in zip(KEYPOINT_NAMES, detection.location_data.relative_keypoints)
                ],
            }
        )
    return {"mediapipe": mp.__version__, "image": [width, height], "faces": faces}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(f"usage: {argv[0]} IMAGE.png [IMAGE.png ...]", file=sys.stderr)
        return 2
    for image_path in argv[1:]:
        try:
            line = json.dumps(describe(image_path))
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with the problem in the text
            print(f"mediapipe failed on {image_path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
