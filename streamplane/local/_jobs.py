"""The spec's jobs as supervised services of the local cluster: one masking job per twin.

``up --spec DIR`` starts them after ``apply`` made their topics, principals and ACLs;
``down`` stops them before the nodes. Each is a ``streamplane mask run`` process with a
pid file, a log and a status file under ``<data dir>/jobs/mask-<topic>/``; it is ready
once it wrote its first status (it joined its group and made its first transaction
step).
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamplane.local._layout import DataDir
from streamplane.local._process import SERVICE_TAG
from streamplane.local._services import StatusFileServiceProcess


class MaskingJobProcess(StatusFileServiceProcess):
    """``streamplane mask run TOPIC SPEC`` for one raw topic."""

    def __init__(self, data_dir: DataDir, topic: str, spec: Path | None = None) -> None:
        self.dir = data_dir
        self.topic = topic
        self.spec = spec
        self.name = f"mask {topic}"
        self.label = f"the masking job of {topic}"
        self.home = jobs_home(data_dir) / f"mask-{topic}"
        self.pid_file = self.home / "job.pid"
        self.log_file = self.home / "job.log"
        self.status_file = self.home / "status.json"

    def not_ready(self, timeout_s: float) -> str:
        return f"{self.label} wrote no status within {timeout_s:.0f}s"

    def start(self, *, timeout_s: float = 60.0) -> None:
        if self.process() is not None:
            return
        assert self.spec is not None, "starting a job needs its spec"
        self.home.mkdir(parents=True, exist_ok=True)
        self.status_file.unlink(missing_ok=True)
        cmd = [
            sys.executable, "-m", "streamplane", "mask", "run", self.topic,
            str(self.spec.resolve()), "--status-file", str(self.status_file),
            f"{SERVICE_TAG}{self.dir.root}",
        ]  # fmt: skip
        self._launch(cmd, timeout_s=timeout_s)


def jobs_home(data_dir: DataDir) -> Path:
    return data_dir.root / "jobs"


def masking_jobs(data_dir: DataDir) -> list[MaskingJobProcess]:
    """Every masking job this data directory has run (running or not), by its folder."""
    home = jobs_home(data_dir)
    if not home.is_dir():
        return []
    return [
        MaskingJobProcess(data_dir, path.name.removeprefix("mask-"))
        for path in sorted(home.glob("mask-*"))
        if path.is_dir()
    ]
