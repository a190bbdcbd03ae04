"""What a rebalance plans over: brokers (rack, disk capacity) and partitions (replicas, size).

Read from a live cluster (DescribeLogDirs, metadata) or built synthetically; the planner
only ever sees this model, so the same code plans for a laptop and for 500,000
partitions. Sizes are bytes on disk of one replica (the leader's); a replica of a
partition weighs the same on every broker.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Broker:
    id: int
    rack: str
    capacity_bytes: int


@dataclass
class Partition:
    topic: str
    partition: int
    #: Broker ids; the first is the preferred leader.
    replicas: list[int]
    size_bytes: int
    #: Bytes written per second (measured over a window; 0 when not measured). The
    #: leader receives them and serves them to followers and consumers: its network load.
    bytes_in_s: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        return (self.topic, self.partition)


@dataclass
class ClusterModel:
    brokers: dict[int, Broker]
    partitions: list[Partition]
    #: broker id -> the partitions (indexes into ``partitions``) it holds a replica of
    holdings: dict[int, set[int]] = field(default_factory=dict)
    disk: dict[int, int] = field(default_factory=dict)
    leaders: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.holdings = {b: set() for b in self.brokers}
        self.disk = dict.fromkeys(self.brokers, 0)
        self.leaders = dict.fromkeys(self.brokers, 0)
        for i, part in enumerate(self.partitions):
            for broker in part.replicas:
                self.holdings[broker].add(i)
                self.disk[broker] += part.size_bytes
            if part.replicas:
                self.leaders[part.replicas[0]] += 1

    def racks(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = defaultdict(list)
        for broker in self.brokers.values():
            out[broker.rack].append(broker.id)
        return dict(out)

    def rack_violations(self) -> list[int]:
        """Partitions with two replicas in one rack although enough racks exist."""
        racks = len(self.racks())
        bad = []
        for i, part in enumerate(self.partitions):
            seen = [self.brokers[b].rack for b in part.replicas]
            if len(set(seen)) < min(len(seen), racks):
                bad.append(i)
        return bad

    def disk_stddev(self) -> float:
        """Standard deviation of disk use as a fraction of capacity, across brokers."""
        use = [self.disk[b] / self.brokers[b].capacity_bytes for b in self.brokers]
        return statistics.pstdev(use) if len(use) > 1 else 0.0

    def disk_cv(self) -> float:
        """Spread of disk use in bytes: std-dev over mean (0 = even). Unlike
        :meth:`disk_stddev` it reads the same whether disks are full or nearly empty."""
        use = [self.disk[b] for b in self.brokers]
        mean = statistics.fmean(use) if use else 0.0
        return statistics.pstdev(use) / mean if len(use) > 1 and mean else 0.0

    def leader_load(self) -> dict[int, float]:
        """Bytes per second each broker receives as leader: the network goal's measure."""
        load = dict.fromkeys(self.brokers, 0.0)
        for part in self.partitions:
            if part.replicas:
                load[part.replicas[0]] += part.bytes_in_s
        return load

    def network_cv(self) -> float:
        """Spread of leader bytes in: std-dev over mean (0 = even, or nothing measured)."""
        use = list(self.leader_load().values())
        mean = statistics.fmean(use) if use else 0.0
        return statistics.pstdev(use) / mean if len(use) > 1 and mean else 0.0

    def replica_spread(self) -> int:
        """Most replicas on one broker minus fewest: the replica goal's measure."""
        counts = [len(self.holdings[b]) for b in self.brokers]
        return max(counts) - min(counts) if counts else 0

    def copy(self) -> ClusterModel:
        return ClusterModel(
            dict(self.brokers),
            [
                Partition(p.topic, p.partition, list(p.replicas), p.size_bytes, p.bytes_in_s)
                for p in self.partitions
            ],
        )
