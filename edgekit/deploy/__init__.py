"""Deploying to a Raspberry Pi (or any 64-bit Linux box): `edgekit bundle` and `edgekit deploy`.

- targets.py  the platforms and the runtime pinned for each (numpy 1 on Pi OS bookworm, numpy 2 on trixie)
- bundle.py   a self-contained folder/.tar.gz: models, runtime, install.sh, systemd unit, manifest, wheels
- check.py    the on-device output check (laptop outputs stored in the bundle)
- ssh.py      the OpenSSH client in a subprocess, with its failures turned into clear errors
- service.py  the deploy itself: probe, upload, install, health check, rollback, status/logs/remove
"""
