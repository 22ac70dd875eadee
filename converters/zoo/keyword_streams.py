"""Training audio for the speech-embedding keyword spotter: dry synthesized words, mixed into long streams.

1. **Dry words** (:func:`synthesize`): every speaker of :mod:`converters.zoo.speech_data` (8 espeak-ng
   accents x 20 voice variants, 5 flite voices; the same speaker-disjoint split) says the ten keywords
   and three other words per *rendition*, with speaking rate and pitch drawn per rendition over wider
   ranges than speech_data (espeak-ng 90-250 wpm, pitch 5-95; flite stretch 0.7-1.4, ±400 cents).
   Cached as one .npz per rendition under ``${EDGEKIT_CACHE:-~/.cache/edgekit}/keyword_words``.
2. **Streams** (:func:`make_stream`): words of one split laid end to end with random gaps (0.1-1.1 s),
   each at its own level, through one synthetic room per stream (exponentially decaying noise impulse
   responses, RT60 0.15-0.9 s, or dry), over continuous noise (white/pink/brown/hum and a murmur of
   other words at -25..-10 dB below the speech) at a random SNR. Every word's span is recorded.
3. The embedding network is convolutional with one step per 1280 samples, so the embeddings of a
   whole stream, sliced 16 steps at a time, equal what the model computes on each 2 s window starting
   on a step: the training windows cost one embedding pass over the stream, not one per window.

Reproducible: every draw comes from a generator seeded by the names involved (crc32, not hash()).
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from converters.zoo import speech_data
from converters.zoo.speech_data import KEYWORDS, SAMPLE_RATE_HZ, Speaker

WORDS_VERSION = "w2"
ESPEAK_RENDITIONS = 10
FLITE_RENDITIONS = 40
OTHER_WORDS_PER_RENDITION = 3
# Other words: speech_data's unknown words and more near-misses and everyday words (read speech is
# full of these). Homophones of a keyword ("know", "write", "too") are left out.
MORE_WORDS = (
    "guess",
    "less",
    "dress",
    "so",
    "low",
    "toe",
    "snow",
    "hop",
    "top",
    "ride",
    "white",
    "laughed",
    "gown",
    "noun",
    "an",
    "the",
    "and",
    "with",
    "was",
    "that",
    "it",
    "for",
    "you",
    "she",
    "they",
    "this",
    "there",
    "what",
    "when",
    "where",
    "would",
    "could",
    "about",
    "after",
    "before",
    "people",
    "water",
    "meters",
    "ten",
    "hundred",
    "sense",
    "family",
    "morning",
    "little",
    "mother",
    "should",
    "very",
    "going",
    "yesterday",
    "stopping",
    "downtown",
    "only",
    "open",
)
OTHER_WORDS = tuple(dict.fromkeys(speech_data.UNKNOWN_WORDS + MORE_WORDS))


def words_root() -> Path:
    return Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit") / "keyword_words"


def _rng(*names) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32("/".join(map(str, names)).encode())])


def _job_words(speaker: Speaker, rendition: int, seed: int) -> list[str]:
    rng = _rng(seed, speaker.key, rendition, "words")
    others = [str(w) for w in rng.choice(OTHER_WORDS, OTHER_WORDS_PER_RENDITION, replace=False)]
    return list(KEYWORDS) + others


def _synthesize_job(speaker: Speaker, rendition: int, seed: int, folder: Path) -> Path:
    path = folder / f"{speaker.key}_r{rendition:02d}.npz"
    if path.is_file():
        return path
    words = _job_words(speaker, rendition, seed)
    rng = _rng(seed, speaker.key, rendition, "voice")
    if speaker.engine == "espeak-ng":
        clips = speech_data._espeak(speaker, words, int(rng.integers(90, 251)), int(rng.integers(5, 96)))
    else:
        scratch = folder / "tmp" / f"{speaker.key}_r{rendition:02d}"
        scratch.mkdir(parents=True, exist_ok=True)
        clips = speech_data._flite(speaker, words, float(rng.uniform(0.7, 1.4)), int(rng.integers(-400, 401)), scratch)
        shutil.rmtree(scratch, ignore_errors=True)
    arrays = {
        f"{i:02d}_{w}": np.clip(np.rint(c * 32767), -32768, 32767).astype(np.int16)
        for i, (w, c) in enumerate(zip(words, clips))
    }
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, **arrays)
    temporary.replace(path)
    return path


def synthesize(
    seed: int = 0, workers: int = 2, log=print, held_out_only: bool = False
) -> dict[str, list[tuple[str, str, np.ndarray]]]:
    """Every dry word, by split: ``{"train": [(speaker, word, float32 samples), ...], "test": [...]}``."""
    speech_data.check_tools()
    folder = words_root() / f"{WORDS_VERSION}_seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    for speaker in speech_data.all_speakers():
        if held_out_only and not speaker.held_out:
            continue
        count = FLITE_RENDITIONS if speaker.engine == "flite" else ESPEAK_RENDITIONS
        jobs += [(speaker, r) for r in range(count)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        paths = list(
            pool.map(
                _synthesize_job,
                [j[0] for j in jobs],
                [j[1] for j in jobs],
                [seed] * len(jobs),
                [folder] * len(jobs),
                chunksize=8,
            )
        )
    shutil.rmtree(folder / "tmp", ignore_errors=True)
    result: dict[str, list[tuple[str, str, np.ndarray]]] = {"train": [], "test": []}
    for (speaker, _), path in zip(jobs, paths):
        with np.load(path) as data:
            for key in sorted(data.files):
                word = key.split("_", 1)[1]
                result["test" if speaker.held_out else "train"].append(
                    (speaker.key, word, data[key].astype(np.float32) / 32768.0)
                )
    if log:
        log(f"keyword words: {len(result['train'])} train, {len(result['test'])} test dry words")
    return result


# ---------------------------------------------------------------------------------------- rooms and noise
def room_impulse(rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: a direct path, then exponentially decaying noise (RT60 0.15-0.9 s), low-passed
    a little as walls absorb highs; normalized to a unit direct path."""
    rt60 = rng.uniform(0.15, 0.9)
    length = int(min(rt60, 0.6) * SAMPLE_RATE_HZ)
    t = np.arange(length) / SAMPLE_RATE_HZ
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    tail = np.convolve(tail, np.ones(4) / 4, mode="same")
    delay = int(rng.uniform(0.002, 0.02) * SAMPLE_RATE_HZ)
    impulse = np.zeros(length + delay)
    impulse[0] = 1.0
    impulse[delay:] += tail * rng.uniform(0.05, 0.35)
    return impulse.astype(np.float32)


