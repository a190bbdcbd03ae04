"""The masking job: its throughput and the end-to-end latency it adds.

A 1-node cluster and registry, a spec whose raw topic (customer id, name, email, card
number, a 200-byte note) declares a masked twin (name and email hashed, card last4).

* Throughput: a backlog of ``--records`` is drained by the masking job (decode, mask,
  encode, one transaction per batch) and, in the same run, by the SDK's
  TransactionalProcessor copying the same records byte for byte: the baseline is the
  cost of exactly-once itself, so the ratio is what masking adds.
* Latency: records produced at a steady ``--rate`` for ``--seconds``; a read_committed
  reader sees each raw record and its masked twin; the figures are the p50/p99 of
  (seen − produced) for the twin against the raw topic. The job commits every
  ``commit_interval_s`` (0.5 s by default, 0.1 s here as ``--commit-ms`` says).

Run: .venv/bin/python benchmarks/bench_masking.py [--records 50000] [--rate 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _harness import PORT_OFFSET, apply_spec_dir, median, report, scratch_cluster
from _harness import write_one_node_spec as write_spec
from confluent_kafka import Consumer as KafkaConsumer

from streamplane.client import Producer, RegistrySettings
from streamplane.client.transactional import Output, TransactionalProcessor, TransactionSettings
from streamplane.lineage.masking import MaskingJob
from streamplane.local import LocalCluster, RegistryProcess
from streamplane.model import Spec

RAW = "bench.cards.holders"
TWIN = "bench.cards.holders-masked.v1"
COPY = "bench.cards.copy"
SCHEMA = {
    "type": "record", "name": "Holder", "namespace": "bench",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "name", "type": "string", "confluent:tags": ["PII"]},
        {"name": "email", "type": "string", "confluent:tags": ["PII"]},
        {"name": "card", "type": "string", "confluent:tags": ["CARD"]},
        {"name": "note", "type": "string"},
    ],
}  # fmt: skip
TENANTS = f"""\
tenants:
  - name: bench
    owners: [bench@example.com]
    clusters: [local]
    domains:
      - name: cards
        owner: bench@example.com
        topics:
          - name: holders
            partitions: 3
            classification: confidential
            value_schema: schemas/holder.avsc
            masked_twin: {{masks: {{CARD: last4, PII: hash}}}}
          - name: copy
            partitions: 3
            classification: confidential
            value_schema: schemas/holder.avsc
        applications:
          - name: writer
            produces: [{RAW}]
            profile: zero_loss
          - name: copier
            consumes: [{RAW}]
            produces: [{COPY}]
            transactional: true
            profile: zero_loss
