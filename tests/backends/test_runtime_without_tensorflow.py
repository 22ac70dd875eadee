"""The runtime imports and runs with TensorFlow absent, and picks interpreters in the stated order."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.slow

# Runs before anything else in the child: makes the named top-level packages unimportable.
BLOCKER = textwrap.dedent(
    """
    import sys, importlib.abc
    BLOCKED = set(sys.argv[1].split(","))
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked for this test: {name}")
            return None
    sys.meta_path.insert(0, Block())
    sys.argv = sys.argv[1:]
    """
)


def run_child(blocked: str, code: str, *args: str) -> subprocess.CompletedProcess:
    program = BLOCKER + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", program, blocked, *args], capture_output=True, text=True, timeout=120)


LOAD_AND_RUN = """
    import json, sys
    import numpy as np
    import edgekit
    model = edgekit.load(sys.argv[1], num_threads=1)
    image = np.load(sys.argv[2])
    scores = model.run(image)[0]
    print(json.dumps({"backend": model.backend.name, "scores": scores.tolist(),
                      "labels": list(model.card.labels),
                      "tf_loaded": [m for m in ("tensorflow", "keras", "coremltools") if m in sys.modules]}))
"""


@pytest.fixture(scope="module")
def image_npy(digits, tmp_path_factory):
    from tests.support.fixtures import held_out_images

    images, _ = held_out_images(digits, 1)
    path = tmp_path_factory.mktemp("npy") / "image.npy"
    np.save(path, images[:1].astype(np.float32))
    return path


@pytest.mark.parametrize("recipe", ["float32", "int8"])
def test_runtime_runs_with_tensorflow_blocked(recipe, digits_exports, image_npy, digits_keras_model):
    child = run_child(
        "tensorflow,keras,coremltools,tflite_runtime", LOAD_AND_RUN, str(digits_exports[recipe]), str(image_npy)
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["backend"] == "ai-edge-litert"
    assert result["tf_loaded"] == []
    assert result["labels"] == [str(d) for d in range(10)]
    # Golden: the Keras model in this (TensorFlow) process, on the same pixels.
    golden = digits_keras_model.predict(np.load(image_npy), verbose=0)[0]
    tolerance = 1e-5 if recipe == "float32" else 0.05
    np.testing.assert_allclose(result["scores"][0], golden, atol=tolerance)


def test_falls_back_to_tensorflow_lite_and_reports_it(digits_exports, image_npy):
    child = run_child("ai_edge_litert,tflite_runtime", LOAD_AND_RUN, str(digits_exports["float32"]), str(image_npy))
    assert child.returncode == 0, child.stderr
    fallback = json.loads(child.stdout.strip().splitlines()[-1])
    assert fallback["backend"] == "tensorflow"
    litert = run_child("tflite_runtime", LOAD_AND_RUN, str(digits_exports["float32"]), str(image_npy))
    first = json.loads(litert.stdout.strip().splitlines()[-1])
    assert first["backend"] == "ai-edge-litert"
    np.testing.assert_allclose(fallback["scores"], first["scores"], atol=1e-6)


def test_no_interpreter_at_all_is_one_clear_error(digits_exports):
    code = """
        import sys
        from edgekit.cli import main
        sys.exit(main(["info", sys.argv[1]]))
    """
    child = run_child("ai_edge_litert,tflite_runtime,tensorflow", code, str(digits_exports["float32"]))
    assert child.returncode == 1
    assert "no TFLite interpreter can be imported" in child.stderr
    assert "hint: pip install ai-edge-litert" in child.stderr
    assert "Traceback" not in child.stderr


def test_import_edgekit_is_light():
    child = run_child(
        "tensorflow,keras,coremltools",
        """
        import sys, edgekit, edgekit.cli
        heavy = [m for m in ("cv2", "sounddevice", "ai_edge_litert", "tensorflow") if m in sys.modules]
        print(",".join(heavy))
    """,
    )
    assert child.returncode == 0, child.stderr
    # The interpreter is imported when the first model loads, not at `import edgekit`.
    assert child.stdout.strip() == ""
