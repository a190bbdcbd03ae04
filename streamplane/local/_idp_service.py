"""The local OIDC issuer as a supervised service of the local cluster.

It runs beside the nodes like the schema registry (pid file, log, readiness over its real
interface: the discovery document), but it starts *before* them and stops after them: a
broker fetches the issuer's JWKS while it starts, to validate OAUTHBEARER tokens.
"""

from __future__ import annotations

import sys
import time

import httpx
import psutil

from streamplane.errors import NodeStartError
from streamplane.local._layout import IDP_PORT_BASE, DataDir, idp_url
from streamplane.local._ports import ensure_ports_free
from streamplane.local._process import (
    SERVICE_TAG,
    launch,
    running_process,
    stop_processes,
    tail,
    write_pid_file,
)
from streamplane.local._services import ServiceStatus


class IdpProcess:
    """`streamplane idp serve` for one local cluster, on 8085 + the cluster's port offset."""

    name = "idp"

    def __init__(self, data_dir: DataDir, *, port_offset: int) -> None:
        self.dir = data_dir
        self.port = IDP_PORT_BASE + port_offset
        self.url = idp_url(port_offset)
        self.home = data_dir.idp
        self.pid_file = self.home / "idp.pid"
        self.log_file = self.home / "idp.log"

    def process(self) -> psutil.Process | None:
        return running_process(self.pid_file)

    def ready(self) -> bool:
        try:
            answer = httpx.get(f"{self.url}/jwks", timeout=3)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and bool(answer.json().get("keys"))

    def start(self, *, timeout_s: float = 30.0) -> None:
        """Start unless running; return once it serves its JWKS, or fail with its log."""
        if self.process() is not None:
            return
        ensure_ports_free({self.port: "OIDC issuer"})
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "streamplane", "idp", "serve", "--port", str(self.port),
            "--issuer", self.url, f"{SERVICE_TAG}{self.dir.root}",
        ]  # fmt: skip
        proc = launch(cmd, console=self.log_file, cwd=self.home)
        write_pid_file(self.pid_file, proc)
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                self.pid_file.unlink(missing_ok=True)
                raise NodeStartError(
                    f"the OIDC issuer exited during start-up; its log is {self.log_file}",
                    node_id=0,
                    log_tail=tail(self.log_file),
                )
            if time.monotonic() > deadline:
                self.stop()
                raise NodeStartError(
                    f"the OIDC issuer did not answer on {self.url} within {timeout_s:.0f}s",
                    node_id=0,
                    log_tail=tail(self.log_file),
                )
            time.sleep(0.1)

    def stop(self, *, timeout_s: float = 10.0) -> bool:
        proc = self.process()
        if proc is None:
            return False
        stop_processes([proc], timeout_s=timeout_s)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> ServiceStatus:
        proc = self.process()
        return ServiceStatus(
            self.name, self.url, proc.pid if proc else None, bool(proc and self.ready())
        )
