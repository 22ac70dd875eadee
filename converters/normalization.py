"""The input normalization a Keras model applies to itself, read from its graph.

Models normalize pixels in many ways: a Rescaling or Normalization layer, a Lambda, or plain arithmetic
on the input (``x / 127.5 - 1``, and the ``preprocess_input`` patterns of ``keras.applications``:
caffe-style RGB→BGR flip and mean subtraction, torch-style per-channel mean/std). Whatever the ops, the
part of the graph between the input and the first layer that learns is, per pixel, an affine map
``A @ x + b``. This module finds that part (weightless ops that keep the image's height and width),
measures ``A`` and ``b`` by running it on probe images, and decides from the result whether the model
takes raw 0..255 pixels or 0..1 values.

Measuring rather than pattern-matching op names means a new way of writing the same arithmetic is
still recognized, and a non-affine prefix (a tanh, a learned 1x1 convolution) is never mistaken for one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The preprocess_input constants of keras.applications (imagenet_utils), to name what was found.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

PIXELS = "pixels"  # the graph expects raw 0..255 values
UNIT = "unit"  # the graph expects 0..1 values


@dataclass(frozen=True)
class GraphNormalization:
    """What the graph does to its input, per channel of the *input*: ``(x - mean) / std``, then an
    optional channel reversal (RGB→BGR), before the first layer that learns.

    Attributes:
        mean, std: per input channel, in the units of the model's input tensor.
        reverses_channels: the graph reorders RGB to BGR itself (caffe style).
        domain: ``"pixels"`` (takes raw 0..255), ``"unit"`` (takes 0..1) or None (cannot be told).
        ops: the names of the ops/layers that make up the normalization.
        pattern: a short name for a known pattern ("[-1, 1]", "caffe", "torch", "0..1"), else "".
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    reverses_channels: bool
    domain: str | None
    ops: tuple[str, ...]
    pattern: str = ""

    def describe(self) -> str:
        """One phrase, e.g. ``x / 127.5 - 1 ([-1, 1]; ops: true_divide, subtract)``."""
        arithmetic = _formula(self.mean, self.std, self.reverses_channels)
        named = f"{self.pattern}; " if self.pattern else ""
        return f"{arithmetic} ({named}ops: {', '.join(self.ops)})"

    def output_range(self, low: float, high: float) -> tuple[float, float]:
        """Where inputs in ``low..high`` land after the graph's normalization (over all channels)."""
        mean, std = np.asarray(self.mean), np.asarray(self.std)
        ends = np.stack([(low - mean) / std, (high - mean) / std])
        return float(ends.min()), float(ends.max())


def _formula(mean: tuple[float, ...], std: tuple[float, ...], flip: bool) -> str:
    """The arithmetic as code, e.g. ``x / 127.5 - 1`` or ``(x[..., ::-1] - [103.94, 116.78, 123.68])``."""

    def one(values: tuple[float, ...]) -> str:
        rounded = [float(f"{v:.5g}") for v in values]
        return f"{rounded[0]:g}" if len(set(rounded)) == 1 else "[" + ", ".join(f"{v:g}" for v in rounded) + "]"

    if flip:  # the constants apply after the flip, so show them in the flipped order
        mean, std = tuple(mean[::-1]), tuple(std[::-1])
    text = "x[..., ::-1]" if flip else "x"
    if len(set(mean)) == 1 and len(set(std)) == 1 and mean[0] == std[0] and mean[0] != 0:
        return f"{text} / {one(std)} - 1"
    if one(mean) != "0":
        text = f"({text} - {one(mean)})"
    if one(std) != "1":
        text = f"{text} / {one(std)}"
    return text


def _plausible(width: float, centre: float) -> bool:
    """Does a normalized range of this width and centre look like what networks are trained on?

    [0, 1], [-1, 1], z-scores (width ~4) and caffe's mean-subtracted pixels (width 255, centre ~10)
    all pass; a range squeezed to a few hundredths (0..1 values divided by 127.5) or stretched past
    raw pixels (raw pixels times 2) does not.
    """
    return 0.5 <= width <= 300 and abs(centre) <= 0.75 * width + 1


def decide_domain(mean: tuple[float, ...], std: tuple[float, ...]) -> str | None:
    """``"pixels"`` or ``"unit"`` when exactly one input range gives a plausible normalized range."""
    results = {}
    for domain, high in ((PIXELS, 255.0), (UNIT, 1.0)):
        lows = (0.0 - np.asarray(mean)) / np.asarray(std)
        highs = (high - np.asarray(mean)) / np.asarray(std)
        width = float(np.mean(np.abs(highs - lows)))
        centre = float(np.mean((highs + lows) / 2))
        results[domain] = _plausible(width, centre)
    fits = [d for d, ok in results.items() if ok]
    return fits[0] if len(fits) == 1 else None


