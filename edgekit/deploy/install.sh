#!/bin/sh
# install.sh — install this edgekit bundle as a systemd service (run on the device, as root or with sudo).
#
#   sudo ./install.sh [--prefix /opt/edgekit] [--name NAME] [--force] [--no-start] [--activate-only]
#
# Copies the bundle to PREFIX/NAME/releases/<id>, makes (or reuses) a venv in PREFIX/.venvs for its pinned runtime — from the
# bundle's wheels/ when it has them (no network needed), else from PyPI — checks on this device that every
# model gives the outputs the bundle was made with, then points PREFIX/NAME/current at the release (atomic
# symlink swap) and (re)starts edgekit-NAME.service. An unchanged release is left running untouched.
# Prints one "error:" and one "hint:" line and exits 1 when something is missing; nothing is activated then.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PREFIX=/opt/edgekit NAME= FORCE=0 START=1 ACTIVATE_ONLY=0
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) PREFIX=$2; shift;; --name) NAME=$2; shift;; --force) FORCE=1;;
    --no-start) START=0;; --activate-only) ACTIVATE_ONLY=1;;
    *) echo "error: unknown option $1" >&2; exit 2;;
  esac; shift
done
fail() { echo "error: $1" >&2; echo "hint: $2" >&2; exit 1; }
say() { echo "install: $*" >&2; }
command -v python3 >/dev/null || fail "python3 is not installed" "sudo apt install python3 python3-venv"
# one python3 start for every manifest field (each start costs seconds on a slow Pi)
eval "$(python3 -c 'import json, shlex, sys
m = json.load(open(sys.argv[1]))
for var, key in (("ID", "release"), ("MACHINE", "machine"), ("VENV_KEY", "venv_key"), ("SSP", "system_site_packages"),
                 ("MANIFEST_NAME", "name")):
    print(f"{var}={shlex.quote(str(int(m[key]) if isinstance(m[key], bool) else m[key]))}")' "$here/manifest.json")"
[ -n "$NAME" ] || NAME=$MANIFEST_NAME
[ "$(id -u)" -eq 0 ] || fail "install.sh must run as root (it writes $PREFIX and a systemd unit)" "sudo $0"
[ "$(uname -m)" = "$MACHINE" ] || fail "this bundle is for $MACHINE, this machine is $(uname -m)" \
  "make a bundle for this device: edgekit bundle MODEL --target ... (see edgekit bundle --help)"
[ -n "$(find /usr/lib/python3*/ensurepip -maxdepth 1 -name __init__.py 2>/dev/null)" ] || python3 -c 'import ensurepip' 2>/dev/null || fail "python3-venv is not installed (python3 cannot make a venv)" \
  "sudo apt install python3-venv"
BASE=$PREFIX/$NAME; REL=$BASE/releases/$ID; UNIT=/etc/systemd/system/edgekit-$NAME.service
if [ -f "$UNIT" ] && ! grep -q 'edgekit-managed' "$UNIT" && [ "$FORCE" != 1 ]; then
  fail "$UNIT exists and was not made by edgekit" "choose another --name, or pass --force to replace it"
fi
mkdir -p "$BASE/releases" "$PREFIX/.venvs"
if [ "$here" != "$REL" ] && [ ! -f "$REL/manifest.json" ]; then
  rm -rf "$REL.part"; cp -a "$here" "$REL.part"; mv "$REL.part" "$REL"
fi

if [ "$ACTIVATE_ONLY" != 1 ]; then
  V=$PREFIX/.venvs/$VENV_KEY   # shared by every release and service that pins the same runtime
  if [ ! -f "$V/.edgekit-ready" ]; then
    rm -rf "$V.part"
    flag=""; [ "$SSP" = 1 ] && flag="--system-site-packages"
    say "python3 -m venv $flag (runtime: $(tr '\n' ' ' < "$REL/requirements.txt"))"
    python3 -m venv $flag "$V.part"   # (--no-compile below: byte-compiling is slow on a Pi; imports do it)
    src=""; [ -d "$REL/wheels" ] && src="--no-index --find-links $REL/wheels"
    "$V.part/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir --no-compile $src -r "$REL/requirements.txt" \
      || fail "pip could not install the runtime" "an offline bundle (edgekit bundle --offline) needs no network"
    touch "$V.part/.edgekit-ready"; rm -rf "$V"; mv "$V.part" "$V"
  fi
  ln -sfn "$V" "$REL/venv"
  say "checking the models' outputs on this device"
  PYTHONPATH=$REL/runtime "$REL/venv/bin/python" -m edgekit.deploy.check "$REL" \
    || fail "the models do not give the outputs they gave when bundled (see the lines above)" \
      "report it with the lines above; the previous release is still serving"
fi
[ "$START" = 1 ] || { say "installed $REL (not started: --no-start)"; exit 0; }

# The service runs as the system user "edgekit" (no login, no home), never as root; cameras and microphones
# need the video and audio groups (the Pi's libcamera also needs render for the ISP's dma-heap on Pi 5).
if ! id -u edgekit >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin edgekit \
    || fail "could not create the system user edgekit" "create it by hand: sudo useradd --system --user-group edgekit"
fi
for group in video audio render; do
  if getent group "$group" >/dev/null && ! id -nG edgekit | tr ' ' '\n' | grep -qx "$group"; then
    usermod -aG "$group" edgekit
  fi
done
sed -e "s|@BASE@|$BASE|g" -e "s|@NAME@|$NAME|g" "$REL/edgekit.service" > "$UNIT.part"
old=$(readlink "$BASE/current" 2>/dev/null || true)
if [ "$old" = "releases/$ID" ] && cmp -s "$UNIT.part" "$UNIT" && systemctl is-active -q "edgekit-$NAME"; then
  rm -f "$UNIT.part"; say "unchanged: release $ID is already serving (nothing restarted)"; exit 0
fi
ln -sfn "releases/$ID" "$BASE/current.part"; mv -T "$BASE/current.part" "$BASE/current"
mv "$UNIT.part" "$UNIT"
systemctl daemon-reload
systemctl enable -q "edgekit-$NAME"
systemctl restart "edgekit-$NAME"
say "release $ID is current; edgekit-$NAME restarted"
