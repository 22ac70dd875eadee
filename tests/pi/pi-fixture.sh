#!/usr/bin/env bash
# pi-fixture.sh — an ssh-reachable arm64 Debian 12 "Raspberry Pi" on 127.0.0.1 (qemu-user + binfmt_misc).
#
#   pi-fixture.sh up    NAME PORT [boot|chroot]  throw-away overlay of the golden image; sshd on 127.0.0.1:PORT
#   pi-fixture.sh stop  NAME                     power the Pi off, keep its disk (the overlay's upper layer)
#   pi-fixture.sh down  NAME                     power off and delete the overlay
#   pi-fixture.sh root  NAME                     print the Pi's root directory (while it is up)
#   pi-fixture.sh binfmt                         register qemu-user 10 for aarch64 ELF binaries
#
# `boot` runs real systemd as PID 1 under systemd-nspawn (sharing this machine's network, so a service the
# Pi binds on 0.0.0.0:P answers on 127.0.0.1:P here); `chroot` only starts sshd (faster, no systemd).
# `up` after `stop` boots the same disk again: that is a reboot. Env: PI_GOLD (from build-golden.sh),
# PI_BASE (cache, default ~/.cache/edgekit-pi), PI_KEY (ssh key, made if missing), QEMU_CPU (default
# cortex-a76, a Pi 5 core: qemu's default "max" CPU makes LiteRT pick SVE/SME kernels, 10-20x slower).
# Needs root. Processes are tracked by pidfile (ps shows the qemu binary, not the program).
set -euo pipefail
BASE=${PI_BASE:-$HOME/.cache/edgekit-pi}
QEMU=${PI_QEMU:-$BASE/qemu10/usr/bin/qemu-aarch64}
KEY=${PI_KEY:-$BASE/ssh/id_ed25519}
cmd=${1:?usage: pi-fixture.sh up|stop|down|root|binfmt ...}
name=${2:-}
inst=$BASE/inst/$name

ensure_binfmt() {
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  # O (open-binary, with C: credentials): the kernel hands qemu the opened file. systemd 255+ (Debian 13) starts
  # every service through fexecve() of a close-on-exec fd, which qemu cannot reopen by path: without O, every unit
  # of the trixie image fails. An older registration without it is replaced.
  if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64-pi ]; then
    grep -qx 'flags: POCF' /proc/sys/fs/binfmt_misc/qemu-aarch64-pi && return 0
    echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64-pi
  fi
  [ -x "$QEMU" ] || { echo "qemu-user 10 missing at $QEMU (run build-golden.sh)" >&2; return 1; }
  # an older qemu (Debian 12's 7.2) registered for aarch64 would win: switch it off
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && echo 0 > /proc/sys/fs/binfmt_misc/qemu-aarch64
  # F: the kernel opens the (static) interpreter now, so it works inside chroots and containers
  printf '%s' ":qemu-aarch64-pi:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:$QEMU:POCF" \
    > /proc/sys/fs/binfmt_misc/register
}

up() {
  local port=${1:?port} mode=${2:-boot}
  : "${PI_GOLD:?set PI_GOLD to the directory build-golden.sh printed}"
  ensure_binfmt
  [ -f "$KEY" ] || { mkdir -p "$(dirname "$KEY")"; ssh-keygen -q -t ed25519 -N '' -f "$KEY"; }
  mkdir -p "$inst"/{upper,work,root}
  mountpoint -q "$inst/root" || mount -t overlay overlay \
    -o "lowerdir=$PI_GOLD,upperdir=$inst/upper,workdir=$inst/work" "$inst/root"
  local R=$inst/root cpu=${QEMU_CPU:-cortex-a76}
  install -d -m700 "$R/root/.ssh"; cp "$KEY.pub" "$R/root/.ssh/authorized_keys"
  printf 'Port %s\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\nSetEnv QEMU_CPU=%s\n' \
    "$port" "$cpu" > "$R/etc/ssh/sshd_config.d/10-fixture.conf"
  cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
  if grep -qs '^VERSION_CODENAME=trixie' "$R/etc/os-release"; then
    # Emulation only: qemu-user cannot run systemd 257's mount-namespace setup, so a unit with PrivateTmp=yes exits
    # 226/NAMESPACE here (a real Pi OS trixie runs it). edgekit's units keep PrivateTmp=yes; this drop-in, in the
    # emulated Pi's /etc only, turns it off for every edgekit-*.service.
    mkdir -p "$R/etc/systemd/system/edgekit-.service.d"
    printf '[Service]\nPrivateTmp=no\n' > "$R/etc/systemd/system/edgekit-.service.d/zz-emulation.conf"
  fi
  if [ "$mode" = chroot ]; then
    mount -t proc proc "$R/proc"; mount -t sysfs sysfs "$R/sys"
    mount --bind /dev "$R/dev"; mount --bind /dev/pts "$R/dev/pts"
    mkdir -p "$R/run/sshd"
    setsid env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin QEMU_CPU="$cpu" \
      chroot "$R" /usr/sbin/sshd -D -e </dev/null >"$inst/sshd.log" 2>&1 &
  else
    mkdir -p "$R/etc/systemd/system.conf.d"      # every unit (edgekit's service too) gets the CPU model
    printf '[Manager]\nDefaultEnvironment=QEMU_CPU=%s\n' "$cpu" > "$R/etc/systemd/system.conf.d/qemu-cpu.conf"
    # --register=no --keep-unit: no machined here; -M names the container
    setsid systemd-nspawn -q -D "$R" -b --register=no --keep-unit --setenv=QEMU_CPU="$cpu" \
      --console=passive -M "pi-$name" </dev/null >"$inst/nspawn.log" 2>&1 &
  fi
  echo $! > "$inst/pid"; echo "$mode" > "$inst/mode"
  for _ in $(seq 1 480); do
    ssh -p "$port" -i "$KEY" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -o ConnectTimeout=2 -o BatchMode=yes root@127.0.0.1 true 2>/dev/null && { echo "$R"; return 0; }
    kill -0 "$(cat "$inst/pid")" 2>/dev/null || { echo "the Pi exited:" >&2; tail -20 "$inst"/*.log >&2; return 1; }
    sleep 0.25
  done
  echo "sshd on 127.0.0.1:$port did not come up in 120 s" >&2; tail -20 "$inst"/*.log >&2; return 1
}

stop() {
  if [ -f "$inst/pid" ]; then
    local pid mode; pid=$(cat "$inst/pid"); mode=$(cat "$inst/mode")
    if [ "$mode" = boot ]; then
      # SIGTERM to nspawn does not halt an emulated systemd (RT signal): power off from inside
      local leader; leader=$(ps -o pid= --ppid "$pid" 2>/dev/null | head -1 | tr -d ' ' || true)
      [ -n "$leader" ] && nsenter -t "$leader" -a /bin/systemctl poweroff 2>/dev/null || true
    else
      kill "$pid" 2>/dev/null || true
    fi
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" || true
    rm -f "$inst/pid"
  fi
  if mountpoint -q "$inst/root" 2>/dev/null; then umount -R "$inst/root" 2>/dev/null || umount -lR "$inst/root"; fi
}

remove() {
  stop
  # never rm -rf through a mounted overlay
  mountpoint -q "$inst/root" 2>/dev/null && { echo "$inst/root is still mounted" >&2; return 1; }
  rm -rf "$inst"
}

case $cmd in
  up) shift 2; up "$@";;
  stop) stop;;
  down) remove;;
  root) echo "$inst/root";;
  binfmt) ensure_binfmt;;
  *) echo "unknown command $cmd" >&2; exit 2;;
esac
