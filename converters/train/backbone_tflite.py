"""A frozen image backbone as a float32 TFLite file, to compute the training embeddings.

Keras runs EfficientNet-Lite0 at 224 px in about 31 ms an image on 2 cores; converted to TFLite, the same
network takes about 15 ms an image in two single-thread XNNPACK interpreters side by side (the audio
trainer embeds through TFLite the same way: ``converters.zoo.keywords.Embedder``). The file is converted
once per backbone weights, input size and TensorFlow version, and kept beside the cached embeddings.
Its features are Keras' to float32 rounding (tests/converters/test_train.py compares them).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


class TFLiteBackbone:
    """``backbone(pixels)`` → features, for a batch of (N, size, size, 3) float32 pixels 0..255."""

    def __init__(self, path: Path, workers: int):
        import edgekit

        self.path = path
        self.models = [edgekit.load(path, num_threads=1) for _ in range(max(1, workers))]
        self._pool = ThreadPoolExecutor(len(self.models), thread_name_prefix="edgekit-embed")

    @classmethod
    def convert(cls, extractor: Any, name: str, size: int, cache: Path) -> TFLiteBackbone | None:
        """The backbone's file from ``cache`` (converted and written there first if missing); None when the
        converter cannot take it (the caller then runs Keras)."""
        from edgekit.io import atomic_path

        from ..evaluate import eval_workers
        from ..source import import_tensorflow

        tf = import_tensorflow()
        digest = hashlib.sha256(f"{name}|{size}|{tf.__version__}".encode())
        for weight in extractor.weights:
            digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
        path = Path(cache) / "backbones" / f"{name}-{size}-{digest.hexdigest()[:20]}.tflite"
        if not path.is_file():
            from edgekit.backends._quiet import quiet_tensorflow

            try:
                with quiet_tensorflow():
                    content = bytes(tf.lite.TFLiteConverter.from_keras_model(extractor).convert())
            except Exception:  # an odd backbone: Keras computes its embeddings as before
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as temporary:
                temporary.write_bytes(content)
        return cls(path, eval_workers())

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        shares = np.array_split(np.arange(len(pixels)), len(self.models))

        def run(model: Any, indices: np.ndarray) -> list[np.ndarray]:
            return [np.asarray(model.run(pixels[i : i + 1])[0], np.float32) for i in indices]

        rows: list[np.ndarray] = []
        for done in [self._pool.submit(run, m, share) for m, share in zip(self.models, shares)]:
            rows += done.result()
        return np.concatenate(rows)

    def close(self) -> None:
        self._pool.shutdown()
        for model in self.models:
            model.close()
