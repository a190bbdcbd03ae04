"""Client SDK throughput and latency, each beside a baseline measured in the same run.

On one 1-node cluster, 1 KiB records, 3 partitions, the same librdkafka settings for
every confluent-kafka client (the zero_loss profile with linger 5 ms, 256 KiB batches,
no compression: the random payload does not compress):

- produce: the SDK producer (Avro serialization through the registry, traceparent +
  streamplane-app + streamplane-schema-id headers, metrics on) against raw confluent-kafka
  producing the same records pre-serialized (the target is a ratio >= 0.80); kafka-python
  and Quix Streams producing the same bytes. A third confluent-kafka loop, "hand-written",
  does only the work the SDK cannot skip (the same Avro writer, frame and three headers,
  a delivery callback) with no wrapper: the ceiling of any Python SDK doing that work, so
  SDK / hand-written is the wrapper's own cost. Each loop's Python CPU per record
  (thread time) is printed too. Quix Streams pins confluent-kafka<2.13, so it
  runs from a venv of its own under .streamplane/bench-venvs/quix (created on first use)
  as a subprocess.
- consume: the SDK consumer (Avro deserialization, trace context, metrics on, offsets
  stored after the handler and committed asynchronously every second) against a raw
  confluent-kafka consumer of the same topic, and a hand-written one doing the work the
  SDK cannot skip with no wrapper: the same Avro reader for each value, its headers read,
  the offsets of each processed batch stored and committed the same way. All timed from
  the first record (the group join excluded), in an order that rotates between runs, with
  each loop's Python CPU per record. The SDK is measured twice: ``run`` (a handler call
  per record, the producer's trace context made current for it) and ``run_batches`` (a
  handler call per poll with a RecordBatch: values decoded in one loop, Records and
  headers built only when asked for).
- latency: produce-to-consume p50/p99 under the low_latency profile at a steady rate, SDK
  producer and consumer against raw ones, ``--latency-runs`` runs, by default both at the
  same time in two processes so that each run's ratio sees one machine (_client_latency).

Producers alternate in chunks of a tenth of the records, so both see the same machine
load; every throughput figure is the median of ``--runs`` runs.

Run: .venv/bin/python benchmarks/bench_client.py [--records 200000] [--runs 3]
     [--port-offset 22000] [--rate 1000] [--latency-seconds 10] [--latency-runs 5]
     [--latency-mode paired|alternate] [--parts produce,consume,latency] [--skip-quix]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from _client_latency import (
    alternating_runs,
    latency_rows,
    paired_runs,
    raw_latencies,
    sdk_latencies,
)
from _harness import PORT_OFFSET, median, report, scratch_cluster
from _quix import QUIX_VENV, produce_quix
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import Producer as RawProducer
from confluent_kafka.admin import AdminClient, NewTopic
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import CollectorRegistry

from streamplane.client import (
    ClientMetrics,
    Consumer,
    Producer,
    Record,
    RecordBatch,
    RegistrySettings,
    Telemetry,
    TopicSchema,
    TopicSchemas,
)
from streamplane.client._avro import body_reader, body_writer
from streamplane.kafka import ConnectionSettings, client_config
from streamplane.local import LocalCluster, RegistryProcess

RECORD_BYTES = 1024
PARTITIONS = 3
DISTINCT = 1000
#: Each run alternates raw and SDK chunks of records / CHUNKS.
CHUNKS = 10
TUNING: dict[str, Any] = {"linger.ms": 5, "batch.size": 262144, "compression.type": "none"}
SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "Payment",
        "namespace": "bench",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "amount_minor", "type": "long"},
            {"name": "sent_us", "type": "long"},
            {"name": "payload", "type": "bytes"},
        ],
    }
)


# ---------------------------------------------------------------------- records
def make_records(encode: Any) -> tuple[list[dict[str, Any]], list[bytes]]:
    """DISTINCT payments whose framed Avro value is exactly RECORD_BYTES, and those bytes.

    Every long is chosen to encode in the same number of bytes (zig-zag varints), and
    ``sent_us`` holds a current timestamp, as it does in the latency run.
    """
    now_us = time.time_ns() // 1000
    probe = {"id": "p-000000", "amount_minor": 100_000, "sent_us": now_us, "payload": b""}
    overhead = len(encode(probe))
    # bytes are length-prefixed with a zig-zag varint: 2 bytes for lengths 64..8191.
    payload_len = RECORD_BYTES - overhead - 1
    records = [
        {"id": f"p-{i:06d}", "amount_minor": 100_000 + i, "sent_us": now_us,
         "payload": os.urandom(payload_len)}
        for i in range(DISTINCT)
    ]  # fmt: skip
    encoded = [encode(r) for r in records]
    assert {len(e) for e in encoded} == {RECORD_BYTES}, {len(e) for e in encoded}
    return records, encoded


def create(cluster: LocalCluster, *topics: str) -> None:
    admin = AdminClient(cluster.admin_settings().librdkafka())
    futures = admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics])
    for future in futures.values():
        future.result(60)


def telemetry() -> Telemetry:
    return Telemetry(metrics=ClientMetrics(CollectorRegistry()))


def sdk_producer(
    conn: ConnectionSettings, registry: str, topic: str, *, profile: str = "zero_loss",
    config: dict[str, Any] | None = None,
) -> Producer:  # fmt: skip
    return Producer(
        connection=conn, app_id="bench-sdk", profile=profile,
        config=TUNING if config is None else config,
        schemas={topic: TopicSchemas(value=TopicSchema.avro(SCHEMA))},
        registry=registry_settings(conn, registry), telemetry=telemetry(),
    )  # fmt: skip


def registry_settings(conn: ConnectionSettings, url: str) -> RegistrySettings:
    """The local registry authenticates with the cluster's SCRAM principals (HTTP basic)."""
    return RegistrySettings(url, username=conn.username, password=conn.password)


