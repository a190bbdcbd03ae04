"""Waiting for the audit shipper: until it has shipped every line written so far."""

from __future__ import annotations

import os
import time

from streamplane.local import LocalCluster
from streamplane.local._audit_service import AuditShipperProcess


def log_sizes(cluster: LocalCluster) -> dict[int, tuple[int, int]]:
    """node -> (inode, size) of its current authorization log, now."""
    sizes = {}
    for node in cluster.require_state().node_ids():
        path = cluster.dir.node_logs(node) / "kafka-authorizer.log"
        stat = os.stat(path)
        sizes[node] = (stat.st_ino, stat.st_size)
    return sizes


def wait_caught_up(
    cluster: LocalCluster, shipper: AuditShipperProcess, *, timeout_s: float = 120.0
) -> dict[int, tuple[int, int]]:
    """Return once the shipper's positions reach the logs' sizes measured on entry."""
    target = log_sizes(cluster)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = shipper.status_data() or {}
        positions = status.get("positions", {})
        if all(
            str(node) in positions
            and positions[str(node)]["inode"] == inode
            and positions[str(node)]["offset"] >= size
            for node, (inode, size) in target.items()
        ):
            return target
        time.sleep(0.2)
    raise AssertionError(f"the audit shipper did not catch up with {target}: {status}")
