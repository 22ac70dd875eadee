#!/usr/bin/env bash
# Make (once) a venv with a third-party runtime that reads our files; print its python on the last line.
#
#   runtime_env.sh mediapipe-0.10.21 | mediapipe-1.2.2 | tflite-runtime-2.14 | torch-2.13
#
# Each runtime gets its own venv, never the project's (MediaPipe 0.10.21 and tflite-runtime 2.14 need
# numpy<2; MediaPipe 1.2.2 declares opencv-contrib-python, which would fight the project's headless
# OpenCV). MediaPipe goes in with --no-deps plus only what `mediapipe.tasks.python` really imports
# (measured: jax, sentencepiece and sounddevice are never imported; matplotlib and cv2 are), with
# OpenCV as its headless build (no display here).
#
# The venv lives in EDGEKIT_CACHE (default ~/.cache/edgekit) under a name that includes a hash of its
# recipe, so a changed recipe makes a new venv and CI can cache the folder. PYTHON picks the interpreter.
set -euo pipefail

runtime="${1:?usage: runtime_env.sh mediapipe-0.10.21|mediapipe-1.2.2|tflite-runtime-2.14|torch-2.13}"
case "$runtime" in
mediapipe-0.10.21)
    # opencv-python-headless 4.12+ needs numpy>=2; protobuf bounds are mediapipe's own.
    NODEPS=("mediapipe==0.10.21")
    DEPS=(absl-py "attrs>=19.1" "flatbuffers>=2.0" "numpy<2" "protobuf>=4.25.3,<5" "opencv-python-headless<4.12" matplotlib)
    CHECK='from mediapipe.tasks.python import vision, text, audio'
    PYRANGE="(3, 9) <= v <= (3, 12)"
    ;;
mediapipe-1.2.2)
    NODEPS=("mediapipe==1.2.2")
    DEPS=("absl-py~=2.3" certifi "numpy>=2" "flatbuffers~=25.9" "opencv-python-headless>=4.10" matplotlib)
    CHECK='from mediapipe.tasks.python import vision, text, audio'
    PYRANGE="(3, 9) <= v"
    ;;
tflite-runtime-2.14)
    # The last tflite-runtime release (what old Raspberry Pi OS images use): built against numpy 1.
    # flatbuffers lets edgekit's own metadata reader run here too (the checkout on PYTHONPATH).
    NODEPS=()
    DEPS=("tflite-runtime==2.14.0" "numpy<2" "flatbuffers>=23.5")
    CHECK='from tflite_runtime.interpreter import Interpreter'
    PYRANGE="(3, 9) <= v <= (3, 11)"
    ;;
torch-2.13)
    # The reference for the imagenet zoo model: the original EfficientNet-Lite0 network run in PyTorch.
    # torch==2.13.0 resolves to a CPU build (an unpinned torch pulls CUDA packages); used only by the
    # build's verification and a slow test, never by edgekit.
    NODEPS=("efficientnet-lite-pytorch==0.1.0")
    DEPS=("torch==2.13.0" "numpy>=2")
    CHECK='import torch, efficientnet_lite_pytorch'
    PYRANGE="(3, 9) <= v"
    ;;
*)
    echo "runtime_env.sh: unknown runtime $runtime" >&2
    exit 2
    ;;
esac

python="${PYTHON:-python3}"
want="$runtime nodeps=${NODEPS[*]:-} deps=${DEPS[*]} python=$("$python" -c 'import sys; print(sys.version.split()[0])')"
key="$(printf '%s' "$want" | sha256sum | cut -c1-12)"
cache="${EDGEKIT_CACHE:-$HOME/.cache/edgekit}"
venv="$cache/$runtime-$key"
stamp="$venv/.edgekit-ready"   # written last: a half-made venv (interrupted, no network) is made again

mkdir -p "$cache"
if command -v flock >/dev/null; then   # one maker at a time (two test sessions would remove each other's venv)
    exec 9>"$venv.lock"
    flock 9
fi
if [[ -f "$stamp" && -x "$venv/bin/python" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

log="$(mktemp "${TMPDIR:-/tmp}/runtime-env.XXXXXX.log")"
fail() {
    echo "runtime_env.sh: $1 (log: $log)" >&2
    tail -n 20 "$log" >&2
    exit 1
}
"$python" -c "import sys; v = sys.version_info[:2]; sys.exit(not ($PYRANGE))" \
    || fail "$python ($("$python" --version 2>&1)) has no wheel of $runtime (set PYTHON)"
rm -rf "$venv"
"$python" -m venv "$venv" >>"$log" 2>&1 || fail "could not create the venv at $venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "${DEPS[@]}" >>"$log" 2>&1 || fail "pip could not install ${DEPS[*]} (no network?)"
if [[ ${#NODEPS[@]} -gt 0 ]]; then
    "${pip[@]}" --no-deps "${NODEPS[@]}" >>"$log" 2>&1 || fail "pip could not install ${NODEPS[*]} (no network?)"
fi
"$venv/bin/python" -c "$CHECK" >>"$log" 2>&1 || fail "$runtime installed but does not import"
echo "$want" >"$stamp"
rm -f "$log"
echo "$venv/bin/python"