def in_trace() -> Any:
    """A current span context, as inside a request handler: records get a traceparent."""
    ids = uuid.uuid4().int
    ctx = SpanContext(ids >> 64, ids & (2**64 - 1), False, TraceFlags(TraceFlags.SAMPLED))
    return trace.use_span(NonRecordingSpan(ctx), end_on_exit=False)


# ---------------------------------------------------------------------- produce
class SdkRun:
    """The SDK producer, kept open across chunks: Avro, headers (inside a trace), metrics."""

    def __init__(self, conn: ConnectionSettings, registry: str, topic: str, records: list[Any]):
        self.topic, self.records = topic, records
        self.producer = sdk_producer(conn, registry, topic)
        self.producer.produce(topic, records[0])  # registers the schema: once, not timed
        self.producer.flush()

    def __call__(self, start: int, count: int) -> float:
        producer, topic, records, k = self.producer, self.topic, self.records, len(self.records)
        with in_trace():
            began, cpu = time.perf_counter(), time.thread_time()
            for i in range(start, start + count):
                producer.produce(topic, records[i % k])
            producer.flush(120)
            return time.perf_counter() - began, time.thread_time() - cpu

    def close(self) -> None:
        self.producer.close()


def when_room(producer: RawProducer, topic: str, data: bytes, **kwargs: Any) -> None:
    """Produce once the local queue has room (deliveries served meanwhile)."""
    while True:
        producer.poll(0.01)
        try:
            producer.produce(topic, data, **kwargs)
            return
        except BufferError:
            continue


class RawRun:
    """Raw confluent-kafka as bench_throughput.py drives it, with the SDK's exact settings."""

    def __init__(self, conn: ConnectionSettings, topic: str, payloads: list[bytes]):
        self.topic, self.payloads = topic, payloads
        config = client_config("zero_loss", "producer", overrides=TUNING,
                               connection=conn.librdkafka())  # fmt: skip
        self.producer = RawProducer(config)
        self.failed = 0
        self.producer.produce(topic, payloads[0])  # connected, metadata known, as the SDK
        self.producer.flush()

    def _on_delivery(self, err: object, _msg: object) -> None:
        if err is not None:
            self.failed += 1

    def __call__(self, start: int, count: int) -> tuple[float, float]:
        producer, topic, payloads, k = self.producer, self.topic, self.payloads, len(self.payloads)
        on_delivery = self._on_delivery
        began, cpu = time.perf_counter(), time.thread_time()
        for i in range(start, start + count):
            data = payloads[i % k]
            try:
                producer.produce(topic, data, on_delivery=on_delivery)
            except BufferError:
                when_room(producer, topic, data, on_delivery=on_delivery)
            producer.poll(0)
        assert producer.flush(120) == 0 and self.failed == 0, f"{self.failed} deliveries failed"
        return time.perf_counter() - began, time.thread_time() - cpu


