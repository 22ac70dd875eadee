"""The output check a bundle carries: a few inputs per model and the outputs the laptop computed for them.

On the laptop, :func:`make_check` runs each model on seeded inputs and stores inputs and raw outputs in
``check/<model>.npz``. On the device, ``python -m edgekit.deploy.check RELEASE_DIR`` runs the same inputs
through the device's interpreter and compares: integer outputs (int8/uint8 models) must be identical, float
outputs may differ by at most ``FLOAT_TOLERANCE`` (XNNPACK on ARM sums in another order than on x86).

A mixed-precision graph (integer outputs, but float layers inside, e.g. the bundled imagenet_int8 whose stem stays
float) inherits that float difference, and a value on a rounding boundary lands one code over: its integer outputs
may differ by at most ``MIXED_STEPS`` quantization steps, with the same top class. Measured on an emulated
Cortex-A76: imagenet_int8 differs by 1–3 steps on 8–18 of 1000 outputs, top-1 identical.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

FLOAT_TOLERANCE = 1e-4
MIXED_STEPS = 8  # quantization steps, for integer outputs of graphs with float layers inside
SAMPLES = 3


def _inputs_for(model: Any, seed: int) -> list[np.ndarray]:
    """Seeded inputs that fit each input tensor (token ids stay inside the vocabulary)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in model.inputs:
        shape = tuple(max(1, d) for d in spec.shape)
        if spec.dtype.kind == "f":
            arrays.append(rng.uniform(-1.0, 1.0, size=shape).astype(spec.dtype))
        elif spec.quantized:
            info = np.iinfo(spec.dtype)
            arrays.append(rng.integers(info.min, info.max, size=shape, endpoint=True).astype(spec.dtype))
        else:  # ids (text models) or flags: stay inside the vocabulary
            card = model.card
            high = len(card.text.vocabulary) if card is not None and card.text is not None else 2
            arrays.append(rng.integers(0, high, size=shape).astype(spec.dtype))
    return arrays


def make_check(model_path: Path, out_path: Path) -> dict[str, Any]:
    """Run ``model_path`` on ``SAMPLES`` seeded inputs here and save inputs and raw outputs to ``out_path``.

    Returns:
        A summary: samples, outputs and their dtypes.
    """
    from ..backends import load
    from ..io import atomic_path

    arrays: dict[str, np.ndarray] = {}
    with load(model_path) as model:
        for sample in range(SAMPLES):
            inputs = _inputs_for(model, seed=sample)
            outputs = model.run(*inputs, raw=True)
            arrays.update({f"in{sample}_{i}": a for i, a in enumerate(inputs)})
            arrays.update({f"out{sample}_{i}": np.asarray(a) for i, a in enumerate(outputs)})
        dtypes = [spec.dtype.name for spec in model.outputs]
        backend = str(model.backend)
    with atomic_path(out_path) as tmp:
        _save_npz(tmp, arrays)
    return {"samples": SAMPLES, "outputs": dtypes, "interpreter": backend}


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez with fixed timestamps: the same arrays give the same bytes (the release id hashes them)."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def run_check(model_path: Path, check_path: Path) -> dict[str, Any]:
    """Compare this machine's outputs with the stored ones.

    Returns:
        ``{"model", "ok", "max_abs_diff", "integer_equal", "max_int_steps", "mixed_precision", "interpreter",
        "numpy"}``.
    """
    from ..backends import load

    stored = np.load(check_path)
    worst, steps, same_top = 0.0, 0, True
    with load(model_path) as model:
        mixed = "DEQUANTIZE" in model.operators()  # float layers between integer inputs and outputs
        for sample in range(SAMPLES):
            inputs = [stored[f"in{sample}_{i}"] for i in range(len(model.inputs))]
            outputs = model.run(*inputs, raw=True)
            for i, got in enumerate(outputs):
                want = stored[f"out{sample}_{i}"]
                if want.dtype.kind in "iub":
                    if got.shape != want.shape:
                        steps = max(steps, np.iinfo(np.int64).max)
                        continue
                    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
                    steps = max(steps, int(diff.max()) if diff.size else 0)
                    same_top &= bool(got.size == 0 or np.argmax(got) == np.argmax(want))
                else:
                    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
                    worst = max(worst, float(diff.max()) if diff.size else 0.0)
        backend = str(model.backend)
    integers_ok = steps == 0 or (mixed and steps <= MIXED_STEPS and same_top)
    return {
        "model": model_path.name,
        "ok": integers_ok and worst <= FLOAT_TOLERANCE,
        "max_abs_diff": worst,
        "integer_equal": steps == 0,
        "max_int_steps": steps,
        "mixed_precision": mixed,
        "interpreter": backend,
        "numpy": np.__version__,
    }


def check_release(release: Path) -> list[dict[str, Any]]:
    """Run the check of every model in a bundle or release folder."""
    manifest = json.loads((release / "manifest.json").read_text())
    return [
        run_check(release / "models" / m["file"], release / "check" / f"{m['file']}.npz") for m in manifest["models"]
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m edgekit.deploy.check RELEASE``: one JSON line per model; exit 1 if any disagrees."""
    args = sys.argv[1:] if argv is None else argv
    rows = check_release(Path(args[0]))
    for row in rows:
        print(json.dumps(row), flush=True)
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
