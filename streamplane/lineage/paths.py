"""Where a field flows, and which topics nobody uses.

``where_flows`` follows a field through the declared estate: the topics whose schemas hold
it, the applications that read those topics, and what those applications write, marking
each written topic that holds a field of the same name (it carries the value on) or not
(it may hold something derived from it). It is the question a DPO asks before a "forget
me" or an audit: which topics and teams could have this person's email?

``orphans`` are topics no application is declared to write or read and no consumer group
reads, with the bytes they keep on disk: the first candidates for deletion or a shorter
retention. (Records already in a topic say someone wrote it once, not that anyone still
does, so sampled producers do not keep a topic off the list.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any

from streamplane.lineage.catalog import topic_fields
from streamplane.lineage.flows import LineageRow
from streamplane.model import Spec
from streamplane.model._masking import masked_fields, masker_name, vault_topic


@dataclass(frozen=True)
class FieldHop:
    """``application`` reads ``source`` (which holds the field) and writes ``target``."""

    source: str
    application: str
    target: str
    #: The fields of ``target`` with the same simple name: it carries the value on.
    carried_as: list[str]
    #: When ``application`` is a masking job: the mask the field gets on the way
    #: (``hash``, ``tokenize``...), or ``unmasked`` when the twin keeps it as is.
    masked: str | None = None


@dataclass(frozen=True)
class FieldFlow:
    field: str
    #: topic -> the fields (full names) matching in that topic's schemas.
    held_in: dict[str, list[str]]
    #: topic -> the applications that may read it (the spec's consumers).
    read_by: dict[str, list[str]]
    hops: list[FieldHop] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def schema_fields(spec: Spec) -> dict[str, list[str]]:
    """topic -> the full names of its value and key fields (see ``topic_fields``)."""
    return {name: list(topic_fields(spec, entry)) for name, entry in spec.topics.items()}


def _simple(name: str) -> str:
    return name.rsplit(".", 1)[-1].removeprefix("key:")


def where_flows(spec: Spec, wanted: str) -> FieldFlow:
    """Follow ``wanted`` (a full field name, ``ns.Record.field``, or a simple one) from the
    topics that hold it through the applications that read them, hop by hop."""
    fields = schema_fields(spec)

    def matches(name: str) -> bool:
        return name == wanted or name.removeprefix("key:") == wanted or _simple(name) == wanted

    held = {t: sorted(n for n in names if matches(n)) for t, names in fields.items()}
    held = {t: names for t, names in held.items() if names}
    simple = _simple(wanted)
    readers: dict[str, list[str]] = {}
    hops: list[FieldHop] = []
    # Breadth first over topics that carry the field on, each visited once.
    queue = sorted(held)
    visited = set(queue)
    while queue:
        topic = queue.pop(0)
        apps = sorted(e.app.name for e in spec.applications.values() if topic in e.app.consumes)
        readers[topic] = apps
        for app in apps:
            for target in sorted(spec.applications[app].app.produces):
                carried = sorted(n for n in fields.get(target, []) if _simple(n) == simple)
                hops.append(
                    FieldHop(topic, app, target, carried, _mask(spec, app, topic, target, simple))
                )
                if carried and target not in visited:
                    visited.add(target)
                    queue.append(target)
                    held.setdefault(target, carried)
    return FieldFlow(wanted, dict(sorted(held.items())), readers, hops)


@dataclass(frozen=True)
class Orphan:
    topic: str
    in_spec: bool
    size_on_disk_bytes: int | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def orphans(
    spec: Spec,
    topics: list[str],
    rows: list[LineageRow],
    sizes: dict[str, int] | None,
) -> list[Orphan]:
    """Topics of ``topics`` (the cluster's) that no declared flow and no observed consumer
    uses; the largest first."""
    used = {
        row.flow.topic
        for row in rows
        if row.declared or (row.evidence and row.flow.direction == "consumes")
    }
    found = [
        Orphan(t, t in spec.topics, None if sizes is None else sizes.get(t))
        for t in topics
        if t not in used
    ]
    return sorted(found, key=lambda o: (-(o.size_on_disk_bytes or 0), o.topic))


def _mask(spec: Spec, app: str, topic: str, target: str, simple: str) -> str | None:
    """How the masking job ``app`` (if it is one) masks field ``simple`` of ``topic`` on
    its way to ``target``: the twin gets the mask, the vault the value (encrypted)."""
    entry = spec.topics.get(topic)
    if entry is None or entry.topic.masked_twin is None or app != masker_name(entry.topic):
        return None
    mask = masked_fields(spec, entry).get(simple)
    if target == vault_topic(entry):
        return "the value, in the vault" if mask == "tokenize" else None
    return mask or "unmasked"
