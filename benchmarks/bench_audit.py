"""Audit shipper figures, each beside its baseline from the same run.

- Throughput: the broker logs a backlog of denials (a principal with no ACLs asking for
  metadata from several threads) while no shipper runs; then the shipper ships the backlog
  (exactly once: parse, transactional produce with its file positions) and the figure is
  events per second. The baseline ships the same lines with a plain idempotent producer
  and no positions: what the exactly-once promise costs.
- Lag under load: the shipper runs while the same traffic is made as fast as the broker
  takes it; the lag of each event is the time from the broker's log line to the event's
  commit in ``_streamplane_audit`` (its Kafka timestamp). Figures: p50 and p99, beside
  the shipper's idle pause (the bound it is designed to).

Run: .venv/bin/python benchmarks/bench_audit.py [--seconds 10] [--threads 4]
     [--port-offset 22000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from datetime import datetime

from _harness import PORT_OFFSET, report, scratch_cluster
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.kafka._admin import ClusterAdmin
from streamplane.local import LocalCluster
from streamplane.security.audit._record import event_id, parse_authorizer_line
from streamplane.security.audit._shipper import (
    AUDIT_TOPIC,
    LogTail,
    Shipper,
    committed_reader,
    ensure_topics,
    read_to_end,
)


def _user(cluster: LocalCluster) -> tuple[str, str]:
    user, password = f"noisy-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    ClusterAdmin(cluster.admin_settings()).upsert_scram({user: password})
    return user, password


def _denials(cluster: LocalCluster, user: str, password: str, seconds: float, threads: int) -> int:
    """Denied metadata requests from ``threads`` clients for ``seconds``; how many."""
    settings = cluster.admin_settings().with_credentials(user, password)
    counts: list[int] = []

    def loop() -> None:
        admin = AdminClient(settings.librdkafka(log_level=0))
        made, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            admin.list_topics(topic=AUDIT_TOPIC, timeout=10)
            made += 1
        counts.append(made)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts)


def _shipper(cluster: LocalCluster) -> Shipper:
    state = cluster.require_state()
    return Shipper(
        cluster.admin_settings(),
        {n: cluster.dir.node_logs(n) for n in state.node_ids()},
        cluster_id=state.cluster_id,
    )


def _ship_backlog(shipper: Shipper) -> tuple[int, float]:
    """(events shipped, seconds) until the shipper finds nothing new."""
    shipper.start()
    started = time.perf_counter()
    while shipper.ship_once():
        pass
    return shipper.shipped, time.perf_counter() - started


def _plain_baseline(cluster: LocalCluster) -> tuple[int, float]:
    """The same lines, parsed and produced without transactions or positions."""
    state = cluster.require_state()
    producer = Producer(
        cluster.admin_settings().librdkafka(**{
            "enable.idempotence": True, "acks": "all", "linger.ms": 20,
            "compression.type": "lz4", "log_level": 0,
        })
    )  # fmt: skip
    started = time.perf_counter()
    count = 0
    for node in state.node_ids():
        for line in LogTail(node, cluster.dir.node_logs(node)).lines(None, 10_000_000):
            record = parse_authorizer_line(
                line.text,
                source=f"broker:{node}",
                id=event_id(state.cluster_id, node, line.inode, line.start),
            )
            while True:
                try:
                    producer.produce("bench.audit.plain", key=record.id.encode(),
                                     value=record.to_json().encode())  # fmt: skip
                    break
                except BufferError:
                    producer.poll(0.01)
            count += 1
    producer.flush(60)
    return count, time.perf_counter() - started


def _lags(cluster: LocalCluster, principal: str) -> list[float]:
    """Seconds from each of ``principal``'s log lines to its commit in the audit topic."""
    consumer = committed_reader(cluster.admin_settings(), f"bench-{uuid.uuid4().hex}")
    lags = []
    try:
        parts = consumer.list_topics(AUDIT_TOPIC, timeout=30).topics[AUDIT_TOPIC].partitions
        for msg in read_to_end(consumer, [TopicPartition(AUDIT_TOPIC, p, 0) for p in parts],
                               timeout_s=300):  # fmt: skip
            event = json.loads(msg.value() or b"{}")
            if event.get("principal") != principal:
                continue
            logged = datetime.fromisoformat(event["time"]).timestamp()
            lags.append(msg.timestamp()[1] / 1000 - logged)
    finally:
        consumer.close()
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port-offset", type=int, default=PORT_OFFSET)
    args = parser.parse_args()
    with scratch_cluster("audit", nodes=1, port_offset=args.port_offset) as cluster:
        ensure_topics(cluster.admin_settings())
        admin = AdminClient(cluster.admin_settings().librdkafka(log_level=0))
        admin.create_topics([NewTopic("bench.audit.plain", 1, 1)])["bench.audit.plain"].result(30)
        user, password = _user(cluster)
        made = _denials(cluster, user, password, args.seconds, args.threads)
        plain_n, plain_s = _plain_baseline(cluster)
        shipped_n, shipped_s = _ship_backlog(_shipper(cluster))

        # Lag: a second principal's traffic while a shipper runs in the background.
        live_user, live_password = _user(cluster)
        shipper = _shipper(cluster)
        stop = threading.Event()
        runner = threading.Thread(target=shipper.run, args=(stop,))
        runner.start()
        live = _denials(cluster, live_user, live_password, args.seconds, args.threads)
        time.sleep(3)  # the last lines shipped
        stop.set()
        runner.join(60)
        lags = sorted(_lags(cluster, f"User:{live_user}"))
    q = statistics.quantiles(lags, n=100) if len(lags) > 100 else [0.0] * 99
    rows = [
        ("backlog events shipped / s (exactly once)", f"{shipped_n / shipped_s:,.0f}",
         f"{plain_n / plain_s:,.0f}"),
        ("  events in the backlog", f"{shipped_n:,}", f"{plain_n:,}"),
        ("lag under load p50 (ms)", f"{q[49] * 1000:,.0f}", f"{shipper.idle_s * 1000:.0f}"),
        ("lag under load p99 (ms)", f"{q[98] * 1000:,.0f}", f"{shipper.idle_s * 1000:.0f}"),
        ("  denied requests made (backlog / live)", f"{made:,} / {live:,}",
         f"{len(lags):,} shipped live"),
    ]  # fmt: skip
    report(rows, title="Audit shipper (1 node; baseline: plain producer / idle pause)")


if __name__ == "__main__":
    main()
