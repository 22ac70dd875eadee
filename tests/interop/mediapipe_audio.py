"""Classify WAV clips with MediaPipe Tasks' AudioClassifier; print one JSON line per clip on stdout.

Runs inside a MediaPipe venv made by ``runtime_env.sh`` (0.10.21 or 1.2.2). Labels, sample rate and
window length come only from the model's TFLite Metadata and input tensor, as on a phone. MediaPipe
cuts a clip into back-to-back windows of the input's length (no overlap), pads the last one with
zeros, and returns one result per window stamped with the window's start.

    python mediapipe_audio.py MODEL.tflite CLIP.wav [CLIP.wav ...]

Each line: {"clip": path, "windows": [{"timestamp_ms": t, "scores": [score by class index]}]}.
The first line is {"mediapipe": version}. Exit 1 (reason on stderr) if MediaPipe refuses the model.
"""

import json
import sys
import wave

import numpy as np


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV → mono float samples in [-1, 1] (the same scaling as edgekit's reader)."""
    with wave.open(path, "rb") as handle:
        if handle.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM is read here")
        rate, channels = handle.getframerate(), handle.getnchannels()
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), "<i2").reshape(-1, channels)
    return (pcm.astype(np.float64) / 32768.0).mean(axis=1), rate


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(f"usage: {argv[0]} MODEL.tflite CLIP.wav [CLIP.wav ...]", file=sys.stderr)
        return 2
    try:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, audio
        from mediapipe.tasks.python.components.containers import AudioData

        options = audio.AudioClassifierOptions(
            base_options=BaseOptions(model_asset_path=argv[1]),
            max_results=-1,  # every class, by index
            score_threshold=0.0,
        )
        classifier = audio.AudioClassifier.create_from_options(options)
    except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with the metadata problem in the text
        print(f"mediapipe failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"mediapipe": mp.__version__}), flush=True)
    with classifier:
        for path in argv[2:]:
            samples, rate = read_wav(path)
            clip = AudioData.create_from_array(samples.astype(np.float32), rate)
            windows = []
            for result in classifier.classify(clip):
                categories = result.classifications[0].categories
                scores = [0.0] * (max(c.index for c in categories) + 1)
                for category in categories:
                    scores[category.index] = float(category.score)
                windows.append({"timestamp_ms": int(result.timestamp_ms), "scores": scores})
            print(json.dumps({"clip": path, "windows": windows}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
