"""The web console as a supervised service of a local cluster, started by ``up --spec``.

It runs as ``streamplane console serve SPEC`` on 8080 + the cluster's port offset, beside
the registry; it reads the cluster as its admin and signs users in with their own
credentials. Ready once its sign-in page answers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from streamplane.local._layout import DataDir
from streamplane.local._ports import ensure_ports_free
from streamplane.local._process import SERVICE_TAG
from streamplane.local._services import HttpServiceProcess

CONSOLE_PORT = 8080


class ConsoleProcess(HttpServiceProcess):
    """`streamplane console serve` for one cluster of a spec."""

    name = "console"
    label = "the console"

    def __init__(self, data_dir: DataDir, *, port_offset: int) -> None:
        self.dir = data_dir
        self.port = CONSOLE_PORT + port_offset
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = data_dir.root / "console"
        self.pid_file = self.home / "console.pid"
        self.log_file = self.home / "console.log"

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/login", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def start(
        self,
        spec: Path,
        *,
        cluster: str | None = None,
        spec_data_dir: Path | None = None,
        timeout_s: float = 60.0,
        refresh_s: float | None = None,
    ) -> None:
        """Start unless running; ``spec_data_dir`` is the --data-dir the spec's clusters
        are found under (a spec of several regions), default this cluster's own."""
        if self.process() is not None:
            return
        ensure_ports_free({self.port: "console"})
        cmd = [
            sys.executable, "-m", "streamplane", "console", "serve", str(spec.resolve()),
            "--port", str(self.port), f"{SERVICE_TAG}{self.dir.root}",
        ]  # fmt: skip
        if spec_data_dir is not None and spec_data_dir.resolve() != self.dir.root.resolve():
            cmd += ["--spec-data-dir", str(spec_data_dir.resolve())]
        if cluster is not None:
            cmd += ["--cluster", cluster]
        if refresh_s is not None:
            cmd += ["--refresh", str(refresh_s)]
        self._launch(cmd, timeout_s=timeout_s)
