"""Write a few real inputs for the bundled models, for the README's demo: images, and spoken keywords.

    python -m converters.zoo.samples OUT_FOLDER

Fashion: the first test images of Fashion-MNIST (Debian's dataset-fashion-mnist), as PNG, named by
their true label. Keywords: words spoken by espeak-ng and converted to 16 kHz mono WAV with sox.
For the live demos: ``garments.mkv`` (those images, 1 s each, 30 fps), ``astronaut.mkv`` (scikit-image's
astronaut photo drifting across a 640x480 frame), ``photos.mkv`` (a cat, a coffee, a rocket, for the
imagenet model; also as ``photo_*.png``) and ``keyword_stream.wav`` (the keywords with a
non-keyword word and silence between them).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

KEYWORDS = ["yes", "stop", "left", "go"]


def write_samples(out: Path, count: int = 5) -> list[Path]:
    from PIL import Image

    from converters.zoo.fashion import LABELS, load

    out.mkdir(parents=True, exist_ok=True)
    images, labels = load("t10k")
    written = []
    for index in range(count):
        name = LABELS[labels[index]].replace("/", "-").replace(" ", "-").lower()
        path = out / f"fashion_{index}_{name}.png"
        # Upscaled 8x like a camera frame would be bigger than the model: edgekit resizes per the spec.
        Image.fromarray(images[index]).resize((224, 224), Image.NEAREST).save(path)
        written.append(path)
    if shutil.which("espeak-ng") and shutil.which("sox"):
        written += write_keywords(out)
    written += write_videos(out, images[:count])
    return written


def write_keywords(out: Path) -> list[Path]:
    """``keyword_<word>.wav`` for each of KEYWORDS (espeak-ng, 16 kHz mono, 0.3 s of silence each side)
    and ``keyword_stream.wav``; needs espeak-ng and sox."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for word in KEYWORDS:
        raw, wav = out / f"{word}_22k.wav", out / f"keyword_{word}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), word], check=True)
        subprocess.run(
            ["sox", "-D", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav), "pad", "0.3", "0.3"], check=True
        )
        raw.unlink()
        written.append(wav)
    return written + [write_keyword_stream(out, written)]


def write_keyword_stream(out: Path, clips: list[Path]) -> Path:
    """The keyword clips in a row, with the non-keyword "banana" and 0.7 s of silence between them."""
    raw, banana = out / "banana_22k.wav", out / "banana.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), "banana"], check=True)
    subprocess.run(["sox", "-D", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(banana)], check=True)
    raw.unlink()
    parts = []
    for clip in clips:
        parts += [str(clip), str(banana)]
    stream = out / "keyword_stream.wav"
    subprocess.run(["sox", "-D", *parts, str(stream), "pad", "0.5", "0.5"], check=True)
    banana.unlink()
    return stream


def write_videos(out: Path, garments) -> list[Path]:
    """Lossless (FFV1) videos for the live demos; needs OpenCV, and scikit-image for the photo."""
    import cv2
    import numpy as np

    fourcc = cv2.VideoWriter_fourcc(*"FFV1")
    written = []
    path = out / "garments.mkv"
    writer = cv2.VideoWriter(str(path), fourcc, 30.0, (448, 448))
    for image in garments:
        frame = cv2.resize(image[:, :, ::-1], (448, 448), interpolation=cv2.INTER_NEAREST)
        for _ in range(30):
            writer.write(frame)
    writer.release()
    written.append(path)
    try:
        from skimage import data
    except ImportError:
        return written
    # The upper part of the photo, enlarged: the short-range detector wants a face that fills the frame.
    photo = cv2.resize(data.astronaut()[:320, 96:416, ::-1], (384, 384), interpolation=cv2.INTER_LINEAR)
    path = out / "astronaut.mkv"
    writer = cv2.VideoWriter(str(path), fourcc, 30.0, (640, 480))
    for step in range(90):
        frame = np.full((480, 640, 3), 96, np.uint8)
        left = 20 + 2 * step
        frame[48:432, left : left + 384] = photo[:, : min(384, 640 - left)]
        writer.write(frame)
    writer.release()
    written.append(path)
    return written + write_photos(out, data)


def write_photos(out: Path, data) -> list[Path]:
    """scikit-image's cat, coffee and rocket (its centred square) photos as PNG, and ``photos.mkv``: each
    of them panned slowly through a 640x480 frame for 2 s at 30 fps (the imagenet model's live demo)."""
    import cv2
    import numpy as np

    rocket = data.rocket()  # 640x427; its centred square frames the rocket (the whole photo reads "drilling platform")
    left = (rocket.shape[1] - rocket.shape[0]) // 2
    photos = {"chelsea": data.chelsea(), "coffee": data.coffee(), "rocket": rocket[:, left : left + rocket.shape[0]]}
    written = []
    for name, photo in photos.items():
        written.append(out / f"photo_{name}.png")
        cv2.imwrite(str(written[-1]), photo[:, :, ::-1])
    path = out / "photos.mkv"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 30.0, (640, 480))
    for photo in photos.values():
        big = cv2.resize(photo[:, :, ::-1], (720, 540), interpolation=cv2.INTER_LINEAR)
        for step in range(60):
            shift = int(step * 80 / 59)
            writer.write(np.ascontiguousarray(big[30 : 30 + 480, shift : shift + 640]))
    writer.release()
    return [*written, path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    for path in write_samples(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