def _name_pattern(mean: np.ndarray, std: np.ndarray, flip: bool) -> str:
    def close(a, b, tol=1e-3) -> bool:
        return bool(np.allclose(np.broadcast_to(a, (3,)), np.asarray(b, float), rtol=tol, atol=tol))

    if len(mean) == 3 and flip and close(std, (1, 1, 1)) and close(mean, CAFFE_MEAN_BGR[::-1]):
        return "caffe: RGB to BGR, minus the ImageNet mean"
    if flip:
        return ""
    if close(mean, (127.5,) * 3) and close(std, (127.5,) * 3):
        return "[-1, 1]"
    if close(mean, (0, 0, 0)) and close(std, (255,) * 3):
        return "0..1"
    if len(mean) == 3 and close(mean, np.asarray(TORCH_MEAN) * 255) and close(std, np.asarray(TORCH_STD) * 255):
        return "torch: ImageNet mean/std after / 255"
    return ""


# ---------------------------------------------------------------------------------- the graph
def _operations(model: Any) -> tuple[list[Any], Any]:
    functional = getattr(model, "_functional", None) if not hasattr(model, "operations") else model
    if functional is None or not hasattr(functional, "operations"):
        return [], None
    inputs = functional.inputs
    return list(functional.operations), (inputs[0] if len(inputs) == 1 else None)


def _keras_tensors(node: Any, attribute: str) -> list[Any]:
    return list(getattr(node, attribute, ()) or ())


def _prefix(model: Any) -> tuple[Any, Any, list[str]]:
    """The input tensor, the last tensor of the weightless, size-keeping prefix, and its ops' names."""
    operations, image_input = _operations(model)
    if image_input is None:
        return None, None, []
    height, width = image_input.shape[1], image_input.shape[2]
    inside = {id(image_input)}
    names: list[str] = []
    last = image_input
    for operation in operations:
        if type(operation).__name__ == "InputLayer":
            continue
        nodes = getattr(operation, "_inbound_nodes", [])
        if len(nodes) != 1:
            continue
        node = nodes[0]
        ins = _keras_tensors(node, "input_tensors")
        outs = _keras_tensors(node, "output_tensors")
        if not ins or not all(id(t) in inside for t in ins):
            continue
        keeps_size = all(len(t.shape) >= 3 and (t.shape[1], t.shape[2]) == (height, width) for t in outs)
        learns = bool(getattr(operation, "trainable_weights", []))
        if learns or not keeps_size or len(outs) != 1:
            continue
        inside.add(id(outs[0]))
        names.append(getattr(operation, "name", type(operation).__name__))
        last = outs[0]
    if last is image_input:
        return image_input, None, []
    # Only a prefix whose last tensor feeds every later use is one normalization step.
    for operation in operations:
        for node in getattr(operation, "_inbound_nodes", []):
            ins = _keras_tensors(node, "input_tensors")
            outs = _keras_tensors(node, "output_tensors")
            if any(id(t) in inside for t in outs):
                continue
            leaked = [t for t in ins if id(t) in inside and t is not last]
            if leaked:
                return image_input, None, []
    if tuple(last.shape) != tuple(image_input.shape):
        return image_input, None, []
    return image_input, last, names