def convolve(signal: np.ndarray, impulse: np.ndarray) -> np.ndarray:
    size = signal.size + impulse.size - 1
    n = 1 << (size - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(signal, n) * np.fft.rfft(impulse, n), n)[: signal.size]
    return out.astype(np.float32)


def background(length: int, rng: np.random.Generator, murmur_words: Sequence[np.ndarray]) -> np.ndarray:
    """Unit-RMS noise for a stream: one or two synthetic kinds, sometimes a murmur of quiet words."""
    kinds = list(rng.choice(speech_data.NOISE_KINDS, size=int(rng.integers(1, 3)), replace=False))
    noise = sum(rng.uniform(0.3, 1.0) * speech_data.make_noise(str(k), length, rng) for k in kinds)
    noise = np.asarray(noise, np.float32)
    noise /= np.sqrt(np.mean(noise**2)) + 1e-12
    if murmur_words and rng.random() < 0.4:  # other speech far away: real rooms are rarely quiet
        murmur = np.zeros(length, np.float32)
        for _ in range(int(length / SAMPLE_RATE_HZ * 3)):
            word = murmur_words[int(rng.integers(len(murmur_words)))]
            start = int(rng.integers(0, max(1, length - word.size)))
            murmur[start : start + word.size] += word[: length - start] * rng.uniform(0.3, 1.0)
        murmur /= np.sqrt(np.mean(murmur**2)) + 1e-12
        noise = noise + murmur * rng.uniform(0.5, 2.0)
        noise /= np.sqrt(np.mean(noise**2)) + 1e-12
    return noise


