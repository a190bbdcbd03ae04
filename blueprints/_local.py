"""A blueprint on a local cluster of its own: ``streamplane up`` and ``apply`` of its spec,
its parts as processes (``python -m blueprints.<name> …``, so a kill -9 kills a real
instance), their logs, and waiting for what they report. The blueprints' ``make``
targets, integration tests and benchmarks all go through a subclass of this."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from streamplane.model import load_spec

REPO = Path(__file__).resolve().parents[1]


class LocalBlueprint:
    """The blueprint's estate in ``data_dir`` on ports shifted by ``port_offset``."""

    #: The blueprint's package, run with ``python -m``.
    module: str

    def __init__(
        self, data_dir: Path, *, port_offset: int, spec_dir: Path, tiered: bool = False
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port_offset = port_offset
        self.spec_dir = spec_dir
        self.tiered = tiered
        self.spec = load_spec(spec_dir)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _streamplane(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "streamplane", *args, "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"streamplane {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def up(self) -> None:
        """Start the cluster (its registry, no audit shipper or canary) and apply the spec."""
        self._streamplane(
            "up", "--port-offset", str(self.port_offset), "--no-audit", "--no-canary",
            *(["--tiered"] if self.tiered else []),
        )  # fmt: skip
        self._streamplane("apply", str(self.spec_dir), "--auto-approve")

    def down(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        self._streamplane("down")

    # ------------------------------------------------------------------ processes
    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """``python -m <module> --spec … --data-dir … ARGS`` with its log in the data dir."""
        logs = self.data_dir / "blueprint"
        logs.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-m", self.module, "--spec", str(self.spec_dir),
             "--data-dir", str(self.data_dir), *args],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=(logs / f"{name}.log").open("ab"),
        )  # fmt: skip
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.data_dir / "blueprint" / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def kill(self, name: str) -> None:
        """kill -9: no commit, no revocation, no checkpoint."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(10)

    def wait(
        self,
        check: Callable[[], bool],
        what: str,
        *,
        timeout_s: float = 60.0,
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        """Until ``check()``; fails early, with its log, if ``process`` exits meanwhile."""
        deadline = time.monotonic() + timeout_s
        while not check():
            if process is not None and process.poll() is not None:
                name = next((n for n, p in self.processes.items() if p is process), "process")
                raise RuntimeError(f"{name} exited while waiting for {what}:\n{self.log(name)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout_s:.0f}s")
            time.sleep(0.1)
