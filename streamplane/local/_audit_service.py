"""The audit shipper as a supervised service of the local cluster (``audit ship``).

Started by ``up`` after the nodes (it writes to Kafka), stopped by ``down`` before them.
Ready once it has written its status file: it has read its committed positions back and
made one pass over the nodes' authorization logs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from streamplane.errors import NodeStartError
from streamplane.local._layout import DataDir
from streamplane.local._process import (
    SERVICE_TAG,
    launch,
    running_process,
    stop_processes,
    tail,
    write_pid_file,
)
from streamplane.local._services import ServiceStatus


class AuditShipperProcess:
    name = "audit"

    def __init__(self, data_dir: DataDir) -> None:
        self.dir = data_dir
        self.home = data_dir.root / "audit"
        self.pid_file = self.home / "shipper.pid"
        self.log_file = self.home / "shipper.log"
        self.status_file: Path = self.home / "shipper.json"

    def process(self) -> psutil.Process | None:
        return running_process(self.pid_file)

    def status_data(self) -> dict[str, Any] | None:
        """The shipper's last status (positions, lag, events shipped), if any."""
        try:
            data: dict[str, Any] = json.loads(self.status_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data

    def start(self, *, timeout_s: float = 60.0) -> None:
        if self.process() is not None:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self.status_file.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "streamplane",
            "audit",
            "ship",
            f"{SERVICE_TAG}{self.dir.root}",
        ]
        proc = launch(cmd, console=self.log_file, cwd=self.home)
        write_pid_file(self.pid_file, proc)
        deadline = time.monotonic() + timeout_s
        while self.status_data() is None:
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                self.pid_file.unlink(missing_ok=True)
                raise NodeStartError(
                    f"the audit shipper exited during start-up; its log is {self.log_file}",
                    node_id=0,
                    log_tail=tail(self.log_file),
                )
            if time.monotonic() > deadline:
                self.stop()
                raise NodeStartError(
                    f"the audit shipper made no pass within {timeout_s:.0f}s",
                    node_id=0,
                    log_tail=tail(self.log_file),
                )
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests of its exactly-once promise)."""
        proc = self.process()
        if proc is not None:
            proc.kill()
            psutil.wait_procs([proc], timeout=10)
        self.pid_file.unlink(missing_ok=True)

    def stop(self, *, timeout_s: float = 15.0) -> bool:
        proc = self.process()
        if proc is None:
            return False
        stop_processes([proc], timeout_s=timeout_s)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> ServiceStatus:
        proc = self.process()
        return ServiceStatus(
            self.name, str(self.status_file), proc.pid if proc else None, bool(proc)
        )
