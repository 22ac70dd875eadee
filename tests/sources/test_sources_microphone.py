"""Audio sources: the streaming resampler against scipy, WAV/FLAC files, and a real (virtual) microphone.

The microphone tests record through PortAudio from a PulseAudio null sink running at 48 kHz (PortAudio's
ALSA device opens it at 44.1 kHz), ask for 16 kHz, and compare what was heard with what was played.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import InputError
from edgekit.processing.streaming import StreamingResampler
from edgekit.sources import (
    AudioFileSource,
    DeviceNotFoundError,
    MicrophoneSource,
    SourceNotFoundError,
    open_source,
)
from edgekit.sources._ring import AudioRing
from tests.support.live_fixtures import virtual_mic  # noqa: F401

scipy_signal = pytest.importorskip("scipy.signal")
REPO = Path(__file__).resolve().parents[2]


def chirp(rate_hz: int, duration_s: float, top_hz: float, amplitude: float = 0.5) -> np.ndarray:
    """A linear chirp with 20 ms fades: non-periodic, so a cross-correlation has one clear peak."""
    times = np.arange(int(rate_hz * duration_s)) / rate_hz
    signal = amplitude * scipy_signal.chirp(times, 80.0, times[-1], top_hz)
    fade = np.minimum(1.0, np.minimum(times, times[-1] - times) / 0.02)
    return (signal * fade).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate_hz: int) -> Path:
    samples = np.asarray(samples)
    pcm = np.clip(np.rint(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(rate_hz)
        handle.writeframes(pcm.tobytes())
    return path


def quantized(samples: np.ndarray) -> np.ndarray:
    """What a 16-bit WAV holds for ``samples``."""
    return np.clip(np.rint(samples * 32767), -32768, 32767) / 32768.0


def aligned_similarity(heard: np.ndarray, reference: np.ndarray, factor: int = 16) -> tuple[float, float]:
    """Where ``reference`` starts in ``heard`` (in samples, to 1/factor) and the normalised correlation there.

    The path's delay is not a whole number of samples, and a chirp's high end decorrelates with a
    fraction of a sample of misalignment, so both are upsampled before the fine search.
    """
    coarse = int(np.argmax(np.abs(scipy_signal.correlate(heard, reference, mode="valid"))))
    margin = min(4, coarse, heard.size - reference.size - coarse)
    window = scipy_signal.resample_poly(heard[coarse - margin : coarse + reference.size + margin], factor, 1)
    fine_reference = scipy_signal.resample_poly(reference, factor, 1)
    fine = int(np.argmax(scipy_signal.correlate(window, fine_reference, mode="valid")))
    segment = window[fine : fine + fine_reference.size]
    similarity = segment @ fine_reference / (np.linalg.norm(segment) * np.linalg.norm(fine_reference))
    return coarse - margin + fine / factor, float(similarity)


# -- the resampler ------------------------------------------------------------------------------------
@pytest.mark.parametrize("source_hz,target_hz", [(44100, 16000), (48000, 16000), (22050, 16000), (8000, 16000)])
def test_streaming_resampler_matches_resample_poly(source_hz, target_hz):
    """Block by block (random sizes, some empty) equals scipy's one-pass resample_poly within 1e-6."""
    signal = chirp(source_hz, 1.2, 0.45 * min(source_hz, target_hz), amplitude=0.9)
    resampler = StreamingResampler(source_hz, target_hz)
    rng = np.random.default_rng(source_hz)
    pieces, start = [], 0
    while start < signal.size:
        size = int(rng.integers(0, 2500))
        pieces.append(resampler.process(signal[start : start + size]))
        start += size
    pieces.append(resampler.flush())
    streamed = np.concatenate(pieces)
    up, down = resampler.up, resampler.down
    reference = scipy_signal.resample_poly(signal.astype(np.float64), up, down)
    assert streamed.dtype == np.float32 and streamed.shape == reference.shape
    assert np.max(np.abs(streamed - reference)) < 1e-6


def test_resampler_has_no_clicks_at_block_edges():
    """A 1 kHz tone cut into 10 ms blocks comes out as a clean tone (no jump at any block edge)."""
    tone = np.sin(2 * np.pi * 1000 * np.arange(44100) / 44100).astype(np.float32)
    resampler = StreamingResampler(44100, 16000)
    out = np.concatenate([resampler.process(tone[i : i + 441]) for i in range(0, tone.size, 441)])
    expected = np.sin(2 * np.pi * 1000 * np.arange(out.size) / 16000)
    steady = slice(200, out.size - 200)  # the filter's own start-up transient is not a click
    assert np.max(np.abs(out[steady] - expected[steady])) < 2e-3


def test_sources_refuse_bad_rates_and_block_sizes(tmp_path):
    with pytest.raises(InputError):
        StreamingResampler(0, 16000)
    with pytest.raises(InputError, match="sample_rate_hz"):
        MicrophoneSource(sample_rate_hz=0)
    with pytest.raises(InputError, match="two blocks"):
        MicrophoneSource(block_ms=100, buffer_s=0.1)
    with pytest.raises(InputError, match="no samples"):
        AudioFileSource(write_wav(tmp_path / "a.wav", np.zeros(10), 16000), block_ms=0)


