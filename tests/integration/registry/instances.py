"""Registry instances for the multi-instance tests: in this process, or as real processes.

In-process instances start fast and expose their ``Registry``; a process is needed
where a test kills the writer with SIGKILL, as a crash would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from streamplane.local import LocalCluster
from streamplane.registry import AppOptions, Registry, create_app

AuthPair = tuple[str, str] | None


def wait_for(predicate: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll a condition until it holds; fail with ``what`` when the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f}s waiting for {what}"
        time.sleep(0.1)


def status(url: str, auth: AuthPair = None) -> dict[str, Any] | None:
    try:
        answer = httpx.get(f"{url}/streamplane/status", auth=auth, timeout=5)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


@dataclass
class InProcess:
    registry: Registry
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def serve_in_process(
    cluster: LocalCluster,
    *,
    topic: str,
    port: int,
    options: AppOptions | None = None,
    advertised_url: str | None = None,
) -> InProcess:
    url = f"http://127.0.0.1:{port}"
    registry = Registry(cluster.admin_settings(), topic=topic, advertised_url=advertised_url or url)
    app = create_app(registry, options)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout_s=90, what=f"{url} to start")
    assert server.started, f"the registry on {url} did not start"
    return InProcess(registry, url, server, thread)


@dataclass
class RegistryProcess:
    """``python -m streamplane registry serve`` as a child process of the test."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    audit_log: Path
    args: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no leaving the group, an open transaction left behind."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def start_process(
    cluster: LocalCluster,
    *,
    topic: str,
    port: int,
    workdir: Path,
    auth: AuthPair = None,
    extra: tuple[str, ...] = (),
) -> RegistryProcess:
    """Start an instance and return once it answers (its replay of ``topic`` is done)."""
    url = f"http://127.0.0.1:{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    log, audit = workdir / f"registry-{port}.log", workdir / f"audit-{port}.log"
    args = [
        sys.executable, "-m", "streamplane", "registry", "serve", "--port", str(port),
        f"--data-dir={cluster.dir.root}", "--topic", topic, "--audit-log", str(audit), *extra,
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    instance = RegistryProcess(url, proc, log, audit, args)
    try:
        wait_for(
            lambda: not instance.alive() or status(url, auth) is not None,
            timeout_s=120,
            what=f"{url} to answer",
        )
    except AssertionError:
        instance.kill()
        raise AssertionError(f"{url} did not start:\n{instance.log_tail()}") from None
    assert instance.alive(), f"{url} exited during start-up:\n{instance.log_tail()}"
    return instance
