"""The streaming building blocks against hand-computed expectations, and the resampler against SciPy."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.errors import InputError
from edgekit.processing.streaming import (
    HopScheduler,
    KeywordDetector,
    RingBuffer,
    ScoreSmoother,
    StreamingResampler,
)


# ---------------------------------------------------------------------------------------- ring buffer
def test_ring_buffer_wraps_around_and_keeps_the_newest_samples():
    ring = RingBuffer(5)
    ring.extend([1, 2, 3])
    ring.extend([4, 5, 6, 7])  # 6 and 7 overwrite 1 and 2 in place
    assert ring.total_samples == 7
    np.testing.assert_array_equal(ring.latest(5), [3, 4, 5, 6, 7])
    np.testing.assert_array_equal(ring.span(6, 3), [4, 5, 6])  # stream positions 3, 4, 5
    ring.extend(np.arange(8, 20))  # longer than the buffer: only the last 5 stay
    np.testing.assert_array_equal(ring.latest(5), [15, 16, 17, 18, 19])
    assert ring.total_samples == 19


def test_ring_buffer_reads_zeros_before_the_stream_and_refuses_what_it_does_not_hold():
    ring = RingBuffer(4)
    ring.extend([1, 2])
    np.testing.assert_array_equal(ring.span(2, 4), [0, 0, 1, 2])
    ring.extend([3, 4, 5, 6])
    with pytest.raises(InputError, match="not in the ring buffer"):
        ring.span(5, 4)  # needs position 1, overwritten
    with pytest.raises(InputError, match="not in the ring buffer"):
        ring.span(7, 1)  # the future


# ---------------------------------------------------------------------------------------- scheduling
def test_hop_scheduler_stamps_window_ends_in_stream_time():
    scheduler = HopScheduler(window_samples=4, hop_samples=2, sample_rate_hz=1000)  # 1 sample = 1 ms
    assert [w.end_sample for w in scheduler.due(3)] == [2]  # padded start: the first window ends after one hop
    windows = scheduler.due(7)
    assert [(w.end_sample, w.timestamp_ms) for w in windows] == [(4, 4.0), (6, 6.0)]
    assert scheduler.due(7) == []  # nothing twice
    assert scheduler.padding_to_cover(7) == 1  # the next window ends at 8
    assert scheduler.padding_to_cover(6) == 0


def test_hop_scheduler_without_start_padding_waits_for_a_full_window():
    scheduler = HopScheduler(window_samples=4, hop_samples=2, sample_rate_hz=2000, pad_start=False)
    assert scheduler.due(3) == []
    assert [(w.end_sample, w.timestamp_ms) for w in scheduler.due(8)] == [(4, 2.0), (6, 3.0), (8, 4.0)]
    scheduler.reset()
    assert [w.end_sample for w in scheduler.due(5)] == [4]


def test_a_clip_shorter_than_a_hop_is_padded_to_one_window():
    scheduler = HopScheduler(window_samples=10, hop_samples=4, sample_rate_hz=1000)
    assert scheduler.due(3) == []
    assert scheduler.padding_to_cover(3) == 1


# ---------------------------------------------------------------------------------------- smoothing
def test_moving_average_over_the_last_windows():
    smoother = ScoreSmoother(3)
    outputs = [smoother.update(s) for s in ([3, 0], [0, 3], [3, 3], [6, 0])]
    # [3,0]; mean([3,0],[0,3]); mean of all three; mean([0,3],[3,3],[6,0])
    np.testing.assert_allclose(outputs, [[3, 0], [1.5, 1.5], [2, 2], [3, 2]])
    smoother.reset()
    np.testing.assert_allclose(smoother.update([1, 1]), [1, 1])
    np.testing.assert_allclose(ScoreSmoother(1).update([0.25, 0.75]), [0.25, 0.75])
    with pytest.raises(InputError):
        ScoreSmoother(0)


# ---------------------------------------------------------------------------------------- keywords
def test_one_detection_per_utterance_with_a_refractory_period():
    detector = KeywordDetector(["yes", "no", "silence"], threshold=0.5, refractory_ms=1000, ignore_labels=["silence"])
    windows = [
        (100, [0.2, 0.0, 0.8]),  # silence is ignored
        (200, [0.8, 0.1, 0.1]),  # yes reaches the threshold: detected
        (300, [0.9, 0.0, 0.1]),  # still the same utterance (never fell below)
        (400, [0.1, 0.0, 0.9]),
        (500, [0.7, 0.2, 0.1]),  # re-armed, but 300 ms after the last detection: refractory
        (600, [0.1, 0.1, 0.8]),
        (1300, [0.1, 0.6, 0.3]),  # 1100 ms later: detected
        (1400, [0.9, 0.05, 0.05]),  # yes was below on the last window, but 100 ms after "no": refractory
        (2500, [0.95, 0.0, 0.05]),  # still above since 1400: same utterance, not re-armed
        (2600, [0.2, 0.0, 0.8]),
        (2700, [0.6, 0.0, 0.4]),  # re-armed and past the refractory period
    ]
    detections = [d for t, s in windows if (d := detector.update(s, t)) is not None]
    assert [(d.label, d.timestamp_ms, d.index) for d in detections] == [
        ("yes", 200, 0),
        ("no", 1300, 1),
        ("yes", 2700, 0),
    ]
    assert detections[0].score == pytest.approx(0.8)


def test_the_best_label_wins_when_several_cross_together():
    detector = KeywordDetector(["up", "off", "unknown"], threshold=0.3, refractory_ms=0, ignore_labels=["unknown"])
    detection = detector.update([0.35, 0.45, 0.2], 50)
    assert detection.label == "off" and detection.timestamp_ms == 50
    assert detector.update([0.1, 0.0, 0.9], 100) is None
    with pytest.raises(InputError, match="3 scores"):
        detector.update([0.5, 0.5], 150)
    with pytest.raises(InputError):
        KeywordDetector(["a"], threshold=1.5, refractory_ms=0)


# ---------------------------------------------------------------------------------------- resampling
def _chirp(rate_hz: int, seconds: float = 1.5) -> np.ndarray:
    time_s = np.arange(int(rate_hz * seconds)) / rate_hz
    return 0.8 * np.sin(2 * np.pi * (40 * time_s + 2500 * time_s**2))  # 40 Hz → 7.5 kHz


@pytest.mark.parametrize("source_hz, target_hz", [(44100, 16000), (48000, 16000), (8000, 16000), (16000, 22050)])
def test_resampler_by_blocks_equals_scipy_resample_poly(source_hz, target_hz):
    scipy_signal = pytest.importorskip("scipy.signal")
    signal = _chirp(source_hz)
    expected = scipy_signal.resample_poly(signal, target_hz, source_hz)
    resampler = StreamingResampler(source_hz, target_hz)
    rng = np.random.default_rng(1)
    pieces, start = [], 0
    while start < signal.size:
        size = int(rng.integers(1, 2000))
        pieces.append(resampler.process(signal[start : start + size]))
        start += size
    streamed = np.concatenate(pieces)
    assert streamed.size <= expected.size
    # What a live stream has emitted so far lags the input by the filter's half length, nothing more.
    assert expected.size - streamed.size <= resampler.latency_samples * target_hz / source_hz + 2
    output = np.concatenate([streamed, resampler.flush()])
    assert output.shape == expected.shape
    np.testing.assert_allclose(output, expected, atol=1e-6)  # float32 output: measured 3e-8


def test_resampler_at_equal_rates_passes_samples_through():
    resampler = StreamingResampler(16000, 16000)
    block = np.linspace(-1, 1, 100, dtype=np.float32)
    np.testing.assert_array_equal(resampler.process(block), block)
    assert resampler.flush().size == 0 and resampler.latency_samples == 0
    with pytest.raises(InputError, match="positive integer"):
        StreamingResampler(0, 16000)