def test_ring_counts_overflows_and_keeps_positions():
    ring = AudioRing(1000)
    ring.write(np.arange(600, dtype=np.float32))
    ring.write(np.arange(600, 1500, dtype=np.float32))  # 500 unread samples overwritten
    assert (ring.overflows, ring.samples_dropped) == (1, 500)
    start, samples = ring.read(300)
    assert start == 500 and np.array_equal(samples, np.arange(500, 800))


# -- audio files ----------------------------------------------------------------------------------------
@pytest.fixture
def stereo_wav(tmp_path) -> tuple[Path, np.ndarray]:
    """1.23 s of 44.1 kHz stereo (chirp left, quieter chirp right) and its 16-bit mono mix-down."""
    left = chirp(44100, 1.23, 7000)
    stereo = np.stack([left, 0.5 * left[::-1]], axis=1)
    return write_wav(tmp_path / "stereo.wav", stereo, 44100), quantized(stereo).mean(axis=1)


@pytest.mark.parametrize("decoder", ["soundfile", "wave"])
def test_wav_file_blocks_are_resampled_in_order(stereo_wav, decoder):
    if decoder == "soundfile":
        pytest.importorskip("soundfile")
    path, mono = stereo_wav
    with AudioFileSource(path, sample_rate_hz=16000, block_ms=100, decoder=decoder) as source:
        blocks = list(source)
        assert source.read() is None
    expected = scipy_signal.resample_poly(mono, 160, 441)
    assert [block.index for block in blocks] == list(range(len(blocks)))
    assert [block.position_ms for block in blocks] == [100.0 * i for i in range(len(blocks))]
    assert all(block.samples.size == 1600 for block in blocks[:-1]) and 0 < blocks[-1].samples.size <= 1600
    assert all(block.sample_rate_hz == 16000 and block.samples.dtype == np.float32 for block in blocks)
    assert np.max(np.abs(np.concatenate([block.samples for block in blocks]) - expected)) < 1e-5
    assert np.all(np.diff([block.timestamp_ms for block in blocks]) >= 0)


@pytest.mark.parametrize("decoder", ["soundfile", "ffmpeg"])
def test_flac_file_decodes_like_the_wav(stereo_wav, tmp_path, decoder):
    """FLAC made by an independent encoder (sox or ffmpeg); lossless, so the blocks equal the WAV's."""
    if decoder == "soundfile":
        pytest.importorskip("soundfile")
    elif not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    path, _ = stereo_wav
    flac = tmp_path / "stereo.flac"
    encoder = (
        ["sox", "-D", str(path), str(flac)]
        if shutil.which("sox")
        else ["ffmpeg", "-v", "error", "-i", str(path), str(flac)]
    )
    if not shutil.which(encoder[0]):
        pytest.skip("neither sox nor ffmpeg is installed to make a FLAC file")
    subprocess.run(encoder, check=True, timeout=30)
    with AudioFileSource(flac, block_ms=250, decoder=decoder) as from_flac, open_source(path, block_ms=250) as from_wav:
        flac_samples = np.concatenate([block.samples for block in from_flac])
        wav_samples = np.concatenate([block.samples for block in from_wav])
    assert flac_samples.shape == wav_samples.shape
    assert np.max(np.abs(flac_samples - wav_samples)) < 1e-6


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_audio_file_realtime_pacing_and_loop(tmp_path):
    path = write_wav(tmp_path / "short.wav", chirp(16000, 0.3, 5000), 16000)
    started = time.monotonic()
    with open_source(path, block_ms=100, realtime=True, loop=True) as source:
        blocks = [source.read() for _ in range(5)]  # 0.5 s: the 0.3 s file played 1.67 times
    elapsed_s = time.monotonic() - started
    assert 0.45 < elapsed_s < 1.5
    assert [block.position_ms for block in blocks] == [0.0, 100.0, 200.0, 300.0, 400.0]
    assert np.allclose(blocks[3].samples, blocks[0].samples, atol=1e-6)  # the loop starts over
    gaps_ms = np.diff([block.timestamp_ms for block in blocks])
    assert np.all((gaps_ms > 60) & (gaps_ms < 250)), gaps_ms


def test_missing_or_corrupt_audio_file_is_a_clear_error(tmp_path):
    with pytest.raises(SourceNotFoundError, match="audio file not found") as caught:
        open_source(tmp_path / "nope.flac")
    assert isinstance(caught.value, FileNotFoundError)
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + bytes(100))
    with pytest.raises(InputError, match="cannot decode|cannot read"):
        open_source(corrupt).start()


