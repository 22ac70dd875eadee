"""Live face or object detection on a webcam (or a video file / network stream): boxes, labels, scores,
keypoints and FPS drawn on each frame.

    python -m edgekit.demos.webcam_detect                          # camera 0, bundled MediaPipe face detector
    python -m edgekit.demos.webcam_detect --source clip.mp4 --headless --max-frames 100 --json
    python -m edgekit.demos.webcam_detect --model ssd_mobilenet.tflite --score-threshold 0.5 --serve
"""

from __future__ import annotations

import sys

from edgekit import zoo
from edgekit.vision.object_detector import ObjectDetector

from ._live_demo import parser, run_live


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
