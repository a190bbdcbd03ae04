"""``streamplane status`` shows the partitions a lost node leaves under-replicated or offline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.kafka import ClusterInspector
from streamplane.local import LocalCluster
from tests.integration.cli.conftest import cli, cli_json


def wait_for(check: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} not seen within {timeout_s:.0f}s"
        time.sleep(0.5)


def test_status_lists_under_replicated_and_offline_partitions_of_a_stopped_node(
    cluster3: LocalCluster, topic_name: str
) -> None:
    replicated, single = f"{topic_name}-rf3", f"{topic_name}-rf1"
    admin = AdminClient(cluster3.admin_settings().librdkafka())
    futures = admin.create_topics(
        [
            NewTopic(replicated, 1, 3),
            # One replica per partition, partition N on node N+1: exactly one goes offline.
            NewTopic(single, 3, replica_assignment=[[1], [2], [3]]),
        ],
        operation_timeout=30,
    )
    for future in futures.values():
        future.result(timeout=60)
    before = cli_json(cluster3, "status")
    assert before["partitions"] == {"under_replicated": [], "offline": []}
    # Stop a node that does not lead the KRaft quorum: no election to wait through.
    node = next(n for n in (3, 2, 1) if n != before["controller_leader"])

    cluster3.kill_node(node, graceful=True)
    try:

        def unhealthy() -> Any:
            status = cli_json(cluster3, "status", exit_code=1)  # a stopped node: not ready
            parts = status["partitions"]
            mine = [p for p in parts["under_replicated"] if p["topic"] == replicated]
            return parts if mine and parts["offline"] else None

        parts = wait_for(unhealthy, timeout_s=60, what=f"node {node}'s partitions degraded")
        (under,) = [p for p in parts["under_replicated"] if p["topic"] == replicated]
        assert node in under["replicas"] and node not in under["isr"]
        assert len(under["isr"]) == 2 and under["leader"] != node
        offline = [p for p in parts["offline"] if p["topic"] == single]
        assert offline == [
            {"topic": single, "partition": node - 1, "leader": None, "replicas": [node],
             "isr": offline[0]["isr"], "offline": True, "under_replicated": False},
        ]  # fmt: skip

        text = cli(cluster3, "status", exit_code=1)
        assert f"under-replicated {replicated}[0]" in text
        assert f"offline {single}[{node - 1}]  leader none  replicas {node}" in text
    finally:
        cluster3.start_node(node)
        # Leave the shared cluster as it was: every replica back in sync.
        inspector = ClusterInspector(cluster3.admin_settings(), timeout_s=10)
        wait_for(
            lambda: not inspector.unhealthy_partitions(), timeout_s=90, what="replicas in sync"
        )
    after = cli_json(cluster3, "status")
    assert after["partitions"] == {"under_replicated": [], "offline": []}
