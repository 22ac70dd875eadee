"""What every trainer shares: the output folder, the training loop, exports and their evaluation.

The output is staged in a hidden folder next to OUT and renamed into place only when everything
succeeded, so a failed or interrupted run leaves no half-written OUT. Training keeps the weights of
the best epoch by validation accuracy (the test split is never looked at for that), and Ctrl-C
during training stops it there: the best weights so far are exported and reported as usual.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import InputError, OutputPathError

from ..progress import say

DEFAULT_TFLITE_RECIPES = "float32,float16,dynamic,int8,int16x8"


@dataclass(frozen=True)
class TrainOptions:
    """Options shared by every trainer (the CLI flags of ``edgekit train``).

    Attributes:
        epochs: passes over the training split (the best epoch by validation accuracy is kept).
        val_split, test_split: fractions held out, stratified per class.
        seed: seeds the split, the initial weights and the augmentation.
        to: export targets, "tflite" and/or "coreml".
        quantize: recipes, comma-separated or "all" (Core ML takes the ones it knows, else float16).
        overwrite: replace an existing OUT.
        batch_size: training batch size.
        learning_rate: Adam's learning rate (None: the trainer's default).
        name: model name in the files and their metadata (default: OUT's name).
        show: progress bars and summary lines on the terminal.
        callbacks: extra Keras callbacks for training (e.g. early stopping, TensorBoard).
        class_weights: "auto" (weight the loss when the largest class is over 10x the smallest),
            "balanced" (always) or "none".
    """

    epochs: int | None = None
    val_split: float = 0.1
    test_split: float = 0.1
    seed: int = 0
    to: tuple[str, ...] = ("tflite",)
    quantize: str = DEFAULT_TFLITE_RECIPES
    overwrite: bool = False
    batch_size: int = 32
    learning_rate: float | None = None
    name: str | None = None
    show: bool = True
    callbacks: tuple = ()
    class_weights: str = "auto"

    def __post_init__(self):
        unknown = [t for t in self.to if t not in ("tflite", "coreml")]
        if unknown or not self.to:
            raise InputError(f"--to takes tflite and/or coreml, got {','.join(self.to) or 'nothing'}")
        if self.epochs is not None and self.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {self.epochs}")
        for target in self.to:
            recipes_for(target, self.quantize)  # an unknown recipe fails now, not after training


@dataclass
class TrainResult:
    """What a training run produced (the content of OUT/report.json, plus paths)."""

    output: Path
    report: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    @property
    def test_accuracy(self) -> float:
        return self.report["source"]["test_accuracy"]

    def export_accuracy(self, recipe: str, target: str = "tflite") -> float | None:
        for row in self.report["exports"]:
            if row["recipe"] == recipe and row["target"] == target:
                return row["test_accuracy"]
        return None


def options_dict(options: TrainOptions) -> dict[str, Any]:
    """The options as JSON values (callbacks by class name)."""
    result: dict[str, Any] = {}
    for key, value in options.__dict__.items():
        if key == "callbacks":
            value = [type(callback).__name__ for callback in value]
        result[key] = list(value) if isinstance(value, tuple) else value
    return result


def model_name(out: Path, given: str | None) -> str:
    name = given or out.name or "model"
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_")
    return cleaned or "model"


def check_output(out: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing OUT (without ``overwrite``) or a missing parent, before any work."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputPathError(f"output folder {str(out)!r} already exists", hint="pass --overwrite to replace it")
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{str(out)!r} is a file, not an output folder", hint="choose another -o path")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise OutputPathError(f"folder {str(parent)!r} does not exist", hint=f"mkdir -p {parent}")
    return out


@contextlib.contextmanager
def staged_output(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a hidden staging folder next to ``out``; it becomes ``out`` only if the block succeeds."""
    check_output(out, overwrite)
    parent = out.resolve().parent
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=parent))
    except OSError as exc:
        raise OutputPathError(f"cannot write to {str(parent)!r}: {exc.strerror or exc}") from exc
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    os.chmod(stage, 0o777 & ~_umask())
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
        os.replace(out, old / "previous")
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, out)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------------ training
def fit_keeping_best(model, epochs: int, show: bool, callbacks=(), **fit_args) -> dict[str, Any]:
    """``model.fit`` with one bar per epoch, keeping the best epoch's weights by validation accuracy.

    Ctrl-C stops training after the current batch: the best weights so far are kept and the run goes
    on to export them (``interrupted`` is True). Ctrl-C before the first epoch ended re-raises.

    Returns:
        {"history": {metric: [per epoch]}, "best_epoch": int (1-based), "interrupted": bool, "epochs_run": int}
    """
    import keras

    class KeepBest(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history: dict[str, list[float]] = {}
            self.best: tuple[float, float] | None = None
            self.best_weights = None
            self.best_epoch = 0

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            for key, value in logs.items():
                self.history.setdefault(key, []).append(float(value))
            accuracy = logs.get("val_accuracy", logs.get("accuracy", 0.0))
            loss = logs.get("val_loss", logs.get("loss", 0.0))
            score = (float(accuracy), -float(loss))
            if self.best is None or score > self.best:
                self.best, self.best_epoch = score, epoch + 1
                self.best_weights = [w.copy() for w in self.model.get_weights()]

    keeper = KeepBest()
    interrupted = False
    try:
        model.fit(
            epochs=epochs,
            verbose=1 if show else 0,
            callbacks=[keeper, *callbacks],
            **fit_args,
        )
    except KeyboardInterrupt:
        if keeper.best_weights is None:
            raise
        interrupted = True
        say(f"\ninterrupted: training stopped; keeping the best epoch ({keeper.best_epoch})", show)
    if keeper.best_weights is not None:
        model.set_weights(keeper.best_weights)
    epochs_run = len(next(iter(keeper.history.values()), []))
    return {
        "history": keeper.history,
        "best_epoch": keeper.best_epoch,
        "interrupted": interrupted,
        "epochs_run": epochs_run,
    }


# ------------------------------------------------------------------------------------------ exports
def recipes_for(target: str, quantize: str) -> str:
    """The recipes of ``quantize`` that ``target`` knows ("all" stays "all"); a target given none of its
    own gets its default (TFLite float32, Core ML float16).

    Raises:
        RecipeError: a name that neither TFLite nor Core ML knows (with "did you mean").
    """
    from edgekit.errors import RecipeError

    from ..coreml.recipes import CoreMLRecipe
    from ..recipes import Recipe

    if quantize.strip().lower() == "all":
        return "all"
    chosen = {"tflite": [], "coreml": []}
    for name in (n.strip() for n in quantize.split(",") if n.strip()):
        known = False
        for key, kind in (("tflite", Recipe), ("coreml", CoreMLRecipe)):
            try:
                chosen[key].append(kind.parse(name).value)
                known = True
            except RecipeError:
                pass
        if not known:
            Recipe.parse(name)  # raises the TFLite message with its "did you mean"
    return ",".join(chosen[target]) or ("float16" if target == "coreml" else "float32")


def export_all(
    keras_path: Path,
    folder: Path,
    card_options,
    options: TrainOptions,
    calibration_path: str | None,
    verification_path: str | None,
    test_data,
    exporter_class=None,
) -> list[dict[str, Any]]:
    """Export ``keras_path`` in every asked recipe and target into ``folder``; evaluate each written file on
    ``test_data`` (an ``edgekit.labelled.LabelledData``) through the runtime's task, as an app would.
    ``exporter_class``: TFLite's exporter (a ``converters.tflite.Exporter`` subclass; default that class).

    Returns:
        One row per recipe: target, recipe, file, size, verdict, test accuracy, per-class P/R (None when not written).
    """
    from ..batch import export_recipes
    from ..evaluate import evaluate_file
    from ..verify import HEADER, format_row

    rows: list[dict[str, Any]] = []
    for target in options.to:
        recipes = recipes_for(target, options.quantize)
        if target == "tflite":
            recipes, skipped = _applicable(keras_path, recipes)
            for recipe, reason in skipped:
                say(f"note: {recipe} skipped: {reason}", options.show)
                rows.append(
                    {
                        "target": target,
                        "recipe": recipe,
                        "file": "",
                        "written": False,
                        "skipped": True,
                        "verdict": f"skipped: {reason}",
                        "size_bytes": None,
                        "test_accuracy": None,
                        "per_class": None,
                        "confusion_matrix": None,
                    }
                )
            if not recipes:
                continue
        say(f"exporting {target} ({recipes})", options.show)
        batch = export_recipes(
            str(keras_path),
            recipes,
            folder,
            to=target,
            calibration_path=calibration_path,
            verification_path=verification_path,
            card_options=card_options,
            overwrite=True,
            show_progress=options.show,
            **({"exporter_class": exporter_class} if target == "tflite" and exporter_class else {}),
        )
        say(HEADER, options.show)
        for outcome in batch.outcomes:
            say(format_row(outcome.row), options.show)
            row: dict[str, Any] = {
                "target": target,
                "recipe": outcome.recipe,
                "file": outcome.output.name,
                "written": outcome.written,
                "verdict": outcome.row.verdict,
                "size_bytes": _size(outcome.output) if outcome.written else None,
                "test_accuracy": None,
                "per_class": None,
                "confusion_matrix": None,
            }
            if not outcome.written:
                row["error"] = str(outcome.error)
            else:
                report = evaluate_file(outcome.output, test_data)
                row.update(
                    test_accuracy=report.accuracy,
                    per_class=report.per_class(),
                    confusion_matrix=report.confusion.tolist(),
                    evaluated=report.evaluated,
                )
            rows.append(row)
    return rows


def _applicable(keras_path: Path, recipes: str) -> tuple[str, list[tuple[str, str]]]:
    """The TFLite recipes this model can take, and (recipe, reason) for the others (e.g. int16x8 of token ids)."""
    from edgekit.errors import RecipeError

    from ..batch import _names
    from ..recipes import Recipe, RecipeConfig
    from ..source import load_source

    dtypes = [spec.dtype for spec in load_source(str(keras_path)).inputs]
    kept, skipped = [], []
    for name in _names(recipes, [r.value for r in Recipe]):
        try:
            RecipeConfig(name).check_model(dtypes, True)
            kept.append(name)
        except RecipeError as exc:
            skipped.append((name, str(exc)))
    return ",".join(kept), skipped


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def evaluate_source(keras_path: Path, card_options, test_data):
    """The Keras model's test report through the same task as the exports (its card from ``card_options``)."""
    from ..evaluate import evaluate_source as evaluate_keras
    from ..source import load_source
    from ..tflite import build_card

    source = load_source(str(keras_path))
    card = build_card(source, card_options, [])
    return evaluate_keras(source, card, test_data, keras_path.name)
