"""Follower fetching (KIP-392): a consumer with the SDK's ``client.rack`` reads from the
replica in its own rack, not from the leader, on a real 3-node cluster (one rack per node,
RackAwareReplicaSelector). librdkafka's statistics count the bytes received from each
broker, which is what a cross-zone bill counts; the cost model's prediction from the live
placement (``consumer_cross_zone_bytes``) is checked against those counts."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.client._config import client_rack, consumer_config
from streamplane.local import LocalCluster
from streamplane.ops.cost.model import PartitionPlacement, consumer_cross_zone_bytes
from streamplane.ops.rebalance.live import read_cluster

RECORDS = 400
VALUE = os.urandom(5_000)  # 2 MB in all, incompressible


def _bytes_by_broker(cluster: LocalCluster, topic: str, rack: str | None) -> dict[int, int]:
    """Read the whole topic as a fresh group; bytes received from each broker id."""
    stats: list[dict[str, Any]] = []
    config = consumer_config(
        profile="zero_loss",
        connection=cluster.admin_settings(),
        app_id="follower-fetch-test",
        group_id=f"ff-{uuid.uuid4().hex[:8]}",
        overrides={
            **client_rack(rack),
            "statistics.interval.ms": 200,
            "auto.offset.reset": "earliest",
        },
    )
    config["stats_cb"] = lambda raw: stats.append(json.loads(raw))
    consumer = Consumer(config)
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 60
    while seen < RECORDS and time.monotonic() < deadline:
        for message in consumer.consume(100, timeout=1.0):
            if message.error() is None:
                seen += 1
    time.sleep(0.5)
    consumer.poll(0.5)  # one more statistics callback after the last fetch
    consumer.close()
    assert seen == RECORDS
    last = stats[-1]
    return {b["nodeid"]: b["rxbytes"] for b in last["brokers"].values() if b.get("nodeid", -1) >= 0}


def test_a_consumer_with_a_rack_fetches_from_the_replica_in_its_rack(
    cluster3: LocalCluster,
) -> None:
    settings = cluster3.admin_settings()
    topic = f"ff-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(settings.librdkafka())
    (future,) = admin.create_topics(
        [NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2, 3]])]
    ).values()
    future.result(60)
    producer = Producer(settings.librdkafka(**{"acks": "all", "linger.ms": 20}))
    for _ in range(RECORDS):
        producer.produce(topic, VALUE)
        producer.poll(0)
    assert producer.flush(30) == 0
    data = RECORDS * len(VALUE)
    # Baseline: no rack, every byte comes from the leader (node 1).
    plain = _bytes_by_broker(cluster3, topic, None)
    assert plain.get(1, 0) > data and plain.get(3, 0) < data * 0.1
    # rack-3: the leader only points the consumer at node 3's replica.
    local = _bytes_by_broker(cluster3, topic, "rack-3")
    assert local.get(3, 0) > data, local
    assert local.get(1, 0) < data * 0.1, local
    # The cost model, from the live placement and the partition's bytes, predicts what a
    # consumer in rack-3 reads across zones with and without follower fetching.
    live = read_cluster(settings)
    [part] = [p for p in live.model.partitions if p.topic == topic]
    racks = {b.id: b.rack for b in live.model.brokers.values()}
    placement = [PartitionPlacement(racks[part.replicas[0]],
                                    tuple(racks[b] for b in part.replicas), part.size_bytes)]  # fmt: skip
    zones = len(set(racks.values()))
    without = consumer_cross_zone_bytes(placement, "rack-3", zones, follower=False)
    with_ff = consumer_cross_zone_bytes(placement, "rack-3", zones, follower=True)
    measured_without = sum(n for broker, n in plain.items() if racks.get(broker) != "rack-3")
    measured_with = sum(n for broker, n in local.items() if racks.get(broker) != "rack-3")
    assert without == part.size_bytes and with_ff == 0
    # Fetch responses carry the log's batches plus a little framing and metadata.
    assert 0.95 * without <= measured_without <= 1.10 * without, (measured_without, without)
    assert measured_with <= 0.05 * without, (measured_with, without)