def _affine(run, channels: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """Measure ``A`` (channels x channels) and ``b`` of ``run``; None when it is not one affine map per pixel."""
    height, width = size
    zero = np.zeros((1, height, width, channels), np.float32)
    probes = [zero]
    for channel in range(channels):
        probe = zero.copy()
        probe[..., channel] = 100.0
        probes.append(probe)
    rng = np.random.default_rng(0)
    check = rng.uniform(0, 255, (2, height, width, channels)).astype(np.float32)
    outputs = np.asarray(run(np.concatenate(probes + [check])), np.float64)
    bias = outputs[0]
    columns = [(outputs[1 + c] - bias) / 100.0 for c in range(channels)]
    matrix = np.stack(columns, axis=-1)  # (H, W, out, in)
    if not (np.allclose(matrix, matrix[0, 0], atol=1e-6) and np.allclose(bias, bias[0, 0], atol=1e-4)):
        return None  # depends on the position: not a per-pixel normalization
    matrix, bias = matrix[0, 0], bias[0, 0]
    predicted = check.astype(np.float64) @ matrix.T + bias
    got = outputs[1 + channels :]
    scale = max(1.0, float(np.abs(got).max()))
    if not np.allclose(predicted, got, atol=1e-4 * scale):
        return None
    return matrix, bias


def infer_graph_normalization(model: Any) -> GraphNormalization | None:
    """The normalization a Keras model applies to its image input, or None when none is found.

    Args:
        model: a Keras 3 model (Functional or Sequential) with one (1, H, W, C) image input.

    Returns:
        A :class:`GraphNormalization`, or None when the graph has no weightless per-pixel affine
        prefix (then the caller must assume, and say so). A prefix that mixes channels (other than
        reversing them) or is not affine also gives None.
    """
    import keras

    image_input, boundary, names = _prefix(model)
    if boundary is None:
        return None
    channels = int(image_input.shape[-1])
    size = (int(image_input.shape[1] or 8), int(image_input.shape[2] or 8))
    probe_model = keras.Model(image_input, boundary)
    measured = _affine(lambda x: probe_model(x, training=False), channels, size)
    if measured is None:
        return None
    matrix, bias = measured
    flip = channels == 3 and np.allclose(matrix, np.diag(np.diag(matrix[::-1]))[::-1], atol=1e-9)
    flip = flip and not np.allclose(matrix, np.diag(np.diag(matrix)), atol=1e-9)
    # Output channel j reads input channel source[j] (itself, or the mirrored one when flipped).
    source = list(range(channels))[::-1] if flip else list(range(channels))
    scales = np.array([matrix[j, source[j]] for j in range(channels)])
    permuted = matrix.copy()
    for j in range(channels):
        permuted[j, source[j]] = 0.0
    if np.abs(permuted).max(initial=0.0) > 1e-9 or np.any(np.abs(scales) < 1e-12):
        return None  # mixes channels (e.g. RGB → grey inside the graph): not a mean/std
    # In input-channel order: input channel k is scaled by scales[j] where source[j] == k.
    mean = np.zeros(channels)
    std = np.zeros(channels)
    for j in range(channels):
        k = source[j]
        std[k] = 1.0 / scales[j]
        mean[k] = -bias[j] / scales[j]
    if not flip and np.allclose(mean, 0, atol=1e-6) and np.allclose(std, 1, atol=1e-6):
        return None  # only reshapes and identities: no normalization
    mean_t, std_t = _compact(mean), _compact(std)
    return GraphNormalization(
        mean=mean_t,
        std=std_t,
        reverses_channels=bool(flip),
        domain=decide_domain(mean_t, std_t),
        ops=tuple(names),
        pattern=_name_pattern(mean, std, bool(flip)),
    )


def _compact(values: np.ndarray) -> tuple[float, ...]:
    """One value when all channels agree (to float32 precision), else one per channel."""
    rounded = [float(f"{v:.6g}") + 0.0 for v in values]  # + 0.0: no "-0" in the metadata
    return (rounded[0],) if np.allclose(values, values[0], rtol=1e-6, atol=1e-6) else tuple(rounded)


# ---------------------------------------------------------------------------------- the spec
def spec_from_graph(found: GraphNormalization | None) -> tuple[tuple[float, ...], tuple[float, ...], bool]:
    """(mean, std, assumed) for the metadata: raw pixels when the graph normalizes 0..255 itself,
    pixels / 255 when it expects 0..1, and the 0..1 assumption (``assumed`` True) otherwise."""
    if found is not None and found.domain == PIXELS:
        return (0.0,), (1.0,), False
    if found is not None and found.domain == UNIT:
        return (0.0,), (255.0,), False
    return (0.0,), (255.0,), True


def _values(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def preprocessing_line(
    found: GraphNormalization | None, mean: tuple[float, ...], std: tuple[float, ...], given: bool
) -> tuple[str, bool]:
    """The one line that says what the metadata holds and where it comes from; and whether it is assumed.

    Written after the user's flags are applied, so it never contradicts what goes into the file.
    """
    written = f"mean {_values(mean)}, std {_values(std)}"
    if given:
        return f"preprocessing as given: (pixel - mean) / std with {written}", False
    if found is not None and found.domain == PIXELS:
        return f"found {found.describe()} in the model: it takes raw 0..255 pixels ({written})", False
    if found is not None and found.domain == UNIT:
        return f"found {found.describe()} in the model: it takes 0..1 values, pixels / 255 ({written})", False
    seen = f"found {found.describe()}, which fits neither 0..255 nor 0..1 inputs; " if found else ""
    return (
        f"preprocessing assumed: {seen}no normalization the converter can read in the graph, so pixels are "
        f"scaled to 0..1 ({written}); pass --mean/--std if the model expects otherwise",
        True,
    )


def contradiction(found: GraphNormalization | None, mean: tuple[float, ...], std: tuple[float, ...]) -> str | None:
    """A warning when the written spec feeds the graph's own normalization a range it was not made for."""
    if found is None or found.domain is None:
        return None
    mean_a, std_a = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    ends = np.stack([(0.0 - mean_a) / std_a, (255.0 - mean_a) / std_a])
    low, high = found.output_range(float(ends.min()), float(ends.max()))
    if _plausible(high - low, (high + low) / 2):
        return None
    expected = "raw 0..255 pixels (mean 0, std 1)" if found.domain == PIXELS else "0..1 values (mean 0, std 255)"
    return (
        f"with mean {_values(mean)}, std {_values(std)} the model's own normalization ({found.describe()}) "
        f"sees pixels as {low:.3g}..{high:.3g}, not a normalized range: the graph expects {expected}"
    )


def check_data_range(array: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...], origin: str) -> str | None:
    """Compare arrays fed as they are (a .npy) with the range the spec gives pixels 0..255.

    Returns:
        A warning when the data uses the range oddly, else None.

    Raises:
        CalibrationError: the data's range is off by a factor that only a different scaling explains
            (e.g. 0..255 values for a model the spec says takes 0..1).
    """
    from edgekit.errors import CalibrationError

    mean_a, std_a = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    ends = np.stack([(0.0 - mean_a) / std_a, (255.0 - mean_a) / std_a])
    want_low, want_high = float(ends.min()), float(ends.max())
    got_low, got_high = float(np.min(array)), float(np.max(array))
    want_width, got_width = want_high - want_low, got_high - got_low
    if got_width <= 0:
        return f"{origin}: every value is {got_low:g}; the spec expects {want_low:.3g}..{want_high:.3g}"
    ratio = got_width / want_width
    if ratio > 4 or ratio < 1 / 8:
        raw = "raw 0..255 pixels" if 100 <= got_width <= 256 and got_low >= -1 else f"{got_low:.3g}..{got_high:.3g}"
        raise CalibrationError(
            f"{origin} holds values in {got_low:.3g}..{got_high:.3g} ({raw}), but the spec (mean {_values(mean)}, "
            f"std {_values(std)}) says the model takes {want_low:.3g}..{want_high:.3g}: the metadata and the data "
            "disagree, so one of them is wrong",
            hint="give --mean/--std that turn 0..255 pixels into the data's range (raw pixels: --mean 0 --std 1), "
            "or save the .npy in the model's input range",
        )
    margin = 0.1 * want_width
    if got_low < want_low - margin or got_high > want_high + margin or ratio < 0.4:
        return (
            f"{origin} spans {got_low:.3g}..{got_high:.3g}, while the spec gives pixels 0..255 the range "
            f"{want_low:.3g}..{want_high:.3g}; check --mean/--std"
        )
    return None


def note_preprocessing(found: GraphNormalization | None, image: Any, given: bool, notes: list[str]) -> dict[str, Any]:
    """Add the preprocessing line (and any contradiction with the graph) to ``notes``.

    Returns:
        Card extras: ``preprocessing`` (the line) and ``preprocessing_assumed``.
    """
    line, assumed = preprocessing_line(found, image.mean, image.std, given)
    notes.append(line)
    warning = contradiction(found, image.mean, image.std)
    extra: dict[str, Any] = {"preprocessing": line, "preprocessing_assumed": assumed}
    if warning:
        notes.append("warning: " + warning)
        extra["preprocessing_contradiction"] = warning
    return extra


SPEC_HINT = (
    "give --mean/--std that match how the model was trained (see the preprocessing note), or none to let the "
    "converter read them from the graph; --force writes it anyway"
)


def spec_refusals(card: Any) -> list[str]:
    """A refusal reason when the written mean/std contradict the graph's own normalization (see
    :func:`contradiction`): without labelled data nothing else would catch it, since verification feeds the source
    and the export the same wrongly scaled arrays."""
    warning = card.extra.get("preprocessing_contradiction") if card.image is not None else None
    return [f"the metadata's preprocessing is wrong for this model: {warning}"] if warning else []


def check_npy_data(path: str | None, dataset: Any, card: Any, notes: list[str]) -> None:
    """For image models given a .npy (fed as it is), compare its range with the card's spec.

    Raises:
        CalibrationError: see :func:`check_data_range`.
    """
    if not path or not str(path).lower().endswith(".npy") or card.image is None or dataset is None:
        return
    warning = check_data_range(dataset.arrays[0], card.image.mean, card.image.std, str(path))
    if warning:
        notes.append("warning: " + warning)
