"""`edgekit train` end to end: wall time, held-out accuracy of the source and of every export.

    python -m benchmarks.train [--task text|image|audio|all] [--per-class N] [--size S] [--backbone small-cnn|imagenet]

Text: the zoo's chatterbot-corpus topics (7 classes) against the bag-of-words baseline on the same split.
Image: Fashion-MNIST classes as PNG folders (Debian dataset-fashion-mnist) upscaled to S px, 5 classes.
Audio (issue 13's target): 6 words the bundled spotter does not know plus other words as ``unknown`` (silence
synthesized by the trainer), 1,200 clips said by espeak-ng training voices in mixed formats; the wall time of
``train_audio_classifier`` (embeddings not cached: a fresh cache folder) and the accuracy of the written files
on voices never trained on (speech_data's held-out accent and variants) with silence clips, and on the flite
voices (another synthesizer: a harder, less optimistic check). Target: <= 3 min on 2 cores, >= 90 % held-out.
Measured 2026-12-03 (session 9) on 2 cores, quiet (load average about 1):
Audio: reading, embeddings and head 98 s, total 156 s with four recipes exported, verified and evaluated
(int16x8 skipped: no 16x8 SQRT for the front end); test split 100 % every file; held-out espeak-ng voices
99.2 % float32, 99.2 % int8 (368 clips); flite voices 96.9 % float32, 97.2 % int8 (360 clips).
Image (--per-class 200 --size 224 --backbone imagenet), session 9's machine: five recipes 277 s (training
67 s, exports 209 s), four recipes (no int16x8) 182 s. Session 10 (2026-12-03), another machine, quiet, one
run after another with the same warm backbone and embedding caches, all five recipes: the code before the
session 143.9 s (exports 113.5 s); with the accuracy check reading verification's outputs 121.2 s (90.7 s);
with int16x8 also converted in a second process 107.1 s (78.6 s); through this script 142 s against 124 s.
Target 240 s: met. Test 92.0 % source and every file but int8, 91.0 % (100 test images), unchanged.
Text: 35 s; test 87.4 % (source and every export) against the bag-of-words regression's 86.9 %.
Every figure is measured on the test split through the edgekit runtime (the deployed path).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _rows(result, seconds: float) -> list[str]:
    report = result.report
    source = report["source"]
    lines = [
        f"  total {seconds:.0f} s: training {report['seconds_training']:.0f} s "
        f"({report['training']['epochs_run']} epochs, best {report['training']['best_epoch']}), "
        f"exports and evaluation {report['seconds_exports_and_evaluation']:.0f} s",
        f"  split {report['data']['split']}",
        f"  keras source: train {source['train_accuracy']:.1%}  val {source['val_accuracy']:.1%}  "
        f"test {source['test_accuracy']:.1%}",
    ]
    for name, value in report.get("baselines", {}).items():
        lines.append(f"  baseline {name}: test {value:.1%}")
    for row in report["exports"]:
        if not row["written"]:
            lines.append(f"  {row['recipe']:<36} {row['verdict'][:70]}")
            continue
        size = f"{row['size_bytes'] / 1e3:.0f} kB"
        lines.append(f"  {row['file']:<36} {size:>8}  test {row['test_accuracy']:.1%}")
    return lines


def bench_text(folder: Path, epochs: int, quantize: str) -> None:
    from converters.train import TrainOptions, train_text_classifier
    from converters.train.samples import chat_csv

    start = time.perf_counter()
    result = train_text_classifier(
        chat_csv(folder / "chat.csv"), folder / "chat", TrainOptions(epochs=epochs, quantize=quantize, show=False)
    )
    print("text-classifier, chatterbot-corpus topics (7 classes):")
    print("\n".join(_rows(result, time.perf_counter() - start)), flush=True)


def bench_image(folder: Path, per_class: int, size: int, backbone: str, epochs: int | None, quantize: str) -> None:
    from converters.train import TrainOptions, train_image_classifier
    from converters.train.samples import FASHION_CLASSES, fashion_folders

    root = fashion_folders(folder / "clothes", FASHION_CLASSES, per_class=per_class, size=size)
    start = time.perf_counter()
    options = TrainOptions(epochs=epochs, quantize=quantize, show=False)
    result = train_image_classifier(root, folder / "clothes_model", options, backbone=backbone, image_size=size)
    print(f"image-classifier, Fashion-MNIST {len(FASHION_CLASSES)} classes x {per_class} at {size} px, {backbone}:")
    print("\n".join(_rows(result, time.perf_counter() - start)), flush=True)


AUDIO_WORDS = ["lights", "music", "timer", "weather", "camera", "window"]
AUDIO_OTHER_WORDS = ["table", "garden", "pencil", "orange", "basket", "river", "paper", "doctor", "yellow", "silver"]


def bench_audio(folder: Path, clips: int, epochs: int | None, quantize: str) -> None:
    import numpy as np

    import edgekit
    from converters.train import TrainOptions, train_audio_classifier
    from converters.train.samples import spoken_words, word_speakers
    from converters.zoo.speech_data import FLITE_VOICES, Speaker, write_wav
    from edgekit.eval import evaluate
    from edgekit.labelled import read_labelled

    per_rendition = len(AUDIO_WORDS) + 2
    renditions = 2
    speakers = word_speakers(False, -(-clips // (per_rendition * renditions)))
    started = time.perf_counter()
    data = spoken_words(folder / "words", AUDIO_WORDS, AUDIO_OTHER_WORDS, speakers, renditions, seed=0)
    held = spoken_words(folder / "held", AUDIO_WORDS, AUDIO_OTHER_WORDS, word_speakers(True, 41), seed=1, mixed=False)
    flite = [Speaker("flite", voice) for voice in FLITE_VOICES]  # another synthesizer: never trained on
    other = spoken_words(folder / "flite", AUDIO_WORDS, AUDIO_OTHER_WORDS, flite, renditions=8, seed=2, mixed=False)
    rng = np.random.default_rng(7)
    for index in range(40):
        for target in (held, other):
            noise = rng.standard_normal(24000) * 10 ** (rng.uniform(-65, -30) / 20)
            write_wav(target / "silence" / f"{index}.wav", noise)
    count = sum(1 for p in data.rglob("*") if p.is_file())
    print(
        f"audio: synthesized {count} clips ({len(speakers)} voices) in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    start = time.perf_counter()
    options = TrainOptions(epochs=epochs, quantize=quantize, show=False)
    result = train_audio_classifier(data, folder / "words_model", options, cache_dir=folder / "cache")
    seconds = time.perf_counter() - start
    print(f"audio-classifier, {len(AUDIO_WORDS)} new words + unknown + silence, {count} clips:")
    print("\n".join(_rows(result, seconds)), flush=True)
    for title, root in (("held-out espeak-ng voices", held), ("flite voices (other synthesizer)", other)):
        held_data = read_labelled(root)
        for row in result.report["exports"]:
            if row["written"]:
                model = edgekit.load(result.output / row["file"])
                try:
                    accuracy = evaluate(model, held_data).accuracy
                finally:
                    model.close()
                print(f"  {title} ({len(held_data)} clips) {row['file']:<28} {accuracy:.1%}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["text", "image", "audio", "all"], default="all")
    parser.add_argument("--clips", type=int, default=1200, help="audio: training clips (1200)")
    parser.add_argument("--per-class", type=int, default=100, help="images per class (100)")
    parser.add_argument("--size", type=int, default=96, help="image size in pixels (96)")
    parser.add_argument("--backbone", default="small-cnn", choices=["small-cnn", "imagenet"])
    parser.add_argument("--epochs", type=int, default=None, help="default per model")
    parser.add_argument("--quantize", default="float32,float16,dynamic,int8,int16x8")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-train-") as name:
        folder = Path(name)
        if args.task in ("text", "all"):
            bench_text(folder, args.epochs or 30, args.quantize)
        if args.task in ("image", "all"):
            bench_image(folder, args.per_class, args.size, args.backbone, args.epochs, args.quantize)
        if args.task in ("audio", "all"):
            bench_audio(folder, args.clips, args.epochs, args.quantize)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
