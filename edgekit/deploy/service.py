"""`edgekit deploy`: bundle, copy over ssh, install, health check, roll back; and --status/--logs/--remove.

On the device everything lives in ``/opt/edgekit/NAME``: ``releases/<id>`` (one per bundle, id = hash of
its content) and ``current`` → the serving release, swapped atomically by install.sh;
``/opt/edgekit/.venvs/<key>`` holds one venv per pinned runtime, shared by every release that uses it. The
service is ``edgekit-NAME.service``. A release that fails its health check is rolled back: ``current``
points at the previous release again and that one is restarted.
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bundle import BundleOptions, bundle_size_bytes, check_model_files, make_bundle, open_bundle
from .ssh import DeployError, Remote, error_from_output
from .targets import detect_target

PREFIX = "/opt/edgekit"
HEALTH_TIMEOUT_S = 180.0  # emulated Pis start a model in ~20 s; a real Pi in ~2 s

# One round trip that tells everything the checks need (key=value lines).
_PROBE = r"""
echo "machine=$(uname -m)"
# in a subshell: os-release defines NAME, which is ours
(. /etc/os-release 2>/dev/null; echo "codename=${VERSION_CODENAME:-}"; echo "pretty=${PRETTY_NAME:-}")
[ "$(id -u)" = 0 ] && echo sudo=1 || { sudo -n true 2>/dev/null && echo sudo=1 || echo sudo=0; }
echo "systemd=$([ -d /run/systemd/system ] && echo 1 || echo 0)"
echo "free_kb=$(df -Pk "$(dirname "$PREFIX")" 2>/dev/null | awk 'NR==2 {print $4}')"
U=/etc/systemd/system/edgekit-$NAME.service
if [ -f "$U" ]; then grep -q edgekit-managed "$U" && echo unit=edgekit || echo unit=foreign; else echo unit=none; fi
echo "current=$(readlink "$PREFIX/$NAME/current" 2>/dev/null | sed 's|releases/||')"
echo "active=$(systemctl is-active "edgekit-$NAME" 2>/dev/null)"
echo "serving_port=$(grep -o -- '--port [0-9]*' "$U" 2>/dev/null | awk '{print $2}')"
python3 - "$PORT" <<'PY'
import platform, socket, sys
print("python=" + platform.python_version())
try:
    import ensurepip  # Debian's python3-venv provides it; without it `python3 -m venv` fails
    print("venv=1")
except ImportError:
    print("venv=0")
probe = socket.socket()
probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    probe.bind(("0.0.0.0", int(sys.argv[1])))
    print("port_free=1")
except OSError:
    print("port_free=0")
PY
"""

_HEALTH = r"""
python3 - "$PORT" "$UNIT" <<'PY'
import subprocess, sys, urllib.request
port, unit = sys.argv[1], sys.argv[2]
show = subprocess.run(["systemctl", "show", unit, "-p", "ActiveState", "-p", "NRestarts"],
                      capture_output=True, text=True)
state = dict(line.split("=", 1) for line in show.stdout.split())
if state.get("ActiveState") == "failed" or int(state.get("NRestarts", "0") or 0) > 0:
    print("failed"); sys.exit(0)
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
        print("ok" if response.status == 200 else "waiting")
except OSError:
    print("waiting")
