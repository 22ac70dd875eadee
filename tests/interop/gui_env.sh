#!/usr/bin/env bash
# Make (once) a venv with the GUI build of OpenCV for the window tests; print its python on the last line.
#
# opencv-python (GUI, Qt) and opencv-python-headless (the project's default) both own cv2/: whichever is
# installed last silently wins and uninstalling either breaks cv2. So the GUI build never goes into the
# project's venv; it gets its own, with only what `import edgekit.views.window` needs from this checkout
# (numpy, and flatbuffers because importing the edgekit package imports the metadata reader). The tests
# put the checkout on PYTHONPATH instead of installing edgekit here.
#
# Env: EDGEKIT_CACHE (default ~/.cache/edgekit) holds the venv; PYTHON picks the interpreter that makes it.
set -euo pipefail

# Same OpenCV version as the headless build in constraints.txt, so both venvs run the same drawing code.
DEPS=("opencv-python==5.0.0.93" "numpy==2.4.6" "flatbuffers==25.12.19")

venv="${EDGEKIT_CACHE:-$HOME/.cache/edgekit}/gui-venv"
python="${PYTHON:-python3}"
# Written last, so a half-made venv (interrupted, no network) is made again next time.
stamp="$venv/.edgekit-ready"
want="${DEPS[*]}"

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

log="$(mktemp "${TMPDIR:-/tmp}/gui-env.XXXXXX.log")"
fail() {
    echo "gui_env.sh: $1 (log: $log)" >&2
    tail -n 20 "$log" >&2
    exit 1
}

rm -rf "$venv"
"$python" -m venv "$venv" >>"$log" 2>&1 || fail "could not create the venv at $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${DEPS[@]}" >>"$log" 2>&1 \
    || fail "pip could not install ${DEPS[*]} (no network?)"
# The GUI build has a highgui backend; the headless one reports NONE. Checked without a display.
"$venv/bin/python" -c 'import re, cv2; assert re.search(r"GUI: +(\S+)", cv2.getBuildInformation())[1] != "NONE"' \
    >>"$log" 2>&1 || fail "OpenCV installed but it is not the GUI build, or does not import"
echo "$want" >"$stamp"
rm -f "$log"
echo "$venv/bin/python"
