"""Live face or object detection on a webcam (or a video file / network stream): boxes, labels, scores,
keypoints and FPS drawn on each frame.

    python demos/webcam_detect.py                          # camera 0, bundled MediaPipe face detector
    python demos/webcam_detect.py --source clip.mp4 --headless --max-frames 100 --json
    python demos/webcam_detect.py --model ssd_mobilenet.tflite --score-threshold 0.5 --serve
"""

from __future__ import annotations

import sys

from _live_demo import parser, run_live

from edgekit import zoo
from edgekit.vision.object_detector import ObjectDetector


def run(args) -> int:
    def make_task(callback):
        # Decoding (PostProcess op, SSD anchors or YOLO) is chosen from the model's outputs and metadata.
        return ObjectDetector.create_from_model_path(
            args.model,
            running_mode="live_stream",
            result_callback=callback,
            max_results=args.max_results,
            score_threshold=args.score_threshold,
            num_threads=args.threads,
        )

    return run_live(args, make_task)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0], str(zoo.path("faces")), "0")
    p.set_defaults(max_results=5)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