PY
"""


@dataclass
class Steps:
    """Prints each deploy step with the time it took (to stderr) and keeps them for the caller."""

    started: float = field(default_factory=time.monotonic)
    rows: list[tuple[str, float]] = field(default_factory=list)
    _last: float = 0.0

    def __post_init__(self) -> None:
        self._last = self.started

    def done(self, what: str) -> None:
        now = time.monotonic()
        self.rows.append((what, now - self._last))
        print(f"[{now - self._last:6.1f} s] {what}", file=sys.stderr, flush=True)
        self._last = now

    @property
    def total_s(self) -> float:
        return time.monotonic() - self.started


def probe(remote: Remote, name: str, port: int) -> dict[str, str]:
    """What the device is (architecture, OS, Python, venv, sudo, space, unit, port)."""
    script = f"PREFIX={shlex.quote(PREFIX)}; NAME={shlex.quote(name)}; PORT={int(port)}\n{_PROBE}"
    out = remote.check("sh -s", "probing the device", stdin=script.encode())
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _refuse_bad_device(facts: dict[str, str], remote: Remote, name: str, port: int, force: bool, need_kb: int) -> None:
    if facts.get("sudo") != "1":
        raise DeployError(
            f"{remote.label}: {remote.user or 'this user'} cannot run sudo without a password",
            hint="deploy as a user with passwordless sudo (the default 'pi' user of Pi OS has it), or as root",
        )
    if not facts.get("python"):
        raise DeployError(f"{remote.label} has no python3", hint="sudo apt install python3 python3-venv")
    if facts.get("venv") != "1":
        raise DeployError(
            f"{remote.label} cannot make Python venvs (python3-venv is not installed)",
            hint=f"ssh {remote.label.split(':')[0]} sudo apt install -y python3-venv",
        )
    if facts.get("systemd") != "1":
        raise DeployError(f"{remote.label} does not run systemd", hint="edgekit deploy needs a systemd Linux (Pi OS)")
    if facts.get("unit") == "foreign" and not force:
        raise DeployError(
            f"{remote.label} already has /etc/systemd/system/edgekit-{name}.service, not made by edgekit",
            hint="choose another --name, or pass --force to replace that unit",
        )
    ours = facts.get("active") == "active" and facts.get("serving_port") == str(port)
    if facts.get("port_free") != "1" and not ours:
        raise DeployError(
            f"port {port} is already in use on {remote.label}",
            hint=f"pick another --port, or find the program with: ssh {remote.label.split(':')[0]} sudo ss -ltnp",
        )
    free_kb = int(facts.get("free_kb") or 0)
    if free_kb and free_kb < need_kb:
        raise DeployError(
            f"{remote.label} has {free_kb // 1024} MB free, the release needs about {need_kb // 1024} MB",
            hint="free space (sudo apt clean; remove old files) and deploy again",
        )


def deploy(
    model: str,
    destination: str,
    *,
    key: str | None = None,
    source: str | None = None,
    port: int = 8080,
    name: str | None = None,
    force: bool = False,
    offline: bool = False,
    system_site_packages: bool = False,
    target: str | None = None,
) -> dict:
    """Deploy a model (.tflite) or a bundle (folder or .tar.gz) to a device over ssh.

    Returns:
        ``{"url", "release", "changed", "steps": [(what, seconds)], "total_s", "check": [...]}``.

    Raises:
        DeployError: the device is unreachable or unsuitable, the install or the output check failed, or the
            service did not become healthy (then the previous release serves again).
    """
    steps = Steps()
    remote = Remote.parse(destination, key)
    with tempfile.TemporaryDirectory(prefix="edgekit-deploy-") as scratch:
        scratch_path = Path(scratch)
        given = Path(model)
        if not (given.is_dir() or given.name.endswith(".tar.gz")):
            check_model_files([given])  # a missing or wrong file is named before any connection
        bundle_dir = (
            open_bundle(given, scratch_path / "in") if (given.is_dir() or given.name.endswith(".tar.gz")) else None
        )
        manifest: dict[str, Any] | None = json.loads((bundle_dir / "manifest.json").read_text()) if bundle_dir else None
        name = name or (manifest["name"] if manifest else given.stem.replace("_", "-"))
        if manifest:
            port = manifest["port"]
        facts = probe(remote, name, port)
        steps.done(
            f"connect {remote.label}: {facts.get('machine')}, {facts.get('pretty')}, Python {facts.get('python')}"
        )
        device_target = detect_target(facts.get("machine", ""), facts.get("codename", ""), facts.get("python", ""))
        if bundle_dir is None:
            bundle_dir = scratch_path / "bundle"
            manifest = make_bundle(
                [given],
                bundle_dir,
                BundleOptions(
                    target=target or device_target.name,
                    source=source,
                    port=port,
                    offline=offline,
                    name=name,
                    system_site_packages=system_site_packages,
                ),
            )
            steps.done(f"bundle {given.name} for {manifest['target']} ({bundle_size_bytes(bundle_dir) / 1e6:.1f} MB)")
        assert manifest is not None  # read from the given bundle, or just made
        if manifest["machine"] != facts.get("machine"):
            raise DeployError(
                f"the bundle is for {manifest['machine']}, {remote.label} is {facts.get('machine')}",
                hint=f"bundle for the device: --target {device_target.name}",
            )
        device_python = ".".join(str(facts.get("python", "")).split(".")[:2])
        tied = manifest.get("offline") or str(manifest.get("target", "")).startswith("pi-")
        if tied and manifest.get("python") and device_python and manifest["python"] != device_python:
            # offline wheels are built for one Python, and a Pi OS target's pins for its OS: a bookworm bundle
            # (Python 3.11, numpy 1) cannot install on trixie (Python 3.13), nor the other way round
            raise DeployError(
                f"the bundle is for {manifest['target']} (Python {manifest['python']}), {remote.label} runs "
                f"{facts.get('pretty')} with Python {device_python}",
                hint=f"bundle for the device: --target {device_target.name}",
            )
        need_kb = bundle_size_bytes(bundle_dir) // 1024 * 3 + (250_000 if not manifest["offline"] else 150_000)
        _refuse_bad_device(facts, remote, name, port, force, need_kb)
        steps.done("device checks: venv, sudo, systemd, unit, port, space")
        release = manifest["release"]
        base = f"{PREFIX}/{name}"
        url = f"http://{remote.host}:{port}/"
        previous = facts.get("current") or ""
        install = f"{base}/releases/{release}/install.sh --name {shlex.quote(name)}" + (" --force" if force else "")
        if previous == release and facts.get("active") == "active":
            done = remote.run(install, sudo=True)  # says "unchanged" unless the unit text differs
            if done.returncode != 0:
                raise error_from_output(done, "install")
            changed = b"unchanged" not in done.stderr
            steps.done("unchanged: nothing restarted" if not changed else "unit updated and restarted")
            if changed:
                _wait_healthy(remote, name, port, previous, base, steps)
            return _summary(url, release, changed, steps, [])
        staging = f"{base}/releases/.{release}.upload"
        remote.upload_dir(bundle_dir, staging)
        q_release = shlex.quote(f"{base}/releases/{release}")
        remote.check(
            f"if [ -f {q_release}/manifest.json ]; then rm -rf {shlex.quote(staging)}; "
            f"else mv {shlex.quote(staging)} {q_release}; fi",
            "storing the release",
            sudo=True,
        )
        steps.done(f"copy release {release} ({bundle_size_bytes(bundle_dir) / 1e6:.1f} MB)")
        done = remote.run(f"{install} --no-start", sudo=True, timeout_s=1800)
        check_rows = [json.loads(line) for line in done.stdout.decode().splitlines() if line.startswith("{")]
        if done.returncode != 0:
            _drop_release(remote, base, release, previous)
            raise error_from_output(done, "installing the runtime")
        worst = max((row["max_abs_diff"] for row in check_rows), default=0.0)
        steps.done(
            f"venv + runtime + on-device check: {sum(r['ok'] for r in check_rows)}/{len(check_rows)} models agree "
            f"(max |diff| {worst:.1e}; {check_rows[0]['interpreter'] if check_rows else ''}, numpy "
            f"{check_rows[0]['numpy'] if check_rows else '?'})"
        )
        activate = remote.run(f"{install} --activate-only", sudo=True)
        if activate.returncode != 0:
            raise error_from_output(activate, "starting the service")
        steps.done(f"release {release} current; edgekit-{name} enabled and restarted")
        _wait_healthy(remote, name, port, previous, base, steps)
        remote.run(_prune_command(base, release, previous), sudo=True)
        print(f"edgekit-{name} is serving {manifest['models'][0]['file']}: {url}", file=sys.stderr, flush=True)
        return _summary(url, release, True, steps, check_rows)


def _summary(url: str, release: str, changed: bool, steps: Steps, check_rows: list) -> dict:
    return {
        "url": url,
        "release": release,
        "changed": changed,
        "steps": steps.rows,
        "total_s": steps.total_s,
        "check": check_rows,
    }


def _poll_health(remote: Remote, unit: str, port: int) -> str:
    """ "ok", "failed" (the unit died or restarted) or "waiting" (gave up after HEALTH_TIMEOUT_S)."""
    script = f"PORT={int(port)}; UNIT={shlex.quote(unit)}\n{_HEALTH}".encode()
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    state = "waiting"
    while time.monotonic() < deadline:
        state = remote.check("sh -s", "health check", stdin=script).strip()
        if state != "waiting":
            break
        time.sleep(1.0)
    return state


def _wait_healthy(remote: Remote, name: str, port: int, previous: str, base: str, steps: Steps) -> None:
    unit = f"edgekit-{name}"
    if _poll_health(remote, unit, port) == "ok":
        steps.done(f"healthy: http://127.0.0.1:{port}/healthz answers on the device")
        return
    why = _last_error(remote, unit) or f"no answer on /healthz within {HEALTH_TIMEOUT_S:.0f} s"
    failed = remote.run(f"readlink {shlex.quote(base)}/current", sudo=True).stdout.decode().strip()
    _rollback(remote, name, base, previous)
    if previous:
        healthy = _poll_health(remote, unit, port) == "ok"
        restored = f"release {previous} serves again" if healthy else f"release {previous} restarted but not healthy"
    else:
        restored = "nothing was serving before; the unit is removed"
    if failed.startswith("releases/") and failed != f"releases/{previous}":
        _drop_release(remote, base, failed.split("/", 1)[1], previous)
    steps.done(f"rolled back: {restored}")
    raise DeployError(
        f"edgekit-{name} failed its health check ({why}); rolled back: {restored}",
        hint=f"see its log: edgekit deploy MODEL ssh://{remote.label} --name {name} --logs",
    )


def _last_error(remote: Remote, unit: str) -> str:
    done = remote.run(f"journalctl -u {shlex.quote(unit)} -n 80 --no-pager -o cat", sudo=True)
    lines = [line.strip() for line in done.stdout.decode(errors="replace").splitlines()]
    errors = [line[len("error:") :].strip() for line in lines if line.startswith("error:")]
    return errors[-1] if errors else ""


def _rollback(remote: Remote, name: str, base: str, previous: str) -> None:
    unit = f"edgekit-{name}"
    if previous:
        remote.run(f"{base}/releases/{previous}/install.sh --name {shlex.quote(name)} --activate-only", sudo=True)
    else:
        q = shlex.quote(unit)
        remote.run(
            f"systemctl disable --now {q} 2>/dev/null; rm -f /etc/systemd/system/{q}.service {base}/current; "
            "systemctl daemon-reload; systemctl reset-failed 2>/dev/null; true",
            sudo=True,
        )


def _drop_release(remote: Remote, base: str, release: str, previous: str) -> None:
    if release != previous:
        remote.run(f"rm -rf {shlex.quote(f'{base}/releases/{release}')}", sudo=True)


def _prune_command(base: str, current: str, previous: str) -> str:
    keep = " ".join(shlex.quote(k) for k in (current, previous) if k)
    return (
        f'cd {shlex.quote(base)}/releases && for r in *; do case " {keep} " in *" $r "*) ;; *) rm -rf "$r";; '
        f"esac; done; cd {PREFIX}/.venvs && for v in *; do "
        'grep -qs "$v" ../*/releases/*/manifest.json || rm -rf "$v"; done; true'
    )


def status(destination: str, name: str, key: str | None = None) -> str:
    """``systemctl status`` of the unit, the current release and the health answer, as text."""
    remote = Remote.parse(destination, key)
    q = shlex.quote(f"edgekit-{name}")
    done = remote.run(
        f"echo release: $(readlink {PREFIX}/{name}/current 2>/dev/null || echo none); "
        f"echo enabled: $(systemctl is-enabled {q} 2>/dev/null); echo active: $(systemctl is-active {q}); "
        f"systemctl status {q} --no-pager -n 0 2>/dev/null | head -5; true",
        sudo=True,
    )
    return done.stdout.decode(errors="replace")


def logs(destination: str, name: str, key: str | None = None, lines: int = 100) -> str:
    """The unit's last journal lines."""
    remote = Remote.parse(destination, key)
    done = remote.run(f"journalctl -u edgekit-{shlex.quote(name)} -n {int(lines)} --no-pager", sudo=True)
    return done.stdout.decode(errors="replace")


