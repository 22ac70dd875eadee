"""The device end of `edgekit deploy`: OpenSSH's client in a subprocess, failures turned into clear errors."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import EdgekitError, InputError


class DeployError(EdgekitError, RuntimeError):
    """A deploy step failed on the device or on the way to it; the device was left as it was."""


@dataclass(frozen=True)
class Remote:
    """An ssh destination: ``ssh://[user@]host[:port]``.

    Attributes:
        user: login name (None: ssh's default).
        host: name or address.
        port: ssh port (None: 22 or ssh's configuration).
        key: private key file for ``-i``.
    """

    user: str | None
    host: str
    port: int | None = None
    key: str | None = None

    @classmethod
    def parse(cls, url: str, key: str | None = None) -> Remote:
        """Read ``ssh://[user@]host[:port]`` (the ``ssh://`` may be left out).

        Raises:
            InputError: no host, or a port that is not a number.
        """
        text = url if "://" in url else f"ssh://{url}"
        parts = urlsplit(text)
        if parts.scheme != "ssh" or not parts.hostname:
            raise InputError(f"not an ssh destination: {url!r}", hint="write it as ssh://pi@raspberrypi.local[:22]")
        try:
            port = parts.port
        except ValueError:
            raise InputError(f"bad port in {url!r}", hint="ssh://pi@HOST:22") from None
        if key and not Path(key).is_file():
            raise InputError(f"ssh key {key!r} not found", hint="give the private key file with -i")
        return cls(parts.username, parts.hostname, port, key)

    @property
    def label(self) -> str:
        """``user@host:port`` as a person would write it."""
        return f"{self.user + '@' if self.user else ''}{self.host}{':' + str(self.port) if self.port else ''}"

    @property
    def is_root(self) -> bool:
        return self.user == "root"

    def _ssh_args(self) -> list[str]:
        if shutil.which("ssh") is None:
            raise DeployError("the OpenSSH client (ssh) is not installed here", hint="sudo apt install openssh-client")
        args = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15"]
        args += ["-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR"]
        if self.key:
            args += ["-i", self.key, "-o", "IdentitiesOnly=yes"]
        if self.port:
            args += ["-p", str(self.port)]
        return [*args, f"{self.user}@{self.host}" if self.user else self.host]

    def run(
        self, command: str, *, sudo: bool = False, stdin: bytes | None = None, timeout_s: float = 600
    ) -> subprocess.CompletedProcess:
        """Run a shell command on the device; return the finished process (exit status not checked).

        Args:
            command: a POSIX shell command line.
            sudo: run it as root (``sudo -n`` unless logged in as root).
            stdin: bytes fed to the command.
            timeout_s: give up after this long.

        Raises:
            DeployError: the device cannot be reached, refuses the key, or does not answer in time.
        """
        if sudo and not self.is_root:
            command = f"sudo -n sh -c {shlex.quote(command)}"
        try:
            done = subprocess.run([*self._ssh_args(), command], input=stdin, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise DeployError(
                f"{self.label} did not finish a command in {timeout_s:.0f} s",
                hint="check the device's load and network",
            ) from None
        if done.returncode == 255:
            raise self._connection_error(done.stderr.decode(errors="replace"))
        return done

    def _connection_error(self, stderr: str) -> DeployError:
        text = stderr.strip().splitlines()[-1] if stderr.strip() else "ssh failed"
        if "Permission denied" in stderr:
            key = f" -i {self.key}" if self.key else ""
            return DeployError(
                f"{self.label} refused the ssh key ({text})",
                hint=f"copy your key to the device once: ssh-copy-id{key} {self.label.split(':')[0]}"
                + (f" -p {self.port}" if self.port else "")
                + ", or pass the right key with -i",
            )
        if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION" in stderr:
            return DeployError(
                f"{self.label}'s host key changed ({text})",
                hint=f"if the device was reinstalled: ssh-keygen -R {self.host}",
            )
        return DeployError(
            f"cannot reach {self.label} over ssh ({text})",
            hint="is the device on and on this network, with ssh enabled (raspi-config → Interface Options → SSH)?",
        )

    def check(self, command: str, what: str, *, sudo: bool = False, stdin: bytes | None = None) -> str:
        """Run ``command``; return its stdout, or raise DeployError naming ``what`` with its last error line."""
        done = self.run(command, sudo=sudo, stdin=stdin)
        if done.returncode != 0:
            raise error_from_output(done, what)
        return done.stdout.decode(errors="replace")

    def upload_dir(self, local: Path, remote_dir: str) -> None:
        """Copy a folder's contents to ``remote_dir`` (made; replaced if a half-copy was left) with tar over ssh."""
        with subprocess.Popen(["tar", "-C", str(local), "-cf", "-", "."], stdout=subprocess.PIPE) as tar:
            assert tar.stdout is not None  # stdout=PIPE
            data = tar.stdout.read()
        q = shlex.quote(remote_dir)
        self.check(
            f"rm -rf {q} && mkdir -p {q} && tar -C {q} -xf -",
            f"copying the bundle to {remote_dir}",
            sudo=True,
            stdin=data,
        )


def error_from_output(done: subprocess.CompletedProcess, what: str) -> DeployError:
    """A DeployError from a failed command: its own ``error:``/``hint:`` lines when it printed them."""
    text = (done.stderr or b"").decode(errors="replace") + (done.stdout or b"").decode(errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line[len("error:") :].strip() for line in lines if line.startswith("error:")]
    hints = [line[len("hint:") :].strip() for line in lines if line.startswith("hint:")]
    if errors:
        return DeployError(errors[-1], hint=hints[-1] if hints else "")
    if any("sudo:" in line and "password" in line for line in lines):
        return DeployError(f"{what}: sudo asks for a password", hint="deploy as root, or allow passwordless sudo")
    return DeployError(f"{what} failed: {lines[-1] if lines else f'exit status {done.returncode}'}")
