"""`edgekit deploy` to Raspberry Pi OS trixie, against an emulated arm64 Debian 13 Pi.

Pi OS trixie is Debian 13 arm64: Python 3.13, glibc 2.41, apt's numpy 2.2. The golden image is the bookworm one's
recipe with ``PI_SUITE=trixie`` (tests/pi/build-golden.sh). What these tests prove that the bookworm ones cannot:
the target is detected from the device (not assumed), the cp313 wheels of the trixie stack install with no network,
apt's numpy 2 is kept under ``--system-site-packages`` (numpy 1 must not be pulled), a bookworm bundle is refused
with the fix, and every bundled model gives this machine's outputs there (int8 exactly, float within 1e-4).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.pi_fixtures import ZOO, edgekit, free_port, http_get, wait_http


@pytest.fixture(scope="module")
def deployed(pi_trixie, pi_video):
    """fashion_int8 deployed as a model (the bundle is made for what the device reports), offline wheels."""
    port = free_port()
    done = edgekit("deploy", str(ZOO / "fashion_int8.tflite"), pi_trixie.url, "-i", pi_trixie.key, "--name", "fashion",
                   "--source", str(pi_video), "--port", str(port), "--offline", "--system-site-packages",
                   "--json")  # fmt: skip
    return done, port


@pytest.mark.pi
def test_the_device_is_trixie_with_numpy_2(pi_trixie):
    facts = pi_trixie.ssh(
        ". /etc/os-release; echo $VERSION_CODENAME; uname -m; python3 -c 'import sys, numpy; "
        'print("%d.%d" % sys.version_info[:2], numpy.__version__)\''
    ).stdout.split()
    assert facts[:3] == ["trixie", "aarch64", "3.13"], facts
    assert facts[3].startswith("2."), facts


@pytest.mark.pi
def test_deploy_detects_trixie_installs_and_checks_outputs(pi_trixie, deployed):
    done, _ = deployed
    assert "for pi-trixie" in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    venv_numpy = pi_trixie.ssh(
        "PYTHONPATH=/opt/edgekit/fashion/current/runtime /opt/edgekit/fashion/releases/*/venv/bin/python -c "
        "'import numpy, sys, ai_edge_litert.interpreter; print(sys.version_info[1], numpy.__version__, numpy.__file__)'"
    ).stdout.split()
    system_numpy = pi_trixie.ssh("python3 -c 'import numpy; print(numpy.__version__)'").stdout.strip()
    # Python 3.13 in the venv, apt's numpy 2.2 seen through --system-site-packages and kept
    assert venv_numpy[0] == "13" and venv_numpy[1] == system_numpy, venv_numpy
    assert venv_numpy[2].startswith("/usr/lib/python3/dist-packages/"), venv_numpy


@pytest.mark.pi
def test_every_zoo_model_gives_x86_outputs_on_trixie_offline(pi_trixie, tmp_path):
    """An offline trixie bundle of every bundled model installed (no service) in a namespace with no route."""
    models = sorted(str(p) for p in ZOO.glob("*.tflite"))
    bundle = tmp_path / "zoo"
    made = edgekit("bundle", *models, "-o", str(bundle), "--target", "pi-trixie", "--offline", "--source", "0",
                   "--name", "zoo")  # fmt: skip
    assert made.returncode == 0, made.stderr
    subprocess.run(
        ["scp", "-q", "-r", "-P", str(pi_trixie.ssh_port), "-i", pi_trixie.key, "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", str(bundle), "root@127.0.0.1:/tmp/zoo"],
        check=True,
    )  # fmt: skip
    done = pi_trixie.ssh("unshare -n sh -c 'ip route | wc -l; /tmp/zoo/install.sh --no-start'", check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.splitlines()[0].strip() == "0"  # no route at all
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert {row["model"] for row in rows} == {Path(m).name for m in models}
    for row in rows:
        assert row["ok"], row
        assert row["max_abs_diff"] <= 1e-4, row
        # integer outputs identical, except a graph with float layers inside (imagenet_int8's stem): a few steps
        assert row["integer_equal"] or (row["mixed_precision"] and row["max_int_steps"] <= 8), row
        assert row["interpreter"].startswith("ai-edge-litert") and row["numpy"].startswith("2."), row


@pytest.mark.pi
def test_bookworm_bundle_is_refused_on_trixie_with_the_fix(pi_trixie, tmp_path):
    bundle = tmp_path / "bookworm"
    made = edgekit("bundle", str(ZOO / "fashion_int8.tflite"), "-o", str(bundle), "--target", "pi-bookworm",
                   "--source", "0")  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = edgekit("deploy", str(bundle), pi_trixie.url, "-i", pi_trixie.key, "--name", "wrong")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert sum(line.startswith("error:") for line in lines) == 1, done.stderr
    assert any(line.startswith("hint:") and "--target pi-trixie" in line for line in lines), done.stderr
    assert pi_trixie.ssh("test -e /opt/edgekit/wrong", check=False).returncode == 1


@pytest.mark.pi
def test_trixie_service_serves_and_survives_reboot(pi_trixie, deployed):
    done, port = deployed
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["check"] and all(row["ok"] and row["integer_equal"] for row in summary["check"]), summary
    # the unit edgekit wrote keeps its sandbox (the emulated Pi alone drops PrivateTmp, tests/pi/pi-fixture.sh)
    unit = pi_trixie.ssh("cat /etc/systemd/system/edgekit-fashion.service").stdout
    assert "PrivateTmp=yes" in unit and "NoNewPrivileges=yes" in unit and "User=edgekit" in unit, unit
    pi_trixie.reboot()
    assert wait_http(f"http://127.0.0.1:{port}/healthz") == b"ok\n"
    assert http_get(f"http://127.0.0.1:{port}/healthz")[1] == b"ok\n"
    assert pi_trixie.ssh("systemctl is-active edgekit-fashion").stdout.strip() == "active"