class HandWrittenRun(RawRun):
    """Raw confluent-kafka doing only what the SDK must do per record, with no wrapper.

    The same Avro body writer and frame as the SDK's encoder, the same three headers
    (built once), a delivery callback: the most a Python producer doing that work gets.
    """

    def __init__(
        self, conn: ConnectionSettings, topic: str, payloads: list[bytes],
        records: list[Any], frame: bytes, headers: list[tuple[str, bytes]],
    ) -> None:  # fmt: skip
        super().__init__(conn, topic, payloads)
        write = body_writer(json.loads(SCHEMA))
        assert write is not None
        self.write, self.records, self.frame, self.headers = write, records, frame, headers

    def __call__(self, start: int, count: int) -> tuple[float, float]:
        producer, topic, records, k = self.producer, self.topic, self.records, len(self.records)
        write, frame, headers, on_delivery = self.write, self.frame, self.headers, self._on_delivery
        began, cpu = time.perf_counter(), time.thread_time()
        for i in range(start, start + count):
            data = frame + write(records[i % k])
            try:
                producer.produce(topic, data, headers=headers, on_delivery=on_delivery)
            except BufferError:
                when_room(producer, topic, data, headers=headers, on_delivery=on_delivery)
            producer.poll(0)
        assert producer.flush(120) == 0 and self.failed == 0, f"{self.failed} deliveries failed"
        return time.perf_counter() - began, time.thread_time() - cpu


def produce_kafka_python(
    conn: ConnectionSettings, topic: str, payloads: list[bytes], n: int
) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(**conn.kafka_python(), acks="all", linger_ms=5, batch_size=262144)
    producer.send(topic, payloads[0]).get(timeout=60)  # connected, metadata known
    k = len(payloads)
    started = time.perf_counter()
    futures = [producer.send(topic, payloads[i % k]) for i in range(n)]
    producer.flush(timeout=300)
    elapsed = time.perf_counter() - started
    assert all(f.succeeded() for f in futures), "kafka-python deliveries failed"
    producer.close()
    return elapsed


# ---------------------------------------------------------------------- consume
def consume_sdk(
    conn: ConnectionSettings, registry: str, topic: str, n: int, *, batches: bool = False
) -> tuple[float, float]:
    """The SDK consumer's wall time and Python CPU time (thread time) for ``n`` records,
    through ``run`` or, with ``batches``, ``run_batches``."""
    consumer = Consumer(
        connection=conn, app_id="bench-sdk", group_id=f"bench-sdk-{uuid.uuid4().hex}",
        topics=[topic], schemas={topic: TopicSchemas(value=TopicSchema.avro())},
        registry=registry_settings(conn, registry), telemetry=telemetry(),
        dead_letters=None,
    )  # fmt: skip
    first: list[float] = []
    seen = 0

    def handle(record: Record) -> None:
        nonlocal seen
        if not first:
            first.extend((time.perf_counter(), time.thread_time()))
        seen += 1

    def handle_batch(batch: RecordBatch) -> None:
        nonlocal seen
        if not first:
            first.extend((time.perf_counter(), time.thread_time()))
        seen += len(batch.values)

    if batches:
        consumer.run_batches(handle_batch, max_records=n, idle_timeout_s=60)
    else:
        consumer.run(handle, max_records=n, idle_timeout_s=60)
    elapsed, cpu = time.perf_counter() - first[0], time.thread_time() - first[1]
    consumer.close()
    assert seen == n
    return elapsed, cpu


