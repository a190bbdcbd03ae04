"""A rebalance plan on disk: what ``rebalance plan --out`` writes and ``execute`` reads.

JSON a reviewer can read (and diff) before approving; it names the cluster it was
made for, so it is never executed against another one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamplane.errors import StreamplaneError
from streamplane.ops.rebalance.planner import Move, Plan

PLAN_VERSION = 1


@dataclass
class PlanFile:
    cluster_id: str
    moves: list[Move]
    leader_moves: list[Move] = field(default_factory=list)
    mode: str = "balance"
    created: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def all_moves(self) -> list[Move]:
        return self.moves + self.leader_moves

    @property
    def total_bytes(self) -> int:
        return sum(m.bytes for m in self.moves)

    def to_json(self) -> str:
        body = {
            "version": PLAN_VERSION,
            "cluster_id": self.cluster_id,
            "mode": self.mode,
            "created": self.created,
            "figures": self.figures,
            "moves": [asdict(m) for m in self.moves],
            "leader_moves": [asdict(m) for m in self.leader_moves],
        }
        return json.dumps(body, indent=1) + "\n"


def plan_file(plan: Plan, cluster_id: str, mode: str) -> PlanFile:
    return PlanFile(
        cluster_id=cluster_id,
        moves=plan.moves,
        leader_moves=plan.leader_moves,
        mode=mode,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        figures=plan_figures(plan),
    )


def plan_figures(plan: Plan) -> dict[str, Any]:
    """The figures a plan is judged by (the same keys as ``rebalance simulate``)."""
    return {
        "plan_seconds": round(plan.plan_seconds, 3),
        "moves": len(plan.moves),
        "bytes_moved": plan.bytes_moved,
        "lower_bound_bytes": plan.lower_bound_bytes,
        "disk_stddev_before": round(plan.disk_stddev_before, 4),
        "disk_stddev_after": round(plan.disk_stddev_after, 4),
        "disk_cv_before": round(plan.disk_cv_before, 4),
        "disk_cv_after": round(plan.disk_cv_after, 4),
        "network_cv_before": round(plan.network_cv_before, 4),
        "network_cv_after": round(plan.network_cv_after, 4),
        "replica_spread_before": plan.replica_spread_before,
        "replica_spread_after": plan.replica_spread_after,
        "rack_violations_before": plan.rack_violations_before,
        "rack_violations_after": plan.rack_violations_after,
        "leader_changes": plan.leader_changes,
        "stranded": [list(s) for s in plan.stranded],
    }


def read_plan(path: Path) -> tuple[PlanFile, str]:
    """The plan in ``path`` and the digest of its bytes (an execution is tied to it)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StreamplaneError(
            f"cannot read the plan {path}: {exc.strerror}; write one with "
            f"`streamplane rebalance plan --out {path}`"
        ) from exc
    try:
        body = json.loads(raw)
        if body.get("version") != PLAN_VERSION:
            raise ValueError(f"version {body.get('version')!r}, expected {PLAN_VERSION}")
        plan = PlanFile(
            cluster_id=str(body["cluster_id"]),
            mode=str(body.get("mode", "balance")),
            created=str(body.get("created", "")),
            figures=dict(body.get("figures", {})),
            moves=[_move(m) for m in body["moves"]],
            leader_moves=[_move(m) for m in body.get("leader_moves", [])],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StreamplaneError(
            f"{path} is not a rebalance plan ({exc}); write one with "
            f"`streamplane rebalance plan --out {path}`"
        ) from exc
    return plan, hashlib.sha256(raw).hexdigest()


def _move(raw: dict[str, Any]) -> Move:
    before = [int(b) for b in raw["before"]]
    after = [int(b) for b in raw["after"]]
    if not after or len(set(after)) != len(after):
        raise ValueError(f"{raw['topic']}-{raw['partition']}: replicas {after} are not distinct")
    return Move(
        str(raw["topic"]), int(raw["partition"]), before, after, int(raw["bytes"]),
        str(raw.get("why", "")),
    )  # fmt: skip
