"""`edgekit bundle`: a folder (or .tar.gz) that installs a model as a service on a device.

Layout::

    manifest.json        versions, target, options, release id, sha256 of every other file
    README.txt           what is inside and how to install it by hand
    install.sh           run on the device: venv + runtime, output check, systemd unit, atomic release swap
    edgekit.service      the unit template install.sh fills in
    requirements.txt     the runtime pinned for the target (see targets.py)
    models/              the model files
    check/               seeded inputs and the outputs this machine computed for them (see check.py)
    media/               the --source file, when the source is a file
    runtime/edgekit/     edgekit's runtime package (not the converters, no bundled zoo models)
    wheels/              --offline only: every wheel the target needs, so the device needs no network

The release id is a hash of the files and options, so bundling the same thing twice gives the same id and a
redeploy of it changes nothing on the device.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, InvalidModelError, ModelNotFoundError, OutputPathError
from ..io import atomic_path, make_temp_dir, write_bytes_atomic
from .targets import Target, get_target

_RUNTIME_SKIP = {"__pycache__"}
_RUNTIME_SKIP_SUFFIXES = {".pyc", ".tflite"}  # zoo models travel in models/ only when asked for


@dataclass
class BundleOptions:
    """What `edgekit bundle` was asked for.

    Attributes:
        target: a name from targets.TARGETS.
        source: the live source the service reads (camera index, picamera, URL, mic, or a local file to copy).
        port: the web view's port on the device.
        offline: carry the target's wheels.
        name: the service name (edgekit-NAME.service); default: the first model's file stem.
        system_site_packages: make the venv see apt's packages (always on for picamera).
    """

    target: str = "pi-bookworm"
    source: str | None = None
    port: int = 8080
    offline: bool = False
    name: str | None = None
    system_site_packages: bool = False


def default_source(model: Path, target: Target) -> str:
    """Microphone for audio models; the Pi camera on Pi targets; camera 0 elsewhere."""
    from ..backends import load

    with load(model) as m:
        if m.card is not None and m.card.audio is not None:
            return "mic"
    return "picamera" if target.name.startswith("pi-") else "0"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_runtime(dest: Path) -> None:
    package = Path(__file__).resolve().parent.parent
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d not in _RUNTIME_SKIP)
        rel = Path(root).relative_to(package)
        for name in sorted(files):
            if Path(name).suffix in _RUNTIME_SKIP_SUFFIXES:
                continue
            (dest / "edgekit" / rel).mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(root) / name, dest / "edgekit" / rel / name)


def wheel_cache_dir() -> Path:
    """Where downloaded wheels are kept between bundles (EDGEKIT_CACHE, default ~/.cache/edgekit)."""
    return Path(os.environ.get("EDGEKIT_CACHE", Path.home() / ".cache" / "edgekit")) / "wheels"


def download_wheels(target: Target, requirements: list[str], dest: Path) -> None:
    """Put every wheel ``requirements`` need on ``target`` into ``dest`` (from the cache, else PyPI).

    Raises:
        InputError: pip cannot find wheels for the target (no network and nothing cached).
    """
    cache = wheel_cache_dir() / f"{target.machine}-cp{target.python.replace('.', '')}"
    cache.mkdir(parents=True, exist_ok=True)
    platform = [arg for tag in target.platform_tags() for arg in ("--platform", tag)]
    base = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--only-binary=:all:"]
    base += ["--python-version", target.python, "--implementation", "cp", *platform, *requirements]
    local = subprocess.run([*base, "--no-index", "--find-links", str(cache), "-d", str(dest)], capture_output=True)
    if local.returncode == 0:
        return
    fetched = subprocess.run([*base, "-d", str(cache)], capture_output=True, text=True)
    if fetched.returncode != 0:
        last = (fetched.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise InputError(
            f"cannot download the wheels for {target.name}: {last}",
            hint="--offline needs network once (wheels are cached in " + str(cache) + "); or bundle without it",
        )
    subprocess.run([*base, "--no-index", "--find-links", str(cache), "-d", str(dest)], check=True, capture_output=True)


def _readme(manifest: dict) -> str:
    models = ", ".join(m["file"] for m in manifest["models"])
    wheels = (
        "Wheels are included: no network needed on the device."
        if manifest["offline"]
        else "The device downloads the runtime from PyPI (bundle with --offline to carry it)."
    )
    return f"""edgekit bundle {manifest["release"]} — {models}