def consume_raw(
    conn: ConnectionSettings, topic: str, n: int, *, decode: bool = False, headers: bool = True
) -> tuple[float, float]:
    """Raw confluent-kafka's wall and Python CPU time for ``n`` records.

    With ``decode``, the hand-written loop: the SDK's Avro reader for each value, its
    headers read, and the offsets of each processed batch stored, then committed
    asynchronously at most once a second, as the SDK's default commit policy does. Both
    fetch as the SDK does, so that the loops differ only in what they do per record.
    Without ``headers``, the decoding loop leaves them unread (as ``run_batches`` does
    unless asked for a record's): the ceiling for that work.
    """
    consumer = RawConsumer(
        client_config("zero_loss", "consumer", connection=conn.librdkafka(
            **{"group.id": f"bench-raw-{uuid.uuid4().hex}"}))
    )  # fmt: skip
    read = body_reader(json.loads(SCHEMA), None)
    assert read is not None
    consumer.subscribe([topic])
    seen = 0
    started = cpu = 0.0
    last_commit = time.monotonic()
    while seen < n:
        # Fetched as the SDK fetches: what is queued, without waiting for a full batch (a
        # blocking batch call wakes on every fetch response and costs CPU waiting), else
        # one record as soon as it comes.
        batch = consumer.consume(500, 0)
        if not batch:
            first = consumer.poll(1.0)
            batch = [first] if first is not None else []
        for msg in batch:
            if msg.error() is None:
                if not seen:
                    started, cpu = time.perf_counter(), time.thread_time()
                if decode:
                    read(msg.value()[5:])  # type: ignore[index]
                    if headers:
                        msg.headers()
                seen += 1
        if decode and batch:
            # Every record handed over is processed: each partition's position (its last
            # record handed over + 1) is the offset to commit.
            positions = consumer.position(consumer.assignment())
            consumer.store_offsets(offsets=[tp for tp in positions if tp.offset >= 0])
            if time.monotonic() - last_commit >= 1.0:
                last_commit = time.monotonic()
                consumer.commit(asynchronous=True)
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
    consumer.close()
    return elapsed, cpu


