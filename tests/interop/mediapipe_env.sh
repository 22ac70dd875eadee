#!/usr/bin/env bash
# Make (once) a venv with MediaPipe Tasks for the interop test; print its python on the last line.
#
# MediaPipe 0.10.21 needs numpy<2, so it gets its own venv, never the project's. Its wheel declares
# jax, jaxlib, matplotlib, opencv-contrib-python, sentencepiece and sounddevice, but the
# `mediapipe.tasks.python.vision` import path needs only the packages in DEPS (measured: without
# matplotlib or cv2 `import mediapipe` fails; jax, sentencepiece and sounddevice are never imported),
# so mediapipe goes in with --no-deps, and OpenCV as its headless build (no display here).
#
# Env: EDGEKIT_CACHE (default ~/.cache/edgekit) holds the venv; PYTHON picks the interpreter that
# makes it (3.9-3.12: mediapipe 0.10.21 has no wheel for later Pythons).
set -euo pipefail

MEDIAPIPE="mediapipe==0.10.21"
# opencv-python-headless 4.12+ needs numpy>=2; protobuf bounds are mediapipe's own.
DEPS=(absl-py "attrs>=19.1" "flatbuffers>=2.0" "numpy<2" "protobuf>=4.25.3,<5" "opencv-python-headless<4.12" matplotlib)

venv="${EDGEKIT_CACHE:-$HOME/.cache/edgekit}/mediapipe-venv"
python="${PYTHON:-python3}"
# Written last, so a half-made venv (interrupted, no network) is made again next time.
stamp="$venv/.edgekit-ready"
want="$MEDIAPIPE ${DEPS[*]}"

mkdir -p "$(dirname "$venv")"
# One maker at a time (two test sessions at once would remove each other's venv).
if command -v flock >/dev/null; then
    exec 9>"$venv.lock"
    flock 9
fi
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

log="$(mktemp "${TMPDIR:-/tmp}/mediapipe-env.XXXXXX.log")"
fail() {
    echo "mediapipe_env.sh: $1 (log: $log)" >&2
    tail -n 20 "$log" >&2
    exit 1
}

"$python" -c 'import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 12))' \
    || fail "$python is not Python 3.9-3.12, which $MEDIAPIPE needs (set PYTHON)"
rm -rf "$venv"
"$python" -m venv "$venv" >>"$log" 2>&1 || fail "could not create the venv at $venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "${DEPS[@]}" >>"$log" 2>&1 || fail "pip could not install ${DEPS[*]} (no network?)"
"${pip[@]}" --no-deps "$MEDIAPIPE" >>"$log" 2>&1 || fail "pip could not install $MEDIAPIPE (no network?)"
"$venv/bin/python" -c 'from mediapipe.tasks.python import vision' >>"$log" 2>&1 \
    || fail "mediapipe installed but does not import"
echo "$want" >"$stamp"
rm -f "$log"
echo "$venv/bin/python"
