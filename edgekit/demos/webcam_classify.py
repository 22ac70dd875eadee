"""Live image classification on a webcam (or a video file / network stream), with an FPS overlay.

python -m edgekit.demos.webcam_classify              # camera 0, bundled ImageNet model (EfficientNet-Lite0 int8)
python -m edgekit.demos.webcam_classify --model edgekit/zoo/fashion_int8.tflite    # the Fashion-MNIST one
python -m edgekit.demos.webcam_classify --source clip.mp4 --headless --max-frames 100
python -m edgekit.demos.webcam_classify --source http://pi.local:8080/feed.mjpg --serve
"""

from __future__ import annotations

import sys

from edgekit import ImageClassifier, zoo

from ._live_demo import parser, run_live


def run(args) -> int:
    def make_task(callback):
        # The model is loaded once here, never per frame; LIVE_STREAM drops stale frames when busy.
        return ImageClassifier.create_from_model_path(
            args.model,
            running_mode="live_stream",
            result_callback=callback,
            max_results=args.max_results,
            score_threshold=args.score_threshold,
            num_threads=args.threads,
        )

    return run_live(args, make_task)


def main(argv: list[str] | None = None) -> int:
    return run(parser(__doc__.split("\n\n")[0], str(zoo.path("imagenet", "int8")), "0").parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
