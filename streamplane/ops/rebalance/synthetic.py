"""Synthetic clusters to plan for, and Kafka's own from-scratch placement as a baseline.

``skewed_cluster`` builds what a rebalance is for: a cluster that grew by a tenth (new,
empty brokers), whose older brokers hold uneven shares of log-normally sized partitions,
with a few partitions whose replicas share a rack. Everyone gets the same input from the
same seed, so the figures can be reproduced (``streamplane rebalance simulate``).

``generate_placement`` follows ``kafka-reassign-partitions --generate``: Kafka's
rack-aware assignment of every topic's partitions over the brokers from a random start,
ignoring where the replicas are now, which is why it moves most of the data.
"""

from __future__ import annotations

import random
from collections import defaultdict

from streamplane.ops.rebalance.model import Broker, ClusterModel, Partition

RACKS = 3
PARTITIONS_PER_TOPIC = 100
RF = 3
#: Median replica size (bytes) and the spread of its logarithm.
MEDIAN_BYTES = 1 << 30
SIGMA = 1.0


def skewed_cluster(brokers: int, partitions: int, *, seed: int = 1) -> ClusterModel:
    rng = random.Random(seed)
    ids = list(range(1, brokers + 1))
    racks = {b: f"rack-{(b - 1) % RACKS + 1}" for b in ids}
    old = ids[: max(RF, int(brokers * 0.9))]
    # Older brokers are unevenly loaded: each gets a weight between 0.5 and 1.5.
    weight = {b: rng.uniform(0.5, 1.5) for b in old}
    by_rack: dict[str, list[int]] = defaultdict(list)
    for b in old:
        by_rack[racks[b]].append(b)
    parts: list[Partition] = []
    for n in range(partitions):
        topic, number = f"topic-{n // PARTITIONS_PER_TOPIC}", n % PARTITIONS_PER_TOPIC
        if rng.random() < 0.01:  # two replicas in one rack: a rack violation
            rack = rng.choice(sorted(by_rack))
            pair = rng.sample(by_rack[rack], 2)
            third = rng.choice([b for b in old if racks[b] != rack])
            replicas = [*pair, third]
        else:
            replicas = [
                rng.choices(by_rack[r], weights=[weight[b] for b in by_rack[r]])[0]
                for r in rng.sample(sorted(by_rack), RF)
            ]
        size = int(rng.lognormvariate(0, SIGMA) * MEDIAN_BYTES)
        parts.append(Partition(topic, number, replicas, size))
    total = sum(p.size_bytes * len(p.replicas) for p in parts)
    capacity = int(2 * total / brokers)  # half full on average
    model = {b: Broker(b, racks[b], capacity) for b in ids}
    return ClusterModel(model, parts)


def generate_placement(model: ClusterModel, *, seed: int = 1) -> dict[tuple[str, int], list[int]]:
    """Where ``--generate`` would put every replica (rack-alternated round robin)."""
    rng = random.Random(seed)
    by_rack: dict[str, list[int]] = defaultdict(list)
    for broker in sorted(model.brokers.values(), key=lambda b: b.id):
        by_rack[broker.rack].append(broker.id)
    arranged: list[int] = []
    queues = [list(v) for _k, v in sorted(by_rack.items())]
    while any(queues):
        for queue in queues:
            if queue:
                arranged.append(queue.pop(0))
    n = len(arranged)
    topics: dict[str, list[Partition]] = defaultdict(list)
    for part in model.partitions:
        topics[part.topic].append(part)
    placement: dict[tuple[str, int], list[int]] = {}
    for topic in sorted(topics):
        start, shift = rng.randrange(n), rng.randrange(n)
        for p, part in enumerate(sorted(topics[topic], key=lambda x: x.partition)):
            if p > 0 and p % n == 0:
                shift += 1
            first = (p + start) % n
            replicas = [arranged[first]]
            for j in range(len(part.replicas) - 1):
                replicas.append(arranged[(first + 1 + (shift + j) % (n - 1)) % n])
            placement[part.key] = replicas
    return placement


def bytes_to_move(model: ClusterModel, placement: dict[tuple[str, int], list[int]]) -> int:
    """Bytes a placement copies: each replica on a broker that does not hold it now."""
    return sum(
        part.size_bytes * len(set(placement[part.key]) - set(part.replicas))
        for part in model.partitions
    )
