"""Tiered storage on the local cluster: local disk used with and without, and the read
latency of an offloaded segment against a local one.

One node started with tiered storage (``up --tiered``). Two topics get the same
``--mib`` MiB in 1 MiB segments: ``plain`` keeps everything on the broker's disk,
``tiered`` (remote.storage.enable, local.retention.ms 1 s) offloads closed segments
to the remote store and deletes them locally. Then, for each topic, ``--reads`` fresh
consumers are assigned offset 0 (the oldest segment: remote for ``tiered``, local for
``plain``) and timed to their first record and to reading the whole topic.

Run: .venv/bin/python benchmarks/bench_tiered.py [--mib 32] [--reads 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from pathlib import Path

from _harness import report, scratch_cluster
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.kafka import ConnectionSettings

SEGMENT = 1 << 20
VALUE = 10_000


def _disk(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*.log")) if path.exists() else 0


def _read(settings: ConnectionSettings, topic: str, records: int) -> tuple[float, float]:
    """(ms to the first record, ms to ``records`` records) for a consumer at offset 0."""
    consumer = Consumer(
        settings.librdkafka(
            **{"group.id": f"b-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False}
        )
    )
    started = time.perf_counter()
    consumer.assign([TopicPartition(topic, 0, 0)])
    first = None
    seen = 0
    while seen < records:
        for message in consumer.consume(500, timeout=1.0):
            if message.error() is None:
                if first is None:
                    first = (time.perf_counter() - started) * 1000
                seen += 1
    whole = (time.perf_counter() - started) * 1000
    consumer.close()
    return first or whole, whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--reads", type=int, default=5)
    args = parser.parse_args()
    with scratch_cluster("tiered", nodes=1) as cluster:
        cluster.down(timeout_s=20)
        cluster.up(nodes=1, tiered=True)
        settings = cluster.admin_settings()
        admin = AdminClient(settings.librdkafka())
        base = {"segment.bytes": str(SEGMENT), "retention.ms": "-1"}
        topics = {
            "plain": NewTopic("bench.plain", 1, 1, config=base),
            "tiered": NewTopic("bench.tiered", 1, 1, config={
                **base, "remote.storage.enable": "true", "local.retention.ms": "1000"}),
        }  # fmt: skip
        for future in admin.create_topics(list(topics.values())).values():
            future.result(60)
        producer = Producer(settings.librdkafka(**{"linger.ms": 20, "acks": "all"}))
        records = args.mib * (1 << 20) // VALUE
        value = os.urandom(VALUE)
        for topic in topics.values():
            for _ in range(records):
                producer.produce(topic.topic, value)
                producer.poll(0)
        producer.flush(120)
        data = cluster.dir.node_data(1)
        deadline = time.monotonic() + 120
        while _disk(data / "bench.tiered-0") > 2 * SEGMENT and time.monotonic() < deadline:
            time.sleep(1)
        local = {name: _disk(data / f"{t.topic}-0") for name, t in topics.items()}
        remote = _disk(cluster.dir.remote_storage) + sum(
            f.stat().st_size for f in cluster.dir.remote_storage.rglob("segment")
        )
        timings = {
            name: [_read(settings, t.topic, records) for _ in range(args.reads)]
            for name, t in topics.items()
        }
    mib = 1 << 20
    first = {n: statistics.median(f for f, _ in ts) for n, ts in timings.items()}
    whole = {n: statistics.median(w for _, w in ts) for n, ts in timings.items()}
    report(
        [
            (
                "local disk (MiB): tiered vs plain",
                f"{local['tiered'] / mib:,.1f}",
                f"{local['plain'] / mib:,.1f}",
            ),
            ("remote store (MiB)", f"{remote / mib:,.1f}", "0"),
            (
                "first record at offset 0 (ms, median)",
                f"{first['tiered']:,.0f}",
                f"{first['plain']:,.0f}",
            ),
            (
                f"all {args.mib} MiB from offset 0 (ms, median)",
                f"{whole['tiered']:,.0f}",
                f"{whole['plain']:,.0f}",
            ),
        ],
        title=f"tiered storage, 1 node, {args.mib} MiB per topic in 1 MiB segments, "
        f"{args.reads} reads each (tiered = offloaded segment, plain = local segment)",
    )


if __name__ == "__main__":
    main()
