"""Move a consumer group between clusters without losing its place.

Failover (A -> B along the flow A->B): the group's position on A, as MM2 last
checkpointed it, translated into the copies on B (``<source>.checkpoints.internal``).
MM2 translates conservatively (to the copy offset of the newest offset sync at or below
the committed offset, plus one), so the group re-reads a few records and never skips
one. When A still answers, its committed offsets are the truth: where a checkpoint lags
(or leads: MM2 never emits one backwards, so a group that rewound is ahead in them), the
offset syncs (kept on B) translate the committed offset, and the report says so. A
partition with neither starts at the copy's beginning. The duplicates
to expect per partition are the records between the translated offset and the exact
one, plus, when A is gone, whatever the group read there after the checkpoint (bounded
by the checkpoint's age: the flow's interval).

Failback (B -> A, the same flow in reverse): the group's committed offsets in the copies
on B, mapped back through the offset syncs (downstream -> upstream), which lands at or
before the exact position on A for the same reason.

The group must be inactive on both clusters (no members): offsets of a live group are
its own, and Kafka refuses to alter them anyway.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streamplane.errors import PlanError
from streamplane.kafka import ClusterInspector, ConnectionSettings
from streamplane.kafka._admin import ClusterAdmin
from streamplane.kafka._reach import probe
from streamplane.model import FlowTopic, ReplicationFlow, Spec, flow_label, flow_topics
from streamplane.replication.config import flow_ends
from streamplane.replication.observe import (
    latest_checkpoints,
    latest_offset_syncs,
    watermarks,
)
from streamplane.replication.records import Checkpoint, OffsetSync

ADMIN_TIMEOUT_S = 10.0
#: How long failover waits for a cluster to answer before it counts it gone (a dead
#: cluster refuses connections at once; this is for one that is slow to).
PROBE_S = 5.0


@dataclass
class MovedPartition:
    topic: str
    partition: int
    offset: int
    #: checkpoint | offset-syncs | start of copy
    basis: str
    duplicates: int


@dataclass
class MoveReport:
    group: str
    source: str
    target: str
    dry_run: bool
    partitions: list[MovedPartition] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: When the group's old cluster is gone: how far back (s) its last checkpoint is, i.e.
    #: reads there that the target cannot know of.
    window_s: float = 0.0
    elapsed_s: float = 0.0

    @property
    def duplicate_records(self) -> int:
        return sum(p.duplicates for p in self.partitions)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "duplicate_records": self.duplicate_records}


def _answering(settings: ConnectionSettings) -> bool:
    """Whether the cluster answers, found in milliseconds when it is gone (it refuses
    connections), where an admin request would wait out its timeout."""
    return probe(settings, timeout_s=PROBE_S) is None


def _require_inactive(inspector: ClusterInspector, groups: list[str], cluster: str) -> None:
    for group, count in inspector.member_counts(groups).items():
        if count:
            raise PlanError(
                f"group {group} has {count} member(s) on cluster {cluster}: stop its "
                "consumers there first (a live group keeps its own offsets)"
            )


def _commit(settings: ConnectionSettings, reports: list[MoveReport]) -> None:
    """Every group's offsets at once, after all were translated: none is half-moved."""
    ClusterAdmin(settings, timeout_s=ADMIN_TIMEOUT_S).alter_group_offsets(
        {r.group: [(p.topic, p.partition, p.offset) for p in r.partitions] for r in reports}
    )


