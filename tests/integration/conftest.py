"""Integration tier: real Kafka clusters started through ``streamplane.local``.

Ports: the session clusters add 20000 / 20200 to the default ports so a
developer's own ``make up`` cluster (9092...) keeps running; tests that build
their own short-lived cluster take offsets from ``next_port_offset``.
``STREAMPLANE_TEST_PORT_SHIFT`` moves every port of a run (e.g. -10000 or 32000), so two
runs can share a machine; keep the result outside the ephemeral range 32768-60999.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster, open_cluster
from tests.conftest import TEST_ROOT

PORT_SHIFT = int(os.environ.get("STREAMPLANE_TEST_PORT_SHIFT", "0"))
SESSION_1_OFFSET = 20000 + PORT_SHIFT
#: A cluster's mTLS listener sits 100 ports above its SASL listener, so two clusters that
#: run at the same time never have offsets 95-104 apart.
SESSION_3_OFFSET = 20200 + PORT_SHIFT
#: Short-lived clusters (one test each, so one at a time) cycle through ten offsets.
_offsets = itertools.cycle(range(20400 + PORT_SHIFT, 22400 + PORT_SHIFT, 200))
#: HTTP ports for services a test serves itself (registries), 27081 upwards: clear of the
#: clusters' own registry (8081 + offset) and OIDC issuer (8085 + offset).
_http_ports = itertools.count(27081 + PORT_SHIFT)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


def next_http_port() -> int:
    """An HTTP port no other service of this run uses."""
    return next(_http_ports)


@pytest.fixture
def next_port_offset() -> int:
    """A port offset no other cluster of this run uses."""
    return next(_offsets)


def _session_cluster(name: str, *, nodes: int, offset: int) -> Iterator[LocalCluster]:
    cluster = open_cluster(TEST_ROOT / name)
    cluster.up(nodes=nodes, port_offset=offset)
    try:
        yield cluster
    finally:
        cluster.down(timeout_s=20)


@pytest.fixture(scope="session")
def cluster1() -> Iterator[LocalCluster]:
    """A 1-node cluster shared by the session."""
    yield from _session_cluster("session-1node", nodes=1, offset=SESSION_1_OFFSET)


@pytest.fixture(scope="session")
def cluster3() -> Iterator[LocalCluster]:
    """A 3-node cluster (RF 3, min ISR 2) shared by the session."""
    yield from _session_cluster("session-3node", nodes=3, offset=SESSION_3_OFFSET)


@pytest.fixture
def own_cluster(cluster_root: Path) -> Iterator[LocalCluster]:
    """An unstarted cluster in a directory of its own; stopped after the test whatever happened."""
    cluster = open_cluster(cluster_root / "data")
    try:
        yield cluster
    finally:
        cluster.down(timeout_s=10)


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name unique to this test and run."""
    return f"t-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")


def create_topic(
    settings: ConnectionSettings,
    name: str,
    *,
    partitions: int = 1,
    replication_factor: int = -1,
    config: dict[str, str] | None = None,
) -> None:
    """Create a topic with the admin client and wait for the result."""
    admin = AdminClient(settings.librdkafka())
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication_factor, config=config or {})],
        operation_timeout=30,
    )
    futures[name].result(timeout=60)
