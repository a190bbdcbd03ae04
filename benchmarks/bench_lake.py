"""The lake sink's throughput: rows/s from a topic into an Iceberg table, against a bare
consumer reading the same topic.

One node with its schema registry; a topic of three partitions gets ``--records`` Avro
records (an id, a decimal amount, a timestamp, a string). The baseline is a confluent-kafka
consumer reading them all (no decoding); the figure is the sink (``streamplane.lake``)
from an empty table until its committed offsets cover every record, in batches of
``--batch`` rows: decoding with the registry's writer schema, Arrow, Parquet files and
Iceberg commits included.

Then freshness: with the sink running at ``--commit-interval`` (the spec's default, 5 s),
a marker record is produced every 100 ms for ``--seconds`` and queries run back to back,
first plain (the committed table), then with ``--fresh`` (plus Kafka's tail); a marker's
freshness is the time from its produce call to the end of the first query that returned
it. p50 and p99 of each; the commit interval is the reference a plain query cannot beat.

Run: .venv/bin/python benchmarks/bench_lake.py [--records 200000] [--batch 50000]
     [--seconds 30] [--commit-interval 5]
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _harness import PORT_OFFSET, apply_spec_dir, report, scratch_cluster, write_one_node_spec
from confluent_kafka import Consumer, SerializingProducer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer

from streamplane.lake.query import run_query
from streamplane.lake.sink import LakeSink, SinkSettings
from streamplane.lake.table import LakeTable, local_catalog
from streamplane.local import RegistryProcess

TOPIC = "bench.orders.placed"
ORDER = {
    "type": "record", "name": "Order", "namespace": "bench",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10,
                                    "scale": 2}},
        {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "note", "type": "string"},
    ],
}  # fmt: skip
TENANTS = """
tenants:
  - name: bench
    owners: [bench@example.com]
    clusters: [local]
    domains:
      - name: orders
        topics:
          - {name: placed, partitions: 3, value_schema: schemas/order.avsc, lake: {}}
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def freshness(
    producer: SerializingProducer,
    catalog: Any,
    fresh: tuple[Any, SchemaRegistryClient] | None,
    seconds: float,
    base: int,
) -> list[float]:
    """Produce a marker every 100 ms for ``seconds`` while querying back to back; each
    marker's time from produce to the end of the first query that returned it."""
    produced: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = threading.Event()
    now = datetime.datetime.now(datetime.UTC)

    def markers() -> None:
        n = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            produced[base + n] = time.monotonic()
            producer.produce(TOPIC, value={"id": base + n, "amount": decimal.Decimal("1.00"),
                                           "placed_at": now, "note": "marker"})  # fmt: skip
            producer.poll(0)
            n += 1
            time.sleep(0.1)
        producer.flush(30)
        done.set()

    writer = threading.Thread(target=markers)
    writer.start()
    sql = f"SELECT id FROM bench.orders_placed WHERE id >= {base} AND id < {base + 1_000_000}"
    # After the last marker, one commit interval and a bit for the stragglers to show.
    while not done.is_set() or len(seen) < len(produced):
        result = run_query(catalog, sql, [("bench.orders_placed", TOPIC)], fresh=fresh)
        finished = time.monotonic()
        for marker in result["id"].to_pylist():
            seen.setdefault(marker, finished)
        if done.is_set() and finished - max(produced.values()) > 30:
            break
    writer.join()
    return [seen[m] - produced[m] for m in produced if m in seen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--commit-interval", type=float, default=5.0)
    args = parser.parse_args()
    with scratch_cluster("lake", nodes=1) as cluster:
        registry = RegistryProcess(cluster.dir, port_offset=PORT_OFFSET)
        registry.start()
        try:
            spec_dir = Path(tempfile.mkdtemp(prefix="sp-bench-lake-spec-"))
            write_one_node_spec(spec_dir, TENANTS)
            (spec_dir / "schemas").mkdir()
            (spec_dir / "schemas" / "order.avsc").write_text(json.dumps(ORDER))
            apply_spec_dir(spec_dir, cluster)
            settings = cluster.admin_settings()
            creds = cluster.dir.read_credentials()
            assert creds is not None
            client = SchemaRegistryClient(
                {"url": registry.url, "basic.auth.user.info": f"admin:{creds.admin_password}"}
            )
            serializer = AvroSerializer(
                client,
                json.dumps(ORDER),
                conf={"auto.register.schemas": False, "use.latest.version": True},
            )
            producer = SerializingProducer(settings.librdkafka(**{
                "linger.ms": 20, "value.serializer": serializer, "log_level": 3}))  # fmt: skip
            now = datetime.datetime.now(datetime.UTC)
            for n in range(args.records):
                producer.produce(TOPIC, value={"id": n, "amount": decimal.Decimal(f"{n % 1000}.25"),
                                               "placed_at": now, "note": f"order {n}"})  # fmt: skip
                producer.poll(0)
            producer.flush(120)

            consumer = Consumer(settings.librdkafka(**{
                "group.id": "bench-bare", "auto.offset.reset": "earliest",
                "enable.auto.commit": False, "log_level": 3}))  # fmt: skip
            consumer.subscribe([TOPIC])
            started, seen = time.perf_counter(), 0
            while seen < args.records:
                seen += sum(1 for m in consumer.consume(5000, timeout=1.0) if m.error() is None)
            bare_s = time.perf_counter() - started
            consumer.close()

            home = cluster.dir.root / "lake"
            sink = LakeSink(settings, client, local_catalog(home), TOPIC, "bench.orders_placed",
                            SinkSettings(max_rows=args.batch, max_wait_s=5.0))  # fmt: skip
            stop = threading.Event()
            runner = threading.Thread(target=sink.run, args=(stop,))
            started = time.perf_counter()
            runner.start()
            while sum(sink.stats.offsets.values()) < args.records:
                time.sleep(0.05)
            sink_s = time.perf_counter() - started
            stop.set()
            runner.join()
            table = LakeTable(local_catalog(home).load_table("bench.orders_placed"), TOPIC)
            rows = table.table.scan(selected_fields=("id",)).to_arrow().num_rows
            assert rows == args.records, rows

            fresh_sink = LakeSink(
                settings, client, local_catalog(home), TOPIC, "bench.orders_placed",
                SinkSettings(max_wait_s=args.commit_interval),
            )  # fmt: skip
            stop = threading.Event()
            runner = threading.Thread(target=fresh_sink.run, args=(stop,))
            runner.start()
            plain = freshness(producer, local_catalog(home), None, args.seconds, 1_000_000_000)
            tail = freshness(producer, local_catalog(home), (settings, client), args.seconds,
                             2_000_000_000)  # fmt: skip
            stop.set()
            runner.join()
        finally:
            registry.stop()
    report(
        [
            ("rows/s: sink into Iceberg vs bare consumer (records/s)",
             f"{args.records / sink_s:,.0f}", f"{args.records / bare_s:,.0f}"),
            ("seconds for all records", f"{sink_s:.1f}", f"{bare_s:.1f}"),
            ("commits (Iceberg snapshots)", str(sink.stats.commits), "-"),
            (f"freshness p50 / p99, lake query --fresh ({len(tail)} markers)",
             f"{pct(tail, 50):.2f} / {pct(tail, 99):.2f} s",
             f"{pct(plain, 50):.2f} / {pct(plain, 99):.2f} s plain query"),
            ("commit interval (a plain query's floor is up to this)",
             f"{args.commit_interval:.1f} s", f"{len(plain)} markers"),
        ],
        title=f"lake sink, 1 node, {args.records:,} Avro records on 3 partitions, "
        f"batches of {args.batch:,} rows",
    )  # fmt: skip


if __name__ == "__main__":
    main()