def failover_groups(
    spec: Spec,
    flow: ReplicationFlow,
    groups: list[str],
    data_dir: Path,
    *,
    dry_run: bool = False,
) -> list[MoveReport]:
    """Move ``groups`` from the flow's source to the copies on its target.

    The flow's checkpoints, offset syncs and copies are read once for all groups, and a
    source that does not answer costs one timeout, not one per group.
    """
    started = time.monotonic()
    ends = flow_ends(spec, flow, data_dir)
    if not _answering(ends.target_admin):
        raise PlanError(f"cluster {flow.target} does not answer: nothing to fail over to")
    target = ClusterInspector(ends.target_admin, timeout_s=ADMIN_TIMEOUT_S)
    _require_inactive(target, groups, flow.target)
    on_source: dict[str, dict[tuple[str, int], int]] | None = None
    if _answering(ends.source_admin):
        source = ClusterInspector(ends.source_admin, timeout_s=ADMIN_TIMEOUT_S)
        _require_inactive(source, groups, flow.source)
        on_source = source.committed_offsets(groups)
    checkpoints = latest_checkpoints(ends.target_admin, flow)
    syncs = latest_offset_syncs(ends.target_admin, flow)
    topics = flow_topics(spec, flow)
    copies = watermarks(ends.target_admin, [t.remote for t in topics])
    reports = []
    for group in groups:
        report = _translate_group(
            flow,
            group,
            topics,
            copies,
            checkpoints,
            syncs,
            None if on_source is None else on_source.get(group, {}),
            dry_run,
        )
        if on_source is None:
            report.notes.insert(
                0, f"cluster {flow.source} does not answer: offsets come from the last checkpoints"
            )
            # Checkpoints are emitted every interval: commits on the source in the last
            # interval before it failed may be missing from them.
            report.window_s = flow.interval / 1000
        reports.append(report)
    if not dry_run:
        _commit(ends.target_admin, reports)
    for report in reports:
        report.elapsed_s = time.monotonic() - started
    return reports


def _translate_group(
    flow: ReplicationFlow,
    group: str,
    topics: list[FlowTopic],
    copies: dict[tuple[str, int], tuple[int, int]],
    checkpoints: dict[tuple[str, str, int], Checkpoint],
    syncs: dict[tuple[str, int], list[OffsetSync]],
    on_source: dict[tuple[str, int], int] | None,
    dry_run: bool,
) -> MoveReport:
    report = MoveReport(group, flow.source, flow.target, dry_run)
    by_copy = {t.remote: t for t in topics}
    for (name, part), (low, high) in sorted(copies.items()):
        topic = by_copy.get(name)
        if topic is None:
            continue
        cp = checkpoints.get((group, topic.remote, part))
        committed = (on_source or {}).get((topic.name, part))
        tp_syncs = syncs.get((topic.name, part), [])
        if committed is not None:
            # The source answers: its committed offset is the truth, the checkpoint
            # only a copy of it that may lag, or lead (MM2 never emits a checkpoint
            # backwards, so a group that rewound on the source is ahead in them).
            upstream = committed
            basis = "checkpoint" if cp is not None and cp.upstream == committed else "offset-syncs"
            if basis == "offset-syncs":
                why = (
                    "has no checkpoint"
                    if cp is None
                    else f"checkpoint {'lags' if cp.upstream < committed else 'leads'} "
                    f"({cp.upstream})"
                )
                report.notes.append(
                    f"{topic.name}[{part}] {why}: translated {committed} through the offset syncs"
                )
        elif cp is not None:
            upstream, basis = cp.upstream, "checkpoint"
        elif on_source is not None:
            continue  # the source says the group never read this partition
        else:
            # The source is gone and MM2 wrote no checkpoint: the group may never
            # have read it, or its offset is behind MM2's newest offset syncs, which
            # MM2 does not translate (KAFKA-14666). Re-read it all rather than skip.
            report.notes.append(
                f"{topic.name}[{part}]: no checkpoint of the group; it starts at the "
                "beginning of the copy"
            )
            report.partitions.append(
                MovedPartition(topic.remote, part, low, "start of copy", max(0, high - low))
            )
            continue
        found = translate(tp_syncs, upstream)
        if found is not None:
            offset, dupes = found
            if cp is not None and basis == "checkpoint" and cp.downstream > offset:
                offset = cp.downstream  # MM2's own is closer: fewer re-reads, still safe
        elif cp is not None and basis == "checkpoint":
            offset, dupes = cp.downstream, 0
            report.notes.append(
                f"{topic.name}[{part}]: no offset sync to check MM2's checkpoint against; "
                "its translation is used as it is (duplicates unknown)"
            )
        else:
            offset, basis = low, "start of copy"
            dupes = max(0, upstream - low)
            report.notes.append(
                f"{topic.name}[{part}]: no offset sync at or below {upstream} yet; the "
                "group starts at the beginning of the copy"
            )
        report.partitions.append(MovedPartition(topic.remote, part, offset, basis, dupes))
    if not report.partitions:
        raise PlanError(
            f"no checkpoint of group {group} on cluster {flow.target} and no committed offset "
            f"on {flow.source}: is it one of the flow's `groups` "
            f"({', '.join(flow.groups) or 'none'}) and did it commit on {flow.source}?"
        )
    return report