Target: {manifest["target"]} ({manifest["target_description"]})
Service: edgekit-{manifest["name"]}.service runs
  edgekit serve models/{manifest["models"][0]["file"]} --source {manifest["source"]} \\
    --host 0.0.0.0 --port {manifest["port"]}
and the live view is at http://THIS-DEVICE:{manifest["port"]}/ (health: /healthz, latest result: /result.json).

Install on the device (64-bit Raspberry Pi OS or Debian; needs python3-venv):
  sudo ./install.sh            # or from a laptop: edgekit deploy BUNDLE ssh://pi@HOST
Runtime: {", ".join(manifest["requirements"])}
{wheels}
Every file's sha256 is in manifest.json.
"""


def _unit(manifest: dict) -> str:
    model = manifest["models"][0]["file"]
    source = manifest["source"]
    if manifest.get("source_file"):
        source = f"@BASE@/current/media/{manifest['source_file']}"
    extra = " --loop" if manifest.get("source_file") else ""
    command = (
        f"@BASE@/current/venv/bin/python -m edgekit serve @BASE@/current/models/{model} "
        f"--source {shlex.quote(source)}{extra} --host 0.0.0.0 --port {manifest['port']} --log-interval 60"
    )
    return f"""# edgekit-managed: written by edgekit deploy / install.sh; redeploy rather than edit by hand.
[Unit]
Description=edgekit @NAME@: {model} on {manifest["source"]}, web view on port {manifest["port"]}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
# Not root: a system user made by install.sh, in the video/audio groups (cameras, microphones) when they exist.
User=edgekit
Group=edgekit
NoNewPrivileges=yes
PrivateTmp=yes
WorkingDirectory=@BASE@/current
Environment=PYTHONPATH=@BASE@/current/runtime PYTHONUNBUFFERED=1
ExecStart={command}
Restart=on-failure
RestartSec=3