# ---------------------------------------------------------------------- phases
def produce_phase(
    cluster: LocalCluster, conn: ConnectionSettings, url: str, records: list[Any],
    payloads: list[bytes], args: argparse.Namespace,
) -> tuple[list[tuple[str, str, str]], list[str]]:  # fmt: skip
    """Produce throughput (SDK, raw, hand-written alternating; kafka-python, Quix): rows, notes.

    Leaves ``runs`` x ``records`` SDK-produced records in bench-sdk for the consume phase.
    """
    n, runs = args.records, args.runs
    times: dict[str, list[float]] = {"sdk": [], "raw": [], "hand": []}
    cpu: dict[str, float] = {"sdk": 0.0, "raw": 0.0, "hand": 0.0}
    create(cluster, "bench-raw", "bench-hand")
    sdk = SdkRun(conn, url, "bench-sdk", records)
    frame = payloads[0][:5]
    # The SDK's three headers, as it writes them inside a trace.
    headers = [
        ("traceparent", f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01".encode()),
        ("streamplane-app", b"bench-sdk"),
        ("streamplane-schema-id", str(int.from_bytes(frame[1:5], "big")).encode()),
    ]
    loops = {
        "raw": RawRun(conn, "bench-raw", payloads),
        "hand": HandWrittenRun(conn, "bench-hand", payloads, records, frame, headers),
        "sdk": sdk,
    }
    # Alternating chunks, so that all clients see the same machine load.
    chunk = max(1, n // CHUNKS)
    for run in range(runs):
        spent = dict.fromkeys(loops, 0.0)
        for first in range(0, n, chunk):
            count = min(chunk, n - first)
            for name, loop in loops.items():
                wall, thread = loop(first, count)
                spent[name] += wall
                cpu[name] += thread
        for key, value in spent.items():
            times[key].append(value)
        rates = ", ".join(f"{name} {n / spent[name]:,.0f} msgs/s" for name in loops)
        print(f"run {run + 1}: {rates}", flush=True)
    sdk.close()
    create(cluster, "bench-kafka-python", "bench-quix")
    kp = produce_kafka_python(conn, "bench-kafka-python", payloads, n)
    print(f"kafka-python {n / kp:,.0f} msgs/s", flush=True)
    quix: tuple[float, str] | None = None
    if not args.skip_quix:
        quix = produce_quix(conn, "bench-quix", payloads, n, cluster.dir.root.parent, tuning=TUNING)
        print(f"quix {n / quix[0]:,.0f} msgs/s ({quix[1]})", flush=True)

    sdk_p, raw_p, hand_p = median(times["sdk"]), median(times["raw"]), median(times["hand"])
    # Each run interleaves the clients, so its ratio is the one measured under one load.
    run_ratios = [r / s for r, s in zip(times["raw"], times["sdk"], strict=True)]
    hand_ratio = median([h / s for h, s in zip(times["hand"], times["sdk"], strict=True)])
    hand_raw = median([r / h for r, h in zip(times["raw"], times["hand"], strict=True)])
    mb = n * RECORD_BYTES / 1e6
    per_record = {name: spent / (n * runs) * 1e6 for name, spent in cpu.items()}
    rows = [
        ("produce msgs/s (SDK: Avro, headers, metrics)", f"{n / sdk_p:,.0f}", f"{n / raw_p:,.0f}"),
        ("produce MB/s", f"{mb / sdk_p:,.1f}", f"{mb / raw_p:,.1f}"),
        ("produce ratio SDK / raw, median of runs (target >= 0.80)",
         f"{median(run_ratios):.2f}", "1.00"),
        ("hand-written (Avro + headers, no wrapper) msgs/s", f"{n / hand_p:,.0f}",
         f"{n / raw_p:,.0f}"),
        ("hand-written ratio / raw: the ceiling for that work", f"{hand_raw:.2f}", "1.00"),
        ("produce ratio SDK / hand-written", f"{hand_ratio:.2f}", "1.00"),
        ("produce Python CPU us/record: SDK | hand-written vs raw",
         f"{per_record['sdk']:.2f} | {per_record['hand']:.2f}", f"{per_record['raw']:.2f}"),
        ("kafka-python produce msgs/s", f"{n / kp:,.0f}", f"{n / raw_p:,.0f}"),
        ("kafka-python ratio / raw", f"{raw_p / kp:.2f}", "1.00"),
    ]  # fmt: skip
    notes = [
        "produce ratio per run: " + ", ".join(f"{r:.2f}" for r in run_ratios) + "; "
        f"throughput spread: SDK {statistics.pstdev([n / t for t in times['sdk']]):,.0f}, "
        f"raw {statistics.pstdev([n / t for t in times['raw']]):,.0f} msgs/s"
    ]
    if quix is not None:
        rows += [
            ("Quix Streams produce msgs/s", f"{n / quix[0]:,.0f}", f"{n / raw_p:,.0f}"),
            ("Quix Streams ratio / raw", f"{raw_p / quix[0]:.2f}", "1.00"),
        ]
        notes.append(f"Quix Streams ran from {QUIX_VENV}: {quix[1]}")
    return rows, notes


def consume_phase(
    conn: ConnectionSettings, url: str, topic: str, args: argparse.Namespace
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Consume throughput: raw, hand-written (the ceiling) and SDK in each run, in an order
    that rotates from run to run; rows and notes."""
    n, runs = args.records, args.runs
    loops: dict[str, Callable[[], tuple[float, float]]] = {
        "raw": lambda: consume_raw(conn, topic, n),
        "hand": lambda: consume_raw(conn, topic, n, decode=True),
        "bare": lambda: consume_raw(conn, topic, n, decode=True, headers=False),
        "sdk": lambda: consume_sdk(conn, url, topic, n),
        "batches": lambda: consume_sdk(conn, url, topic, n, batches=True),
    }
    wall: dict[str, list[float]] = {name: [] for name in loops}
    cpu: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for run in range(runs):
        turn = run % len(names)
        for name in names[turn:] + names[:turn]:
            elapsed, thread = loops[name]()
            wall[name].append(elapsed)
            cpu[name].append(thread)
        print(
            f"consume run {run + 1}: "
            + ", ".join(f"{name} {n / wall[name][-1]:,.0f} msgs/s" for name in names)
            + f"; SDK run / hand-written {wall['hand'][-1] / wall['sdk'][-1]:.2f}, "
            f"run_batches / hand-written {wall['hand'][-1] / wall['batches'][-1]:.2f} "
            f"(headers unread {wall['bare'][-1] / wall['batches'][-1]:.2f}); "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    raw_c, hand_c = median(wall["raw"]), median(wall["hand"])

    def to_hand(name: str, spent: dict[str, list[float]], hand: str = "hand") -> list[float]:
        """Per run: the hand-written loop's time over ``name``'s (1.0: as fast)."""
        return [h / s for h, s in zip(spent[hand], spent[name], strict=True)]

    per_record = {name: median(spent) / n * 1e6 for name, spent in cpu.items()}
    bare_c = median(wall["bare"])
    rows = [
        ("hand-written consume (decode + headers + commits) msgs/s", f"{n / hand_c:,.0f}",
         f"{n / raw_c:,.0f}"),
        ("hand-written consume ratio / raw: the ceiling", f"{raw_c / hand_c:.2f}", "1.00"),
        ("hand-written consume, headers left unread (decode + commits) msgs/s",
         f"{n / bare_c:,.0f}", f"{n / raw_c:,.0f}"),
    ]  # fmt: skip
    notes = []
    for name, label, hand in (
        ("sdk", "SDK run (per record)", "hand"),
        ("batches", "SDK run_batches", "hand"),
        ("batches", "SDK run_batches vs the loop leaving headers unread", "bare"),
    ):
        spent = median(wall[name])
        if hand == "hand":
            rows += [
                (f"consume msgs/s, {label}: Avro + metrics", f"{n / spent:,.0f}",
                 f"{n / raw_c:,.0f}"),
                (f"consume ratio {label} / raw", f"{raw_c / spent:.2f}", "1.00"),
            ]  # fmt: skip
        rows += [
            (f"consume ratio {label} / hand-written, median of per-run ratios",
             f"{median(to_hand(name, wall, hand)):.2f}", "1.00"),
            (f"consume Python CPU us/record: {label} | hand-written vs raw",
             f"{per_record[name]:.2f} | {per_record[hand]:.2f}", f"{per_record['raw']:.2f}"),
        ]  # fmt: skip
        notes.append(
            f"consume {label} / hand-written per run: "
            + ", ".join(f"{r:.2f}" for r in to_hand(name, wall, hand))
            + " (Python CPU: "
            + ", ".join(f"{r:.2f}" for r in to_hand(name, cpu, hand))
            + ")"
        )
    return rows, notes


def raw_side(
    conn: ConnectionSettings, payloads: list[bytes], rate: int, seconds: float,
    run: int, start_at: float | None,
) -> list[float]:  # fmt: skip
    """Raw confluent-kafka's latencies (ms) on bench-latency-raw-<run>."""
    producer = RawProducer(client_config("low_latency", "producer", connection=conn.librdkafka()))
    consumer = RawConsumer(
        client_config("low_latency", "consumer", connection=conn.librdkafka(
            **{"group.id": f"bench-lat-raw-{uuid.uuid4().hex}"}))
    )  # fmt: skip
    return raw_latencies(
        producer, consumer, f"bench-latency-raw-{run}", payloads,
        rate=rate, seconds=seconds, start_at=start_at,
    )  # fmt: skip


def sdk_side(
    conn: ConnectionSettings, url: str, records: list[Any], rate: int, seconds: float,
    run: int, start_at: float | None,
) -> list[float]:  # fmt: skip
    """The SDK's latencies (ms) on bench-latency-sdk-<run>: its producer and consumer."""
    topic = f"bench-latency-sdk-{run}"
    producer = sdk_producer(conn, url, topic, profile="low_latency", config={})
    consumer = Consumer(
        connection=conn, app_id="bench-sdk", group_id=f"bench-lat-{uuid.uuid4().hex}",
        topics=[topic], profile="low_latency",
        schemas={topic: TopicSchemas(value=TopicSchema.avro())},
        registry=registry_settings(conn, url), telemetry=telemetry(),
        dead_letters=None,
    )  # fmt: skip
    return sdk_latencies(
        producer, consumer, topic, records, rate=rate, seconds=seconds, start_at=start_at
    )


def latency_phase(
    cluster: LocalCluster, conn: ConnectionSettings, url: str, records: list[Any],
    payloads: list[bytes], args: argparse.Namespace,
) -> list[tuple[str, str, str]]:  # fmt: skip
    """Produce-to-consume latency, ``--latency-runs`` runs of raw and SDK, each printed.

    On a cluster nothing has consumed from yet, a first, unmeasured run of 3 s takes what
    only the first group pays (the broker creating __consumer_offsets, its JIT warming).
    """
    seconds, rate, runs = args.latency_seconds, args.rate, args.latency_runs
    numbers = range(runs + 1)  # the last one for the warm-up
    create(cluster, *(f"bench-latency-{side}-{n}" for n in numbers for side in ("raw", "sdk")))
    if "consume" not in set(args.parts.split(",")):
        raw_side(conn, payloads, rate, 3.0, runs, None)
        sdk_side(conn, url, records, rate, 3.0, runs, None)
    raw = partial(raw_side, conn, payloads, rate, seconds)
    sdk = partial(sdk_side, conn, url, records, rate, seconds)
    if args.latency_mode == "paired":
        done = paired_runs(runs, raw=raw, sdk=sdk, timeout_s=seconds + 120)
    else:
        done = alternating_runs(runs, raw=raw, sdk=sdk)
    return latency_rows(done, rate, args.latency_mode)


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port-offset", type=int, default=PORT_OFFSET)
    parser.add_argument("--rate", type=int, default=1000, help="latency: records per second")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument(
        "--latency-mode", choices=("paired", "alternate"), default="paired",
        help="paired: raw and SDK at the same time, in two processes; alternate: in turn",
    )  # fmt: skip
    parser.add_argument(
        "--parts", default="produce,consume,latency",
        help="comma-separated: produce, consume, latency (e.g. --parts latency)",
    )  # fmt: skip
    parser.add_argument("--skip-quix", action="store_true")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    unknown = parts - {"produce", "consume", "latency"}
    if unknown:
        parser.error(f"unknown --parts {', '.join(sorted(unknown))}")
    n, runs = args.records, args.runs
    rows: list[tuple[str, str, str]] = []
    notes: list[str] = []
    load_before = os.getloadavg()
    with scratch_cluster("client", nodes=1, port_offset=args.port_offset) as cluster:
        service = RegistryProcess(cluster.dir, port_offset=args.port_offset)
        service.start()
        try:
            conn = cluster.admin_settings()
            url = service.url
            encoder = sdk_producer(conn, url, "bench-probe")._serializer.value_encoder(
                "bench-probe"
            )
            records, payloads = make_records(encoder.encode)
            create(cluster, "bench-sdk")
            if "produce" in parts:
                produced, said = produce_phase(cluster, conn, url, records, payloads, args)
                rows, notes = rows + produced, notes + said
            elif "consume" in parts:
                fill = SdkRun(conn, url, "bench-sdk", records)
                fill(0, n)  # what the produce phase would have left, untimed
                fill.close()
            if "consume" in parts:
                consumed, said = consume_phase(conn, url, "bench-sdk", args)
                rows, notes = rows + consumed, notes + said
            if "latency" in parts:
                rows += latency_phase(cluster, conn, url, records, payloads, args)
        finally:
            service.stop()
    load_after = os.getloadavg()
    report(
        rows,
        title=(
            f"client SDK, {n:,} x {RECORD_BYTES} B, {PARTITIONS} partitions, 1 node, zero_loss + "
            f"linger 5 ms, median of {runs} (baseline: raw confluent-kafka, same run)"
        ),
    )
    for note in notes:
        print(note)
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        f"({os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
