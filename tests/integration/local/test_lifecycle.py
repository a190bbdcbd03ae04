"""Start, stop, restart: data survives and every fault is reported precisely."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from streamplane.errors import AlreadyRunningError, DataDirError, NodeStartError, PortInUseError
from streamplane.local import (
    JvmOptions,
    LocalCluster,
    node_address,
    open_cluster,
    tagged_node_processes,
)
from tests.integration.conftest import create_topic


def _produce(cluster: LocalCluster, topic: str, values: list[bytes]) -> None:
    producer = Producer(cluster.admin_settings().librdkafka(**{"enable.idempotence": True}))
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(30) == 0


def _consume_all(cluster: LocalCluster, topic: str, expected: int) -> list[bytes]:
    consumer = Consumer(
        cluster.admin_settings().librdkafka(
            **{"group.id": f"g-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
        )
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
    finally:
        consumer.close()
    return values


def test_down_then_up_keeps_topics_and_data(
    own_cluster: LocalCluster, next_port_offset: int, topic_name: str
) -> None:
    own_cluster.up(nodes=1, port_offset=next_port_offset)
    create_topic(own_cluster.admin_settings(), topic_name)
    sent = [f"record-{i}".encode() for i in range(50)]
    _produce(own_cluster, topic_name, sent)

    own_cluster.down()
    assert own_cluster.running_nodes() == {}
    own_cluster.up(nodes=1)

    assert _consume_all(own_cluster, topic_name, len(sent)) == sent


def test_up_twice_starts_no_second_cluster(
    own_cluster: LocalCluster, next_port_offset: int
) -> None:
    own_cluster.up(nodes=1, port_offset=next_port_offset)
    before = {p.pid for p in tagged_node_processes(own_cluster.dir.root)}
    with pytest.raises(AlreadyRunningError, match=r"already running from .*streamplane status"):
        own_cluster.up(nodes=1)
    assert {p.pid for p in tagged_node_processes(own_cluster.dir.root)} == before
    # One broker JVM and the cluster's OIDC issuer: nothing was started twice.
    assert len(own_cluster.running_nodes()) == 1
    assert len(before) == 2


def test_port_in_use_is_named_with_its_process_and_nothing_is_formatted(
    own_cluster: LocalCluster, next_port_offset: int
) -> None:
    port = node_address(1, port_offset=next_port_offset).controller_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(PortInUseError) as info:
            own_cluster.up(nodes=1, port_offset=next_port_offset)
    assert info.value.port == port
    assert f"port {port} (node 1 controller listener)" in str(info.value)
    assert "python" in str(info.value) and "--port-offset" in str(info.value)
    assert own_cluster.state() is None, "a refused up must not leave a formatted cluster behind"


def test_data_dir_formatted_for_another_cluster_is_refused(
    own_cluster: LocalCluster, cluster_root, next_port_offset: int
) -> None:
    other = open_cluster(cluster_root / "other")
    other.up(nodes=1, port_offset=next_port_offset + 50)
    other.down()
    own_cluster.up(nodes=1, port_offset=next_port_offset)
    own_cluster.down()

    # Node 1's storage swapped for the other cluster's: Kafka would refuse it at start.
    own_meta = own_cluster.dir.node_data(1) / "meta.properties"
    own_meta.write_text((other.dir.node_data(1) / "meta.properties").read_text())
    with pytest.raises(DataDirError) as info:
        own_cluster.up(nodes=1)
    message = str(info.value)
    assert str(own_meta) in message
    assert other.state().cluster_id in message and own_cluster.state().cluster_id in message
    assert own_cluster.running_nodes() == {}


def test_data_dir_of_another_shape_is_refused(
    own_cluster: LocalCluster, next_port_offset: int
) -> None:
    own_cluster.up(nodes=1, port_offset=next_port_offset)
    own_cluster.down()
    with pytest.raises(DataDirError, match=r"holds a 1-node cluster, not 3.*--nodes 1"):
        own_cluster.up(nodes=3)


def test_node_that_dies_during_start_fails_up_with_its_log(
    cluster_root, next_port_offset: int
) -> None:
    # A heap too small for Kafka's start-up allocations: the JVM exits on OutOfMemoryError.
    starved = open_cluster(cluster_root / "data", jvm=JvmOptions(heap_max_mb=24, heap_initial_mb=8))
    started = time.monotonic()
    with pytest.raises(NodeStartError) as info:
        starved.up(nodes=1, port_offset=next_port_offset)
    assert time.monotonic() - started < 60
    assert info.value.node_id == 1
    assert "exited during start-up" in str(info.value)
    assert "OutOfMemoryError" in info.value.log_tail
    assert tagged_node_processes(starved.dir.root) == []


def test_three_node_up_stops_the_others_when_one_dies(
    own_cluster: LocalCluster, next_port_offset: int
) -> None:
    own_cluster.up(nodes=3, port_offset=next_port_offset)
    own_cluster.down()
    # Corrupt node 2's KRaft quorum state: our pre-checks pass, the JVM itself meets the fault.
    quorum_state = own_cluster.dir.node_data(2) / "__cluster_metadata-0" / "quorum-state"
    quorum_state.write_text("not json")
    with pytest.raises(NodeStartError) as info:
        own_cluster.up(nodes=3)
    assert info.value.node_id == 2
    assert "exited during start-up" in str(info.value)
    assert "quorum-state" in info.value.log_tail
    # Nodes 1 and 3 started fine but were stopped: a failed up leaves nothing running.
    assert tagged_node_processes(own_cluster.dir.root) == []
    assert own_cluster.running_nodes() == {}
