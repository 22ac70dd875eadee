"""`edgekit bundle` and `edgekit deploy` end to end, against an emulated arm64 Raspberry Pi.

The Pi is Debian 12 arm64 (what Pi OS bookworm is built on: Python 3.11, glibc 2.36, apt's numpy 1.24) under
qemu-user 10, booted with real systemd by systemd-nspawn, reached by ssh on 127.0.0.1 (tests/pi/, pi_fixtures.py).
Its network is this machine's, so the service's port answers here too. Emulated speed says nothing about a real
Pi; these tests prove correctness: the install, the unit, the health check, rollback, and that arm64 outputs
equal the x86 outputs the bundle was made with (int8 exactly, float within 1e-4).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.pi_fixtures import ZOO, edgekit, free_port, http_get, wait_http


def one_error(done: subprocess.CompletedProcess) -> str:
    """The run failed with exactly one error: line and one hint: line, and no traceback."""
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert sum(line.startswith("error:") for line in lines) == 1, done.stderr
    assert sum(line.startswith("hint:") for line in lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def video(pi_video) -> Path:
    return pi_video


@pytest.fixture(scope="module")
def service_port() -> int:
    return free_port()


def copy_to_pi(pi, folder: Path, remote: str) -> None:
    subprocess.run(
        ["scp", "-q", "-r", "-P", str(pi.ssh_port), "-i", pi.key, "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", str(folder), f"root@127.0.0.1:{remote}"],
        check=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def offline_install(pi, tmp_path_factory):
    """An offline bundle with --system-site-packages installed (not started) in a network namespace with no
    route. It makes the module's one venv (pip under qemu is the slow part); later installs reuse it."""
    bundle = tmp_path_factory.mktemp("bundles") / "ssp"
    made = edgekit("bundle", str(ZOO / "faces_float32.tflite"), "-o", str(bundle), "--offline", "--source", "0",
                   "--system-site-packages", "--name", "ssp")  # fmt: skip
    assert made.returncode == 0, made.stderr
    copy_to_pi(pi, bundle, "/tmp/ssp")
    system_numpy = pi.ssh("python3 -c 'import numpy; print(numpy.__version__)'").stdout.strip()
    # only loopback, no route: pip can reach nothing but the bundle's wheels
    done = pi.ssh("unshare -n sh -c 'ip route | wc -l; /tmp/ssp/install.sh --no-start'", check=False)
    return done, system_numpy


@pytest.fixture(scope="module")
def first_deploy(pi, offline_install, video, service_port, tmp_path_factory):
    """fashion_int8 deployed with an offline bundle, serving the video on service_port."""
    bundle = tmp_path_factory.mktemp("bundles") / "fashion"
    made = edgekit("bundle", str(ZOO / "fashion_int8.tflite"), "-o", str(bundle), "--offline", "--source", str(video),
                   "--port", str(service_port), "--name", "fashion", "--system-site-packages")  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = edgekit("deploy", str(bundle), pi.url, "-i", pi.key, "--json")
    assert done.returncode == 0, done.stderr
    return bundle, json.loads(done.stdout.splitlines()[-1]), done.stderr


@pytest.mark.pi
def test_deploy_serves_checks_outputs_and_survives_reboot(pi, first_deploy, service_port):
    bundle, summary, log = first_deploy
    assert summary["url"] == f"http://127.0.0.1:{service_port}/"
    assert summary["check"] and all(row["ok"] for row in summary["check"]), summary["check"]
    assert summary["check"][0]["integer_equal"] is True  # int8 model: identical outputs on arm64
    for step in ("connect", "copy release", "on-device check", "healthy"):
        assert step in log
    assert pi.ssh("systemctl is-enabled edgekit-fashion").stdout.strip() == "enabled"
    assert http_get(f"http://127.0.0.1:{service_port}/healthz")[1] == b"ok\n"
    # the results endpoint carries real classifications of the video's frames
    for _ in range(120):
        result = json.loads(http_get(f"http://127.0.0.1:{service_port}/result.json")[1])
        if result["result"]:
            break
    assert result["result"], result
    assert pi.ssh("readlink /opt/edgekit/fashion/current").stdout.strip() == f"releases/{summary['release']}"
    pi.reboot()
    assert wait_http(f"http://127.0.0.1:{service_port}/healthz") == b"ok\n"
    assert pi.ssh("systemctl is-active edgekit-fashion").stdout.strip() == "active"


