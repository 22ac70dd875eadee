"""Argument parsing and wiring for `edgekit bundle` and `edgekit deploy` (kept out of edgekit/cli.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..deploy.targets import TARGETS
from ..errors import InputError

SOURCE_HELP = "live source the service reads: picamera, 0 (USB camera), mic, a URL, or a video/WAV file (copied in)"


def add_commands(commands, epilog: str) -> None:
    """Add the `bundle` and `deploy` sub-commands to the CLI's sub-parsers."""
    bundle = commands.add_parser(
        "bundle",
        help="a folder/.tar.gz that installs models as a service on a Pi",
        description="Bundle models with edgekit's runtime, an install script, a systemd unit, a README and a "
        "manifest (versions, sha256 of every file), for a Raspberry Pi or another Linux box. With --offline the "
        "target's wheels are inside too, so the device needs no network.",
        epilog=epilog,
    )
    bundle.add_argument("models", nargs="+", metavar="MODEL", help=".tflite files (the service serves the first)")
    bundle.add_argument("-o", "--output", required=True, metavar="OUT", help="folder, or a file ending in .tar.gz")
    bundle.add_argument("--target", default="pi-bookworm", help="one of " + ", ".join(TARGETS) + " (pi-bookworm)")
    _shared(bundle)
    bundle.add_argument("--offline", action="store_true", help="include the target's wheels (about 60 MB)")
    bundle.add_argument("--json", action="store_true", help="print the manifest as JSON")

    deploy = commands.add_parser(
        "deploy",
        help="install a model as a service on a Pi over ssh, with rollback",
        description="Copy a model (or a bundle) to a device over ssh, install edgekit's runtime in a venv there, "
        "check the model's outputs on the device against this machine's, and run `edgekit serve` as the systemd "
        "unit edgekit-NAME. A release that fails its health check is rolled back; redeploying the same thing "
        "restarts nothing.",
        epilog=epilog,
    )
    deploy.add_argument(
        "model",
        metavar="MODEL",
        nargs="?",
        help=".tflite file, or a bundle folder/.tar.gz (not needed with --name and --status, --logs or --remove)",
    )
    deploy.add_argument("destination", metavar="ssh://[user@]host[:port]", nargs="?")
    deploy.add_argument("-i", dest="key", metavar="KEY", help="ssh private key")
    _shared(deploy)
    deploy.add_argument("--force", action="store_true", help="replace a unit of the same name not made by edgekit")
    deploy.add_argument("--offline", action="store_true", help="carry the wheels (the device needs no internet)")
    deploy.add_argument("--target", choices=sorted(TARGETS), help="override the target detected on the device")
    action = deploy.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true", help="show the service's state and release")
    action.add_argument("--logs", action="store_true", help="show the service's last journal lines")
    action.add_argument("--remove", action="store_true", help="stop the service and delete it and its releases")
    deploy.add_argument("--json", action="store_true", help="print the deploy summary as JSON")


def _shared(parser: argparse.ArgumentParser) -> None:
    from .args import positive_int as _positive

    parser.add_argument("--source", help=SOURCE_HELP)
    parser.add_argument("--port", type=_positive, default=8080, help="web view port on the device (8080)")
    parser.add_argument("--name", help="service name: edgekit-NAME (default: the model's file name)")
    parser.add_argument(
        "--system-site-packages",
        action="store_true",
        help="let the venv see apt's Python packages (automatic with --source picamera)",
    )


def cmd_bundle(args: argparse.Namespace) -> int:
    from ..deploy.bundle import BundleOptions, bundle_size_bytes, make_bundle

    options = BundleOptions(
        target=args.target,
        source=args.source,
        port=args.port,
        offline=args.offline,
        name=args.name,
        system_site_packages=args.system_site_packages,
    )
    manifest = make_bundle(args.models, args.output, options)
    if args.json:
        print(json.dumps(manifest))
    else:
        size_mb = bundle_size_bytes(args.output) / 1e6
        print(f"{args.output}: release {manifest['release']} for {manifest['target']}, {size_mb:.1f} MB")
        print(f"install on the device: sudo ./install.sh   (or: edgekit deploy {args.output} ssh://pi@HOST)")
    return 0


DEPLOY_USAGE = "edgekit deploy MODEL ssh://pi@HOST   or   edgekit deploy --name NAME ssh://pi@HOST --status"


def cmd_deploy(args: argparse.Namespace) -> int:
    from ..deploy import service

    if args.destination is None and args.model and "://" in args.model:  # `deploy --name N ssh://pi --status`
        args.model, args.destination = None, args.model
    if args.destination is None:
        raise InputError("edgekit deploy needs a device: ssh://[user@]host[:port]", hint=DEPLOY_USAGE)
    if args.model is None and not (args.name and (args.status or args.logs or args.remove)):
        raise InputError("edgekit deploy needs a MODEL (or --name NAME with --status, --logs or --remove)",
                         hint=DEPLOY_USAGE)  # fmt: skip
    name = args.name or _name_of(args.model)
    if args.status:
        print(service.status(args.destination, name, args.key), end="")
        return 0
    if args.logs:
        print(service.logs(args.destination, name, args.key), end="")
        return 0
    if args.remove:
        if service.remove(args.destination, name, args.key):
            print(f"removed edgekit-{name}", file=sys.stderr)
        else:
            print(f"nothing to remove: no edgekit-{name} on {args.destination}", file=sys.stderr)
        return 0
    summary = service.deploy(
        args.model,
        args.destination,
        key=args.key,
        source=args.source,
        port=args.port,
        name=args.name,
        force=args.force,
        offline=args.offline,
        system_site_packages=args.system_site_packages,
        target=args.target,
    )
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['url']}  (release {summary['release']}, {summary['total_s']:.1f} s)")
    return 0


def _name_of(model: str) -> str:
    path = Path(model)
    manifest = path / "manifest.json"
    if manifest.is_file():
        return json.loads(manifest.read_text())["name"]
    if not path.name:
        raise InputError(f"cannot name the service after {model!r}", hint="pass --name")
    stem = path.name[: -len(".tar.gz")] if path.name.endswith(".tar.gz") else path.stem
    return stem.replace("_", "-")
