"""Noisy neighbours: a tenant's quota from the spec is enforced by the broker on its own
principal, and its neighbour is not held back by it.

Tenant ``loud`` floods its topic from one application; tenant ``quiet`` writes a trickle.
First without a quota, then with ``quotas: {producer_byte_rate: 512KiB}`` on ``loud``
(applied by ``apply``): the broker throttles the flood (the client reports throttle time
and its rate falls far below the unthrottled one), while every record of ``quiet`` is
delivered in both phases. The latency figures (p99 solo, flooded, quota'd) are in
benchmarks/bench_noisy_neighbour.py: a ratio of latencies is a benchmark, not a test.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import KafkaError, Producer

from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from streamplane.model import load_spec
from streamplane.reconcile import client_config_path, connect
from tests.integration.reconcile.conftest import apply_spec
from tests.integration.security._isolation import ONE_NODE_PLATFORM

QUOTA = 512 * 1024
SECONDS = 6.0


def _spec(root: Path, loud: str, quiet: str, quota: bool) -> dict[str, str]:
    """Write and apply; each application's principal."""
    root.mkdir(parents=True, exist_ok=True)
    tenants = ""
    for tenant, limit in ((loud, quota), (quiet, False)):
        tenants += (
            f"  - name: {tenant}\n"
            f"    owners: [{tenant}@example.com]\n"
            "    clusters: [local]\n"
            + ("    quotas: {producer_byte_rate: 512KiB}\n" if limit else "")
            + "    domains:\n"
            "      - name: d\n"
            f"        owner: {tenant}@example.com\n"
            "        topics:\n"
            f"          - {{name: t, partitions: 1, classification: internal, owner: {tenant}@example.com}}\n"
            "        applications:\n"
            f"          - {{name: {tenant}-app, produces: [{tenant}.d.t]}}\n"
        )
    (root / "platform.yaml").write_text(ONE_NODE_PLATFORM + "tenants:\n" + tenants)
    return {name: entry.principal for name, entry in load_spec(root).applications.items()}


def _apply(root: Path, cluster: LocalCluster) -> None:
    spec = load_spec(root)
    apply_spec(spec, connect(spec, data_dir=cluster.dir.root))


def _flood(settings: ConnectionSettings, topic: str) -> tuple[float, float]:
    """(bytes/s delivered, the broker's largest throttle time in ms) over SECONDS."""
    throttle: list[float] = [0.0]

    def stats(raw: str) -> None:
        for broker in json.loads(raw).get("brokers", {}).values():
            throttle[0] = max(throttle[0], broker.get("throttle", {}).get("max", 0))

    producer = Producer(
        settings.librdkafka(**{
            "acks": "all", "linger.ms": 5, "batch.size": 262144, "log_level": 0,
            "statistics.interval.ms": 500, "stats_cb": stats,
            # A small queue: a throttled flood must not leave a long flush behind.
            "queue.buffering.max.kbytes": 2048,
        })
    )  # fmt: skip
    record, delivered = b"x" * 16384, [0]

    def done(err: KafkaError | None, _msg: object) -> None:
        if err is None:
            delivered[0] += len(record)

    started = time.monotonic()
    while time.monotonic() - started < SECONDS:
        try:
            producer.produce(topic, record, on_delivery=done)
        except BufferError:
            producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    return delivered[0] / (time.monotonic() - started), throttle[0]


def _trickle(settings: ConnectionSettings, topic: str, stop: threading.Event) -> tuple[int, int]:
    """(sent, delivered) of small records, serving delivery reports between them (up to
    20 ms each), until ``stop``."""
    producer = Producer(settings.librdkafka(**{"acks": "all", "linger.ms": 0, "log_level": 0}))
    counts = [0, 0]

    def done(err: KafkaError | None, _msg: object) -> None:
        counts[1] += err is None

    while not stop.is_set():
        producer.produce(topic, b"q" * 100, on_delivery=done)
        counts[0] += 1
        producer.poll(0.02)
    producer.flush(60)
    return counts[0], counts[1]


def _phase(cluster: LocalCluster, principals: dict[str, str], loud: str, quiet: str) -> tuple:
    root = cluster.dir.root
    conn = {
        app: ConnectionSettings.from_properties_file(client_config_path(root, principal))
        for app, principal in principals.items()
    }
    stop, quiet_counts = threading.Event(), []
    thread = threading.Thread(
        target=lambda: quiet_counts.append(_trickle(conn[f"{quiet}-app"], f"{quiet}.d.t", stop))
    )
    thread.start()
    try:
        rate, throttle = _flood(conn[f"{loud}-app"], f"{loud}.d.t")
    finally:
        stop.set()
        thread.join(90)
    return rate, throttle, quiet_counts[0]


def test_a_tenants_quota_throttles_its_flood_and_not_its_neighbour(
    cluster1: LocalCluster, tmp_path: Path
) -> None:
    loud, quiet = f"loud{uuid.uuid4().hex[:5]}", f"quiet{uuid.uuid4().hex[:5]}"
    principals = _spec(tmp_path / "spec", loud, quiet, quota=False)
    _apply(tmp_path / "spec", cluster1)
    open_rate, open_throttle, (sent1, ok1) = _phase(cluster1, principals, loud, quiet)

    _spec(tmp_path / "spec", loud, quiet, quota=True)
    _apply(tmp_path / "spec", cluster1)
    capped_rate, capped_throttle, (sent2, ok2) = _phase(cluster1, principals, loud, quiet)

    print(
        f"\nflood {open_rate / 1024:.0f} KiB/s free, {capped_rate / 1024:.0f} KiB/s quota'd "
        f"(throttled up to {capped_throttle} ms); quiet {ok1}/{sent1}, {ok2}/{sent2}"
    )
    assert open_throttle == 0, "no quota, no throttling"
    assert capped_throttle > 0, "the broker throttled the quota'd flood"
    # Kafka lets a burst through at first and then holds the average to the quota over its
    # sample window (11 s), so a 6 s flood ends above 512 KiB/s but far below its freedom.
    assert capped_rate < open_rate / 3, (capped_rate, open_rate)
    assert ok1 == sent1 and ok2 == sent2, "every record of the quiet tenant was delivered"
    assert sent2 > SECONDS / 0.02 * 0.5, "the quiet tenant kept its pace"
