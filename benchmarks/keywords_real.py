"""The keyword spotter on held-out voices, in noise, on real read speech, and its streaming speed.

Prints, for each given model (default: the bundled keywords int8 and float16):
- accuracy on the held-out synthetic speakers (one 2 s window per word; noise at 5-40 dB SNR) and with
  pink noise at 10 dB SNR (the training folder's test/ and test10db/, or synthesized again);
- int8 vs float32 (when the training folder holds keywords.keras: its float32 export is measured too);
- false keywords per minute on real read speech (Debian pocketsphinx-testdata: librivox, cards,
  goforward, numbers, something, tidigits; 16 kHz) at the default settings of edgekit's
  AudioClassifier (edgekit/audio/defaults.py), and whether the true keywords in the transcripts were
  detected ("go" in goforward.raw: "go forward ten meters");
- the streaming real-time factor at 1 thread (compute time / audio time over the real speech, fed in
  100 ms blocks through ``classify_for_stream``).

    python -m benchmarks.keywords_real [--folder OUT/zoo/keywords] [--models a.tflite b.tflite] [--stride N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import edgekit
from edgekit import zoo
from edgekit.audio import AudioClassifier
from edgekit.processing import audio as audio_proc

POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
# Every 16 kHz recording and the keywords its transcript holds (pocketsphinx's own transcripts; numbers,
# something and tidigits hold digits and "something").
REAL = {
    "goforward.raw": {"go"},
    "numbers.raw": set(),
    "something.raw": set(),
    "tidigits/dhd.2934z.raw": set(),
    **{f"cards/{i:03d}.wav": set() for i in range(1, 6)},
    **{
        f"librivox/sense_and_sensibility_01_austen_64kb-{n}.wav": set()
        for n in ("0870", "0880", "0890", "0920", "0930")
    },
}


def real_speech() -> list[tuple[str, np.ndarray, set[str]]]:
    """(name, float32 samples at 16 kHz, keywords in its transcript) for every recording present."""
    clips = []
    for name, expected in REAL.items():
        path = POCKETSPHINX / name
        if not path.is_file():
            continue
        if path.suffix == ".raw":
            samples = np.fromfile(path, "<i2").astype(np.float32) / 32768.0
        else:
            audio, rate = audio_proc.read_wav(path)
            samples = audio_proc.resample(audio_proc.to_mono(audio), rate, 16000).astype(np.float32)
        clips.append((name, samples, expected))
    return clips


def accuracy(model_path: Path, windows: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    model = edgekit.load(model_path, num_threads=2)
    predictions = np.array([int(np.argmax(model.run(x[None])[0])) for x in windows])
    return float(np.mean(predictions == labels)), predictions


def real_speech_figures(model_path: Path, clips) -> dict:
    """Detections at the default settings, per clip; false ones per minute; true keywords found."""
    false, found, missed, minutes, details = 0, [], [], 0.0, []
    with AudioClassifier.create_from_model_path(str(model_path), num_threads=1) as task:
        for name, samples, expected in clips:
            result = task.classify(samples, 16000)
            heard = [(k.label, round(k.timestamp_ms / 1000, 2), round(k.score, 2)) for k in result.keywords]
            false += sum(label not in expected for label, _, _ in heard)
            found += [w for w in expected if w in {label for label, _, _ in heard}]
            missed += [w for w in expected if w not in {label for label, _, _ in heard}]
            minutes += samples.size / 16000 / 60
            if heard:
                details.append(f"{name}: {heard}")
        hop_ms = task.hop_ms
        smoothing = task.smoothing_windows
        threshold = task.keyword_threshold
    return {
        "false_per_min": false / minutes,
        "false": false,
        "minutes": minutes,
        "found": found,
        "missed": missed,
        "details": details,
        "settings": f"hop {hop_ms:.0f} ms, smoothing {smoothing}, threshold {threshold}",
    }


def real_time_factor(model_path: Path, clips, block_ms: float = 100.0) -> float:
    audio = np.concatenate([samples for _, samples, _ in clips])
    block = int(16000 * block_ms / 1000)
    with AudioClassifier.create_from_model_path(str(model_path), num_threads=1, running_mode="video") as task:
        started = time.process_time()
        for start in range(0, audio.size, block):
            task.classify_for_stream(audio[start : start + block], 16000, start / 16)
        cpu_s = time.process_time() - started
    return cpu_s / (audio.size / 16000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_folder = os.environ.get("EDGEKIT_KEYWORDS_DIR") or "out/zoo/keywords"
    parser.add_argument("--folder", type=Path, default=Path(default_folder))
    parser.add_argument("--models", type=Path, nargs="*", default=None)
    parser.add_argument("--stride", type=int, default=1, help="every Nth held-out window (1: all)")
    args = parser.parse_args(argv)
    from converters.zoo import keywords

    folder = args.folder if (args.folder / "test").is_dir() else None
    models = args.models or [zoo.path("keywords", "int8"), zoo.path("keywords", "float16")]
    float32 = None
    if not args.models and folder is not None and (folder / "keywords.keras").is_file():
        float32 = folder / "keywords_float32.tflite"
        if not float32.is_file():
            from converters.recipes import RecipeConfig
            from converters.tflite import Exporter

            exporter = Exporter(str(folder / "keywords.keras"), keywords.card_options(folder), show_progress=False)
            exporter.export(RecipeConfig("float32"), float32, force=True)
        models = [float32, *models]
    test, labels = keywords.test_set(folder)
    noisy, noisy_labels = keywords.test_set(folder, noisy=True)
    test, labels, noisy, noisy_labels = (a[:: args.stride] for a in (test, labels, noisy, noisy_labels))
    clips = real_speech()
    print(
        f"held-out windows: {len(labels)}; real speech: {len(clips)} recordings, "
        f"{sum(s.size for _, s, _ in clips) / 16000:.1f} s"
    )
    reference = None
    for path in models:
        acc, predictions = accuracy(path, test, labels)
        acc10, _ = accuracy(path, noisy, noisy_labels)
        if reference is None and path == float32:
            reference = (acc, predictions)
        real = real_speech_figures(path, clips)
        rtf = real_time_factor(path, clips)
        print(f"\n{path.name} ({path.stat().st_size / 1e3:.0f} kB)")
        print(f"  held-out accuracy        {acc:.2%}   (target >= 95 %)")
        print(f"  held-out at 10 dB SNR    {acc10:.2%}   (target >= 90 %)")
        if reference is not None and path != float32:
            agreement = float(np.mean(predictions == reference[1]))
            print(f"  vs float32               {100 * (acc - reference[0]):+.2f} points, agreement {agreement:.2%}")
        print(
            f"  real speech              {real['false_per_min']:.2f} false keywords/min ({real['false']} in "
            f"{real['minutes']:.2f} min; target <= 0.5); true keywords found {real['found']}, missed {real['missed']}"
        )
        for line in real["details"]:
            print(f"      {line}")
        print(f"  settings                 {real['settings']}")
        print(f"  real-time factor         {rtf:.4f} at 1 thread (target <= 0.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
