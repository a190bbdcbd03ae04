"""The audit shipper as a supervised service of the local cluster (``audit ship``).

Started by ``up`` after the nodes (it writes to Kafka), stopped by ``down`` before them.
Ready once it has written its status file: it has read its committed positions back and
made one pass over the nodes' authorization logs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

from streamplane.local._layout import DataDir
from streamplane.local._process import SERVICE_TAG
from streamplane.local._services import StatusFileServiceProcess


class AuditShipperProcess(StatusFileServiceProcess):
    name = "audit"
    label = "the audit shipper"

    def __init__(self, data_dir: DataDir) -> None:
        self.dir = data_dir
        self.home = data_dir.root / "audit"
        self.pid_file = self.home / "shipper.pid"
        self.log_file = self.home / "shipper.log"
        self.status_file: Path = self.home / "shipper.json"

    def not_ready(self, timeout_s: float) -> str:
        return f"{self.label} made no pass within {timeout_s:.0f}s"

    def start(self, *, timeout_s: float = 60.0) -> None:
        if self.process() is not None:
            return
        self.status_file.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "streamplane",
            "audit",
            "ship",
            f"{SERVICE_TAG}{self.dir.root}",
        ]
        self._launch(cmd, timeout_s=timeout_s)

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests of its exactly-once promise)."""
        proc = self.process()
        if proc is not None:
            proc.kill()
            psutil.wait_procs([proc], timeout=10)
        self.pid_file.unlink(missing_ok=True)
