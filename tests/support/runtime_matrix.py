"""Measure how model files behave in third-party runtimes: tflite-runtime 2.14 and MediaPipe Tasks.

Shared by tests/compat/test_compat.py and benchmarks/fidelity_runtimes.py. Every input tensor is made here
once (real photos from scikit-image, the digits test PNGs, real speech from pocketsphinx-testdata, a
fixed list of sentences), in the model's own input dtype, and fed unchanged to ai-edge-litert (in this
process) and to tflite-runtime (in its venv), so the two runtimes' outputs are compared on identical
bytes and the comparison says nothing about edgekit's preprocessing.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

INTEROP = Path(__file__).parents[1] / "interop"
SPEECH = Path("/usr/share/pocketsphinx/test/data/goforward.raw")  # Debian pocketsphinx-testdata, 16 kHz s16le
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field")
SENTENCES = (
    "what is artificial intelligence",
    "how do i write a python function",
    "hello how are you today",
    "i feel sad and tired",
    "what do you think about the mind",
    "my computer does not start",
    "who painted the mona lisa",
    "can you tell me a joke",
    "the program crashes when i open a file",
    "are you a robot",
    "i am so happy to see you",
    "which planet is the largest",
)
FLOAT_ATOL = 1e-4
TOP1_MIN = 0.99
# Two correct int8 kernels (XNNPACK's and the builtin ones tflite-runtime runs) round differently at every
# layer, and the layers after carry those differences on: measured between ai-edge-litert's XNNPACK path
# and tflite-runtime 2.14 (or ai-edge-litert's builtin kernels, which equal it), in output steps:
# imagenet_int8 (EfficientNet-Lite0, uint8 softmax) up to 15 over 110 real and augmented photos (p50 3,
# p95 12), digits_int8 19, fashion_int8 8. Where the top-1 score leads the runner-up by no more than
# this, either runtime's answer is right, so top-1 agreement is required only where the lead exceeds it.
KERNEL_STEPS = 24


def _photos() -> list[np.ndarray]:
    from skimage import data

    images = []
    for name in PHOTOS:
        image = getattr(data, name)()
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        images.append(np.ascontiguousarray(image[..., :3]))
    return images


def sample_inputs(path: Path, image_files: list[Path] | None = None) -> np.ndarray:
    """Input tensors for ``path`` (N x the model's input shape without batch), in its input dtype.

    Image models get the photos (or ``image_files``) preprocessed as the file's metadata says; audio
    models the speech clip's windows; text models the sentences, tokenized as the metadata says.
    """
    import edgekit
    from edgekit.processing import audio as audio_proc
    from edgekit.processing import image as image_proc
    from edgekit.processing.text import Tokenizer

    model = edgekit.load(path)
    card, spec = model.card, model.inputs[0]
    if card is not None and card.image is not None:
        images = [image_proc.read_image(f) for f in image_files] if image_files else _photos()
        arrays = np.stack([image_proc.preprocess(image, card.image) for image in images])
    elif card is not None and card.audio is not None:
        speech = np.frombuffer(SPEECH.read_bytes(), "<i2").astype(np.float32) / 32768.0
        arrays = audio_proc.windows(speech, card.audio.window_samples, card.audio.window_samples // 2)
    elif card is not None and card.text is not None:
        tokenize = Tokenizer(card.text)
        arrays = np.stack([tokenize(sentence) for sentence in SENTENCES])
    else:
        arrays = np.random.default_rng(0).uniform(-1, 1, (8, *spec.shape[1:]))
    arrays = arrays.reshape(len(arrays), *spec.shape[1:])
    if spec.quantized and arrays.dtype.kind == "f":
        return spec.quantize(arrays)
    return arrays.astype(spec.dtype)


def litert_invoke_ms(path: Path, tensor: np.ndarray, repeat: int) -> float:
    """Median ms of ``repeat`` invoke() calls in ai-edge-litert at one thread (after 10 untimed)."""
    import time

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor[None])
    times = []
    for run_number in range(10 + repeat):
        start = time.perf_counter()
        interpreter.invoke()
        if run_number >= 10:
            times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def float_feeds_int8(path: Path) -> bool:
    """True when float ops inside the graph feed int8 ones (a QUANTIZE of a float tensor that is not the
    model's input), as in imagenet_int8, whose first blocks stay float. Two runtimes' float kernels sum in
    different orders (differences near 1e-6), the QUANTIZE after them then rounds a few values to the
    neighbouring code, and the int8 layers carry that on: such files differ by a few output steps even
    between two runtimes' builtin kernels (measured: up to 9 steps between tflite-runtime 2.14 and
    ai-edge-litert 2.3 on 66 photos), as XNNPACK does (see KERNEL_STEPS)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    graph_inputs = {detail["index"] for detail in interpreter.get_input_details()}
    tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    return any(
        op["op_name"] == "QUANTIZE"
        and op["inputs"][0] not in graph_inputs
        and tensors[op["inputs"][0]]["dtype"] == np.float32
        for op in interpreter._get_ops_details()
    )


def litert_outputs(path: Path, inputs: np.ndarray, xnnpack: bool = True) -> np.ndarray:
    """The first output of ai-edge-litert's own Interpreter for each input, one thread.

    ``xnnpack=False`` uses its builtin kernels only (the kernels tflite-runtime 2.14 runs quantized
    models with; measured: its outputs then equal tflite-runtime's exactly). XNNPACK's int8 kernels
    round differently (up to 8 steps of a uint8 softmax output on the zoo's fashion_int8).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=str(path), num_threads=1, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    index_in = interpreter.get_input_details()[0]["index"]
    index_out = interpreter.get_output_details()[0]["index"]
    outputs = []
    for tensor in inputs:
        interpreter.set_tensor(index_in, tensor[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(index_out)[0].copy())
    return np.stack(outputs)


def tf_lite_outputs(path: Path, inputs: np.ndarray) -> np.ndarray:
    """The first output of TensorFlow's own ``tf.lite.Interpreter`` (the converter's runtime) for each
    input, one thread, its default kernels (XNNPACK for float)."""
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": it is the point of the comparison
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    index_in = interpreter.get_input_details()[0]["index"]
    index_out = interpreter.get_output_details()[0]["index"]
    outputs = []
    for tensor in inputs:
        interpreter.set_tensor(index_in, tensor[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(index_out)[0].copy())
    return np.stack(outputs)


def tflite_runtime_results(
    python: str, runs: list[tuple[Path, np.ndarray | None]], repeat: dict[Path, int] | None = None
) -> list[dict]:
    """Load each model into tflite-runtime (its venv) and, when inputs are given, run it on them.

    Returns one dict per model: loads, error, and ``outputs`` (first output per input) when it ran;
    ``invoke_ms_p50`` for the models in ``repeat`` (timed that many times, one thread).
    """
    with tempfile.TemporaryDirectory() as folder:
        manifest = []
        for number, (model, inputs) in enumerate(runs):
            entry = {"model": str(model), "inputs": None, "outputs": str(Path(folder) / f"out{number}.npy")}
            entry["repeat"] = (repeat or {}).get(model, 0)
            if inputs is not None:
                entry["inputs"] = str(Path(folder) / f"in{number}.npy")
                np.save(entry["inputs"], inputs)
            manifest.append(entry)
        (Path(folder) / "manifest.json").write_text(json.dumps(manifest))
        done = subprocess.run(
            [python, "-I", str(INTEROP / "tflite_runtime_run.py"), str(Path(folder) / "manifest.json")],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tflite_runtime_run.py failed:\n{done.stderr[-3000:]}")
        results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        for entry, result in zip(manifest, results):
            if result["loads"] and entry["inputs"]:
                result["outputs"] = np.load(entry["outputs"])
    return results


def mediapipe_results(python: str, runs: list[tuple[Path, str]]) -> list[dict]:
    """Open each model with MediaPipe's task of the given kind (ImageClassifier, ...); loads and error."""
    args = [str(part) for model, kind in runs for part in (model, kind)]
    done = subprocess.run(
        [python, "-I", str(INTEROP / "mediapipe_load.py"), *args], capture_output=True, text=True, timeout=1200
    )
    if done.returncode != 0:
        raise RuntimeError(f"mediapipe_load.py failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


QUANTIZED_FLOAT_ATOL = 1e-3  # float outputs of quantized graphs (int16x8: measured 2.1e-4 = 7 int16 softmax steps)


def agreement(
    reference: np.ndarray, other: np.ndarray, classifier: bool, quantized_graph: bool = False, steps: float = 1.0
) -> dict:
    """Compare two runtimes' raw outputs: max difference (in quantization steps for integer outputs),
    top-1 agreement for classifiers, and whether it is within the tolerance (int: ``steps`` steps; float
    1e-4, times the output's largest magnitude when that exceeds 1).

    ``decisive_top1_agreement`` is top-1 agreement on the inputs whose reference top-1 score leads the
    runner-up by more than the tolerance (``decisive_inputs`` of them): where it leads by less, scores
    that differ within the tolerance may rightly rank the two classes either way.
    """
    integer = reference.dtype.kind in "iu"
    difference = np.abs(reference.astype(np.float64) - other.astype(np.float64))
    max_difference = float(difference.max()) if difference.size else 0.0
    flat_ref = reference.reshape(len(reference), -1)
    flat_other = other.reshape(len(other), -1)
    same = flat_ref.argmax(1) == flat_other.argmax(1)
    top1 = float(np.mean(same)) if classifier else None
    # Float: 1e-4 on scores (|values| <= 1), relative for larger outputs (box regressors in pixels, where
    # XNNPACK's and the builtin kernels' summation orders differ by ~2e-4 on values near 100).
    scale = max(1.0, float(np.abs(reference).max())) if reference.size else 1.0
    tolerance = steps if integer else (QUANTIZED_FLOAT_ATOL if quantized_graph else FLOAT_ATOL) * scale
    within = max_difference <= tolerance
    decisive, decisive_top1 = None, None
    if classifier and flat_ref.shape[1] > 1:
        ranked = np.sort(flat_ref.astype(np.float64), axis=1)
        lead = ranked[:, -1] - ranked[:, -2]
        decisive = int(np.sum(lead > tolerance))
        decisive_top1 = float(np.mean(same[lead > tolerance])) if decisive else None
    return {
        "max_difference": max_difference,
        "tolerance": tolerance,
        "unit": "quantization steps" if integer else "absolute",
        "top1_agreement": top1,
        "decisive_inputs": decisive,
        "decisive_top1_agreement": decisive_top1,
        "within_tolerance": within,
        "inputs": len(reference),
    }
