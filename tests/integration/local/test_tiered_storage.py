"""Tiered storage (KIP-405) on a real local cluster: ``up --tiered`` plugs the project's
DirectoryRemoteStorage into the brokers; a topic with remote.storage.enable offloads its
closed segments, keeps only a short local retention on disk, and a consumer still reads
every record from offset 0 (the old ones fetched back from the remote store)."""

from __future__ import annotations

import os
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.local import LocalCluster

RECORDS = 1000
SEGMENT = 1 << 20


def _log_files(cluster: LocalCluster, topic: str) -> list[str]:
    return sorted(p.name for p in (cluster.dir.node_data(1) / f"{topic}-0").glob("*.log"))


def _remote_segments(cluster: LocalCluster, topic: str) -> list[str]:
    root = cluster.dir.remote_storage
    return [
        seg.name
        for folder in root.glob(f"{topic}-0-*")
        for seg in folder.iterdir()
        if (seg / "segment").exists()
    ]


def test_old_segments_move_to_the_remote_store_and_are_read_back_from_offset_0(
    own_cluster: LocalCluster, next_port_offset: int
) -> None:
    state = own_cluster.up(nodes=1, port_offset=next_port_offset, tiered=True)
    assert state.tiered
    settings = own_cluster.admin_settings()
    topic = f"tiered-{uuid.uuid4().hex[:8]}"
    configs = {"remote.storage.enable": "true", "local.retention.ms": "1000",
               "segment.bytes": str(SEGMENT), "retention.ms": "-1"}  # fmt: skip
    admin = AdminClient(settings.librdkafka())  # referenced until the future completes
    (future,) = admin.create_topics([NewTopic(topic, 1, 1, config=configs)]).values()
    future.result(60)
    producer = Producer(settings.librdkafka(**{"linger.ms": 20, "acks": "all"}))
    values = {i: os.urandom(10_000) for i in range(RECORDS)}
    for i, value in values.items():
        producer.produce(topic, value, key=str(i).encode())
        producer.poll(0)
    assert producer.flush(30) == 0
    # ~10 MiB in 1 MiB segments: all but the active one offloaded, then deleted locally.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if (
            len(_remote_segments(own_cluster, topic)) >= 8
            and len(_log_files(own_cluster, topic)) <= 2
        ):
            break
        time.sleep(1)
    remote = _remote_segments(own_cluster, topic)
    local = _log_files(own_cluster, topic)
    assert len(remote) >= 8 and len(local) <= 2, (remote, local)
    assert "00000000000000000000.log" not in local  # offset 0 is only in the remote store
    consumer = Consumer(
        settings.librdkafka(
            **{"group.id": f"tier-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False}
        )
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while len(seen) < RECORDS and time.monotonic() < deadline:
        for message in consumer.consume(200, timeout=1.0):
            assert message.error() is None, message.error()
            key = int(message.key())
            assert message.value() == values[key]
            seen.append(key)
    consumer.close()
    assert seen == list(range(RECORDS))
