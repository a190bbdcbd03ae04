"""The CLI end to end: up, status --json, kill-node, start-node, down, as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from streamplane.local import tagged_node_processes
from tests.conftest import TEST_ROOT


def _sp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamplane", *args],
        capture_output=True, text=True, cwd=cwd, timeout=180, env=dict(os.environ),
    )  # fmt: skip


def test_cli_lifecycle_of_a_one_node_cluster(cluster_root: Path, next_port_offset: int) -> None:
    assert cluster_root.is_relative_to(TEST_ROOT)
    data = ["--data-dir", str(cluster_root / "data")]
    try:
        up = _sp("up", *data, "--port-offset", str(next_port_offset), cwd=cluster_root)
        assert up.returncode == 0, up.stderr
        assert "ready 1 node(s)" in up.stdout

        status = json.loads(_sp("status", *data, "--json", cwd=cluster_root).stdout)
        node = status["nodes"][0]
        assert status["ready"] is True and status["controller_leader"] == 1
        assert node["client_port"] == 9092 + next_port_offset and node["rack"] == "rack-1"
        assert node["pid"] > 0
        registry = status["services"][0]
        assert registry["name"] == "registry" and registry["ready"] is True
        assert registry["url"] == f"http://127.0.0.1:{8081 + next_port_offset}"
        secret = json.loads((cluster_root / "data" / "credentials").read_text())["admin_password"]
        assert httpx.get(f"{registry['url']}/subjects", timeout=5).status_code == 401
        listed = httpx.get(f"{registry['url']}/subjects", auth=("admin", secret), timeout=5)
        assert listed.json() == []

        killed = _sp("local", "kill-node", "1", *data, cwd=cluster_root)
        assert killed.returncode == 0 and f"pid {node['pid']}" in killed.stdout
        after_kill = _sp("status", *data, "--json", cwd=cluster_root)
        assert after_kill.returncode == 1  # not ready is a failure for scripts
        assert json.loads(after_kill.stdout)["nodes"][0]["pid"] is None

        assert _sp("local", "start-node", "1", *data, cwd=cluster_root).returncode == 0
        # `up` on the running cluster: nothing to do, success; another size: refused.
        again = _sp("up", *data, cwd=cluster_root)
        assert again.returncode == 0 and "already running 1 node(s)" in again.stdout
        resized = _sp("up", *data, "--nodes", "3", cwd=cluster_root)
        assert resized.returncode == 1 and "holds a 1-node cluster, not 3" in resized.stderr

        props = (cluster_root / "data" / "admin.properties").read_text()
        assert f"bootstrap.servers=127.0.0.1:{9092 + next_port_offset}" in props
        assert "sasl.mechanism=SCRAM-SHA-512" in props and "sasl.username=admin" in props
    finally:
        down = _sp("down", *data, cwd=cluster_root)
    assert down.returncode == 0 and "stopped 1 node(s)" in down.stdout
    assert "stopped the schema registry" in down.stdout
    assert tagged_node_processes(cluster_root) == []
    password = json.loads((cluster_root / "data" / "credentials").read_text())["admin_password"]
    for log in (cluster_root / "data" / "node1" / "logs").iterdir():
        assert password not in log.read_text(errors="replace"), f"admin password leaked into {log}"
