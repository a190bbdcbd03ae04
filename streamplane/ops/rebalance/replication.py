"""Replication-factor changes as reassignments: which replica to add or drop, per partition.

Kafka changes a topic's RF only by reassigning its partitions. Raising it adds, to each
partition, replicas on the least-used brokers of racks the partition is not yet in
(then of any rack, when racks run out); lowering it drops the non-leader replicas on
the most-used brokers. The leader never moves, so the change costs no leadership
election, and every byte copied is a new replica's.
"""

from __future__ import annotations

import time
from pathlib import Path

from streamplane.errors import PlanError
from streamplane.kafka import ConnectionSettings
from streamplane.ops.rebalance.executor import Execution, Executor, StateDir
from streamplane.ops.rebalance.live import read_cluster
from streamplane.ops.rebalance.model import ClusterModel
from streamplane.ops.rebalance.plan_file import PlanFile, read_plan
from streamplane.ops.rebalance.planner import Move


def replication_moves(model: ClusterModel, targets: dict[str, int]) -> list[Move]:
    """Moves that give each topic of ``targets`` its new RF, the model updated as they go
    (so the next partition sees the load the previous ones added)."""
    brokers = len(model.brokers)
    for topic, wanted in targets.items():
        if wanted < 1 or wanted > brokers:
            raise PlanError(
                f"topic {topic}: replication factor {wanted} needs {wanted} brokers; the "
                f"cluster has {brokers}. Add brokers first (`streamplane local add-broker` on "
                "a local cluster), or ask for at most that many replicas."
            )
    moves = []
    for index, part in enumerate(model.partitions):
        rf = targets.get(part.topic)
        if rf is None or rf == len(part.replicas):
            continue
        before = list(part.replicas)
        after = list(before)
        while len(after) < rf:
            racks = {model.brokers[b].rack for b in after}
            free = [b for b in model.brokers if b not in after]
            fresh = [b for b in free if model.brokers[b].rack not in racks] or free
            chosen = min(fresh, key=lambda b: (model.disk[b] / model.brokers[b].capacity_bytes, b))
            after.append(chosen)
            model.disk[chosen] += part.size_bytes
            model.holdings[chosen].add(index)
        while len(after) > rf:
            followers = after[1:]
            dropped = max(
                followers,
                key=lambda b: (_rack_repeats(model, after, b), model.disk[b], b),
            )
            after.remove(dropped)
            model.disk[dropped] -= part.size_bytes
            model.holdings[dropped].discard(index)
        part.replicas = after
        added = len([b for b in after if b not in before])
        moves.append(
            Move(part.topic, part.partition, before, after, added * part.size_bytes,
                 f"replication factor {len(before)} -> {rf}")
        )  # fmt: skip
    return moves


def _rack_repeats(model: ClusterModel, replicas: list[int], broker: int) -> int:
    """How many other replicas share ``broker``'s rack: drop those first (rack safety)."""
    rack = model.brokers[broker].rack
    return sum(1 for b in replicas if b != broker and model.brokers[b].rack == rack)


def change_replication(
    settings: ConnectionSettings,
    targets: dict[str, int],
    state_dir: Path,
    *,
    connection: Path | None = None,
) -> Execution:
    """Plan and execute the reassignments that give each topic its RF, throttled and in
    batches like any rebalance (so `rebalance status` and `cancel` see it); the plan is
    kept in ``state_dir`` beside the record. Raises PlanError unless it all landed."""
    live = read_cluster(settings)
    moves = replication_moves(live.model, targets)
    plan = PlanFile(cluster_id=live.cluster_id, moves=moves, mode="replication-factor")
    state = StateDir(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"replication-factor-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(plan.to_json())
    written, digest = read_plan(path)
    record = Executor(settings, state).execute(written, path, digest, connection=connection)
    if record.status != "done" or record.skipped:
        raise PlanError(
            f"the replication-factor change ended {record.status} "
            f"({len(record.completed)}/{record.moves_total} partitions; skipped: "
            f"{record.skipped or 'none'}); see `streamplane rebalance status`, then apply again"
        )
    return record
