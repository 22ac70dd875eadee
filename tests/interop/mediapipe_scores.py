"""Every class score MediaPipe Tasks' ImageClassifier gives each image, saved by category index.

Runs inside a MediaPipe venv (``runtime_env.sh``), one process for many images. Labels and
preprocessing come only from the model's own TFLite Metadata. With an identity "classifier" (its
output is its input, flattened) the scores are exactly the input tensor MediaPipe's image-to-tensor
step made (resampling, geometry and value conversion): that is how edgekit's preprocessing is proved.

    python mediapipe_scores.py MODEL.tflite OUT.npz IMAGE.png [IMAGE.png ...] [--roi l,t,r,b]

Writes one float32 array of scores per image to OUT.npz (keys "0", "1", ...), by category index.
``--roi`` gives MediaPipe a region of interest (normalized left, top, right, bottom) for every image.
"""

import sys


def main(argv: list[str]) -> int:
    roi = None
    if "--roi" in argv:
        at = argv.index("--roi")
        roi = [float(v) for v in argv[at + 1].split(",")]
        argv = argv[:at] + argv[at + 2 :]
    if len(argv) < 4:
        print(f"usage: {argv[0]} MODEL.tflite OUT.npz IMAGE.png [...] [--roi l,t,r,b]", file=sys.stderr)
        return 2
    import mediapipe as mp
    import numpy as np
    from mediapipe.tasks.python import BaseOptions, vision
    from mediapipe.tasks.python.components.containers import rect

    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=argv[1]), max_results=-1, score_threshold=0.0
    )
    processing = None
    if roi is not None:
        left, top, right, bottom = roi  # RectF's positional order is left, top, bottom, right
        processing = vision.ImageProcessingOptions(
            region_of_interest=rect.RectF(left=left, top=top, right=right, bottom=bottom)
        )
    tensors = {}
    # max_results=-1 and threshold 0: every class, including those scoring 0 (possible in uint8 outputs).
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for number, image_path in enumerate(argv[3:]):
            result = classifier.classify(mp.Image.create_from_file(image_path), processing)
            categories = result.classifications[0].categories
            values = np.zeros(len(categories), np.float32)
            for category in categories:
                values[category.index] = category.score
            tensors[str(number)] = values
    np.savez(argv[2], **tensors)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
