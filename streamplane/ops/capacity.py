"""How many brokers, and what disks, a workload needs: each limit computed and shown.

A Kafka cluster is sized by whichever of four limits binds first, and the answer is
only trusted when the operator can see which one it was:

* storage: ingress x retention x RF on the brokers' disks (with tiered storage, only
  the local retention stays on them; the rest is one copy in the object store);
* network in: every byte arrives RF times (once from the producer, RF-1 times as
  replication);
* network out: every byte leaves RF-1 times to followers plus once per consumer group
  reading it (fan-out);
* partitions: replicas per broker (``max_partitions_per_broker``: a KRaft broker handles
  a few thousand replicas comfortably; beyond, recovery and controller work grow).

Each limit keeps ``headroom`` free (a broker's loss moves its load to the others; a
spike needs room), and the count is never below RF (each replica on its own broker).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Workload:
    ingress_bytes_s: float
    retention_s: float
    replication_factor: int = 3
    fan_out: int = 1
    partitions: int = 0
    #: With tiered storage, how long data stays on the brokers' disks too.
    local_retention_s: float | None = None


@dataclass(frozen=True)
class BrokerShape:
    disk_bytes: int = 4 * 1024**4
    network_bytes_s: float = 1.25e9  # 10 Gbit/s
    max_partitions_per_broker: int = 4000
    headroom: float = 0.3
    #: Throughput one partition sustains (producer and consumer side), for partition advice.
    partition_bytes_s: float = 10e6


@dataclass(frozen=True)
class Limit:
    name: str
    needs: float
    per_broker: float
    brokers: int
    reasoning: str


@dataclass
class Sizing:
    brokers: int
    binding: str
    limits: list[Limit] = field(default_factory=list)
    local_bytes: float = 0.0
    remote_bytes: float = 0.0
    disk_per_broker_bytes: float = 0.0
    suggested_partitions: int = 0


def size_cluster(work: Workload, shape: BrokerShape) -> Sizing:
    """The broker count each limit asks for; the largest wins (and is named)."""
    if work.ingress_bytes_s <= 0 or work.replication_factor < 1 or not 0 <= shape.headroom < 1:
        raise ValueError("ingress must be positive, RF at least 1, headroom in [0, 1)")
    rf = work.replication_factor
    usable = 1.0 - shape.headroom
    local_s = work.retention_s if work.local_retention_s is None else work.local_retention_s
    local = work.ingress_bytes_s * local_s * rf
    remote = work.ingress_bytes_s * work.retention_s if work.local_retention_s is not None else 0.0
    net_in = work.ingress_bytes_s * rf
    net_out = work.ingress_bytes_s * (rf - 1 + work.fan_out)
    suggested = max(
        work.partitions,
        math.ceil(work.ingress_bytes_s / shape.partition_bytes_s),
        1,
    )
    replicas = suggested * rf

    def limit(name: str, needs: float, capacity: float, why: str) -> Limit:
        per = capacity * usable
        return Limit(name, needs, per, max(1, math.ceil(needs / per - 1e-9)), why)

    tier = (
        f" (local retention {_days(local_s)} of {_days(work.retention_s)}; the rest is one "
        "copy in object storage)"
        if work.local_retention_s is not None
        else ""
    )
    limits = [
        limit("storage", local, shape.disk_bytes,
              f"{_rate(work.ingress_bytes_s)} x {_days(local_s)} x RF {rf}{tier}"),
        limit("network in", net_in, shape.network_bytes_s,
              f"{_rate(work.ingress_bytes_s)} x RF {rf} (producers + replication)"),
        limit("network out", net_out, shape.network_bytes_s,
              f"{_rate(work.ingress_bytes_s)} x ({rf - 1} followers + {work.fan_out} consumer "
              "group(s))"),
        Limit("partitions", replicas, shape.max_partitions_per_broker,
              math.ceil(replicas / shape.max_partitions_per_broker),
              f"{suggested} partitions x RF {rf} replicas, at most "
              f"{shape.max_partitions_per_broker} per broker"),
        Limit("replication factor", rf, 1, rf, f"RF {rf}: each replica on its own broker"),
    ]  # fmt: skip
    binding = max(limits, key=lambda lim: lim.brokers)
    brokers = binding.brokers
    return Sizing(
        brokers=brokers,
        binding=binding.name,
        limits=limits,
        local_bytes=local,
        remote_bytes=remote,
        disk_per_broker_bytes=local / brokers / usable,
        suggested_partitions=suggested,
    )


def _rate(bytes_s: float) -> str:
    return f"{bytes_s / 1e6:,.1f} MB/s"


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g} d" if seconds >= 86400 else f"{seconds / 3600:g} h"
