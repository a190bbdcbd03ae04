"""The local cluster's reachability: pid files first, then the network probe."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import psutil
import pytest

from streamplane.errors import ClusterUnreachableError
from streamplane.kafka import ConnectionSettings
from streamplane.local import ClusterState, DataDir, require_local_cluster, start_command
from streamplane.local._process import write_pid_file


@pytest.fixture
def closed_bootstrap() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _formatted(root: Path, nodes: int) -> DataDir:
    layout = DataDir(root)
    layout.write_state(ClusterState("id", nodes, 0, "4.4.0"))
    for node in range(1, nodes + 1):
        layout.node_dir(node).mkdir(parents=True)
    return layout


def test_a_stopped_cluster_is_known_from_its_pid_files_without_the_network(
    tmp_path: Path,
) -> None:
    _formatted(tmp_path / "data", 3)
    # A bootstrap that would take the whole probe to fail: it is never tried.
    settings = ConnectionSettings("10.255.255.1:9092", username="admin", password="x")
    started = time.monotonic()
    with pytest.raises(ClusterUnreachableError) as raised:
        require_local_cluster(tmp_path / "data", settings, cluster="cluster local")
    assert time.monotonic() - started < 0.5
    assert str(raised.value) == (
        f"cluster local (10.255.255.1:9092) is not running: no node process of "
        f"{tmp_path / 'data'} is alive; start it with `streamplane up --nodes 3 --data-dir "
        f"{tmp_path / 'data'}`"
    )


def test_a_running_node_that_does_not_answer_points_to_status(
    tmp_path: Path, closed_bootstrap: str
) -> None:
    layout = _formatted(tmp_path / "data", 1)
    write_pid_file(layout.node_pid_file(1), psutil.Process(os.getpid()))  # alive: this test
    settings = ConnectionSettings(closed_bootstrap, username="admin", password="x")
    with pytest.raises(ClusterUnreachableError) as raised:
        require_local_cluster(tmp_path / "data", settings)
    assert str(raised.value) == (
        f"the local cluster in {tmp_path / 'data'} ({closed_bootstrap}) refuses connections: "
        f"no broker is listening there; node(s) 1 run but do not answer; `streamplane status "
        f"--data-dir {tmp_path / 'data'}` shows why"
    )


def test_the_start_command_is_the_one_that_starts_this_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert start_command(Path(".streamplane")) == "streamplane up"
    assert start_command(tmp_path / "other", nodes=3) == "streamplane up --nodes 3 --data-dir other"
