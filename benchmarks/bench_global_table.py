"""GlobalTable bootstrap: a compacted topic of 1,000,000 records materialized from scratch.

A 1-node cluster; a compacted topic of ``--records`` records (100-byte values, distinct
keys, 3 partitions). The figure is :meth:`GlobalTable.start` on an empty store (read every
partition to its end, write each poll's rows and offsets to RocksDB in one batch). The
baseline, same run, is a bare confluent-kafka consumer reading the same partitions to
their ends and dropping what it reads: the floor any table pays. Runs alternate.

Run: .venv/bin/python benchmarks/bench_global_table.py [--records 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _harness import median, report, scratch_cluster
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.client import GlobalTable
from streamplane.kafka import ConnectionSettings

TOPIC = "reference.customers"
PARTITIONS = 3


def bare(connection: ConnectionSettings, records: int) -> float:
    reader = Consumer(
        connection.librdkafka(
            **{"group.id": f"bare-{time.time_ns()}", "enable.auto.commit": False,
               "fetch.max.bytes": 52428800}
        )
    )  # fmt: skip
    began = time.perf_counter()
    reader.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    seen = 0
    while seen < records:
        seen += sum(1 for m in reader.consume(5000, 0.2) if m.error() is None)
    seconds = time.perf_counter() - began
    reader.close()
    return seconds


def table(connection: ConnectionSettings, records: int, root: Path) -> float:
    path = root / f"table-{time.time_ns()}"
    with GlobalTable(TOPIC, connection=connection, path=path) as built:
        stats = built.start(follow=False)
    assert stats.records == records, stats
    shutil.rmtree(path, ignore_errors=True)
    return stats.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sp-bench-global-"))
    try:
        with scratch_cluster("global-table", nodes=1) as cluster:
            connection = cluster.admin_settings()
            admin = AdminClient(connection.librdkafka())
            config = {"cleanup.policy": "compact"}
            admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1, config=config)])[TOPIC].result(60)
            producer = Producer(connection.librdkafka(**{"linger.ms": 20, "batch.size": 1048576}))
            value = b"x" * 100
            for n in range(args.records):
                while True:
                    try:
                        producer.produce(TOPIC, value, key=b"customer-%09d" % n)
                        break
                    except BufferError:
                        producer.poll(0.1)
            assert producer.flush(120) == 0
            tables, bares = [], []
            for _ in range(args.runs):
                bares.append(bare(connection, args.records))
                tables.append(table(connection, args.records, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rate, floor = args.records / median(tables), args.records / median(bares)
    ratios = ", ".join(f"{b / t:.2f}" for t, b in zip(tables, bares, strict=True))
    rows = [
        (f"GlobalTable bootstrap, {args.records:,} records (records/s)", f"{rate:,.0f}",
         f"{floor:,.0f}"),
        (f"ratio, median of {args.runs} (runs: {ratios})", f"{rate / floor:.2f}", "1.00"),
        ("seconds", f"{median(tables):.1f}", f"{median(bares):.1f}"),
    ]  # fmt: skip
    report(
        rows,
        title="global table (baseline: a bare consumer reading the same partitions to the end)",
    )


if __name__ == "__main__":
    main()
