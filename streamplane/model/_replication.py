"""What the spec's replication flows copy, under which names, and what lint refuses.

A flow copies only topics the spec declares on its source cluster, chosen by name,
classification and visibility; lint refuses a flow that would carry a classification the
target may not hold (so a pii topic never leaves the clusters allowed to keep it), a
copy whose name collides with a declared topic, and identity naming on a cycle (MM2 can
tell a copy from an original only by its prefix, so two clusters copying the same names
to each other would loop records forever).
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from streamplane.errors import SpecIssue
from streamplane.model._spec import Spec, TopicEntry
from streamplane.model._types import ReplicationFlow

#: MM2's DefaultReplicationPolicy separator: the copy of T from cluster A is "A.T".
SEPARATOR = "."


@dataclass(frozen=True)
class FlowTopic:
    """A topic a flow copies, and the name of its copy on the target."""

    entry: TopicEntry
    remote: str

    @property
    def name(self) -> str:
        return self.entry.full_name


def flow_label(flow: ReplicationFlow) -> str:
    return f"{flow.source}->{flow.target}"


def remote_name(flow: ReplicationFlow, topic: str) -> str:
    return topic if flow.naming == "identity" else f"{flow.source}{SEPARATOR}{topic}"


def selected(flow: ReplicationFlow, entry: TopicEntry) -> bool:
    """Whether the flow's selection takes the topic (the source is checked by the caller)."""
    sel = flow.topics
    topic = entry.topic
    if not any(fnmatch.fnmatchcase(entry.full_name, glob) for glob in sel.names):
        return False
    if sel.classifications is not None and topic.classification not in sel.classifications:
        return False
    return sel.visibility is None or topic.visibility in sel.visibility


def flow_topics(spec: Spec, flow: ReplicationFlow) -> list[FlowTopic]:
    """The spec topics on the flow's source that its selection takes, sorted by name."""
    return [
        FlowTopic(entry, remote_name(flow, entry.full_name))
        for entry in sorted(spec.topics_on(flow.source), key=lambda e: e.full_name)
        if selected(flow, entry)
    ]


def flows_into(spec: Spec, cluster: str) -> list[ReplicationFlow]:
    return [f for f in spec.platform.replication.flows if f.target == cluster]


def find_flow(spec: Spec, source: str, target: str) -> ReplicationFlow:
    """The flow source -> target; KeyError naming the flows there are."""
    for flow in spec.platform.replication.flows:
        if flow.source == source and flow.target == target:
            return flow
    known = ", ".join(flow_label(f) for f in spec.platform.replication.flows) or "none"
    raise KeyError(f"no replication flow {source}->{target} in the spec (flows: {known})")


def _on_cycle(flows: list[ReplicationFlow]) -> set[int]:
    """Indexes of the flows that lie on a cycle of the flow graph."""
    reach: dict[str, set[str]] = defaultdict(set)
    for flow in flows:
        reach[flow.source].add(flow.target)
    changed = True
    while changed:  # transitive closure: the graph has a handful of clusters
        changed = False
        for targets in list(reach.values()):
            extra = set().union(*(reach.get(t, set()) for t in targets)) - targets
            if extra:
                targets |= extra
                changed = True
    return {i for i, f in enumerate(flows) if f.source in reach.get(f.target, set())}


