"""The cost model: storage and cross-zone bytes of each topic, from its placement.

Racks are zones (``broker.rack`` names the availability zone, as KIP-392 assumes).
Cross-zone bytes are counted per partition on the live placement, not estimated from
averages:

* replication: every follower outside the leader's zone receives the partition's bytes;
* produce: a producer in zone z sends to the leader; with z unknown, it is in any of the
  Z zones alike, so (Z-1)/Z of the bytes cross;
* consume, per consumer group: without follower fetching it reads the leader; with it,
  a replica in its own zone when there is one (KIP-392's RackAwareReplicaSelector), so
  only partitions with no replica in its zone cross (with the zone unknown: the share of
  zones without a replica).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

MONTH_S = 30 * 86400
GB = 1e9


@dataclass(frozen=True)
class PartitionPlacement:
    leader_rack: str
    replica_racks: tuple[str, ...]
    bytes_in_s: float


@dataclass(frozen=True)
class Reader:
    """A consumer group of the topic and the zone it runs in (None: unknown)."""

    name: str
    rack: str | None


@dataclass
class TopicCost:
    topic: str
    bytes_in_s: float
    replication_factor: int
    retention_s: float
    local_retention_s: float | None
    readers: list[Reader] = field(default_factory=list)
    cross_zone_replication_s: float = 0.0
    cross_zone_produce_s: float = 0.0
    cross_zone_consume_s: float = 0.0
    cross_zone_consume_ff_s: float = 0.0

    @property
    def local_bytes(self) -> float:
        kept = self.retention_s if self.local_retention_s is None else self.local_retention_s
        return self.bytes_in_s * kept * self.replication_factor

    @property
    def remote_bytes(self) -> float:
        return self.bytes_in_s * self.retention_s if self.local_retention_s is not None else 0.0


def consumer_cross_zone_bytes(
    partitions: Sequence[PartitionPlacement], rack: str | None, zones: int, *, follower: bool
) -> float:
    """Bytes per second one consumer group in ``rack`` reads from other zones."""
    total = 0.0
    for part in partitions:
        if rack is None:
            if follower:
                share = max(0, zones - len(set(part.replica_racks))) / zones
            else:
                share = (zones - 1) / zones
            total += part.bytes_in_s * share
        elif follower:
            total += part.bytes_in_s if rack not in part.replica_racks else 0.0
        else:
            total += part.bytes_in_s if part.leader_rack != rack else 0.0
    return total


def topic_cost(
    topic: str,
    partitions: Sequence[PartitionPlacement],
    *,
    zones: int,
    retention_s: float,
    local_retention_s: float | None,
    readers: Sequence[Reader],
    producer_rack: str | None = None,
) -> TopicCost:
    rf = max((len(p.replica_racks) for p in partitions), default=0)
    cost = TopicCost(
        topic=topic,
        bytes_in_s=sum(p.bytes_in_s for p in partitions),
        replication_factor=rf,
        retention_s=retention_s,
        local_retention_s=local_retention_s,
        readers=list(readers),
    )
    for part in partitions:
        others = sum(1 for r in part.replica_racks if r != part.leader_rack)
        cost.cross_zone_replication_s += part.bytes_in_s * others
        if producer_rack is None:
            cost.cross_zone_produce_s += part.bytes_in_s * (zones - 1) / max(zones, 1)
        elif producer_rack != part.leader_rack:
            cost.cross_zone_produce_s += part.bytes_in_s
    for reader in readers:
        cost.cross_zone_consume_s += consumer_cross_zone_bytes(
            partitions, reader.rack, zones, follower=False
        )
        cost.cross_zone_consume_ff_s += consumer_cross_zone_bytes(
            partitions, reader.rack, zones, follower=True
        )
    return cost


def monthly(bytes_s: float, price_gb: float) -> float:
    """The price of a steady ``bytes_s`` for a month, at ``price_gb`` per GB."""
    return bytes_s * MONTH_S / GB * price_gb