"""


def record(n: int) -> dict[str, Any]:
    return {
        "id": f"c{n % 1000}", "name": f"Holder {n}", "email": f"h{n}@example.com",
        "card": f"4{n:015d}", "note": "x" * 200,
    }  # fmt: skip


def drain(step: Any, done: Any) -> float:
    began = time.perf_counter()
    while not done():
        step()
    return time.perf_counter() - began


def masking_rate(
    spec: Spec, cluster: LocalCluster, registry: RegistrySettings, n: int, group: str
) -> float:
    with MaskingJob(
        spec, RAW, connection=cluster.admin_settings(), registry=registry,
        data_dir=cluster.dir.root, settings=TransactionSettings(max_records=2000), group=group,
    ) as job:  # fmt: skip
        seconds = drain(job.step, lambda: job.stats.masked + job.stats.parked >= n)
    return n / seconds


def copy_rate(cluster: LocalCluster, n: int) -> float:
    def copy(messages: list[Any]) -> list[Output]:
        return [Output(COPY, m.value(), key=m.key(), headers=m.headers()) for m in messages]

    processor = TransactionalProcessor(
        [RAW], group=f"copy-{time.time_ns()}", transactional_id=f"copy-{time.time_ns()}",
        transform=copy, connection=cluster.admin_settings(),
        settings=TransactionSettings(max_records=2000),
    )  # fmt: skip
    copied = 0

    def step() -> None:
        nonlocal copied
        processor.step()
        copied = processor.stats.records_committed

    with processor:
        seconds = drain(step, lambda: copied >= n)
    return n / seconds


def latencies(
    spec: Spec, cluster: LocalCluster, registry: RegistrySettings, producer: Producer,
    rate: int, seconds: float, commit_s: float, group: str,
) -> dict[str, list[float]]:  # fmt: skip
    """Seen − produced (ms) per record, for the raw topic and for the twin."""
    seen: dict[str, list[float]] = {RAW: [], TWIN: []}
    stop = threading.Event()
    reader = KafkaConsumer(
        cluster.admin_settings().librdkafka(
            **{"group.id": f"lat-{time.time_ns()}", "auto.offset.reset": "latest",
               "isolation.level": "read_committed", "enable.auto.commit": False}
        )
    )  # fmt: skip
    reader.subscribe([RAW, TWIN])

    def read() -> None:
        while not stop.is_set():
            message = reader.poll(0.05)
            if message is None or message.error() is not None:
                continue
            seen[message.topic()].append(time.time() * 1000 - message.timestamp()[1])

    job = MaskingJob(
        spec, RAW, connection=cluster.admin_settings(), registry=registry,
        data_dir=cluster.dir.root, group=group,
        settings=TransactionSettings(commit_interval_s=commit_s, poll_timeout_s=0.05),
    )  # fmt: skip
    threads = [
        threading.Thread(target=read),
        threading.Thread(target=lambda: job.run(stop=stop.is_set)),
    ]
    for t in threads:
        t.start()
    time.sleep(5)  # both joined their groups
    began = time.monotonic()
    sent = 0
    while time.monotonic() - began < seconds:
        due = int((time.monotonic() - began) * rate)
        while sent < due:
            producer.produce(RAW, record(sent), key=f"c{sent % 1000}")
            sent += 1
        producer.poll(0)
        time.sleep(0.002)
    producer.flush(30)
    time.sleep(2 + commit_s * 2)
    stop.set()
    for t in threads:
        t.join(60)
    job.close()
    reader.close()
    return seen


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--commit-ms", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sp-bench-masking-"))
    write_spec(root, TENANTS)
    (root / "schemas").mkdir()
    (root / "schemas" / "holder.avsc").write_text(json.dumps(SCHEMA))
    with scratch_cluster("masking", nodes=1) as cluster:
        service = RegistryProcess(cluster.dir, port_offset=PORT_OFFSET)
        service.start()
        try:
            spec = apply_spec_dir(root, cluster)
            admin = cluster.admin_settings()
            registry = RegistrySettings(service.url, admin.username, admin.password)
            producer = Producer.for_application(
                spec, "writer", connection=admin, registry=registry, data_dir=cluster.dir.root,
                config={"linger.ms": 5},
            )  # fmt: skip
            for n in range(args.records):
                producer.produce(RAW, record(n), key=f"c{n % 1000}")
            producer.flush(120)
            masked, copied = [], []
            for run in range(args.runs):
                copied.append(copy_rate(cluster, args.records))
                masked.append(masking_rate(spec, cluster, registry, args.records, f"mask-{run}"))
            # The last run's group is at the end of the backlog: only new records follow.
            seen = latencies(
                spec, cluster, registry, producer, args.rate, args.seconds,
                args.commit_ms / 1000, f"mask-{args.runs - 1}",
            )  # fmt: skip
            producer.close()
        finally:
            service.stop()
    ratios = ", ".join(f"{m / c:.2f}" for m, c in zip(masked, copied, strict=True))
    raw, twin = seen[RAW], seen[TWIN]
    rows = [
        ("masking job, backlog (msgs/s)", f"{median(masked):,.0f}", f"{median(copied):,.0f}"),
        (f"ratio, median of {args.runs} (runs: {ratios})",
         f"{median(masked) / median(copied):.2f}", "1.00"),
        (f"end-to-end p50 at {args.rate}/s, twin vs raw (ms)", f"{pct(twin, 0.5):.0f}",
         f"{pct(raw, 0.5):.0f}"),
        ("end-to-end p99, twin vs raw (ms)", f"{pct(twin, 0.99):.0f}", f"{pct(raw, 0.99):.0f}"),
        ("records seen, twin vs raw", f"{len(twin):,}", f"{len(raw):,}"),
    ]  # fmt: skip
    report(
        rows,
        title=f"masked twin (baseline: exactly-once byte copy of the same records; latency: "
        f"the raw topic itself; job commits every {args.commit_ms} ms)",
    )


if __name__ == "__main__":
    main()
