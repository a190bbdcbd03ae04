"""The cost model's cross-zone prediction against bytes counted in a follower-fetching run.

A 3-node local cluster (one rack per node, Kafka's RackAwareReplicaSelector) holds a
topic of ``--partitions`` partitions at RF 3, leaders spread over the racks, and
``--mib`` MiB of incompressible records. A consumer group "in rack-3" reads it all, once
without ``client.rack`` (the baseline: every partition from its leader) and once with
``client.rack=rack-3`` (follower fetching). librdkafka's statistics count the bytes
received from each broker; bytes from brokers of other racks are the cross-zone bytes.
The model (``consumer_cross_zone_bytes``) predicts both from the live placement and the
partitions' sizes on disk.

Run: .venv/bin/python benchmarks/bench_cost.py [--partitions 6] [--mib 24]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from typing import Any

from _harness import report, scratch_cluster
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.client._config import client_rack, consumer_config
from streamplane.kafka import ConnectionSettings
from streamplane.ops.cost.model import PartitionPlacement, consumer_cross_zone_bytes
from streamplane.ops.rebalance.live import read_cluster

TOPIC = "bench.cost"
RACK = "rack-3"


def _received(settings: ConnectionSettings, records: int, rack: str | None) -> dict[int, int]:
    stats: list[dict[str, Any]] = []
    config = consumer_config(
        profile="zero_loss", connection=settings, app_id="bench-cost",
        group_id=f"cost-{uuid.uuid4().hex[:8]}",
        overrides={**client_rack(rack), "statistics.interval.ms": 200,
                   "auto.offset.reset": "earliest"},
    )  # fmt: skip
    config["stats_cb"] = lambda raw: stats.append(json.loads(raw))
    consumer = Consumer(config)
    consumer.subscribe([TOPIC])
    seen = 0
    while seen < records:
        seen += sum(1 for m in consumer.consume(500, timeout=1.0) if m.error() is None)
    time.sleep(0.5)
    consumer.poll(0.5)
    consumer.close()
    brokers = stats[-1]["brokers"].values()
    return {b["nodeid"]: b["rxbytes"] for b in brokers if b.get("nodeid", -1) >= 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--mib", type=int, default=24)
    args = parser.parse_args()
    with scratch_cluster("cost", nodes=3) as cluster:
        settings = cluster.admin_settings()
        admin = AdminClient(settings.librdkafka())
        rotations = [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
        (future,) = admin.create_topics([NewTopic(
            TOPIC, num_partitions=args.partitions,
            replica_assignment=[rotations[i % 3] for i in range(args.partitions)],
        )]).values()  # fmt: skip
        future.result(60)
        producer = Producer(settings.librdkafka(**{"linger.ms": 20, "acks": "all"}))
        value = os.urandom(8_000)
        records = args.mib * (1 << 20) // len(value)
        for i in range(records):
            producer.produce(TOPIC, value, partition=i % args.partitions)
            producer.poll(0)
        producer.flush(60)
        live = read_cluster(settings)
        racks = {b.id: b.rack for b in live.model.brokers.values()}
        placement = [
            PartitionPlacement(racks[p.replicas[0]], tuple(racks[b] for b in p.replicas),
                               p.size_bytes)
            for p in live.model.partitions if p.topic == TOPIC
        ]  # fmt: skip
        zones = len(set(racks.values()))
        predicted = {
            ff: consumer_cross_zone_bytes(placement, RACK, zones, follower=ff)
            for ff in (False, True)
        }
        measured = {}
        for ff in (False, True):
            got = _received(settings, records, RACK if ff else None)
            measured[ff] = sum(n for broker, n in got.items() if racks.get(broker) != RACK)
    mib = 1 << 20
    report(
        [
            (
                "cross-zone MiB, leader fetching: measured vs model",
                f"{measured[False] / mib:,.2f}",
                f"{predicted[False] / mib:,.2f}",
            ),
            (
                "cross-zone MiB, follower fetching: measured vs model",
                f"{measured[True] / mib:,.2f}",
                f"{predicted[True] / mib:,.2f}",
            ),
            (
                "model error, leader fetching",
                f"{(measured[False] - predicted[False]) / predicted[False]:+.1%}",
                "-",
            ),
        ],
        title=f"a consumer in {RACK} reads {args.mib} MiB of {args.partitions} partitions "
        "(RF 3, one replica per rack, leaders spread)",
    )


if __name__ == "__main__":
    main()
