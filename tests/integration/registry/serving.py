"""A registry served in-process over real HTTP on a real cluster, for the registry's tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn

from streamplane.local import LocalCluster
from streamplane.registry import ElectionTimeouts, Registry, create_app


@dataclass
class Served:
    registry: Registry
    url: str
    topic: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def serve(
    cluster: LocalCluster, topic: str, port: int, *, timeouts: ElectionTimeouts | None = None
) -> Served:
    """Start a registry on ``topic`` and return once it answers HTTP."""
    registry = Registry(cluster.admin_settings(), topic=topic, timeouts=timeouts)
    config = uvicorn.Config(create_app(registry), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "registry did not start"
    return Served(registry, f"http://127.0.0.1:{port}", topic, server, thread)