def make_stream(
    words: Sequence[tuple[str, np.ndarray]],
    rng: np.random.Generator,
    murmur_words: Sequence[np.ndarray] = (),
    snr_db: tuple[float, float] = (0.0, 35.0),
    reverb: float = 0.5,
) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Words end to end with gaps, one room, noise: (samples float32, [(word, start, end), ...]).

    A leading 3 s of background only, so the first windows are silence, as at the start of a stream.
    """
    level_db = rng.uniform(-30.0, -3.0, size=len(words))
    gaps = (rng.uniform(0.1, 1.1, size=len(words)) * SAMPLE_RATE_HZ).astype(int)
    total = 3 * SAMPLE_RATE_HZ + int(sum(w.size for _, w in words) + gaps.sum()) + SAMPLE_RATE_HZ
    speech = np.zeros(total, np.float32)
    spans = []
    position = 3 * SAMPLE_RATE_HZ
    for (word, audio), level, gap in zip(words, level_db, gaps):
        audio = audio * (10 ** (level / 20) / (np.abs(audio).max() + 1e-9))
        speech[position : position + audio.size] += audio
        spans.append((word, position, position + audio.size))
        position += audio.size + gap
    if rng.random() < reverb:
        speech = convolve(speech, room_impulse(rng))
    active = np.concatenate([speech[a:b] for _, a, b in spans]) if spans else speech
    speech_rms = float(np.sqrt(np.mean(active**2))) + 1e-9
    snr = rng.uniform(*snr_db)
    noise = background(total, rng, murmur_words) * (speech_rms / 10 ** (snr / 20))
    # Quiet passages: sometimes the noise is far below the speech and close to digital silence.
    mix = speech + noise
    peak = np.abs(mix).max()
    if peak > 0.99:
        mix *= 0.99 / peak
    return mix.astype(np.float32), spans


def spans_json(spans) -> str:
    return json.dumps(spans)


# ---------------------------------------------------------------------------------------- continuous speech
def sentences(limit: int = 600) -> list[str]:
    """Lines of chatterbot-corpus (BSD, the zoo extra) with none of the keywords in them: continuous
    speech for the ``unknown`` class (real read speech is word after word with no pause)."""
    import re

    import yaml

    from converters.zoo.topics import corpus_dir

    lines = []
    for path in sorted(corpus_dir().glob("*.yml")):
        for conversation in yaml.safe_load(path.read_text("utf-8")).get("conversations", []):
            for line in conversation:
                words = re.findall(r"[a-z']+", str(line).lower())
                if 4 <= len(words) <= 25 and not set(words) & set(KEYWORDS):
                    lines.append(" ".join(words))
    lines = sorted(set(lines))
    order = _rng("sentences").permutation(len(lines))
    return [lines[i] for i in order[:limit]]


def _sentence_job(index: int, text: str, speaker: Speaker, folder: Path) -> Path:
    path = folder / f"s{index:04d}.npy"
    if path.is_file():
        return path
    rng = _rng("sentence", index)
    voice = f"{speaker.voice}+{speaker.variant}" if speaker.variant else speaker.voice
    command = ["espeak-ng", "-v", voice, "-s", str(int(rng.integers(120, 230))), "-p", str(int(rng.integers(10, 90)))]
    wav = speech_data._run([*command, "--stdout", text])
    audio = speech_data.trim(speech_data._sox_to_16k(["-t", "wav", "-"], wav))
    np.save(path.with_suffix(".tmp.npy"), np.clip(np.rint(audio * 32767), -32768, 32767).astype(np.int16))
    path.with_suffix(".tmp.npy").replace(path)
    return path


def sentence_audio(workers: int = 2, limit: int = 600) -> list[np.ndarray]:
    """Spoken sentences by training speakers (espeak-ng; held-out speakers never say them), cached."""
    speech_data.check_tools()
    folder = words_root() / f"sentences_{WORDS_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    speakers = [s for s in speech_data.all_speakers() if s.engine == "espeak-ng" and not s.held_out]
    texts = sentences(limit)
    chosen = [speakers[i % len(speakers)] for i in _rng("sentence speakers").permutation(len(texts))]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        paths = list(pool.map(_sentence_job, range(len(texts)), texts, chosen, [folder] * len(texts), chunksize=8))
    return [np.load(p).astype(np.float32) / 32768.0 for p in paths]