def check_replication(spec: Spec) -> Iterator[SpecIssue]:
    src = spec.source
    flows = spec.platform.replication.flows
    clusters = {c.name: c for c in spec.platform.clusters}
    seen: dict[tuple[str, str], int] = {}
    cyclic = _on_cycle(flows)
    declared = {name: {e.full_name for e in spec.topics_on(name)} for name in clusters}
    for i, flow in enumerate(flows):
        path = ("replication", "flows", i)
        bad = False
        for end in ("source", "target"):
            name = getattr(flow, end)
            if name not in clusters:
                bad = True
                yield src.issue(
                    (*path, end),
                    f'unknown cluster "{name}"',
                    f"known clusters: {', '.join(sorted(clusters)) or 'none'}",
                )
        if bad:
            continue
        if flow.source == flow.target:
            yield src.issue((*path, "target"), "a flow cannot copy a cluster onto itself")
            continue
        pair = (flow.source, flow.target)
        if pair in seen:
            first = src.locate(("replication", "flows", seen[pair]))
            yield src.issue(
                path,
                f"a second flow {flow_label(flow)}",
                f"first at {first.file}:{first.line}; merge their topic selections",
            )
            continue
        seen[pair] = i
        if flow.naming == "identity" and i in cyclic:
            yield src.issue(
                (*path, "naming"),
                f"flow {flow_label(flow)} keeps topic names on a cycle of flows",
                "with identity naming MM2 cannot tell a copy from an original and would "
                "copy records around the cycle forever; use `naming: prefix` (copies named "
                f"{flow.source}{SEPARATOR}<topic>)",
            )
        for g, group in enumerate(flow.groups):
            if any(c in group.rstrip("*") for c in "*?[") or group == "":
                yield src.issue(
                    (*path, "groups", g),
                    f'group pattern "{group}" is neither a name, a prefix ("team.*") nor "*"',
                    "MM2 checkpoints and its ACLs take names and prefixes only",
                )
        target = clusters[flow.target]
        taken = flow_topics(spec, flow)
        for topic in taken:
            level = topic.entry.topic.classification
            if level is not None and level not in target.data_classes:
                yield src.issue(
                    (*path, "topics"),
                    f"flow {flow_label(flow)} would copy {topic.name} ({level.value}) to "
                    f"cluster {flow.target}, which may not hold {level.value} data",
                    "narrow the selection (e.g. `classifications: [public, internal]`, or "
                    "`visibility: [public]` for public events and masked twins)",
                )
            if topic.remote in declared[flow.target]:
                yield src.issue(
                    (*path, "naming"),
                    f"the copy of {topic.name} on {flow.target} would be {topic.remote}, a "
                    "topic the spec declares there",
                    "use `naming: prefix`, or do not declare that topic on the target",
                )


def mm2_principal(flow: ReplicationFlow) -> str:
    """The flow's own principal on both clusters: MM2 runs with least privilege, not admin."""
    return f"mm2.{flow.source}.{flow.target}"


def connect_group(flow: ReplicationFlow) -> str:
    """The Connect worker group MM2's dedicated mode runs the flow's connectors in."""
    return f"{flow.source}-mm2"


def offset_syncs_topic(flow: ReplicationFlow) -> str:
    """On the target (``offset-syncs.topic.location=target``, so failover still has them
    when the source is gone): where MM2 records (upstream, downstream) offset pairs."""
    # Named after the cluster it is not on: on the target, the source's alias.
    return f"mm2-offset-syncs.{flow.source}.internal"


def checkpoints_topic(flow: ReplicationFlow) -> str:
    """On the target: the source groups' offsets, translated (KIP-545)."""
    return f"{flow.source}.checkpoints.internal"


HEARTBEATS_TOPIC = "heartbeats"


def worker_topics(flow: ReplicationFlow) -> list[str]:
    """On the target: the Connect worker's config, offset and status topics."""
    return [f"mm2-{kind}.{flow.source}.internal" for kind in ("configs", "offsets", "status")]


def replication_names(spec: Spec, cluster: str) -> tuple[list[str], list[str]]:
    """(prefixes, names) of the topics MM2 makes on ``cluster``, for the guardrails."""
    prefixes: set[str] = set()
    names: set[str] = set()
    for flow in flows_into(spec, cluster):
        names.update(
            [
                HEARTBEATS_TOPIC,
                checkpoints_topic(flow),
                offset_syncs_topic(flow),
                *worker_topics(flow),
            ]
        )
        if flow.naming == "prefix":
            prefixes.add(f"{flow.source}{SEPARATOR}")
        else:
            names.update(t.remote for t in flow_topics(spec, flow))
    return sorted(prefixes), sorted(names)


def replicated_copies(spec: Spec, cluster: str) -> set[str]:
    """The copies flows make on ``cluster``: never the spec's to delete."""
    return {t.remote for flow in flows_into(spec, cluster) for t in flow_topics(spec, flow)}


def regional_topics(spec: Spec, topic: str, cluster: str) -> list[str]:
    """A logical topic as ``cluster`` holds it: the topic itself where the spec declares it
    there, then the copies the flows into ``cluster`` make of it (one per source region)."""
    names = [topic] if any(e.full_name == topic for e in spec.topics_on(cluster)) else []
    for flow in flows_into(spec, cluster):
        if any(t.name == topic for t in flow_topics(spec, flow)):
            names.append(remote_name(flow, topic))
    return names


def copy_origins(spec: Spec, cluster: str) -> dict[str, str]:
    """copy -> original topic, for every copy the flows into ``cluster`` make."""
    return {
        t.remote: t.name
        for flow in flows_into(spec, cluster)
        for t in flow_topics(spec, flow)
        if t.remote != t.name
    }
