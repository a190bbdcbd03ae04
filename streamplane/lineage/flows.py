"""Lineage: the flows the spec declares, joined with the flows the cluster shows.

A flow is an application producing to or consuming from a topic. Declared flows are the
spec's ``produces`` and ``consumes``. Observed flows come from the cluster itself:

- consumers: every consumer group's committed offsets and current assignments (the group
  names the application: the spec's ``consumer_group``); a member whose ``client.id`` is
  not one its application declares is a client of its own, reported as such, since it
  reads with the application's rights without being the application;
- producers: the ``streamplane-app`` header of the last records of each partition of the
  spec's topics (every SDK producer writes it); records without one were written by a
  client outside the SDK;
- refusals: the authorization audit trail's denied reads and writes of topics, flows
  someone tried and the brokers refused.

An observed flow the spec does not declare is *undeclared*: a consumer group no
application owns, a foreign client in an application's group, a producer that did not say
who it is. A declared flow with no evidence is *unobserved* (idle, or not deployed). Groups and
topics whose names start with ``_`` (the registry's, the audit shipper's, Kafka's own) are
the platform's, not applications' flows, and are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import confluent_kafka
from confluent_kafka import KafkaError, TopicPartition

from streamplane.client import APP_HEADER, Headers, header_text
from streamplane.kafka import ClusterInspector, ConnectionSettings
from streamplane.model import Spec, parking_topics
from streamplane.security.audit import AuditRecord

#: ``reaches``: only from refusals: the client was refused the topic's metadata (DESCRIBE),
#: which is where a read or a write is stopped first, before it says which it is.
Direction = Literal["produces", "consumes", "reaches"]
#: Groups and topics of the platform's own services, which are not applications' flows.
PLATFORM_PREFIX = "_"
#: The producer of records that carry no ``streamplane-app`` header.
UNNAMED_PRODUCER = "(no streamplane-app header)"
#: librdkafka's logical offset "n records before the end" (RD_KAFKA_OFFSET_TAIL_BASE - n).
_OFFSET_TAIL_BASE = -2000


@dataclass(frozen=True, order=True)
class Flow:
    """``application`` produces to or consumes from ``topic``.

    ``application`` is a spec application's name, or for an observed party the spec does
    not know, a description of it (``group g``, ``client c in group g``, the unnamed
    producer).
    """

    application: str
    direction: Direction
    topic: str


@dataclass(frozen=True)
class LineageRow:
    flow: Flow
    declared: bool
    #: What showed the flow on the cluster; empty when nothing did.
    evidence: tuple[str, ...]
    #: Attempts the brokers refused (from the audit trail): the flow was tried, not made.
    refused: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.declared:
            if self.refused:
                return "declared, REFUSED"  # the spec says yes, the cluster says no: drift
            return "declared, observed" if self.evidence else "declared, not observed"
        if self.refused and not self.evidence:
            return "REFUSED attempt"
        return "UNDECLARED"

    def to_json(self) -> dict[str, Any]:
        return {
            "application": self.flow.application,
            "direction": self.flow.direction,
            "topic": self.flow.topic,
            "declared": self.declared,
            "observed": bool(self.evidence),
            "evidence": list(self.evidence),
            "refused": list(self.refused),
            "status": self.status,
        }


def declared_flows(spec: Spec) -> set[Flow]:
    """Every ``produces`` and ``consumes`` of the spec's applications, and the flows their
    ``dead_letters`` imply: each parks records in its retry and dead-letter topics and
    reads its retry topics back."""
    flows = set()
    for entry in spec.applications.values():
        for topic in entry.app.produces:
            flows.add(Flow(entry.app.name, "produces", topic))
        for topic in entry.app.consumes:
            flows.add(Flow(entry.app.name, "consumes", topic))
    for name, parked in parking_topics(spec).items():
        flows.add(Flow(parked.application.app.name, "produces", name))
        if parked.kind == "retry":
            flows.add(Flow(parked.application.app.name, "consumes", name))
    return flows


def observed_consumers(spec: Spec, inspector: ClusterInspector) -> dict[Flow, set[str]]:
    """Consumer flows from groups' committed offsets, assignments and members."""
    apps_of_group = {entry.consumer_group: entry for entry in spec.applications.values()}
    observed: dict[Flow, set[str]] = defaultdict(set)
    for detail in inspector.group_details():
        group = detail.group
        if group.startswith(PLATFORM_PREFIX):
            continue  # the platform's own services (registry, audit shipper) on its topics
        entry = apps_of_group.get(group)
        party = entry.app.name if entry is not None else f"group {group}"
        for lag in detail.lags:
            if lag.committed is not None and not lag.topic.startswith(PLATFORM_PREFIX):
                observed[Flow(party, "consumes", lag.topic)].add(f"group {group} committed")
        own_ids = set()
        if entry is not None:
            own_ids = {*entry.app.client_ids, entry.app.name}
        for member in detail.members:
            reader = party
            if entry is not None and member.client_id not in own_ids:
                reader = f"client {member.client_id} in group {group}"
            for topic, _partition in member.assignment:
                if topic.startswith(PLATFORM_PREFIX):
                    continue
                observed[Flow(reader, "consumes", topic)].add(
                    f"member {member.client_id} of group {group} assigned"
                )
    return dict(observed)


