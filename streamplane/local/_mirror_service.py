"""MirrorMaker 2 as supervised services: one per replication flow of the spec.

Each flow runs as ``streamplane replicate run SOURCE TARGET SPEC``, a small supervisor
process (pid file, log, status file) that starts MM2's JVM (dedicated mode,
``org.apache.kafka.connect.mirror.MirrorMaker``) and starts it again whenever it dies
(a kill -9, an out-of-memory exit), with back-off. Everything lives under
``<data dir>/replication/<source>-<target>/``: ``mm2.properties`` (0600: it holds MM2's
passwords), ``mm2.log`` (MM2's own log), ``supervisor.log`` and ``status.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamplane.local._process import MIRROR_TAG, SERVICE_TAG
from streamplane.local._services import StatusFileServiceProcess

__all__ = ["MIRROR_TAG", "MirrorProcess", "mirror_processes", "replication_home"]


def replication_home(root: Path) -> Path:
    return root / "replication"


class MirrorProcess(StatusFileServiceProcess):
    """The supervisor of one flow (``streamplane replicate run``)."""

    stop_timeout_s = 30.0

    def __init__(self, root: Path, source: str, target: str, spec: Path | None = None) -> None:
        self.root = root
        self.source = source
        self.target = target
        self.spec = spec
        self.name = f"mm2 {source}->{target}"
        self.label = f"MirrorMaker 2 for {source}->{target}"
        self.home = replication_home(root) / f"{source}-{target}"
        self.pid_file = self.home / "supervisor.pid"
        self.log_file = self.home / "supervisor.log"
        self.status_file = self.home / "status.json"
        self.config_file = self.home / "mm2.properties"
        self.mm2_log = self.home / "mm2.log"

    def not_ready(self, timeout_s: float) -> str:
        return f"{self.label} did not start MM2 within {timeout_s:.0f}s (log {self.mm2_log})"

    def start(self, *, timeout_s: float = 60.0) -> None:
        if self.process() is not None:
            return
        assert self.spec is not None, "starting a flow needs its spec"
        self.home.mkdir(parents=True, exist_ok=True)
        self.status_file.unlink(missing_ok=True)
        cmd = [
            sys.executable, "-m", "streamplane", "replicate", "run", self.source, self.target,
            str(self.spec.resolve()), f"{SERVICE_TAG}{self.root.resolve()}",
        ]  # fmt: skip
        (self.home / "pair").write_text(f"{self.source} {self.target}\n")
        self._launch(cmd, timeout_s=timeout_s)


def mirror_processes(root: Path) -> list[MirrorProcess]:
    """Every flow this data directory has run (running or not), by its folder: each one
    ``start`` made holds a ``pair`` file naming its clusters (names may hold "-")."""
    home = replication_home(root)
    if not home.is_dir():
        return []
    found = []
    for path in sorted(home.iterdir()):
        if (path / "pair").is_file():
            source, target = (path / "pair").read_text().split()
            found.append(MirrorProcess(root, source, target))
    return found
