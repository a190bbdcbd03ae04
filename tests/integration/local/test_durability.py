"""Three nodes, RF 3, min ISR 2: one failure is survived, two are refused, never falsely acked."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic


@pytest.fixture
def healed(cluster3: LocalCluster) -> Iterator[LocalCluster]:
    """The session 3-node cluster, with every killed node restarted afterwards."""
    yield cluster3
    for node_id in (1, 2, 3):
        if node_id not in cluster3.running_nodes():
            cluster3.start_node(node_id)


def _send(
    producer: Producer, topic: str, values: list[bytes], *, flush_s: float
) -> dict[bytes, KafkaError | None]:
    outcome: dict[bytes, KafkaError | None] = {}

    def report(err: KafkaError | None, msg: object) -> None:
        outcome[msg.value()] = err  # type: ignore[attr-defined]

    for value in values:
        producer.produce(topic, value=value, on_delivery=report)
    producer.flush(flush_s)
    return outcome


def _leader(cluster: LocalCluster, topic: str) -> int:
    from confluent_kafka.admin import AdminClient

    md = AdminClient(cluster.admin_settings().librdkafka()).list_topics(topic, timeout=10)
    return int(md.topics[topic].partitions[0].leader)


def test_acks_all_survives_one_node_and_is_refused_without_min_isr(
    healed: LocalCluster, topic_name: str
) -> None:
    cluster = healed
    create_topic(
        cluster.admin_settings(), topic_name, replication_factor=3,
        config={"min.insync.replicas": "2"},
    )  # fmt: skip
    conf = cluster.admin_settings().librdkafka(
        **{"acks": "all", "enable.idempotence": True, "message.timeout.ms": 60000}
    )
    producer = Producer(conf)
    first = [f"a-{i}".encode() for i in range(100)]
    assert all(e is None for e in _send(producer, topic_name, first, flush_s=60).values())

    # One node down (the partition leader, the hardest case): writes still acknowledged.
    leader = _leader(cluster, topic_name)
    cluster.kill_node(leader)
    second = [f"b-{i}".encode() for i in range(100)]
    outcome = _send(producer, topic_name, second, flush_s=90)
    assert len(outcome) == len(second) and all(e is None for e in outcome.values()), outcome

    # Two nodes down: only one replica is left, below min ISR. No write may be acknowledged.
    survivor_candidates = [n for n in (1, 2, 3) if n in cluster.running_nodes()]
    cluster.kill_node(survivor_candidates[0])
    short = Producer({**conf, "message.timeout.ms": 15000})
    third = [f"c-{i}".encode() for i in range(20)]
    outcome = _send(short, topic_name, third, flush_s=40)
    assert len(outcome) == len(third), "every record must be reported, none silently dropped"
    assert all(e is not None for e in outcome.values()), "a write was acknowledged below min ISR"

    # Restore the two nodes and read back: everything acknowledged is there, in order.
    for node_id in (1, 2, 3):
        if node_id not in cluster.running_nodes():
            cluster.start_node(node_id)
    consumer = Consumer(
        cluster.admin_settings().librdkafka(
            **{"group.id": f"g-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
               "isolation.level": "read_committed"}
        )
    )  # fmt: skip
    consumer.assign([TopicPartition(topic_name, 0, 0)])
    seen: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(seen) < len(first) + len(second) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                seen.append(msg.value())
    finally:
        consumer.close()
    acked = first + second
    assert [v for v in seen if not v.startswith(b"c-")] == acked
