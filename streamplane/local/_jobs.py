"""The spec's jobs as supervised services of the local cluster: one masking job per twin,
one lake sink per topic with ``lake:``.

``up --spec DIR`` starts them after ``apply`` made their topics, principals and ACLs;
``down`` stops them before the nodes. Each is a ``streamplane mask run`` (or ``lake run``)
process with a pid file, a log and a status file under ``<data dir>/jobs/mask-<topic>/``
(``lake-<topic>/``); it is ready once it wrote its first status (a masking job: it joined
its group and made its first transaction step; a sink: it read its spec and connected).
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamplane.local._layout import DataDir
from streamplane.local._process import SERVICE_TAG
from streamplane.local._services import StatusFileServiceProcess


class SpecJobProcess(StatusFileServiceProcess):
    """A job of one topic of the spec: a ``streamplane`` command with a status file, under
    ``<data dir>/jobs/<prefix>-<topic>/``; ready once it wrote its first status."""

    prefix: str
    what: str

    def __init__(self, data_dir: DataDir, topic: str, spec: Path | None = None) -> None:
        self.dir = data_dir
        self.topic = topic
        self.spec = spec
        self.name = f"{self.prefix} {topic}"
        self.label = f"the {self.what} of {topic}"
        self.home = jobs_home(data_dir) / f"{self.prefix}-{topic}"
        self.pid_file = self.home / "job.pid"
        self.log_file = self.home / "job.log"
        self.status_file = self.home / "status.json"

    def not_ready(self, timeout_s: float) -> str:
        return f"{self.label} wrote no status within {timeout_s:.0f}s"

    def command(self, spec: Path) -> list[str]:
        """The ``streamplane`` arguments that run the job."""
        raise NotImplementedError

    def start(self, *, timeout_s: float = 60.0) -> None:
        if self.process() is not None:
            return
        assert self.spec is not None, "starting a job needs its spec"
        self.home.mkdir(parents=True, exist_ok=True)
        self.status_file.unlink(missing_ok=True)
        cmd = [
            sys.executable, "-m", "streamplane", *self.command(self.spec.resolve()),
            "--status-file", str(self.status_file), f"{SERVICE_TAG}{self.dir.root}",
        ]  # fmt: skip
        self._launch(cmd, timeout_s=timeout_s)


class MaskingJobProcess(SpecJobProcess):
    """``streamplane mask run TOPIC SPEC`` for one raw topic."""

    prefix = "mask"
    what = "masking job"

    def command(self, spec: Path) -> list[str]:
        return ["mask", "run", self.topic, str(spec)]


class LakeSinkProcess(SpecJobProcess):
    """``streamplane lake run TOPIC SPEC``: one topic into its Iceberg table."""

    prefix = "lake"
    what = "lake sink"

    def command(self, spec: Path) -> list[str]:
        return ["lake", "run", self.topic, str(spec), "--data-dir", str(self.dir.root)]


def jobs_home(data_dir: DataDir) -> Path:
    return data_dir.root / "jobs"


def masking_jobs(data_dir: DataDir) -> list[SpecJobProcess]:
    """Every job this data directory has run (running or not), by its folder: masking jobs
    and lake sinks."""
    home = jobs_home(data_dir)
    if not home.is_dir():
        return []
    found: list[SpecJobProcess] = []
    for path in sorted(home.iterdir()):
        if path.is_dir() and path.name.startswith("mask-"):
            found.append(MaskingJobProcess(data_dir, path.name.removeprefix("mask-")))
        elif path.is_dir() and path.name.startswith("lake-"):
            found.append(LakeSinkProcess(data_dir, path.name.removeprefix("lake-")))
    return found