# -- the virtual microphone -------------------------------------------------------------------------------
def record_while_playing(spec: str, wav: Path, mic) -> tuple[list, float]:
    """Blocks captured from ``spec`` while ``wav`` is played into the microphone; and when playing began."""
    with open_source(spec, sample_rate_hz=16000, block_ms=100) as source:
        blocks = [source.read(timeout_s=5) for _ in range(3)]
        play_ms = time.monotonic() * 1000
        player = subprocess.Popen(["paplay", f"--device={mic.sink}", str(wav)], env=mic.env)
        while player.poll() is None:
            blocks.append(source.read(timeout_s=5))
        blocks += [source.read(timeout_s=5) for _ in range(3)]
        stats = source.stats
    assert player.returncode == 0
    assert stats["capture_rate_hz"] != 16000 and stats["device"] == "vmic", stats
    return blocks, play_ms


@pytest.mark.audio
@pytest.mark.parametrize("by", ["name", "index"])
def test_microphone_hears_a_chirp_resampled_to_16k(virtual_mic, tmp_path, by):  # noqa: F811
    import sounddevice

    played = chirp(virtual_mic.sink_rate_hz, 1.0, 5000)
    wav = write_wav(tmp_path / "chirp.wav", played, virtual_mic.sink_rate_hz)
    index = next(d["index"] for d in sounddevice.query_devices() if d["name"] == virtual_mic.device_name)
    spec = f"mic:{virtual_mic.device_name}" if by == "name" else f"mic:{index}"
    blocks, play_ms = record_while_playing(spec, wav, virtual_mic)

    assert [block.index for block in blocks] == list(range(len(blocks)))
    assert [block.position_ms for block in blocks] == [100.0 * i for i in range(len(blocks))]
    assert all(block.samples.size == 1600 and block.sample_rate_hz == 16000 for block in blocks)
    assert np.all(np.diff([block.timestamp_ms for block in blocks]) > 0)
    heard = np.concatenate([block.samples for block in blocks])
    reference = scipy_signal.resample_poly(quantized(played), 1, 3)  # 48 kHz -> 16 kHz
    lag, similarity = aligned_similarity(heard, reference)
    # Two resamplers in the path (PulseAudio 48 -> 44.1 kHz, speex; edgekit 44.1 -> 16 kHz): measured 0.9996.
    assert similarity > 0.99, similarity
    segment = heard[int(lag) : int(lag) + reference.size]
    assert 0.85 < np.linalg.norm(segment) / np.linalg.norm(reference) < 1.15
    # The chirp's first sample: where the stream says it is, versus when paplay was started.
    block = blocks[int(lag) // 1600]
    onset_ms = block.timestamp_ms - (block.samples.size - 1 - lag % 1600) / 16.0
    assert -50 < onset_ms - play_ms < 600, onset_ms - play_ms


@pytest.mark.audio
def test_microphone_overflow_is_counted_not_fatal(virtual_mic):  # noqa: F811
    with MicrophoneSource(virtual_mic.device_name, block_ms=100, buffer_s=0.3) as mic:
        time.sleep(0.8)  # the consumer falls behind by more than the 0.3 s ring
        blocks = [mic.read(timeout_s=5) for _ in range(4)]
        stats = mic.stats
    assert stats["buffer_overflows"] >= 1 and stats["samples_dropped"] > 0 and stats["overflows"] >= 1
    assert blocks[0].position_ms > 0  # the overwritten audio still counts in the stream position
    assert [b.position_ms - blocks[0].position_ms for b in blocks] == [0.0, 100.0, 200.0, 300.0]


@pytest.mark.audio
def test_unknown_microphone_name_lists_the_devices(virtual_mic):  # noqa: F811
    with pytest.raises(DeviceNotFoundError, match="no microphone matches 'no-such-mic'.*vmic") as caught:
        MicrophoneSource("no-such-mic").start()
    assert isinstance(caught.value, OSError) and "mic:" in caught.value.hint


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=REPO)


REPORT_ERROR = """
from edgekit.sources import open_source
try:
    open_source("mic").start()
except Exception as error:
    print(type(error).__name__, "|", error, "|", getattr(error, "hint", ""))
"""


@pytest.mark.audio
def test_no_input_device_is_a_clear_error():
    """A process that cannot reach any sound server or card: PortAudio lists no device."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "ALSA_CONFIG_PATH")}
    env["PULSE_SERVER"] = "unix:/nonexistent/edgekit-no-pulse"  # no daemon of anyone else's either
    if Path("/dev/snd").exists():
        pytest.skip("this machine has a sound card")
    result = run_python(REPORT_ERROR, env)
    assert result.stdout.startswith("DeviceNotFoundError | no microphone found"), result.stdout + result.stderr
    assert "python -m sounddevice" in result.stdout


def test_missing_portaudio_names_the_apt_package():
    """sounddevice raises OSError('PortAudio library not found') when libportaudio2 is absent; simulated
    by hiding the library from ctypes' lookup in a child process (the import path is sounddevice's own)."""
    pytest.importorskip("sounddevice")
    hide = (
        "import ctypes.util as u; f = u.find_library; u.find_library = lambda n: None if 'portaudio' in n else f(n)\n"
    )
    result = run_python(hide + REPORT_ERROR, dict(os.environ))
    assert result.stdout.startswith("MissingDependencyError | the microphone needs the PortAudio library"), (
        result.stdout + result.stderr
    )
    assert "apt install libportaudio2" in result.stdout
