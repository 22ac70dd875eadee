"""A numpy port of the TFLite-Micro audio frontend (``tensorflow/lite/experimental/microfrontend``).

microWakeWord models (and TFLite-Micro's micro_speech) are trained on the features this fixed-point
pipeline computes from 16-bit PCM: a 30 ms Hann window every 10 ms, a 512-point fixed-point FFT
(kissfft, int16), a 40-channel mel filterbank (125-7500 Hz) with square-root magnitudes, per-channel
noise reduction, PCAN gain control and an integer log. Every step is ported integer for integer,
wrap-arounds included. The features equal, bit for bit, those of TensorFlow's ``audio_microfrontend``
op (the C library as microWakeWord's training computes them). pymicro-features (the same C library
built against another kissfft revision, used by pymicro-wakeword at inference) differs from both in
the FFT's low bits: on speech about 0.2 % of feature values, mostly by one or two steps of 0.039.

    frontend = MicroFrontend()
    features = frontend.process(samples_int16)   # (frames, 40) float32, one row per 10 ms
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..media import DEFAULT_SAMPLE_RATE_HZ

# The uint16 features times this are what microWakeWord trains on (pymicro-features' FLOAT32_SCALE).
FEATURE_SCALE = 0.0390625
_WINDOW_BITS = 12
_FILTERBANK_BITS = 12
_NOISE_REDUCTION_BITS = 14
_PCAN_SNR_BITS = 12
_PCAN_OUTPUT_BITS = 6
_WIDE_DYNAMIC_BITS = 32
_LOG_SCALE_BITS = 16
_LOG_SEGMENT_BITS = 7
_LOG_COEFF = 45426  # ln(2) in Q16
_MASK32 = 0xFFFFFFFF
_LOG_LUT = np.array(
    [0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944, 3087, 3224, 3358]
    + [3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791, 4864, 4934, 5001, 5063]
    + [5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637]
    + [5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332, 5291]
    + [5249, 5203, 5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264, 4184]
    + [4103, 4020, 3935, 3848, 3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549, 2437]
    + [2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142, 0, 0],
    np.int64,
)


@dataclass(frozen=True)
class MicroFrontendConfig:
    """The frontend's settings; the defaults are microWakeWord's (pymicro-features' ``init_cfg``)."""

    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
    window_ms: int = 30
    step_ms: int = 10
    channels: int = 40
    lower_band_hz: float = 125.0
    upper_band_hz: float = 7500.0
    smoothing_bits: int = 10
    even_smoothing: float = 0.025
    odd_smoothing: float = 0.06
    min_signal_remaining: float = 0.05
    pcan_strength: float = 0.95
    pcan_offset: float = 80.0
    pcan_gain_bits: int = 21
    log_scale_shift: int = 6

    @property
    def window_samples(self) -> int:
        return self.window_ms * self.sample_rate_hz // 1000

    @property
    def step_samples(self) -> int:
        return self.step_ms * self.sample_rate_hz // 1000


def _bit_length(values: np.ndarray) -> np.ndarray:
    """MostSignificantBit32: the 1-based position of the highest set bit (0 for 0), exact below 2**53."""
    return np.frexp(values.astype(np.float64))[1].astype(np.int64)


def _int16(values: np.ndarray) -> np.ndarray:
    """Wrap to int16 like a C assignment to ``short`` (kept in int64 for the next step)."""
    return ((values + 0x8000) & 0xFFFF) - 0x8000


def _int32(values: np.ndarray) -> np.ndarray:
    return ((values + 0x80000000) & _MASK32) - 0x80000000


# ------------------------------------------------------------------ kissfft, FIXED_POINT=16
# Values live in numpy int16/int32 arrays, whose arithmetic wraps exactly as the C types do.
def _round15(product: np.ndarray) -> np.ndarray:
    """sround: an int32 Q15 product → int16, rounded half up."""
    return ((product + np.int32(1 << 14)) >> 15).astype(np.int16)


def _fixdiv(values: np.ndarray, divisor: int) -> np.ndarray:
    return _round15(values.astype(np.int32) * np.int32(32767 // divisor))


def _cmul(ar, ai, br, bi):
    ar, ai = ar.astype(np.int32), ai.astype(np.int32)
    return _round15(ar * br - ai * bi), _round15(ar * bi + ai * br)


def _twiddles(phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cos, sin = np.floor(0.5 + 32767 * np.cos(phases)), np.floor(0.5 + 32767 * np.sin(phases))
    return cos.astype(np.int16), sin.astype(np.int16)


def _radices(size: int) -> list[int]:
    """kissfft's factorisation of a power of two, outermost stage first: 4s, then a 2 if needed."""
    radices = []
    while size > 1:
        radices.append(4 if size % 4 == 0 else 2)
        size //= radices[-1]
    return radices


def _kiss_fft(re: np.ndarray, im: np.ndarray, tw_re: np.ndarray, tw_im: np.ndarray):
    """kissfft's decimation-in-time FFT on (batch, n) int16 arrays, one stage at a time.

    kissfft recurses: the FFT of x[o::s] (n points) butterflies the FFTs of x[o + q*s :: radix*s]. Here
    the same sub-FFTs are built bottom-up, all offsets ``o`` of a stage at once, with the same
    fixed-point rounding in the same order, so the result is kissfft's to the bit.
    """
    batch, size = re.shape
    parts_re, parts_im = re[:, :, None], im[:, :, None]  # (batch, offsets, length): size-1 FFTs
    for radix in reversed(_radices(size)):
        offsets, length = parts_re.shape[1] // radix, parts_re.shape[2]
        parts_re = parts_re.reshape(batch, radix, offsets, length)
        parts_im = parts_im.reshape(batch, radix, offsets, length)
        steps = np.arange(length) * offsets  # twiddle u * stride, the stride being the offset count
        f_re = [_fixdiv(parts_re[:, q], radix) for q in range(radix)]
        f_im = [_fixdiv(parts_im[:, q], radix) for q in range(radix)]
        if radix == 2:
            t_re, t_im = _cmul(f_re[1], f_im[1], tw_re[steps], tw_im[steps])
            out_re = [f_re[0] + t_re, f_re[0] - t_re]
            out_im = [f_im[0] + t_im, f_im[0] - t_im]
        else:
            s0 = _cmul(f_re[1], f_im[1], tw_re[steps], tw_im[steps])
            s1 = _cmul(f_re[2], f_im[2], tw_re[2 * steps], tw_im[2 * steps])
            s2 = _cmul(f_re[3], f_im[3], tw_re[3 * steps], tw_im[3 * steps])
            s5 = f_re[0] - s1[0], f_im[0] - s1[1]
            first = f_re[0] + s1[0], f_im[0] + s1[1]
            s3 = s0[0] + s2[0], s0[1] + s2[1]
            s4 = s0[0] - s2[0], s0[1] - s2[1]
            out_re = [first[0] + s3[0], s5[0] + s4[1], first[0] - s3[0], s5[0] - s4[1]]
            out_im = [first[1] + s3[1], s5[1] - s4[0], first[1] - s3[1], s5[1] + s4[0]]
        parts_re = np.stack(out_re, axis=2).reshape(batch, offsets, radix * length)
        parts_im = np.stack(out_im, axis=2).reshape(batch, offsets, radix * length)
    return parts_re[:, 0], parts_im[:, 0]


class _RealFft:
    """kiss_fftr: a real FFT of ``fft_size`` points as a complex FFT of half the size, in int16."""

    def __init__(self, fft_size: int):
        half = fft_size // 2
        self.half = half
        self.tw = _twiddles(-2 * math.pi * np.arange(half) / half)
        self.super_tw = _twiddles(-math.pi * ((np.arange(half // 2) + 1) / half + 0.5))

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(batch, fft_size) int16 → real and imaginary parts of bins 0..fft_size/2 (int16)."""
        half = self.half
        sub_re, sub_im = _kiss_fft(frames[:, 0::2], frames[:, 1::2], *self.tw)
        out_re = np.zeros((frames.shape[0], half + 1), np.int16)
        out_im = np.zeros_like(out_re)
        dc_re, dc_im = _fixdiv(sub_re[:, 0], 2), _fixdiv(sub_im[:, 0], 2)
        out_re[:, 0], out_re[:, half] = dc_re + dc_im, dc_re - dc_im
        k = np.arange(1, half // 2 + 1)
        pk_re, pk_im = _fixdiv(sub_re[:, k], 2), _fixdiv(sub_im[:, k], 2)
        pnk_re, pnk_im = _fixdiv(sub_re[:, half - k], 2), _fixdiv(-sub_im[:, half - k], 2)
        f1_re, f1_im = (pk_re + pnk_re).astype(np.int32), (pk_im + pnk_im).astype(np.int32)
        tw_re, tw_im = _cmul(pk_re - pnk_re, pk_im - pnk_im, self.super_tw[0][k - 1], self.super_tw[1][k - 1])
        # Bins k and half-k; at k = half/2 they coincide and the second write wins, as in C.
        out_re[:, k], out_im[:, k] = (f1_re + tw_re) >> 1, (f1_im + tw_im) >> 1
        out_re[:, half - k], out_im[:, half - k] = (f1_re - tw_re) >> 1, (tw_im - f1_im) >> 1
        return out_re, out_im


# ------------------------------------------------------------------ tables built once
def _window(config: MicroFrontendConfig) -> np.ndarray:
    size = config.window_samples
    arg = np.float32(math.pi * 2.0 / float(size))  # computed in double, stored as float, as in C
    values = (0.5 - 0.5 * np.cos(np.float64(arg) * (np.arange(size) + 0.5))).astype(np.float32)
    return np.floor(values.astype(np.float64) * (1 << _WINDOW_BITS) + 0.5).astype(np.int64)


def _mel(frequency_hz) -> np.ndarray:
    return np.float32(1127.0 * np.log1p(np.asarray(frequency_hz, np.float64) / 700.0))


def _filterbank(config: MicroFrontendConfig, spectrum_size: int) -> tuple[int, int, np.ndarray]:
    """(first bin, end bin, (bins, channels) int64 weights): FilterbankPopulateState as one dense matrix.

    Output channel c sums ``weight · energy`` over the bins of mel band c+1 and ``unweight · energy``
    over those of band c (the C code's two accumulators); padding in the C tables has zero weight.
    """
    channels = config.channels
    mel_low, mel_high = _mel(np.float32(config.lower_band_hz)), _mel(np.float32(config.upper_band_hz))
    spacing = np.float32(np.float32(mel_high - mel_low) / np.float32(channels + 1))
    centres = (mel_low + spacing * np.arange(1, channels + 2, dtype=np.float32)).astype(np.float32)
    hz_per_bin = np.float32(0.5 * config.sample_rate_hz / float(spectrum_size - 1))
    start = int(1.5 + float(np.float32(config.lower_band_hz) / hz_per_bin))
    bin_mel = _mel(np.arange(spectrum_size, dtype=np.float32) * hz_per_bin)
    matrix = np.zeros((spectrum_size, channels), np.int64)
    first, end = start, 0
    for band in range(channels + 1):
        stop = first
        while stop < spectrum_size and bin_mel[stop] <= centres[band]:
            stop += 1
        if stop == spectrum_size:
            raise InputError(f"the filterbank's upper band ({config.upper_band_hz} Hz) is above the spectrum")
        lower = mel_low if band == 0 else centres[band - 1]
        for index in range(first, stop):
            weight = np.float32((centres[band] - bin_mel[index]) / np.float32(centres[band] - lower))
            if band < channels:
                matrix[index, band] = math.floor((1.0 - float(weight)) * (1 << _FILTERBANK_BITS) + 0.5)
            if band > 0:
                matrix[index, band - 1] = math.floor(float(weight) * (1 << _FILTERBANK_BITS) + 0.5)
        end = max(end, stop)
        first = stop
    return start, end, matrix[start:end]


def _pcan_gain(config: MicroFrontendConfig, input_bits: int, x: int) -> int:
    value = np.float32(np.float32(x) / np.float32(1 << input_bits))
    gain = np.float32(1 << config.pcan_gain_bits) * np.power(
        np.float32(value + np.float32(config.pcan_offset)), np.float32(-config.pcan_strength)
    )
    return 0x7FFF if gain > 0x7FFF else int(np.float32(gain + np.float32(0.5)))


def _pcan_lut(config: MicroFrontendConfig, input_bits: int) -> np.ndarray:
    lut = np.zeros(4 * _WIDE_DYNAMIC_BITS - 3, np.int64)
    lut[0], lut[1] = _pcan_gain(config, input_bits, 0), _pcan_gain(config, input_bits, 1)
    for interval in range(2, _WIDE_DYNAMIC_BITS + 1):
        x0 = 1 << (interval - 1)
        x1 = x0 + (x0 >> 1)
        x2 = x0 + (x0 - 1) if interval == _WIDE_DYNAMIC_BITS else 2 * x0
        y0, y1, y2 = (_pcan_gain(config, input_bits, x) for x in (x0, x1, x2))
        a1 = 4 * (y1 - y0) - (y2 - y0)
        lut[4 * interval - 6 : 4 * interval - 3] = y0, _int16(np.int64(a1)), _int16(np.int64(y2 - y0 - a1))
    return lut


# ------------------------------------------------------------------ the pipeline
class MicroFrontend:
    """Streaming TFLite-Micro frontend: 16-bit PCM in any block size → one feature row per step.

    State (the unconsumed samples and the noise estimate) carries across :meth:`process` calls, so a
    stream cut into blocks gives exactly the features of the whole signal.
    """

    def __init__(self, config: MicroFrontendConfig | None = None):
        self.config = config = config or MicroFrontendConfig()
        self._coefficients = _window(config)
        self._fft_size = 1 << (config.window_samples - 1).bit_length()
        self._fft = _RealFft(self._fft_size)
        self._start, self._end, weights = _filterbank(config, self._fft_size // 2 + 1)
        self._weights = weights.astype(np.uint64)
        self._correction_bits = self._fft_size.bit_length() - 1 - _FILTERBANK_BITS // 2
        self._snr_shift = config.pcan_gain_bits - self._correction_bits - _PCAN_SNR_BITS
        self._gain_lut = _pcan_lut(config, config.smoothing_bits - self._correction_bits)
        parity = np.arange(config.channels) % 2
        self._smoothing = np.where(
            parity == 0,
            int(config.even_smoothing * (1 << _NOISE_REDUCTION_BITS)),
            int(config.odd_smoothing * (1 << _NOISE_REDUCTION_BITS)),
        ).astype(np.int64)
        self._min_remaining = int(config.min_signal_remaining * (1 << _NOISE_REDUCTION_BITS))
        self.reset()

    def reset(self) -> None:
        """Forget the stream: no pending samples, noise estimate zero."""
        self._pending = np.zeros(0, np.int64)
        self._estimate = np.zeros(self.config.channels, np.int64)

    def process(self, samples: np.ndarray, raw: bool = False) -> np.ndarray:
        """Consume a block of mono samples; return the features of every window that completed.

        Args:
            samples: int16 PCM, or floats in [-1, 1] (scaled by 32768, rounded and clipped to int16).
            raw: return the frontend's uint16 values instead of ``values * FEATURE_SCALE`` as float32.

        Returns:
            (frames, channels): uint16 if ``raw`` else float32; zero rows when no window completed.

        Raises:
            InputError: samples are not 1-D numbers, or contain NaN/Inf.
        """
        pcm = _to_pcm(samples)
        window, step = self.config.window_samples, self.config.step_samples
        buffer = np.concatenate([self._pending, pcm])
        count = 0 if buffer.size < window else (buffer.size - window) // step + 1
        self._pending = buffer[count * step :]
        if count == 0:
            values = np.zeros((0, self.config.channels), np.uint16)
        else:
            starts = np.arange(count)[:, None] * step
            values = self._features(buffer[starts + np.arange(window)[None, :]])
        return values if raw else values.astype(np.float32) * np.float32(FEATURE_SCALE)

    def _features(self, frames: np.ndarray) -> np.ndarray:
        windowed = _int16((frames * self._coefficients) >> _WINDOW_BITS)
        # C takes abs() in int16: -32768 stays negative and is ignored by the max.
        peak = np.maximum(_int16(np.abs(windowed)).max(axis=1), 0)
        shift = 15 - _bit_length(peak)
        scaled = (windowed << shift[:, None]).astype(np.int16)  # astype wraps, like the C cast
        padded = np.zeros((frames.shape[0], self._fft_size), np.int16)
        padded[:, : scaled.shape[1]] = scaled
        real, imag = self._fft(padded)
        real = real[:, self._start : self._end].astype(np.int64)
        imag = imag[:, self._start : self._end].astype(np.int64)
        # C stores re² + im² in an int32 (a full-scale bin overflows it) and widens it to uint64 with sign
        # extension; the uint64 sums then wrap. Reproduced so that loud tones give the C features too.
        energy = ((real * real + imag * imag) & _MASK32).astype(np.uint64)
        filtered = _rounded_sqrt(energy @ self._weights).astype(np.int64) >> shift[:, None]
        reduced = np.empty_like(filtered)
        estimates = np.empty_like(filtered)
        for row in range(filtered.shape[0]):
            reduced[row], estimates[row] = self._reduce_noise(filtered[row])
        return self._log(self._pcan(reduced, estimates)).astype(np.uint16)

    def _reduce_noise(self, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scaled_up = (signal << self.config.smoothing_bits) & _MASK32
        estimate = (
            (scaled_up * self._smoothing + self._estimate * ((1 << _NOISE_REDUCTION_BITS) - self._smoothing))
            >> _NOISE_REDUCTION_BITS
        ) & _MASK32
        self._estimate = estimate
        floor = ((signal * self._min_remaining) >> _NOISE_REDUCTION_BITS) & _MASK32
        subtracted = (scaled_up - np.minimum(estimate, scaled_up)) >> self.config.smoothing_bits
        return np.maximum(subtracted, floor), estimate

    def _pcan(self, signal: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        lut = self._gain_lut
        interval = _bit_length(estimate)
        base = np.clip(4 * interval - 6, 0, lut.size - 3)
        frac = np.where(
            interval < 11, estimate << np.maximum(11 - interval, 0), estimate >> np.maximum(interval - 11, 0)
        )
        frac &= 0x3FF
        result = _int32(((lut[base + 2] * frac) >> 5) + lut[base + 1] * 32)
        result = (_int32(result * frac) + (1 << 14)) >> 15
        gain = np.where(estimate <= 2, lut[np.minimum(estimate, 2)], _int16(result + lut[base]))
        snr = ((signal * (gain & _MASK32)) >> self._snr_shift) & _MASK32
        limit = 2 << _PCAN_SNR_BITS
        small = (snr * snr) >> (2 + 2 * _PCAN_SNR_BITS - _PCAN_OUTPUT_BITS)
        large = (snr >> (_PCAN_SNR_BITS - _PCAN_OUTPUT_BITS)) - (1 << _PCAN_OUTPUT_BITS)
        return np.where(snr < limit, small, large) & _MASK32

    def _log(self, signal: np.ndarray) -> np.ndarray:
        value = (signal << self._correction_bits) & _MASK32
        integer = np.maximum(_bit_length(value) - 1, 0)
        frac = value - (np.int64(1) << integer)
        frac = np.where(
            integer < _LOG_SCALE_BITS,
            frac << np.maximum(_LOG_SCALE_BITS - integer, 0),
            frac >> np.maximum(integer - _LOG_SCALE_BITS, 0),
        )
        segment = np.clip(frac >> (_LOG_SCALE_BITS - _LOG_SEGMENT_BITS), 0, _LOG_LUT.size - 2)
        c0, c1 = _LOG_LUT[segment], _LOG_LUT[segment + 1]
        relative = ((c1 - c0) * (frac - segment * (1 << (_LOG_SCALE_BITS - _LOG_SEGMENT_BITS)))) >> _LOG_SCALE_BITS
        log2 = ((integer << _LOG_SCALE_BITS) + frac + c0 + relative) & _MASK32
        half = 1 << (_LOG_SCALE_BITS - 1)
        loge = ((_LOG_COEFF * log2 + half) >> _LOG_SCALE_BITS) & _MASK32
        scaled = ((((loge << self.config.log_scale_shift) & _MASK32) + half) >> _LOG_SCALE_BITS) & _MASK32
        return np.minimum(np.where(value > 1, scaled, 0), 0xFFFF)


def _rounded_sqrt(values: np.ndarray) -> np.ndarray:
    """Sqrt64 on uint64: the integer square root rounded to nearest, capped as the C code caps it."""
    largest = np.uint64(_MASK32)
    root = np.minimum(np.floor(np.sqrt(values.astype(np.float64))), float(_MASK32)).astype(np.uint64)
    for _ in range(2):  # the float estimate is off by at most one near 2**64
        root -= (root * root > values).astype(np.uint64)
        step = (root < largest) & ((root + np.uint64(1)) * (root + np.uint64(1)) <= values)
        root += step.astype(np.uint64)
    cap = np.where(values < np.uint64(1 << 32), np.uint64(0xFFFF), largest)
    return root + ((values - root * root > root) & (root != cap)).astype(np.uint64)


def _to_pcm(samples: np.ndarray) -> np.ndarray:
    array = np.asarray(samples)
    if array.ndim != 1 or array.dtype.kind not in "iuf":
        raise InputError(f"the micro frontend takes 1-D mono samples, got shape {array.shape} {array.dtype}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise InputError("audio samples contain NaN or Inf")
        return np.clip(np.rint(array.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int64)
    return np.clip(array.astype(np.int64), -32768, 32767)
