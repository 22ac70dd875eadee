"""AudioClassifier: clips and streams of audio → per-window categories and keyword detections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..media import AudioBlock, InputFormat
from ..metadata.card import Task
from ..model import Model
from ..processing.classification import rank_categories
from ..processing.streaming import KeywordDetector, ScoreSmoother, StreamingResampler
from ..results import AudioClassifierResult, ClassificationResult, Classifications, KeywordDetection
from ..tasks import BaseTask, TaskOptions
from ._input import check_rate, finite, prepare_samples
from ._micro_wake_word import MicroWakeWordEngine, looks_like_micro_wake_word
from ._window_model import WindowModelEngine
from .defaults import KEYWORD_REFRACTORY_MS, KEYWORD_THRESHOLD
from .defaults import default_smoothing as default_smoothing_for

DEFAULT_IGNORE_LABELS = ("silence", "unknown", "_silence_", "_unknown_", "_background_noise_", "background", "noise")
DEFAULT_KEYWORD_THRESHOLD = KEYWORD_THRESHOLD  # the one place: edgekit/audio/defaults.py
MAX_GAP_FILL_S = 60.0


@dataclass(frozen=True)
class AudioClassifierOptions(TaskOptions):
    """Options for :class:`AudioClassifier` (the common ones are in :class:`edgekit.tasks.TaskOptions`).

    Attributes:
        hop_ms: time between windows for window models (None: the model's own hop, which for the
            bundled keyword spotter is :data:`edgekit.audio.defaults.KEYWORD_HOP_MS`; the CLI and the
            demos use the same). Keyword timestamps are as precise as the hop.
        smoothing_windows: average each class's score over the last N windows (1: off). None: the
            sliding window of a microWakeWord model's JSON; for keyword window models, the windows in
            half a window, at most ``KEYWORD_SMOOTHING_WINDOWS`` (edgekit/audio/defaults.py), so a word cut
            by the window's edge, which may score as another word for a window, does not fire; 1 for
            other models.
            Results carry the smoothed scores.
        keyword_threshold: a keyword is detected when its (smoothed) score reaches this. "auto": the
            model card's ``keyword_threshold``, a microWakeWord JSON's ``probability_cutoff``, or 0.5 for
            models with a silence/unknown label; other models get no detection. None: no detection.
        refractory_ms: after a detection, no other is reported for this long (one utterance, one detection).
        ignore_labels: labels that are never reported as keywords.
    """

    hop_ms: float | None = None
    smoothing_windows: int | None = None
    keyword_threshold: float | str | None = "auto"
    refractory_ms: float = KEYWORD_REFRACTORY_MS
    ignore_labels: Sequence[str] = DEFAULT_IGNORE_LABELS

    def __post_init__(self):
        super().__post_init__()
        name = type(self).__name__
        if self.hop_ms is not None and not (finite(self.hop_ms) and self.hop_ms > 0):
            raise InputError(f"{name}: hop_ms must be a positive number or None, got {self.hop_ms!r}")
        smoothing = self.smoothing_windows
        if smoothing is not None and (isinstance(smoothing, bool) or not isinstance(smoothing, int) or smoothing < 1):
            raise InputError(f"{name}: smoothing_windows must be an integer >= 1 or None, got {smoothing!r}")
        threshold = self.keyword_threshold
        if threshold is not None and threshold != "auto" and not (finite(threshold) and 0 < threshold <= 1):
            raise InputError(f"{name}: keyword_threshold must be in (0, 1], 'auto' or None, got {threshold!r}")
        if not (finite(self.refractory_ms) and self.refractory_ms >= 0):
            raise InputError(f"{name}: refractory_ms must be a number >= 0, got {self.refractory_ms!r}")
        labels = (self.ignore_labels,) if isinstance(self.ignore_labels, str) else tuple(self.ignore_labels)
        object.__setattr__(self, "ignore_labels", labels)


class _StreamState:
    """Everything one stream carries across blocks (a clip gets a fresh one)."""

    def __init__(self, source_rate_hz: int, model_rate_hz: int, smoothing: int, detector: KeywordDetector | None):
        self.source_rate_hz = source_rate_hz
        self.resampler = StreamingResampler(source_rate_hz, model_rate_hz)
        self.smoother = ScoreSmoother(smoothing)
        self.detector = detector
        self.expected_next_ms: float | None = None


class AudioClassifier(BaseTask[AudioClassifierOptions]):
    """Classifies audio clips and streams; detects keywords with a threshold and a refractory period.

    Tensor contracts: (1) window models with an AudioSpec in their card (e.g. the zoo keyword spotter):
    one input holding ``window_samples`` mono samples at ``sample_rate_hz`` (float in [-1, 1], or
    quantized at the boundary), one output of one score per label; run every hop. (2) microWakeWord
    streaming models: int8 input (1, stride, 40) of TFLite-Micro frontend features (10 ms steps), a
    quantized (1, 1) probability out; state kept in the interpreter between calls.
    Timestamps in results are stream time: ms from the first sample of the clip or stream.
    """

    options_class = AudioClassifierOptions
    task_name = "audio-classifier"
    live_max_pending = 8  # a short FIFO: audio blocks must stay in order

    @classmethod
    def check_fits(cls, model: Model, options: TaskOptions | None = None) -> None:
        if looks_like_micro_wake_word(model):
            if isinstance(options, AudioClassifierOptions) and options.hop_ms is not None:
                raise InputError("hop_ms cannot be set for a microWakeWord model: its stride fixes the hop")
            return
        card = model.card
        spec = card.audio if card else None
        if card is None or spec is None or card.task not in (Task.AUDIO_CLASSIFIER, Task.CUSTOM):
            raise cls._unfit(
                model,
                "an audio model: a window model with an AudioSpec in its metadata (1, window_samples) → "
                "(1, labels), or a microWakeWord streaming model (1, stride, 40) int8 → (1, 1)",
            )
        if spec.features != "waveform":
            raise cls._unfit(
                model, f"a model that takes raw samples (its metadata asks for {spec.features!r} features)"
            )
        inputs, outputs = model.inputs, model.outputs
        if len(inputs) != 1 or int(np.prod(inputs[0].shape)) != spec.window_samples:
            raise cls._unfit(model, f"one input of {spec.window_samples} samples, as its AudioSpec says")
        scores = int(np.prod(outputs[0].shape))
        if card.labels and scores != len(card.labels):
            raise cls._unfit(model, f"{len(card.labels)} scores (one per label in its metadata)")

    @property
    def input_format(self) -> InputFormat:
        """Mono audio at the model's rate (blocks at other rates are resampled)."""
        return InputFormat("audio", sample_rate_hz=self.required_sample_rate_hz, channels=1)

    @property
    def required_sample_rate_hz(self) -> int:
        """The rate the model consumes; a source opened at this rate needs no resampling."""
        return self.engine.sample_rate_hz

    def _configure(self) -> None:
        options = self.options
        self.engine: MicroWakeWordEngine | WindowModelEngine
        default_threshold: float | None
        if looks_like_micro_wake_word(self.model):
            self.engine = MicroWakeWordEngine(self.model, options.num_threads)
            self.labels = self.engine.labels
            default_threshold = self.engine.config.probability_cutoff
            default_smoothing = self.engine.config.sliding_window_size
        else:
            self.engine = self._window_engine(options)
            self.labels = self.engine.labels
            extra = self.card.extra.get("keyword_threshold") if self.card else None
            keyword_model = extra is not None or bool(set(self.labels) & set(options.ignore_labels))
            default_threshold = (
                float(extra) if extra is not None else (DEFAULT_KEYWORD_THRESHOLD if keyword_model else None)
            )
            # About half a window of windows: a word stays above threshold for most of a window, while a
            # word cut by the window's edge (scored as another word) does for a window or two.
            default_smoothing = default_smoothing_for(self.engine.window_ms, self.engine.hop_ms) if keyword_model else 1
        threshold = default_threshold if options.keyword_threshold == "auto" else options.keyword_threshold
        self.keyword_threshold: float | None = None if threshold is None else float(threshold)
        self.smoothing_windows = options.smoothing_windows or default_smoothing
        self._stream: _StreamState | None = None
        self._live_origin_ms: float | None = None

    def _window_engine(self, options: AudioClassifierOptions) -> WindowModelEngine:
        assert self.card is not None and self.card.audio is not None  # check_fits refused the others
        spec = self.card.audio
        scores = int(np.prod(self.model.outputs[0].shape))
        hop = spec.hop_samples if options.hop_ms is None else round(options.hop_ms * spec.sample_rate_hz / 1000)
        labels = self.labels or tuple(str(i) for i in range(scores))
        return WindowModelEngine(self.model, spec, labels, max(1, hop))

    @property
    def hop_ms(self) -> float:
        """Time between windows (or microWakeWord model calls)."""
        return self.engine.hop_ms

    @property
    def window_ms(self) -> float:
        """The audio one model call sees: a window model's window, a microWakeWord model's feature window."""
        return self.engine.window_ms

    # ------------------------------------------------------------------ processing
    def _new_stream(self, source_rate_hz: int) -> _StreamState:
        self.engine.reset()
        self.model = self.engine.model  # a streaming model is reloaded to start from a fresh state
        detector = None
        if self.keyword_threshold is not None:
            detector = KeywordDetector(
                self.labels, self.keyword_threshold, self.options.refractory_ms, self.options.ignore_labels
            )
        return _StreamState(source_rate_hz, self.engine.sample_rate_hz, self.smoothing_windows, detector)

    def _process(self, block: AudioBlock, timestamp_ms: float, clip: bool = False) -> AudioClassifierResult:
        samples = prepare_samples(block.samples)
        rate = check_rate(block.sample_rate_hz)
        if clip or self._stream is None:
            self._stream = self._new_stream(rate)
        stream = self._stream
        if rate != stream.source_rate_hz:
            raise InputError(
                f"the stream's sample rate changed from {stream.source_rate_hz} Hz to {rate} Hz",
                hint="one task handles one stream; create another task for a new stream",
            )
        samples = self._fill_dropped_gap(stream, samples, rate, timestamp_ms)
        model_samples = stream.resampler.process(samples)
        if clip:
            model_samples = np.concatenate([model_samples, stream.resampler.flush()])
        outputs = self.engine.feed(model_samples) + (self.engine.finish() if clip else [])
        windows: list[ClassificationResult] = []
        keywords: list[KeywordDetection] = []
        for window_ms, scores in outputs:
            smoothed = stream.smoother.update(scores)
            categories = rank_categories(smoothed, self.labels, **self.options.filters)
            windows.append(ClassificationResult((Classifications(categories),), window_ms))
            if stream.detector is not None:
                detection = stream.detector.update(smoothed, window_ms)
                if detection is not None:
                    keywords.append(detection)
        return AudioClassifierResult(tuple(windows), tuple(keywords), timestamp_ms)

    def _fill_dropped_gap(self, stream: _StreamState, samples: np.ndarray, rate: int, timestamp_ms: float):
        """LIVE_STREAM: silence stands in for missing blocks (dropped by the queue), so stream time stays true.

        A block is missing when this one starts later than the last one ended by more than half its
        own length (and 20 ms): the caller's timestamps are the capture clock.
        """
        if self._worker is None:
            return samples
        duration_ms = samples.size * 1000.0 / rate
        # The stream starts at the first block submitted, even if the queue dropped it.
        expected_ms = stream.expected_next_ms
        if expected_ms is None:  # the first block: the stream starts at the first block submitted
            expected_ms = timestamp_ms if self._live_origin_ms is None else self._live_origin_ms
        gap_ms = timestamp_ms - expected_ms
        stream.expected_next_ms = timestamp_ms + duration_ms
        if gap_ms <= max(duration_ms / 2, 20.0):
            return samples
        gap_ms = min(gap_ms, MAX_GAP_FILL_S * 1000)
        return np.concatenate([np.zeros(round(gap_ms * rate / 1000), np.float32), samples])

    # ------------------------------------------------------------------ the three modes
    def classify(self, samples: np.ndarray, sample_rate_hz: int) -> AudioClassifierResult:
        """IMAGE mode: classify a whole clip (windows over it; the last one padded with silence).

        Args:
            samples: mono or multichannel audio (see :func:`prepare_samples`).
            sample_rate_hz: the clip's rate; resampled to the model's.

        Returns:
            Every window's categories (stamped with the window's end) and the keyword detections.

        Raises:
            InputError: wrong mode, shape, dtype or rate, or NaN samples.
        """
        return self._run_once(AudioBlock(samples, sample_rate_hz), "classify", clip=True)

    def classify_for_stream(
        self, samples: np.ndarray, sample_rate_hz: int, timestamp_ms: float
    ) -> AudioClassifierResult:
        """VIDEO mode: the next block of a stream; state (buffer, resampler, smoothing) carries over.

        Args:
            samples: the block (any length, mono or multichannel; see :func:`prepare_samples`).
            sample_rate_hz: the stream's rate (the same for every block).
            timestamp_ms: the block's capture time; must increase. Result windows and keywords are
                stamped in stream time (from the samples), not with this.

        Returns:
            The windows that completed inside this block, and their keyword detections.

        Raises:
            InputError: wrong mode, a timestamp that does not increase, a changed rate, bad samples.
        """
        return self._run_stream(AudioBlock(samples, sample_rate_hz, timestamp_ms), timestamp_ms, "classify_for_stream")

    def classify_async(self, samples: np.ndarray, sample_rate_hz: int, timestamp_ms: float) -> None:
        """LIVE_STREAM mode: queue a block; ``result_callback(result, AudioBlock, timestamp_ms)`` gets the result.

        Up to 8 blocks wait; beyond that the oldest is dropped (``stats["dropped"]``). A block that starts
        later than the previous one ended (by the timestamps) gets the missing stretch as silence before
        it, so stream time stays right.
        """
        self._submit(AudioBlock(samples, check_rate(sample_rate_hz), timestamp_ms), timestamp_ms, "classify_async")

    def run_async(self, item: AudioBlock, timestamp_ms: float, *, wait: bool = False) -> None:
        """LIVE_STREAM mode: queue a source's AudioBlock (the live runner's entry point); as ``classify_async``."""
        if not isinstance(item, AudioBlock):
            raise InputError(
                f"AudioClassifier.run_async() takes an AudioBlock, got {type(item).__name__}",
                hint="pass AudioBlock(samples, sample_rate_hz), or call classify_async(samples, rate, timestamp_ms)",
            )
        self._submit(item, timestamp_ms, "run_async", wait)

    def _submit(self, block: AudioBlock, timestamp_ms: float, method: str, wait: bool = False) -> None:
        prepare_samples(block.samples)  # refuse bad blocks on the caller's thread, where the error is useful
        check_rate(block.sample_rate_hz)
        if self._live_origin_ms is None and finite(timestamp_ms):
            self._live_origin_ms = float(timestamp_ms)
        self._run_async(block, timestamp_ms, method, wait=wait)
