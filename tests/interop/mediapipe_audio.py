"""MediaPipe Tasks' AudioClassifier next to edgekit's, window by window, on the same .tflite and clips.

As a script, inside a MediaPipe venv made by ``runtime_env.sh`` (0.10.21 or 1.2.2), it classifies WAV
clips and prints one JSON line per clip. Labels, sample rate and window length come only from the
model's TFLite Metadata and input tensor, as on a phone. MediaPipe cuts a clip into back-to-back
windows of the input's length (its audio tensor specs set no overlap), pads the last one with zeros,
and returns one result per window stamped with the window's *start*:

    python -I mediapipe_audio.py MODEL.tflite CLIP.wav [CLIP.wav ...]

    first line: {"mediapipe": version}; then per clip:
    {"clip": path, "windows": [{"timestamp_ms": t, "scores": [score by class index]}]}
    exit 1 (reason on stderr) if MediaPipe refuses the model.

Imported (in the project's environment; by tests/fidelity/test_fidelity_audio.py and
benchmarks/fidelity_audio.py), it gives the host side: the clips (real speech from Debian's
pocketsphinx-testdata, keywords spoken by espeak-ng via converters/zoo/samples.py, each also shifted
by a fraction of a window so windows fall at other places), edgekit's windows framed the way
MediaPipe frames them (edgekit's AudioClassifier with the hop set to the window length, no smoothing,
windows stamped with their *end*), and the comparison.
"""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
SAMPLE_RATE_HZ = 16000
SHIFTS_MS = (0, 250, 500, 750)  # each clip again from these offsets: windows at four phases


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV → mono float samples in [-1, 1] (int16 / 32768, as edgekit reads them)."""
    with wave.open(str(path), "rb") as handle:
        if handle.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM is read here")
        rate, channels = handle.getframerate(), handle.getnchannels()
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), "<i2").reshape(-1, channels)
    return (pcm.astype(np.float64) / 32768.0).mean(axis=1), rate


def write_wav(path: Path, pcm: np.ndarray, rate: int = SAMPLE_RATE_HZ) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.asarray(pcm, "<i2").tobytes())
    return path


# ----------------------------------------------------------------------------- inside the MediaPipe venv
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
            print(json.dumps({"clip": str(path), "windows": windows}), flush=True)
    return 0


# ----------------------------------------------------------------------------- the host side
def write_clips(folder: Path) -> list[Path]:
    """Real speech and spoken keywords as 16 kHz WAV, each clip also from every offset in SHIFTS_MS.

    Real speech: every 16 kHz recording in pocketsphinx-testdata (read English: "go forward ten
    meters", numbers, card names, a LibriVox chapter; about 47 s). Keywords: converters/zoo/samples.py
    (espeak-ng + sox): four keywords and a stream of them with a non-keyword between.
    """
    folder.mkdir(parents=True, exist_ok=True)
    originals = []
    for raw in sorted(POCKETSPHINX.glob("*.raw")) + sorted(POCKETSPHINX.glob("tidigits/*.raw")):
        pcm = np.fromfile(raw, "<i2")
        originals.append(write_wav(folder / f"speech_{raw.stem}.wav", pcm))
    for wav in sorted(POCKETSPHINX.glob("*/*.wav")):
        samples, rate = read_wav(wav)
        if rate == SAMPLE_RATE_HZ:  # MediaPipe and edgekit resample differently: only native-rate clips
            originals.append(write_wav(folder / f"speech_{wav.parent.name}_{wav.stem}.wav", samples * 32768))
    from converters.zoo.samples import write_keywords

    originals += write_keywords(folder / "keywords")
    clips = []
    for path in originals:
        samples, rate = read_wav(path)
        pcm = np.round(samples * 32768).astype(np.int16)
        for shift_ms in SHIFTS_MS:
            start = shift_ms * rate // 1000
            clips.append(write_wav(folder / f"{path.stem}_from{shift_ms}ms.wav", pcm[start:], rate))
    return clips


def mediapipe_windows(python: str, model: Path, clips: list[Path]) -> tuple[str, dict[str, list[dict]]]:
    """Run the script above in a MediaPipe venv. Returns (MediaPipe's version, windows by clip path).

    Raises:
        RuntimeError: MediaPipe refused the model or failed (its message attached).
    """
    script = Path(__file__).resolve()
    run = subprocess.run(
        [python, "-I", str(script), str(model), *map(str, clips)], capture_output=True, text=True, timeout=1200
    )
    if run.returncode != 0:
        raise RuntimeError(f"MediaPipe could not classify with {model.name}:\n{run.stderr[-2000:]}")
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return lines[0]["mediapipe"], {line["clip"]: line["windows"] for line in lines[1:]}


def edgekit_windows(model: Path, clips: list[Path]) -> dict[str, list[dict]]:
    """edgekit's AudioClassifier on each clip, framed as MediaPipe frames it: windows back to back
    (hop = window), the last padded with silence, raw scores (no smoothing)."""
    from edgekit.audio import AudioClassifier

    results = {}
    with AudioClassifier.create_from_model_path(str(model)) as probe:
        window_ms = probe.engine.window_ms
    options = dict(hop_ms=window_ms, smoothing_windows=1, keyword_threshold=None)
    with AudioClassifier.create_from_model_path(str(model), **options) as classifier:
        for clip in clips:
            samples, rate = read_wav(clip)
            windows = []
            for window in classifier.classify(samples.astype(np.float32), rate).classifications:
                categories = window.classifications[0].categories
                scores = np.zeros(len(categories))
                for category in categories:
                    scores[category.index] = category.score
                windows.append({"end_ms": float(window.timestamp_ms), "scores": scores.tolist()})
            results[str(clip)] = windows
    return results


def compare(mediapipe: dict[str, list[dict]], edgekit: dict[str, list[dict]], window_ms: float) -> dict:
    """Top-1 agreement and max score difference over windows matched by position in the clip.

    A MediaPipe window starting at t is edgekit's window ending at t + window_ms; a window one side
    has and the other lacks counts as a disagreement (``unmatched``).
    """
    agree = total = unmatched = 0
    max_difference = 0.0
    for clip, theirs in mediapipe.items():
        ours = {round(w["end_ms"]): w for w in edgekit[clip]}
        matched = set()
        for window in theirs:
            end = round(window["timestamp_ms"] + window_ms)
            total += 1
            if end not in ours:
                unmatched += 1
                continue
            matched.add(end)
            a, b = np.asarray(window["scores"]), np.asarray(ours[end]["scores"])
            b = b[: len(a)] if len(b) >= len(a) else np.pad(b, (0, len(a) - len(b)))
            agree += int(np.argmax(a) == np.argmax(b))
            max_difference = max(max_difference, float(np.abs(a - b).max()))
        extra = len(set(ours) - matched)
        unmatched += extra
        total += extra
    return {
        "windows": total,
        "agreement": agree / total if total else 0.0,
        "unmatched": unmatched,
        "max_score_difference": max_difference,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv))