def translate(syncs: list[OffsetSync], upstream: int) -> tuple[int, int] | None:
    """(copy offset, duplicates at most) for a group's committed ``upstream`` offset.

    From the newest sync at or below it, ``s``: exact when the next sync shows the copy
    is contiguous between them (as many offsets on both sides: no record was compacted or
    is a transaction marker there), else ``s.downstream + 1``, MM2's safe rule, which may
    re-read up to ``upstream - s.upstream - 1`` records. Reading every sync on the
    topic, not MM2's sparse in-memory store (KAFKA-14666), keeps that window within
    ``offset.lag.max`` records. None: no sync at or below it.
    """
    below = [(x.upstream, i) for i, x in enumerate(syncs) if x.upstream <= upstream]
    if not below:
        return None
    # Of syncs for the same upstream offset the newest wins: after an MM2 restart the
    # record is in the copy twice, and the copy continues after the second one.
    sync = syncs[max(below)[1]]
    if upstream == sync.upstream:
        return sync.downstream, 0
    above = [(x.upstream, -i) for i, x in enumerate(syncs) if x.upstream > upstream]
    if above:
        nxt = syncs[-min(above)[1]]
        if nxt.upstream - sync.upstream == nxt.downstream - sync.downstream:
            return sync.downstream + (upstream - sync.upstream), 0
    return sync.downstream + 1, upstream - sync.upstream - 1


def failback_group(
    spec: Spec, flow: ReplicationFlow, group: str, data_dir: Path, *, dry_run: bool = False
) -> MoveReport:
    """Move ``group`` from the copies on the flow's target back to its source."""
    started = time.monotonic()
    report = MoveReport(group, flow.target, flow.source, dry_run)
    ends = flow_ends(spec, flow, data_dir)
    if not _answering(ends.target_admin):
        raise PlanError(f"cluster {flow.target} does not answer: the group's offsets are there")
    if not _answering(ends.source_admin):
        raise PlanError(f"cluster {flow.source} does not answer: nothing to fail back to")
    copies = ClusterInspector(ends.target_admin, timeout_s=ADMIN_TIMEOUT_S)
    _require_inactive(copies, [group], flow.target)
    _require_inactive(
        ClusterInspector(ends.source_admin, timeout_s=ADMIN_TIMEOUT_S), [group], flow.source
    )
    on_copies = copies.committed_offsets([group]).get(group, {})
    syncs = latest_offset_syncs(ends.target_admin, flow)
    topics = flow_topics(spec, flow)
    originals = watermarks(ends.source_admin, [t.name for t in topics])
    by_copy = {t.remote: t for t in topics}
    for (name, part), downstream in sorted(on_copies.items()):
        topic = by_copy.get(name)
        if topic is None:
            continue
        below = [s for s in syncs.get((topic.name, part), []) if s.downstream <= downstream]
        if below:
            sync = max(below, key=lambda s: s.downstream)
            offset = sync.upstream + (downstream - sync.downstream)
            basis, dupes = "offset-syncs", 0
        else:
            offset = originals.get((topic.name, part), (0, 0))[0]
            basis, dupes = "start of topic", downstream
            report.notes.append(
                f"{topic.remote}[{part}]: no offset sync at or below {downstream}; the "
                "group starts at the beginning of the original"
            )
        report.partitions.append(MovedPartition(topic.name, part, offset, basis, dupes))
    if not report.partitions:
        raise PlanError(
            f"group {group} committed nothing in the copies of {flow_label(flow)} on "
            f"cluster {flow.target}"
        )
    if not dry_run:
        _commit(ends.source_admin, [report])
    report.elapsed_s = time.monotonic() - started
    return report