def observed_producers(
    spec: Spec, settings: ConnectionSettings, *, sample: int = 100, timeout_s: float = 30.0
) -> dict[Flow, set[str]]:
    """Producer flows from the ``streamplane-app`` header of the last ``sample`` records of
    each partition of the spec's topics that exist on the cluster."""
    reader = confluent_kafka.Consumer(
        settings.librdkafka(
            **{
                "group.id": "streamplane-lineage-sampler",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "client.id": "streamplane-lineage",
            }
        )
    )
    observed: dict[Flow, set[str]] = defaultdict(set)
    parkers = {name: p.application.app.name for name, p in parking_topics(spec).items()}
    try:
        metadata = reader.list_topics(timeout=timeout_s)
        partitions = [
            TopicPartition(topic, p, _OFFSET_TAIL_BASE - sample)
            for topic in sorted({*spec.topics, *parkers})
            if topic in metadata.topics
            for p in metadata.topics[topic].partitions
        ]
        if not partitions:
            return {}
        reader.assign(partitions)
        remaining = {(tp.topic, tp.partition) for tp in partitions}
        counts: dict[tuple[str, str], int] = defaultdict(int)
        idle_polls = 0
        while remaining and idle_polls < max(1, int(timeout_s)):
            msg = reader.poll(1.0)
            if msg is None:
                idle_polls += 1
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    remaining.discard((msg.topic() or "", msg.partition() or 0))
                continue
            topic = msg.topic() or ""
            headers: Headers = msg.headers() or []  # type: ignore[assignment]
            # A parked copy keeps the header of the producer whose record failed; it was
            # written by the application that parked it.
            app = parkers.get(topic) or header_text(headers, APP_HEADER)
            counts[(app or UNNAMED_PRODUCER, topic)] += 1
        for (app, topic), count in counts.items():
            observed[Flow(app, "produces", topic)].add(f"{count} of the last records")
    finally:
        reader.close()
    return dict(observed)


def lineage(
    declared: set[Flow],
    observed: dict[Flow, set[str]],
    refused: dict[Flow, set[str]] | None = None,
) -> list[LineageRow]:
    """Declared, observed and refused flows joined, sorted by topic, direction and party."""
    refused = refused or {}
    rows = [
        LineageRow(
            flow,
            flow in declared,
            tuple(sorted(observed.get(flow, ()))),
            tuple(sorted(refused.get(flow, ()))),
        )
        for flow in declared | set(observed) | set(refused)
    ]
    return sorted(rows, key=lambda r: (r.flow.topic, r.flow.direction, r.flow.application))


#: The topic operations whose refusals are flows tried: reading, writing, and being refused
#: the topic's metadata (a client that may not even see a topic is stopped there).
_DIRECTIONS: dict[str, Direction] = {
    "READ": "consumes",
    "WRITE": "produces",
    "DESCRIBE": "reaches",
}


def refused_flows(spec: Spec, records: Iterable[AuditRecord]) -> dict[Flow, set[str]]:
    """Flows the brokers refused, from the audit trail's denied READ, WRITE and DESCRIBE on
    topics.

    Granted reads are not in the trail (the brokers log refusals and changes, not every
    fetch), so the trail adds attempts, not flows; a refused attempt at a declared flow is
    drift between the spec and the ACLs.
    """
    apps_of: dict[str, list[str]] = {}
    for entry in spec.applications.values():
        apps_of.setdefault(f"User:{entry.principal}", []).append(entry.app.name)
    counts: dict[tuple[Flow, str], list[str]] = defaultdict(list)
    for record in records:
        direction = _DIRECTIONS.get(record.operation.upper())
        if (
            record.decision != "denied"
            or direction is None
            or (record.resource_type or "").upper() != "TOPIC"
            or not record.resource_name
            or record.resource_name.startswith(PLATFORM_PREFIX)
        ):
            continue
        principal = record.principal or "(unknown principal)"
        for party in apps_of.get(principal, [principal]):
            flow = Flow(party, direction, record.resource_name)
            counts[(flow, record.operation.upper())].append(record.time)
    refused: dict[Flow, set[str]] = defaultdict(set)
    for (flow, operation), times in counts.items():
        refused[flow].add(f"refused {operation} x{len(times)}, last {max(times)}")
    return dict(refused)


def mermaid(rows: list[LineageRow]) -> str:
    """A Mermaid flowchart: applications and topics, observed flows solid, declared-only
    dotted, undeclared ones in red."""
    ids: dict[str, str] = {}

    def node(kind: str, name: str) -> str:
        key = f"{kind}:{name}"
        if key not in ids:
            ids[key] = f"{kind[0]}{len(ids)}"
        return ids[key]

    lines = ["flowchart LR"]
    edges = []
    undeclared = []
    for row in rows:
        app, topic = node("app", row.flow.application), node("topic", row.flow.topic)
        arrow = "-->" if row.evidence else "-.->"
        source, target = (topic, app) if row.flow.direction == "consumes" else (app, topic)
        edges.append(f"  {source} {arrow} {target}")
        if not row.declared:
            undeclared.append(len(edges) - 1)
    for key, ident in ids.items():
        kind, name = key.split(":", 1)
        label = name.replace('"', "'")
        lines.append(f'  {ident}(["{label}"])' if kind == "topic" else f'  {ident}["{label}"]')
    lines += edges
    lines += [f"  linkStyle {i} stroke:#d33,stroke-width:2px" for i in undeclared]
    return "\n".join(lines) + "\n"
