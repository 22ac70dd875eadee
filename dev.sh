#!/usr/bin/env bash
# edgekit's one entry point for developers and CI.
#   ./dev.sh demo    set everything up, then build the default model, convert it in every recipe, run it
#   ./dev.sh test    set everything up, then run the whole test suite (and ruff)
#   ./dev.sh zoo     rebuild the bundled models from scratch (slow: trains every zoo model; optional)
#   ./dev.sh setup | lint | bench
#   ./dev.sh fuzz    20,000 fuzz cases against the model check, the card reader and the input readers (table)
# Works on a fresh Debian 12 machine with Python 3.11: installs the apt packages it needs (with sudo when
# not root), creates .venv, and pip-installs edgekit with its extras at the versions in constraints.txt.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${EDGEKIT_VENV:-.venv}
APT_PACKAGES=(python3-venv python3-pip)
# Data and tools the zoo and the tests use: Fashion-MNIST, speech synthesis for keywords, real read speech;
# PortAudio for sounddevice; a PulseAudio virtual microphone, Xvfb and Chromium (with its driver) for the
# live tests; ffmpeg for network camera streams; debootstrap, systemd-nspawn, zstd and the ssh client for the
# emulated Raspberry Pi of the `pi` tests (tests/pi/build-golden.sh fetches qemu-user 10 itself).
APT_DATA=(dataset-fashion-mnist espeak-ng flite sox pocketsphinx-testdata libportaudio2
  pulseaudio pulseaudio-utils libasound2-plugins xvfb x11-apps imagemagick xdotool chromium chromium-driver ffmpeg rtsp-server-perl
  debootstrap systemd-container zstd openssh-client)

log() { printf '\033[1m[edgekit]\033[0m %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "not a Debian system: please install ${missing[*]} yourself"; return 0
  fi
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  log "apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup() {
  # Debian's python3 needs python3-venv for venvs; other Pythons (pyenv, python.org) ship it.
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then apt_install "${APT_PACKAGES[@]}"; fi
  apt_install "${APT_DATA[@]}"
  "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
    || { log "edgekit needs Python >= 3.10 (found $("$PYTHON" --version))"; exit 1; }
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.edgekit-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ] || [ dev.sh -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
    log "pip install -e .[convert,live,test,zoo,plot,image] (pinned by constraints.txt)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # The distribution is edgekit-ml now (issue 16): an install made under the old name goes first.
    "$VENV/bin/python" -m pip uninstall -q -y edgekit >/dev/null 2>&1 || true
    "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[convert,live,test,zoo,plot,image]"
    touch "$stamp"
  fi
}