def remove(destination: str, name: str, key: str | None = None) -> bool:
    """Stop and disable the unit, delete it and every release (only if edgekit made it).

    Returns:
        False when there was nothing of that name on the device (nothing was touched), else True.

    Raises:
        DeployError: the unit exists but was not made by edgekit.
    """
    remote = Remote.parse(destination, key)
    unit = f"/etc/systemd/system/edgekit-{name}.service"
    done = remote.run(f"[ ! -f {unit} ] || grep -q edgekit-managed {unit}", sudo=True)
    if done.returncode != 0:
        raise DeployError(f"{unit} was not made by edgekit; not removing it", hint="remove it by hand if you mean to")
    present = remote.run(f"[ -e {unit} ] || [ -e {shlex.quote(f'{PREFIX}/{name}')} ]", sudo=True)
    if present.returncode != 0:
        return False
    remote.check(
        f"systemctl disable --now edgekit-{shlex.quote(name)} 2>/dev/null; rm -f {unit}; "
        f"systemctl daemon-reload; systemctl reset-failed edgekit-{shlex.quote(name)} 2>/dev/null; "
        f"rm -rf {shlex.quote(f'{PREFIX}/{name}')}; "
        f"cd {PREFIX}/.venvs 2>/dev/null && for v in *; do "
        'grep -qs "$v" ../*/releases/*/manifest.json || rm -rf "$v"; done; true',
        "removing the service",
        sudo=True,
    )
    return True
