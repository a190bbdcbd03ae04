"""Debian packages the local runtime installs when a machine lacks them (PostgreSQL,
Prometheus): ``apt-get install``, through ``sudo -n`` when we are not root."""

from __future__ import annotations

import logging
import os
import subprocess

from streamplane.errors import ClusterError

log = logging.getLogger(__name__)


def apt_install(package: str) -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "--no-install-recommends", package]
    log.info("installing %s from the distribution's packages", package)
    result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run([*sudo, "apt-get", "update"], capture_output=True, env=env, check=False)
        result = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise ClusterError(
            f"`{' '.join(install)}` failed (exit {result.returncode}):\n"
            f"{(result.stderr or result.stdout).strip()[-2000:]}"
        )
