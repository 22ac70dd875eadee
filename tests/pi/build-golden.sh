#!/usr/bin/env bash
# build-golden.sh — build (once) the arm64 Debian "Raspberry Pi" root filesystem the `pi` tests boot.
#
#   tests/pi/build-golden.sh                    Pi OS bookworm stand-in; prints the golden rootfs directory last
#   PI_SUITE=trixie tests/pi/build-golden.sh    Pi OS trixie stand-in (Debian 13, Python 3.13, apt numpy 2.2)
#
# Pi OS bookworm is Debian 12 arm64 with Python 3.11 and glibc 2.36, so debootstrap's bookworm is a faithful
# stand-in for everything edgekit touches (python3, python3-venv, apt's python3-numpy 1.24, systemd, sshd).
# It runs on x86 through qemu-user registered with binfmt_misc. Debian 12's own qemu 7.2 segfaults inside
# ai-edge-litert >= 2.2, so qemu-user 10 is taken from bookworm-backports with a private apt state (the
# host's apt configuration is not touched).
#
# The result is cached in PI_BASE (default ~/.cache/edgekit-pi) under a hash of this file: a changed recipe
# builds a new image, an unchanged one is reused (CI caches the folder). Cold: 4–15 min depending on load
# (trixie: about twice that, its Python 3.13 stack is larger). Each suite has its own image.
# Needs root (binfmt_misc, debootstrap) and network the first time only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
BASE=${PI_BASE:-$HOME/.cache/edgekit-pi}
SUITE=${PI_SUITE:-bookworm}
case "$SUITE" in bookworm|trixie) ;; *) echo "PI_SUITE must be bookworm or trixie, not $SUITE" >&2; exit 2 ;; esac
KEY=$( (cat "$here/build-golden.sh"; echo "$SUITE") | sha256sum | cut -c1-12)
# bookworm keeps its historical folder name; other suites carry theirs
if [ "$SUITE" = bookworm ]; then GOLD=$BASE/golden-$KEY; else GOLD=$BASE/golden-$SUITE-$KEY; fi
QEMU=$BASE/qemu10/usr/bin/qemu-aarch64
log() { printf '[pi-golden] %s\n' "$*" >&2; }
mkdir -p "$BASE"
exec 9>"$BASE/golden.lock"; flock 9        # one builder at a time
if [ -f "$GOLD/.edgekit-golden" ]; then echo "$GOLD"; exit 0; fi
[ "$(id -u)" -eq 0 ] || { echo "build-golden.sh needs root (binfmt_misc, debootstrap, mounts)" >&2; exit 1; }

# The Debian mirror this machine's apt already uses (first non-security entry), unless MIRROR is set.
MIRROR=${MIRROR:-$(grep -hE '^(URIs:|deb) ' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
  | grep -i debian | grep -v security | head -1 | awk '{print $2}' || true)}
[ -n "$MIRROR" ] || { echo "no Debian mirror found in the apt sources; set MIRROR=..." >&2; exit 1; }

need=()
for p in debootstrap systemd-container zstd openssh-client; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x "$QEMU" ]; then
  log "fetching qemu-user 10 from bookworm-backports (private apt state)"
  A=$BASE/apt; rm -rf "$A"; mkdir -p "$A/lists/partial" "$A/cache/archives/partial"
  echo "deb $MIRROR bookworm-backports main" > "$A/sources.list"
  O=(-o "Dir::Etc::SourceList=$A/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache")
  apt-get "${O[@]}" update -qq
  (cd "$A" && apt-get "${O[@]}" download qemu-user/bookworm-backports >/dev/null)
  rm -rf "$BASE/qemu10.new"; dpkg-deb -x "$A"/qemu-user_*.deb "$BASE/qemu10.new"
  rm -rf "$BASE/qemu10"; mv "$BASE/qemu10.new" "$BASE/qemu10"; rm -rf "$A"
fi
PI_QEMU=$QEMU "$here/pi-fixture.sh" binfmt

R=$BASE/golden-$SUITE.new; rm -rf "$R"; mkdir -p "$BASE/debcache-$SUITE"
log "debootstrap arm64 $SUITE (slow under emulation)"
# python3-numpy: Pi OS's system numpy (bookworm 1.24, trixie 2.2), which apt's picamera2/simplejpeg are built against.
debootstrap --arch=arm64 --variant=minbase --cache-dir="$BASE/debcache-$SUITE" \
  --include=python3,python3-venv,python3-pip,python3-numpy,openssh-server,ca-certificates,systemd-sysv,dbus,iproute2 \
  "$SUITE" "$R" "$MIRROR" >"$BASE/debootstrap-$SUITE.log" 2>&1 || { tail -20 "$BASE/debootstrap-$SUITE.log" >&2; exit 1; }
for m in dev/pts dev sys proc; do mountpoint -q "$R/$m" && umount "$R/$m"; done
# pip on the Pi trusts the same CAs as this machine (a TLS-intercepting proxy, if any)
cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$R/etc/pip.conf"
echo raspberrypi > "$R/etc/hostname"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"* "$R/root/.cache"
find "$R/dev" -mindepth 1 -delete          # systemd-nspawn wants an empty /dev
touch "$R/.edgekit-golden"
rm -rf "$GOLD"; mv "$R" "$GOLD"
# older images of this recipe are useless now
if [ "$SUITE" = bookworm ]; then olds=("$BASE"/golden-????????????); else olds=("$BASE"/golden-"$SUITE"-*); fi
for old in "${olds[@]}"; do [ -e "$old" ] && [ "$old" != "$GOLD" ] && rm -rf "$old"; done
log "golden image ready: $GOLD ($(du -sh "$GOLD" | cut -f1))"
echo "$GOLD"
