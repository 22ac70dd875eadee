"""Draw the README's picture, docs/images/edgekit_at_work.png: two bundled models at work, drawn by edgekit's overlay.

    python -m tools.readme_picture [OUT.png]

Left: the bundled face detector on scikit-image's astronaut photo (NASA, public domain), its box and keypoints.
Right: the bundled Fashion-MNIST classifier on the first garments of the Fashion-MNIST test set (Debian's
dataset-fashion-mnist), each with its top result. Everything is computed here: rerun after a model changes.
Needs the live extra (OpenCV draws), scikit-image (the photo) and the zoo's data reader (a checkout).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "edgekit_at_work.png"
HEIGHT = 360


def _fit(image_bgr: np.ndarray, height: int) -> np.ndarray:
    import cv2

    width = round(image_bgr.shape[1] * height / image_bgr.shape[0])
    return cv2.resize(image_bgr, (width, height), interpolation=cv2.INTER_AREA)


def faces_panel() -> np.ndarray:
    from skimage import data

    from edgekit import zoo
    from edgekit.views.overlay import draw_overlay
    from edgekit.vision.object_detector import ObjectDetector

    photo_rgb = data.astronaut()
    with ObjectDetector.create_from_model_path(zoo.path("faces")) as detector:
        result = detector.detect(photo_rgb, color_order="RGB")
    return _fit(draw_overlay(np.ascontiguousarray(photo_rgb[:, :, ::-1]), result.to_dict()), HEIGHT)


def fashion_panel(count: int = 4) -> np.ndarray:
    import cv2

    from converters.zoo.fashion import load
    from edgekit import ImageClassifier, zoo
    from edgekit.views.overlay import draw_overlay

    images, _ = load("t10k")
    tiles = []
    with ImageClassifier.create_from_model_path(zoo.path("fashion"), max_results=1) as classifier:
        for image in images[:count]:
            big = cv2.resize(image, (HEIGHT // 2, HEIGHT // 2), interpolation=cv2.INTER_NEAREST)
            bgr = np.ascontiguousarray(big[:, :, ::-1])  # RGB (grey in three channels) to BGR
            tiles.append(draw_overlay(bgr, classifier.classify(bgr, color_order="BGR").to_dict()))
    half = len(tiles) // 2
    return np.vstack([np.hstack(tiles[:half]), np.hstack(tiles[half:])])


def main(argv: list[str] | None = None) -> int:
    import cv2

    out = Path((argv if argv is not None else sys.argv[1:])[0]) if (argv or sys.argv[1:]) else OUT
    gap = np.full((HEIGHT, 8, 3), 255, np.uint8)
    picture = np.hstack([faces_panel(), gap, fashion_panel()])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]}, {out.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