demo() {
  setup
  local out=out/demo
  export PATH="$PWD/$VENV/bin:$PATH"
  # 1. Export: train a small model here (scikit-learn digits, ~20 s) and convert it in every recipe.
  if [ ! -f "$out/digits/digits.keras" ]; then
    log "training a small model to export (scikit-learn digits, ~20 s)"
    python -m converters.zoo.digits "$out/digits"
  fi
  mkdir -p "$out/models"
  log "edgekit convert: every TFLite recipe, verified against the Keras model"
  edgekit convert "$out/digits/digits.keras" --quantize all --calibration "$out/digits/calibration" \
    --labels "$out/digits/labels.txt" --name digits --license BSD-3-Clause -o "$out/models" --overwrite
  edgekit run "$out/models/digits_int8.tflite" $(ls "$out"/digits/test/*.png | head -3)
  # 2. Run: the bundled default models (edgekit/zoo) on real inputs.
  python -m converters.zoo.samples "$out/samples" >/dev/null
  local zoo=edgekit/zoo
  log "edgekit info (bundled Fashion-MNIST model)"
  edgekit info "$zoo/fashion_int8.tflite"
  log "edgekit run: clothing photos (file names carry the true label), keywords, text"
  edgekit run "$zoo/fashion_int8.tflite" "$out"/samples/fashion_*.png
  if [ -f "$zoo/keywords_int8.tflite" ]; then edgekit run "$zoo/keywords_int8.tflite" "$out"/samples/keyword_*.wav; fi
  edgekit run "$zoo/topics_int8.tflite" --text "my laptop screen is black" \
    --text "how many hearts does an octopus have" --text "i feel sad today"
  log "edgekit run: real photos through the bundled ImageNet model (EfficientNet-Lite0, int8)"
  edgekit run "$zoo/imagenet_int8.tflite" "$out"/samples/photo_*.png
  log "live, headless: a video of garments, a moving photo through the face detector, a stream of spoken words"
  edgekit run "$zoo/fashion_int8.tflite" --source "$out/samples/garments.mkv" --max-frames 150
  edgekit run "$zoo/faces_float32.tflite" --source "$out/samples/astronaut.mkv" --max-frames 90
  python demos/webcam_classify.py --source "$out/samples/photos.mkv" --headless --threads 1 --max-frames 60
  if [ -f "$out/samples/keyword_stream.wav" ]; then
    edgekit run "$zoo/keywords_int8.tflite" --source "$out/samples/keyword_stream.wav"
  fi
  log "edgekit bench"
  edgekit bench "$zoo/fashion_int8.tflite" --threads 1,2 --runs 200
  demo_summary "$out"
}

# The closing summary of `./dev.sh demo`: what was shown, and where the files it wrote are.
demo_summary() {
  local out=$1
  log "done. Shown: a Keras model exported in every recipe and verified (the report card), the bundled models on"
  log "photos, spoken keywords and text, three live runs on files (a status line when the result changes), a benchmark."
  log "files written (open the .tflite files in Netron, or load them with edgekit.load):"
  for file in "$out"/models/*; do printf '  %s  %s\n' "$(du -sh "$file" | cut -f1)" "$file" >&2; done
  printf '  %s\n  %s/  (photos, WAVs and videos the runs used)\n' "$out/digits/digits.keras" "$out/samples" >&2
}

# Style, formatting, the import layers of docs/architecture.md (.importlinter), and types (pyproject [tool.mypy]).
lint() {
  setup
  "$VENV/bin/ruff" check edgekit converters demos benchmarks tests
  "$VENV/bin/ruff" format --check edgekit converters demos benchmarks tests
  "$VENV/bin/lint-imports"
  "$VENV/bin/mypy"
}

run_tests() {
  setup
  # After `./dev.sh zoo` the trained Keras zoo models are in out/zoo: then the Core ML matrix and the
  # keyword front-end checks run on them too (without them those tests skip and say why).
  if [ -d out/zoo/keywords ]; then export EDGEKIT_ZOO_WORK="${EDGEKIT_ZOO_WORK:-$PWD/out/zoo}"; fi
  if [ -d out/zoo/keywords ]; then export EDGEKIT_KEYWORDS_DIR="${EDGEKIT_KEYWORDS_DIR:-$PWD/out/zoo/keywords}"; fi
  prepare_fixtures_in_background
  "$VENV/bin/python" -m pytest "$@"
}

# The heavy fixtures (the emulated Pi's golden image, the third-party runtimes' venvs) are made once and
# cached outside the repository under a hash of their recipe. On a cold machine, start making them now on
# the second core while the first tests run: the fixtures wait for them (each maker holds a lock).
prepare_fixtures_in_background() {
  local logs="${TMPDIR:-/tmp}/edgekit-fixtures"; mkdir -p "$logs"
  if [ "${EDGEKIT_SKIP_INTEROP:-}" != 1 ]; then
    ( for runtime in mediapipe-1.2.2 mediapipe-0.10.21 tflite-runtime-2.14 torch-2.13; do
        PYTHON="$PWD/$VENV/bin/python" bash tests/interop/runtime_env.sh "$runtime" >"$logs/$runtime.log" 2>&1 || true
      done ) &
  fi
  if [ "${EDGEKIT_SKIP_PI:-}" != 1 ] && [ "$(id -u)" -eq 0 ]; then
    # bookworm first (most pi tests use it), then the trixie image (tests/deploy/test_pi_trixie.py)
    ( bash tests/pi/build-golden.sh >"$logs/pi-golden.log" 2>&1
      PI_SUITE=trixie bash tests/pi/build-golden.sh >"$logs/pi-golden-trixie.log" 2>&1 ) &
  fi
}

case "${1:-}" in
  setup) setup ;;
  demo) demo ;;
  test) shift; run_tests "$@"; lint ;;
  lint) lint ;;
  bench) setup; shift
    # Every benchmark script, one after the other; each prints its own figures (ratios measured side by side).
    for script in mobilenetv2 tasks detector audio_stream camera_source live_stream keyword_latency pi_deploy fidelity; do
      log "benchmarks/$script.py"; "$VENV/bin/python" -m "benchmarks.$script"
    done ;;
  fuzz) shift; setup
    # 20,000 seeded cases (mutated bundled models, bad images/WAVs/.npy/texts), each in a child process; prints the table.
    "$VENV/bin/python" -m tests.fuzz_harness --models "${FUZZ_MODELS:-18000}" --inputs "${FUZZ_INPUTS:-2000}" --seed "${FUZZ_SEED:-0}" "$@" ;;
  zoo) shift; setup; "$VENV/bin/python" -m converters.zoo.build "$@"; run_tests tests/zoo/test_zoo.py tests/converters/coreml/test_coreml.py tests/zoo/test_zoo_keywords.py ;;
  *) echo "usage: ./dev.sh demo | test [pytest args] | zoo [--reuse] | setup | lint | bench | fuzz" >&2; exit 2 ;;
esac
