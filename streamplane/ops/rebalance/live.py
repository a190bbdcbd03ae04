"""The rebalance model of a live cluster, and Kafka's reassignment calls the executor drives.

confluent-kafka has neither DescribeLogDirs nor the partition-reassignment APIs
(KIP-455), so these go through kafka-python's admin client, as the size and quorum reads
of :mod:`streamplane.kafka` do. Metadata (replicas, leaders, racks) comes from the same
client, so one connection answers the whole model.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from streamplane.errors import ClusterError
from streamplane.kafka import ConnectionSettings
from streamplane.ops.rebalance.model import Broker, ClusterModel, Partition


@dataclass
class LiveCluster:
    cluster_id: str
    model: ClusterModel
    #: (topic, partition) -> the replicas the controller is moving it to right now
    reassigning: dict[tuple[str, int], list[int]]


@contextmanager
def kafka_admin(settings: ConnectionSettings, *, timeout_s: float = 30.0) -> Iterator[Any]:
    """A kafka-python admin client, closed on exit; a clear error when it cannot connect."""
    from kafka.admin import KafkaAdminClient

    timeout_ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(
            **settings.kafka_python(),
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            client_id="streamplane-rebalance",
        )
    except Exception as exc:
        raise ClusterError(
            f"cannot reach {settings.bootstrap_servers} for a rebalance: {exc}"
        ) from exc
    try:
        yield admin
    finally:
        admin.close()


def read_cluster(
    settings: ConnectionSettings,
    *,
    capacity_bytes: int | None = None,
    include_internal: bool = True,
) -> LiveCluster:
    """Brokers (rack, disk capacity), partitions (replicas, size) and moves in flight.

    A replica's size is the largest any broker reports for the partition (a follower
    still catching up reports less; the bytes to copy are the leader's). Capacity is
    each broker's log directories' total bytes (DescribeLogDirs v4+), or
    ``capacity_bytes`` when given (brokers sharing one disk, as on one machine, report
    that disk whole each).
    """
    with kafka_admin(settings) as admin:
        described = admin.describe_cluster()
        log_dirs = admin.describe_log_dirs()
        topics = admin.describe_topics()
        reassigning = _reassigning(admin.list_partition_reassignments())
    sizes: dict[tuple[str, int], int] = {}
    totals: dict[int, int] = {}
    for answer in log_dirs:
        broker = int(answer["broker"])
        for log_dir in answer.get("log_dirs", []):
            totals[broker] = totals.get(broker, 0) + max(0, int(log_dir.get("total_bytes", -1)))
            for topic in log_dir.get("topics", []):
                for part in topic.get("partitions", []):
                    if part.get("is_future_key"):
                        continue
                    key = (topic["name"], int(part["partition_index"]))
                    sizes[key] = max(sizes.get(key, 0), int(part["partition_size"]))
    brokers = {}
    for b in described["brokers"]:
        broker_id = int(b["broker_id"])
        capacity = capacity_bytes or totals.get(broker_id) or 1 << 50
        brokers[broker_id] = Broker(broker_id, b.get("rack") or f"broker-{broker_id}", capacity)
    partitions = []
    for topic in topics:
        if topic.get("is_internal") and not include_internal:
            continue
        for part in topic.get("partitions", []):
            key = (topic["name"], int(part["partition_index"]))
            replicas = [int(r) for r in part["replica_nodes"]]
            partitions.append(Partition(key[0], key[1], replicas, sizes.get(key, 0)))
    partitions.sort(key=lambda p: p.key)
    missing = {r for p in partitions for r in p.replicas} - set(brokers)
    for broker_id in missing:
        # A replica on a broker that is down: keep it in the model (it still holds the
        # data) with the rack unknown, so nothing is planned onto it.
        brokers[broker_id] = Broker(broker_id, f"offline-{broker_id}", 1 << 50)
    return LiveCluster(
        cluster_id=str(described["cluster_id"]),
        model=ClusterModel(brokers, partitions),
        reassigning=reassigning,
    )


def read_cluster_with_rates(
    settings: ConnectionSettings, window_s: float, *, capacity_bytes: int | None = None
) -> LiveCluster:
    """:func:`read_cluster`, with each partition's bytes written per second: its size on
    disk read twice, ``window_s`` apart (the leader's copy grows by what is written;
    retention deleting a segment meanwhile reads as 0, not as negative traffic)."""
    first = read_cluster(settings, capacity_bytes=capacity_bytes)
    if window_s <= 0:
        return first
    started = time.monotonic()
    time.sleep(window_s)
    second = read_cluster(settings, capacity_bytes=capacity_bytes)
    elapsed = time.monotonic() - started
    before = {p.key: p.size_bytes for p in first.model.partitions}
    for part in second.model.partitions:
        part.bytes_in_s = max(0.0, (part.size_bytes - before.get(part.key, 0)) / elapsed)
    return second


def _reassigning(listed: dict[Any, Any]) -> dict[tuple[str, int], list[int]]:
    out = {}
    for tp, state in listed.items():
        replicas = (
            state.get("replicas") if isinstance(state, dict) else getattr(state, "replicas", [])
        )
        out[(tp.topic, tp.partition)] = [int(r) for r in replicas or []]
    return out


def in_flight(settings: ConnectionSettings) -> dict[tuple[str, int], list[int]]:
    """The partitions the controller is reassigning now (ListPartitionReassignments)."""
    with kafka_admin(settings) as admin:
        return _reassigning(admin.list_partition_reassignments())


def reassign(
    settings: ConnectionSettings, targets: dict[tuple[str, int], list[int] | None]
) -> dict[tuple[str, int], str]:
    """Start (a replica list) or cancel (None) reassignments; returns what the controller
    refused, with its reason. Accepted ones proceed in the brokers, beyond this process."""
    from kafka import TopicPartition

    if not targets:
        return {}
    with kafka_admin(settings) as admin:
        answers = admin.alter_partition_reassignments(
            {TopicPartition(t, p): replicas for (t, p), replicas in targets.items()}
        )
    return {
        (tp.topic, tp.partition): getattr(error, "__name__", str(error))
        for tp, error in answers.items()
        if error is not None
    }


def elect_preferred(settings: ConnectionSettings, partitions: list[tuple[str, int]]) -> None:
    """Move leadership to each partition's first replica (the leader balance of a plan)."""
    if not partitions:
        return
    wanted: dict[str, list[int]] = {}
    for topic, partition in partitions:
        wanted.setdefault(topic, []).append(partition)
    with kafka_admin(settings) as admin:
        # Per-partition errors (ELECTION_NOT_NEEDED: already led by it) are not failures:
        # the leader balance is best effort and `rebalance status` shows what it reached.
        admin.elect_leaders(0, wanted, raise_errors=False)
