"""Layer-by-layer comparison for Core ML: the NumPy ML Program evaluator's intermediate values.

The reference evaluator computes every op's output anyway; its ``observer`` hands each one over by
MIL variable name. coremltools' TensorFlow frontend names variables after the TensorFlow ops with
``/`` turned into ``_`` (``expnet_1_features_1_MatMul``), so a variable belongs to the layer whose
scope is the longest prefix of its name; the layer's output is its last variable (schedule order)
with the layer's output shape. Outputs are matched by the package's output names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .divergence import Divergence, LayerError, LayerProbe, _ErrorStats, safely

MAX_SAMPLES = 16  # the evaluator is NumPy: a few inputs are enough to see where it diverges


def _prefixes(probe: LayerProbe, names: Sequence[str]) -> list[tuple[str, int]]:
    """(name prefix, layer position), longest first; the scope suffix is read off the model's prefix."""
    suffix = ""
    for name in names:
        match = re.match(re.escape(probe.model_name) + r"(_\d+)_", name)
        if match:
            suffix = match.group(1)
            break
    head = probe.model_name + suffix + "_"
    pairs = [(head + layer + suffix + "_", position) for position, layer in enumerate(probe.names)]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def locate_coreml(
    keras_model: Any,
    package: str | Path,
    inputs: Sequence[np.ndarray],
    tolerance: float,
    output_names: Sequence[str],
    max_samples: int = MAX_SAMPLES,
) -> Divergence:
    """Compare every top-level Keras layer with its value in the evaluated ML Program.

    Args:
        keras_model: the source (None for a SavedModel).
        package: the saved ``.mlpackage``.
        inputs: verification inputs as the Core ML exporter feeds them (one array per input).
        tolerance: the recipe's maximum relative error.
        output_names: the package's output names, in the source's output order.
        max_samples: compare on at most this many inputs.
    """
    from converters.coreml.reference import load_reference

    if keras_model is None:
        return Divergence(tolerance, unavailable="the source is a SavedModel, which has no Keras layers to compare")
    probe = LayerProbe(keras_model)
    model = load_reference(package)
    program = model._engine.program
    seen: list[tuple[str, np.ndarray]] = []
    program.observer = lambda name, value: seen.append((name, value))
    chosen: dict[int, str] = {}
    stats = [_ErrorStats() for _ in probe.names]
    for sample in range(min(len(inputs[0]), max_samples)):
        feed = [np.asarray(array[sample : sample + 1]) for array in inputs]
        expected = probe.run(feed)
        seen.clear()
        model.run(*feed)
        values = dict(seen)
        if sample == 0:
            prefixes = _prefixes(probe, list(values))
            for name, value in seen:
                owner = next((position for prefix, position in prefixes if name.startswith(prefix)), None)
                if owner is not None and np.shape(value) == (1, *expected[owner].shape[1:]):
                    chosen[owner] = name
            for layer, name in zip(probe.output_layers, output_names):
                if layer in probe.names and isinstance(values.get(name), np.ndarray):
                    chosen[probe.names.index(layer)] = name
        for position, name in chosen.items():
            stats[position].add(expected[position], values[name])
    layers = [
        LayerError(name, probe.kinds[position], stats[position].relative, stats[position].max_abs, chosen[position])
        for position, name in enumerate(probe.names)
        if position in chosen
    ]
    not_compared = [name for position, name in enumerate(probe.names) if position not in chosen]
    return Divergence(tolerance, tuple(layers), tuple(not_compared + list(probe.skipped)))


__all__ = ["locate_coreml", "safely"]
