"""Client SDK tests: a real registry over HTTP and a small spec with topics of each test's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from streamplane.client import ClientMetrics, Telemetry
from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from streamplane.model import Spec
from tests.integration.conftest import create_topic, next_http_port
from tests.integration.registry.serving import Served, serve
from tests.unit.client.specs import write_spec


def raw_messages(connection: ConnectionSettings, topic: str, count: int) -> list[Any]:
    """The first ``count`` records of partition 0 as the log holds them (no deserializer)."""
    reader = RawConsumer(connection.librdkafka(**{"group.id": f"raw-{uuid.uuid4().hex[:6]}"}))
    reader.assign([TopicPartition(topic, 0, 0)])
    found: list[Any] = []
    try:
        for _ in range(200):
            message = reader.poll(0.5)
            if message is not None and message.error() is None:
                found.append(message)
            if len(found) >= count:
                break
    finally:
        reader.close()
    return found


@pytest.fixture(scope="session")
def registry(cluster1: LocalCluster) -> Iterator[Served]:
    """One registry for the client tests, on a ``_schemas`` topic of its own."""
    served = serve(cluster1, f"_schemas-client-{uuid.uuid4().hex[:8]}", next_http_port())
    yield served
    served.stop()


@dataclass
class Estate:
    """The test spec, loaded with a tenant prefix unique to the test, and its cluster."""

    spec: Spec
    prefix: str
    connection: ConnectionSettings
    registry_url: str
    metrics_registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def topic(self, name: str) -> str:
        return f"{self.prefix}orders.{name}"

    def create(self, *names: str, partitions: int = 1) -> None:
        for name in names:
            create_topic(self.connection, name, partitions=partitions)

    def telemetry(self, **kwargs: object) -> Telemetry:
        """Metrics on a registry of this test's own (the global one is shared by all)."""
        metrics = ClientMetrics.shared(self.metrics_registry)
        return Telemetry(metrics=metrics, **kwargs)  # type: ignore[arg-type]

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics_registry.get_sample_value(name, labels)

    def end_offsets(self, topic: str, partitions: int = 1) -> list[int]:
        reader = RawConsumer(self.connection.librdkafka(**{"group.id": "offsets-probe"}))
        try:
            return [
                reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in range(partitions)
            ]
        finally:
            reader.close()

    def committed(self, group: str, topic: str, partitions: int = 1) -> list[int]:
        reader = RawConsumer(self.connection.librdkafka(**{"group.id": group}))
        try:
            found = reader.committed([TopicPartition(topic, p) for p in range(partitions)], 10)
            return [tp.offset for tp in found]
        finally:
            reader.close()


@pytest.fixture
def estate(tmp_path: Path, cluster1: LocalCluster, registry: Served) -> Estate:
    prefix = f"c{uuid.uuid4().hex[:8]}."
    return Estate(
        spec=write_spec(tmp_path / "spec", prefix=prefix),
        prefix=prefix,
        connection=cluster1.admin_settings(),
        registry_url=registry.url,
    )


# ----------------------------------------------------------- PostgreSQL (idempotent sink)
@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    """A PostgreSQL server for the session, for the idempotent sink's tests.

    Debian's server binaries (installed with apt-get if missing), a fresh cluster under
    the run's directory, on 127.0.0.1 port 28050 + STREAMPLANE_TEST_PORT_SHIFT with a
    generated password; stopped and deleted at the end of the session.
    """
    from streamplane.local._postgres import LocalPostgres
    from tests.conftest import TEST_ROOT
    from tests.integration.conftest import PORT_SHIFT

    server = LocalPostgres(port=28050 + PORT_SHIFT, root=TEST_ROOT / "postgres")
    server.start()
    try:
        yield server
    finally:
        server.stop()