@pytest.mark.pi
def test_redeploy_unchanged_restarts_nothing(pi, first_deploy):
    bundle, summary, _ = first_deploy
    wait_http(f"{summary['url']}healthz")
    before = pi.ssh("systemctl show edgekit-fashion -p MainPID -p ActiveEnterTimestamp").stdout
    done = edgekit("deploy", str(bundle), pi.url, "-i", pi.key, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["changed"] is False
    assert "nothing restarted" in done.stderr
    assert pi.ssh("systemctl show edgekit-fashion -p MainPID -p ActiveEnterTimestamp").stdout == before


@pytest.mark.pi
def test_failed_health_check_rolls_back(pi, first_deploy, video, service_port):
    """A text model cannot serve a video: the service dies, the deploy says why and fashion serves again."""
    _, summary, _ = first_deploy
    done = edgekit(
        "deploy",
        str(ZOO / "topics_int8.tflite"),
        pi.url,
        "-i",
        pi.key,
        "--name",
        "fashion",
        "--source",
        str(video),
        "--port",
        str(service_port),
        "--offline",
    )
    message = one_error(done)
    assert "health check" in message and "text model" in message and "rolled back" in message
    assert pi.ssh("readlink /opt/edgekit/fashion/current").stdout.strip() == f"releases/{summary['release']}"
    assert wait_http(f"{summary['url']}healthz") == b"ok\n"


@pytest.mark.pi
def test_every_zoo_model_gives_x86_outputs_on_arm64(pi, tmp_path):
    """Install (no service) a bundle of every bundled model; its on-Pi check compares with this machine."""
    models = sorted(str(p) for p in ZOO.glob("*.tflite"))
    bundle = tmp_path / "zoo"
    made = edgekit("bundle", *models, "-o", str(bundle), "--offline", "--source", "0", "--name", "zoo",
                   "--system-site-packages")  # fmt: skip
    assert made.returncode == 0, made.stderr
    copy_to_pi(pi, bundle, "/tmp/zoo")
    done = pi.ssh("/tmp/zoo/install.sh --no-start", check=False)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, done.stderr + done.stdout
    assert {row["model"] for row in rows} == {Path(m).name for m in models}
    for row in rows:
        assert row["ok"], row
        assert row["max_abs_diff"] <= 1e-4, row
        # integer outputs identical, except a graph with float layers inside (imagenet_int8's stem): a few steps
        assert row["integer_equal"] or (row["mixed_precision"] and row["max_int_steps"] <= 8), row
        assert row["interpreter"].startswith("ai-edge-litert")


@pytest.mark.pi
def test_offline_bundle_installs_with_no_network_and_keeps_system_numpy(pi, offline_install):
    """Pi OS bookworm's case: apt numpy 1.24 seen through --system-site-packages (as picamera2 needs) stays."""
    done, system_numpy = offline_install
    assert system_numpy.startswith("1.24"), system_numpy
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].strip() == "0"  # no route at all
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert rows and all(row["ok"] for row in rows) and rows[0]["numpy"] == system_numpy, rows
    where = pi.ssh(
        "PYTHONPATH=/opt/edgekit/ssp/current/runtime /opt/edgekit/ssp/releases/*/venv/bin/python -c "
        "'import numpy, ai_edge_litert.interpreter as i; print(numpy.__version__, numpy.__file__)'"
    ).stdout.split()
    assert where[0] == system_numpy and where[1].startswith("/usr/lib/python3/dist-packages/"), where


@pytest.mark.pi
def test_service_runs_as_its_own_user_not_root(pi, first_deploy):
    _, summary, _ = first_deploy
    wait_http(f"{summary['url']}healthz")
    assert pi.ssh("systemctl show edgekit-fashion -p User --value").stdout.strip() == "edgekit"
    pid = pi.ssh("systemctl show edgekit-fashion -p MainPID --value").stdout.strip()
    assert pi.ssh(f"ps -o user= -p {pid}").stdout.strip() == "edgekit"
    assert pi.ssh("getent passwd edgekit | cut -d: -f7").stdout.strip() == "/usr/sbin/nologin"
    assert "video" in pi.ssh("id -nG edgekit").stdout.split()


@pytest.mark.pi
def test_status_and_logs_tell_the_release_and_the_journal(pi, first_deploy):
    _, summary, _ = first_deploy
    wait_http(f"{summary['url']}healthz")
    done = edgekit("deploy", "--name", "fashion", pi.url, "-i", pi.key, "--status", timeout_s=300)
    assert done.returncode == 0, done.stderr
    assert f"release: releases/{summary['release']}" in done.stdout
    assert "enabled: enabled" in done.stdout and "active: active" in done.stdout
    done = edgekit("deploy", "--name", "fashion", pi.url, "-i", pi.key, "--logs", timeout_s=300)
    assert done.returncode == 0, done.stderr
    assert "fashion_int8.tflite" in done.stdout  # the service's own lines, read from the journal
    # a service that does not exist: its state says so, it is not an error
    done = edgekit("deploy", "--name", "nothing-here", pi.url, "-i", pi.key, "--status", timeout_s=300)
    assert done.returncode == 0 and "release: none" in done.stdout, done.stdout + done.stderr


