"""The local OIDC issuer as a supervised service of the local cluster.

It runs beside the nodes like the schema registry (pid file, log, readiness over its real
interface: its JWKS), but it starts *before* them and stops after them: a broker fetches
the issuer's JWKS while it starts, to validate OAUTHBEARER tokens.
"""

from __future__ import annotations

import sys

import httpx

from streamplane.local._layout import IDP_PORT_BASE, DataDir, idp_url
from streamplane.local._ports import ensure_ports_free
from streamplane.local._process import SERVICE_TAG
from streamplane.local._services import HttpServiceProcess


class IdpProcess(HttpServiceProcess):
    """`streamplane idp serve` for one local cluster, on 8085 + the cluster's port offset."""

    name = "idp"
    label = "the OIDC issuer"
    poll_s = 0.1
    stop_timeout_s = 10.0

    def __init__(self, data_dir: DataDir, *, port_offset: int) -> None:
        self.dir = data_dir
        self.port = IDP_PORT_BASE + port_offset
        self.url = idp_url(port_offset)
        self.home = data_dir.idp
        self.pid_file = self.home / "idp.pid"
        self.log_file = self.home / "idp.log"

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
        cmd = [
            sys.executable, "-m", "streamplane", "idp", "serve", "--port", str(self.port),
            "--issuer", self.url, f"{SERVICE_TAG}{self.dir.root}",
        ]  # fmt: skip
        self._launch(cmd, timeout_s=timeout_s)
