"""Platform services the local runtime supervises beside the Kafka nodes.

Each runs as a detached process of its own, like a node: a pid file with the
process start time, a log file, readiness checked over its real interface, and
SIGTERM-then-SIGKILL on stop. Services are secure by default like the cluster: the
registry requires HTTP basic auth with the cluster's SCRAM principals (its readiness
probe logs in as ``admin``) and audits every write to ``registry/audit.log``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from streamplane.errors import NodeStartError
from streamplane.local._layout import ADMIN_USER, DataDir
from streamplane.local._ports import ensure_ports_free
from streamplane.local._process import (
    SERVICE_TAG,
    launch,
    running_process,
    stop_processes,
    tail,
    write_pid_file,
)

REGISTRY_PORT = 8081


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str
    pid: int | None
    ready: bool


class ServiceProcess:
    """One supervised service process: pid file, log, start-and-wait, stop.

    Subclasses set ``name``, ``label`` (for messages), ``home``, ``pid_file``, ``log_file``,
    say what ready means (``ready``, ``not_ready``) and start with ``_launch(cmd)``.
    """

    name: str
    label: str
    home: Path
    pid_file: Path
    log_file: Path
    #: How often start-up polls ``ready``, and how long ``stop`` waits before SIGKILL.
    poll_s = 0.2
    stop_timeout_s = 15.0

    def process(self) -> psutil.Process | None:
        return running_process(self.pid_file)

    def ready(self) -> bool:
        raise NotImplementedError

    def not_ready(self, timeout_s: float) -> str:
        """What to say when it started but is not ready in time."""
        raise NotImplementedError

    def _launch(self, cmd: list[str], *, timeout_s: float) -> None:
        """Launch ``cmd`` detached; return once ready, or stop it and fail with its log."""
        self.home.mkdir(parents=True, exist_ok=True)
        proc = launch(cmd, console=self.log_file, cwd=self.home)
        write_pid_file(self.pid_file, proc)
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                self.pid_file.unlink(missing_ok=True)
                raise NodeStartError(
                    f"{self.label} exited during start-up; its log is {self.log_file}",
                    node_id=0,
                    log_tail=tail(self.log_file),
                )
            if time.monotonic() > deadline:
                self.stop()
                raise NodeStartError(
                    self.not_ready(timeout_s), node_id=0, log_tail=tail(self.log_file)
                )
            time.sleep(self.poll_s)

    def stop(self, *, timeout_s: float | None = None) -> bool:
        """Stop it if running; True if it was."""
        proc = self.process()
        if proc is None:
            return False
        stop_processes([proc], timeout_s=self.stop_timeout_s if timeout_s is None else timeout_s)
        self.pid_file.unlink(missing_ok=True)
        return True


class StatusFileServiceProcess(ServiceProcess):
    """A service without an HTTP interface: ready once it has written its status file."""

    status_file: Path

    def status_data(self) -> dict[str, Any] | None:
        """The service's last status, if it wrote one."""
        try:
            data: dict[str, Any] = json.loads(self.status_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data

    def ready(self) -> bool:
        return self.status_data() is not None

    def status(self) -> ServiceStatus:
        proc = self.process()
        return ServiceStatus(
            self.name, str(self.status_file), proc.pid if proc else None, bool(proc)
        )


class HttpServiceProcess(ServiceProcess):
    """A service with an HTTP interface on ``url``: its status shows whether it answers."""

    url: str

    def not_ready(self, timeout_s: float) -> str:
        return f"{self.label} did not answer on {self.url} within {timeout_s:.0f}s"

    def status(self) -> ServiceStatus:
        proc = self.process()
        return ServiceStatus(
            self.name, self.url, proc.pid if proc else None, bool(proc and self.ready())
        )


class RegistryProcess(HttpServiceProcess):
    """`streamplane registry serve` for one local cluster, on 8081 + the cluster's port offset."""

    name = "registry"
    label = "the schema registry"

    def __init__(self, data_dir: DataDir, *, port_offset: int) -> None:
        self.dir = data_dir
        self.port = REGISTRY_PORT + port_offset
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = data_dir.root / "registry"
        self.pid_file = self.home / "registry.pid"
        self.log_file = self.home / "registry.log"
        self.audit_log: Path = self.home / "audit.log"

    def _admin_auth(self) -> tuple[str, str] | None:
        creds = self.dir.read_credentials()
        return (ADMIN_USER, creds.admin_password) if creds else None

    def ready(self) -> bool:
        try:
            answer = httpx.get(f"{self.url}/subjects", auth=self._admin_auth(), timeout=5)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Start unless running; return once it serves requests, or fail with its log."""
        if self.process() is not None:
            return
        ensure_ports_free({self.port: "schema registry"})
        cmd = [
            sys.executable, "-m", "streamplane", "registry", "serve",
            "--port", str(self.port), f"{SERVICE_TAG}{self.dir.root}",
            "--advertised-url", self.url, "--auth", "--audit-log", str(self.audit_log),
        ]  # fmt: skip
        self._launch(cmd, timeout_s=timeout_s)