@pytest.mark.pi
def test_no_sudo_and_no_space_fail_with_one_error_and_change_nothing(pi, first_deploy, tmp_path):
    _, summary, _ = first_deploy
    model = str(ZOO / "fashion_int8.tflite")
    # a user without sudo (the golden image has no sudo at all), reached with the same key ('*': no password
    # but not locked, which sshd without PAM would refuse)
    pi.ssh("id plain >/dev/null 2>&1 || useradd -m -s /bin/sh plain; usermod -p '*' plain; mkdir -p ~plain/.ssh; "
           "cp /root/.ssh/authorized_keys ~plain/.ssh/; chown -R plain: ~plain/.ssh")  # fmt: skip
    plain_url = pi.url.replace("root@", "plain@")
    message = one_error(
        edgekit("deploy", model, plain_url, "-i", pi.key, "--name", "nosudo", "--port", str(free_port()))
    )
    assert "cannot run sudo" in message and "passwordless sudo" in message
    # no space: a 1 MB file system over /opt for the time of one deploy; the running service's folder is bound
    # back into it, so the service keeps its files (`df /opt`, what the deploy measures, sees 1 MB)
    pi.ssh(
        "mkdir -p /run/optsave && mount --bind /opt /run/optsave && mount -t tmpfs -o size=1m tmpfs /opt && "
        "mkdir /opt/edgekit && mount --bind /run/optsave/edgekit /opt/edgekit"
    )
    try:
        message = one_error(
            edgekit("deploy", model, pi.url, "-i", pi.key, "--name", "nospace", "--port", str(free_port()))
        )
        assert "MB free" in message and "free space" in message
        assert pi.ssh("ls -A /opt").stdout.split() == ["edgekit"]  # nothing written beside it
    finally:
        pi.ssh("umount /opt/edgekit; umount /opt; umount /run/optsave", check=False)
    assert pi.ssh("test -e /opt/edgekit/nospace", check=False).returncode == 1
    wait_http(f"{summary['url']}healthz")  # (a restart in the instant /opt was covered is fine)
    assert pi.ssh("readlink /opt/edgekit/fashion/current").stdout.strip() == f"releases/{summary['release']}"
    assert http_get(f"{summary['url']}healthz")[1] == b"ok\n"


@pytest.mark.pi
def test_bad_devices_fail_with_one_error_and_change_nothing(pi, first_deploy, tmp_path, service_port):
    _, summary, _ = first_deploy
    model = str(ZOO / "fashion_int8.tflite")
    # unreachable: nothing listens on that port
    assert "cannot reach" in one_error(edgekit("deploy", model, f"ssh://root@127.0.0.1:{free_port()}", "-i", pi.key))
    # refused key
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    assert "refused the ssh key" in one_error(edgekit("deploy", model, pi.url, "-i", str(other)))
    # a unit of the same name that edgekit did not make
    pi.ssh("printf '[Service]\\nExecStart=/bin/true\\n' > /etc/systemd/system/edgekit-mine.service")
    message = one_error(edgekit("deploy", model, pi.url, "-i", pi.key, "--name", "mine", "--port", str(free_port())))
    assert "not made by edgekit" in message and "--force" in message
    assert pi.ssh("cat /etc/systemd/system/edgekit-mine.service").stdout.startswith("[Service]")
    # the port is taken (by the running fashion service, under another name)
    message = one_error(edgekit("deploy", model, pi.url, "-i", pi.key, "--name", "other", "--port", str(service_port)))
    assert f"port {service_port} is already in use" in message
    # no python3-venv: Debian's python3.11-venv is what provides ensurepip
    pi.ssh("dpkg -r --force-depends python3-venv python3.11-venv >/dev/null 2>&1")
    message = one_error(edgekit("deploy", model, pi.url, "-i", pi.key, "--name", "novenv", "--port", str(free_port())))
    assert "python3-venv" in message and "apt install -y python3-venv" in message
    # none of this touched the running service
    assert pi.ssh("readlink /opt/edgekit/fashion/current").stdout.strip() == f"releases/{summary['release']}"
    assert http_get(f"{summary['url']}healthz")[1] == b"ok\n"
    assert not set(pi.ssh("ls /opt/edgekit").stdout.split()) & {"mine", "other", "novenv"}