[Install]
WantedBy=multi-user.target
"""


def make_bundle(models: list[str | os.PathLike], out: str | os.PathLike, options: BundleOptions) -> dict:
    """Write a bundle folder, or a .tar.gz when ``out`` ends so; atomically (all or nothing).

    Args:
        models: .tflite files; the service serves the first, the check covers all.
        out: folder or ``*.tar.gz`` path; must not exist yet.
        options: target, source, port, offline, name.

    Returns:
        The manifest (also written as manifest.json).

    Raises:
        ModelNotFoundError: a model file is missing. InputError: bad source, target or model.
        OutputPathError: ``out`` exists or cannot be written.
    """
    from ..version import __version__
    from .check import make_check

    target = get_target(options.target)
    paths = [Path(m) for m in models]
    check_model_files(paths)
    if len({p.name for p in paths}) != len(paths):
        raise InputError("two models have the same file name", hint="rename one of them")
    out_path = Path(out)
    archive = out_path.name.endswith(".tar.gz")
    if out_path.exists():
        raise OutputPathError(f"{str(out_path)!r} already exists", hint="remove it or choose another -o")
    parent = out_path.parent if str(out_path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(f"output folder {str(parent)!r} does not exist", hint=f"mkdir -p {parent}")

    source = options.source or default_source(paths[0], target)
    source_file = Path(source) if "://" not in source and Path(source).is_file() else None
    ssp = options.system_site_packages or source.split(":")[0] == "picamera"
    name = options.name or paths[0].stem.replace("_", "-")
    requirements = list(target.requirements)
    venv_key = hashlib.sha256(json.dumps([target.name, target.python, requirements, ssp]).encode()).hexdigest()[:12]

    work = make_temp_dir(out_path)
    try:
        root = work / "bundle"
        for sub in ("models", "check", "runtime"):
            (root / sub).mkdir(parents=True)
        model_rows = []
        for path in paths:
            shutil.copyfile(path, root / "models" / path.name)
            summary = make_check(path, root / "check" / f"{path.name}.npz")
            model_rows.append({"file": path.name, "sha256": _sha256(path), **summary})
        if source_file is not None:
            (root / "media").mkdir()
            shutil.copyfile(source_file, root / "media" / source_file.name)
        _copy_runtime(root / "runtime")
        (root / "requirements.txt").write_text("\n".join(requirements) + "\n")
        shutil.copyfile(Path(__file__).with_name("install.sh"), root / "install.sh")
        os.chmod(root / "install.sh", 0o755)
        if options.offline:
            download_wheels(target, requirements, root / "wheels")
        manifest = {
            "format": 1,
            "edgekit": __version__,
            "name": name,
            "target": target.name,
            "target_description": target.description,
            "machine": target.machine,
            "python": target.python,
            "requirements": requirements,
            "venv_key": venv_key,
            "system_site_packages": ssp,
            "offline": options.offline,
            "source": source if source_file is None else f"media/{source_file.name}",
            "source_file": source_file.name if source_file is not None else None,
            "port": options.port,
            "models": model_rows,
        }
        (root / "edgekit.service").write_text(_unit(manifest))
        (root / "README.txt").write_text(_readme(manifest | {"release": "(see manifest.json)"}))
        files = {str(p.relative_to(root)): _sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}
        release_key = json.dumps([files, {k: v for k, v in manifest.items() if k != "models"}], sort_keys=True)
        manifest["release"] = hashlib.sha256(release_key.encode()).hexdigest()[:12]
        manifest["files"] = files
        write_bytes_atomic(root / "manifest.json", json.dumps(manifest, indent=2).encode())
        if archive:
            with atomic_path(out_path) as tmp, tarfile.open(tmp, "w:gz") as tar:
                tar.add(root, arcname=out_path.name[: -len(".tar.gz")])
        else:
            os.rename(root, out_path)  # same folder: atomic
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def check_model_files(paths: list[Path]) -> None:
    """Each path is an existing .tflite file (checked before any work or any connection).

    Raises:
        ModelNotFoundError: a model file is missing. InputError: a folder or not a .tflite file.
    """
    for path in paths:
        if path.is_dir():
            raise InputError(f"model {str(path)!r} is a folder", hint="give the path of a .tflite file")
        if not path.is_file():
            raise ModelNotFoundError(f"model {str(path)!r} not found", hint="give the path of a .tflite file")
        if path.suffix.lower() != ".tflite":
            raise InputError(f"{path.name}: bundles carry .tflite models", hint="convert with edgekit convert first")
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head[4:8] != b"TFL3":
            what = "empty (0 bytes)" if not head else "not a TFLite model (no 'TFL3' identifier at byte 4)"
            raise InvalidModelError(f"{path} is {what}", hint="give a .tflite file made by edgekit convert")


def open_bundle(path: str | os.PathLike, scratch: Path) -> Path:
    """The folder of a bundle given as a folder or a .tar.gz (extracted into ``scratch``).

    Raises:
        InputError: not a bundle (no manifest.json).
    """
    path = Path(path)
    if path.is_file() and path.name.endswith(".tar.gz"):
        try:
            with tarfile.open(path) as tar:
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise InputError(
                f"{str(path)!r} is not a readable .tar.gz bundle ({exc})", hint="make it again with edgekit bundle"
            ) from exc
        folders = [p for p in scratch.iterdir() if (p / "manifest.json").is_file()]
        path = folders[0] if folders else scratch
    if not (path / "manifest.json").is_file():
        raise InputError(
            f"{str(path)!r} is not an edgekit bundle (no manifest.json)", hint="make one with edgekit bundle"
        )
    return path


def bundle_size_bytes(path: str | os.PathLike) -> int:
    """Bytes on disk of a bundle folder or archive."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
