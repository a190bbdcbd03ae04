"""The catalog of the estate's topics, and the data map of its personal data.

The catalog is what a data steward asks of every topic: whose it is, how it is classified,
its schema and tagged fields, how long it is kept, how big it is, and who writes and reads
it. The GDPR report turns it around, one row per personal-data field: where it lives, how
long, who may read it (by the cluster's ACLs when it is read, see :mod:`.access`; from the
spec alone, the applications it lets read the topic, which is what apply grants) and who
does (what lineage observed).

Fields come from the schemas: Avro fields tagged ``PII`` inline (``confluent:tags``) or by
the spec's ``tags``; a topic classified ``pii`` whose fields cannot be enumerated (JSON
Schema, Protobuf, no schema) is listed as a whole, so nothing personal is left off the map.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from streamplane.lineage.flows import LineageRow
from streamplane.model import PII_TAG, Spec, TopicEntry
from streamplane.model._schema_contract import Role, field_tags
from streamplane.model._types import Classification

#: The field name of a PII topic whose fields are not known.
WHOLE_RECORD = "(whole record)"


@dataclass(frozen=True)
class CatalogEntry:
    topic: str
    tenant: str
    domain: str
    owner: str
    classification: str | None
    visibility: str
    partitions: int
    #: retention.ms the spec sets; None: the cluster's default.
    retention_ms: int | None
    cleanup_policy: str
    key_schema: str | None
    value_schema: str | None
    #: field -> its tags (value schema, then key schema fields prefixed ``key:``).
    tagged_fields: dict[str, list[str]]
    producers: list[str]
    consumers: list[str]
    #: Bytes of every replica; None when the cluster was not read or did not answer.
    size_on_disk_bytes: int | None = None
    observed_producers: list[str] = field(default_factory=list)
    observed_consumers: list[str] = field(default_factory=list)
    #: Who the cluster's ACLs let read the topic; None when they were not read.
    acl_readers: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PersonalField:
    """One personal-data field and where it is, who may read it, who does."""

    topic: str
    field: str
    tenant: str
    owner: str
    retention_ms: int | None
    may_read: list[str]
    does_read: list[str]
    #: The topic's classification: a PII field outside a ``pii`` topic is a finding.
    classification: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def catalog(
    spec: Spec,
    *,
    sizes: dict[str, int] | None = None,
    flows: list[LineageRow] | None = None,
    readers: dict[str, list[str]] | None = None,
) -> list[CatalogEntry]:
    """Every topic of the spec, with sizes, observed flows and ACL readers when given."""
    producers: dict[str, set[str]] = {}
    consumers: dict[str, set[str]] = {}
    for app in spec.applications.values():
        for topic in app.app.produces:
            producers.setdefault(topic, set()).add(app.app.name)
        for topic in app.app.consumes:
            consumers.setdefault(topic, set()).add(app.app.name)
    seen_producing: dict[str, set[str]] = {}
    seen_consuming: dict[str, set[str]] = {}
    for row in flows or []:
        if row.evidence:
            side = seen_producing if row.flow.direction == "produces" else seen_consuming
            side.setdefault(row.flow.topic, set()).add(row.flow.application)
    out = []
    for name, entry in sorted(spec.topics.items()):
        declared = entry.topic
        out.append(
            CatalogEntry(
                topic=name,
                tenant=entry.tenant.name,
                domain=entry.domain.name,
                owner=_owner(entry),
                classification=declared.classification.value if declared.classification else None,
                visibility=declared.visibility.value,
                partitions=declared.partitions,
                retention_ms=declared.retention,
                cleanup_policy=declared.cleanup_policy or "delete",
                key_schema=declared.key_schema.file if declared.key_schema else None,
                value_schema=declared.value_schema.file if declared.value_schema else None,
                tagged_fields=_tagged(spec, entry),
                producers=sorted(producers.get(name, ())),
                consumers=sorted(consumers.get(name, ())),
                size_on_disk_bytes=None if sizes is None else sizes.get(name),
                observed_producers=sorted(seen_producing.get(name, ())),
                observed_consumers=sorted(seen_consuming.get(name, ())),
                acl_readers=None if readers is None else readers.get(name, []),
            )
        )
    return out


def personal_data(entries: list[CatalogEntry]) -> list[PersonalField]:
    """The data map: every PII field of the catalog, or a whole ``pii`` topic."""
    out = []
    for entry in entries:
        fields = sorted(name for name, tags in entry.tagged_fields.items() if PII_TAG in tags)
        if not fields and entry.classification == Classification.PII.value:
            fields = [WHOLE_RECORD]
        readers = entry.acl_readers if entry.acl_readers is not None else entry.consumers
        for name in fields:
            out.append(
                PersonalField(
                    topic=entry.topic,
                    field=name,
                    tenant=entry.tenant,
                    owner=entry.owner,
                    retention_ms=entry.retention_ms,
                    may_read=readers,
                    does_read=entry.observed_consumers,
                    classification=entry.classification,
                )
            )
    return out


def _owner(entry: TopicEntry) -> str:
    return entry.topic.owner or entry.domain.owner or entry.tenant.owners[0]


def topic_fields(spec: Spec, entry: TopicEntry) -> dict[str, set[str]]:
    """Every field of the topic's value and key schemas (Avro: the fields of other formats
    are not enumerated) with its tags; key fields are prefixed ``key:``."""
    fields: dict[str, set[str]] = {}
    roles: tuple[tuple[Role, str], ...] = (("value", ""), ("key", "key:"))
    for role, prefix in roles:
        for name, tags in (field_tags(spec, entry, role) or {}).items():
            fields[f"{prefix}{name}"] = tags
    return fields


def _tagged(spec: Spec, entry: TopicEntry) -> dict[str, list[str]]:
    return {name: sorted(tags) for name, tags in topic_fields(spec, entry).items() if tags}