@pytest.mark.pi
def test_remove_stops_the_service_and_deletes_its_releases(pi, first_deploy):
    """Runs after the other pi tests of this module (file order): the fashion service goes away entirely."""
    _, summary, _ = first_deploy
    done = edgekit("deploy", "--name", "fashion", pi.url, "-i", pi.key, "--remove", timeout_s=300)
    assert done.returncode == 0, done.stderr
    assert "removed edgekit-fashion" in done.stderr
    assert pi.ssh("test -e /etc/systemd/system/edgekit-fashion.service", check=False).returncode == 1
    assert pi.ssh("test -e /opt/edgekit/fashion", check=False).returncode == 1
    assert pi.ssh("systemctl is-active edgekit-fashion", check=False).stdout.strip() in ("inactive", "unknown")
    with pytest.raises(OSError):
        http_get(f"{summary['url']}healthz", timeout_s=3)
    # removing it again touches nothing and says so (not "removed")
    done = edgekit("deploy", "--name", "fashion", pi.url, "-i", pi.key, "--remove", timeout_s=300)
    assert done.returncode == 0 and "nothing to remove: no edgekit-fashion" in done.stderr, done.stderr
    # a unit of that name that edgekit did not make is refused, and stays
    pi.ssh("printf '[Service]\\nExecStart=/bin/true\\n' > /etc/systemd/system/edgekit-mine.service")
    message = one_error(edgekit("deploy", "--name", "mine", pi.url, "-i", pi.key, "--remove", timeout_s=300))
    assert "not made by edgekit" in message
    assert pi.ssh("cat /etc/systemd/system/edgekit-mine.service").stdout.startswith("[Service]")


def test_bundle_refuses_32_bit_pi_os_with_the_alternative(tmp_path):
    done = edgekit("bundle", str(ZOO / "fashion_int8.tflite"), "-o", str(tmp_path / "b"), "--target", "pi-armhf")
    message = one_error(done)
    assert "armv7l" in message and "64-bit" in message
    assert not (tmp_path / "b").exists()


@pytest.mark.slow  # over 0.5 s on a quiet machine
def test_bundle_is_reproducible_and_lists_every_file(tmp_path):
    """Same inputs, same release id (redeploys can be recognised); the manifest hashes every file."""
    import hashlib

    ids = []
    for out in ("a", "b.tar.gz"):
        done = edgekit("bundle", str(ZOO / "fashion_int8.tflite"), "-o", str(tmp_path / out), "--source", "0", "--json")
        assert done.returncode == 0, done.stderr
        ids.append(json.loads(done.stdout)["release"])
    assert ids[0] == ids[1]
    folder = tmp_path / "a"
    manifest = json.loads((folder / "manifest.json").read_text())
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest
    assert not any(rel.startswith("runtime/converters") or rel.endswith(".pyc") for rel in on_disk)
    assert manifest["requirements"][:3] == ["ai-edge-litert==2.3.0", "ml_dtypes==0.5.4", "numpy>=1.23.5,<2"]
    # the stored check outputs are the laptop's: recompute them independently with the model here
    from edgekit import load

    stored = np.load(folder / "check" / "fashion_int8.tflite.npz")
    with load(ZOO / "fashion_int8.tflite") as model:
        assert np.array_equal(model.run(stored["in0_0"], raw=True)[0], stored["out0_0"])


@pytest.mark.pi
def test_linux_x86_64_offline_bundle_installs_on_this_machine_with_no_network(tmp_path):
    """The linux-x86_64 target for real: this machine is one (Debian 12, Python 3.11). install.sh --no-start in a
    network namespace with no route makes the venv from the bundle's wheels and checks two models' outputs."""
    bundle = tmp_path / "x86"
    made = edgekit("bundle", str(ZOO / "fashion_int8.tflite"), str(ZOO / "topics_int8.tflite"), "-o", str(bundle),
                   "--target", "linux-x86_64", "--offline", "--source", "0", "--name", "x86")  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip route | wc -l; {bundle}/install.sh --prefix {tmp_path}/opt --no-start"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].strip() == "0"  # no route at all
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [row["model"] for row in rows] == ["fashion_int8.tflite", "topics_int8.tflite"]
    assert all(row["ok"] and row["integer_equal"] for row in rows), rows
    assert rows[0]["numpy"].startswith("2.")  # the numpy 2 stack of the generic target
