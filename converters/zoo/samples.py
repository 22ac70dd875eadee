"""Write a few real inputs for the bundled models, for the README's demo: images, and spoken keywords.

    python -m converters.zoo.samples OUT_FOLDER

Fashion: the first test images of Fashion-MNIST (Debian's dataset-fashion-mnist), as PNG, named by
their true label. Keywords: words spoken by espeak-ng and converted to 16 kHz mono WAV with sox.
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
        for word in KEYWORDS:
            raw, wav = out / f"{word}_22k.wav", out / f"keyword_{word}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), word], check=True)
            subprocess.run(
                ["sox", "-D", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav), "pad", "0.3", "0.3"], check=True
            )
            raw.unlink()
            written.append(wav)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    for path in write_samples(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
