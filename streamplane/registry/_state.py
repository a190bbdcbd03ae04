"""The registry's in-memory state, built only by applying ``_schemas`` records in order.

Record shapes follow Confluent Schema Registry's own topic (keytype SCHEMA, CONFIG,
MODE, DELETE_SUBJECT, NOOP), so a ``_schemas`` topic written by either can be read. A
SCHEMA value carries the version's data contract (``metadata``, ``ruleSet``: ``_contracts``)
and a CONFIG value the whole config (``_config``); older CONFIG values hold only a level.
Two key types of our own carry platform state that every instance and every restart
must agree on, and that Confluent's clients never read (they only see the REST API):
STREAMPLANE_WRITER announces the elected writer's URL (``_writer``), and
STREAMPLANE_ACCESS holds the access policy (``_access``). Both are single keys, so
compaction keeps only the latest of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamplane.errors import RegistryError
from streamplane.registry import _config
from streamplane.registry._contracts import (
    Contract,
    normalize_metadata,
    normalize_rule_set,
    same_contract,
)
from streamplane.registry._dek import DekState


@dataclass
class SchemaVersion:
    subject: str
    version: int
    schema_id: int
    deleted: bool = False


@dataclass(frozen=True)
class StoredSchema:
    schema_id: int
    schema_type: str
    schema: str
    references: tuple[tuple[str, str, int], ...] = ()  # (name, subject, version)
    #: The id's data contract (Confluent's ``metadata`` and ``ruleSet``): part of what it names.
    contract: Contract = field(default_factory=Contract)

    def record_value(self, subject: str, version: int, *, deleted: bool) -> dict[str, Any]:
        """The SCHEMA record value of ``subject`` v``version`` using this schema."""
        value: dict[str, Any] = {"subject": subject, "version": version, "id": self.schema_id}
        if self.schema_type != "AVRO":
            value["schemaType"] = self.schema_type
        if self.references:
            value["references"] = [
                {"name": n, "subject": s, "version": v} for n, s, v in self.references
            ]
        if self.contract.metadata is not None:
            value["metadata"] = self.contract.metadata
        if self.contract.rule_set is not None:
            value["ruleSet"] = self.contract.rule_set
        value["schema"] = self.schema
        value["deleted"] = deleted
        return value


@dataclass
class RegistryState:
    schemas: dict[int, StoredSchema] = field(default_factory=dict)
    subjects: dict[str, dict[int, SchemaVersion]] = field(default_factory=dict)
    #: The global CONFIG value (``_config``: level, group, defaults, overrides...), if set.
    global_config: dict[str, Any] | None = None
    subject_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    global_mode: str | None = None
    subject_mode: dict[str, str] = field(default_factory=dict)
    #: (schema type, canonical form, references, contract key) -> id, so one schema with one
    #: contract gets one id everywhere
    by_content: dict[tuple[str, str, tuple[tuple[str, str, int], ...], str], int] = field(
        default_factory=dict
    )
    canonical: dict[int, str] = field(default_factory=dict)
    #: id -> (subject, version) pairs using it, so reads by id need no scan of every subject
    usages: dict[int, set[tuple[str, int]]] = field(default_factory=dict)
    max_id: int = 0
    #: the latest STREAMPLANE_WRITER announcement: {"url", "instance", "claimed_at"}
    writer: dict[str, Any] | None = None
    #: the latest STREAMPLANE_ACCESS policy as stored (validated where it is used)
    access: dict[str, Any] | None = None
    #: KEKs and DEKs of the DEK registry (``_dek``: KEK and DEK records)
    dek_registry: DekState = field(default_factory=DekState)

    def apply(
        self, record: tuple[dict[str, Any], dict[str, Any] | None], *, canonicalise: Any
    ) -> None:
        key, value = record
        kind = key.get("keytype")
        subject: str = key.get("subject") or ""  # "" only for global CONFIG / MODE records
        if kind == "SCHEMA":
            version = int(key["version"])
            if value is None:  # permanent delete (tombstone)
                versions = self.subjects.get(subject, {})
                gone = versions.pop(version, None)
                if gone is not None:
                    self.usages.get(gone.schema_id, set()).discard((subject, version))
                if not versions:
                    self.subjects.pop(subject, None)
                return
            schema_id = int(value["id"])
            refs = tuple(
                (r["name"], r["subject"], int(r["version"])) for r in value.get("references") or []
            )
            stored = StoredSchema(
                schema_id, value.get("schemaType", "AVRO"), value["schema"], refs,
                _stored_contract(value),
            )  # fmt: skip
            if schema_id not in self.schemas:
                self.schemas[schema_id] = stored
                canonical = canonicalise(stored)
                self.canonical[schema_id] = canonical
                content = (stored.schema_type, canonical, refs, stored.contract.key)
                self.by_content.setdefault(content, schema_id)
            self.max_id = max(self.max_id, schema_id)
            versions = self.subjects.setdefault(subject, {})
            previous = versions.get(version)
            if previous is not None:
                self.usages.get(previous.schema_id, set()).discard((subject, version))
            versions[version] = SchemaVersion(
                subject, version, schema_id, bool(value.get("deleted", False))
            )
            self.usages.setdefault(schema_id, set()).add((subject, version))
        elif kind == "CONFIG":
            config = _config.from_record(value)
            if not subject:
                self.global_config = config
            elif config is None:
                self.subject_config.pop(subject, None)
            else:
                self.subject_config[subject] = config
        elif kind == "MODE":
            mode = (value or {}).get("mode")
            if not subject:
                self.global_mode = mode
            elif mode is None:
                self.subject_mode.pop(subject, None)
            else:
                self.subject_mode[subject] = mode
        elif kind == "STREAMPLANE_WRITER":
            self.writer = value
        elif kind == "STREAMPLANE_ACCESS":
            self.access = value
        elif kind == "DELETE_SUBJECT" and value is not None:
            for entry in self.subjects.get(subject, {}).values():
                if entry.version <= int(value.get("version", 1 << 31)):
                    entry.deleted = True
        elif kind in ("KEK", "DEK"):
            self.dek_registry.apply(key, value)

    def live_versions(self, subject: str, *, deleted: bool = False) -> list[SchemaVersion]:
        versions = sorted(self.subjects.get(subject, {}).values(), key=lambda v: v.version)
        return versions if deleted else [v for v in versions if not v.deleted]

    def find(
        self,
        versions: list[SchemaVersion],
        identity: str,
        contract: Contract,
        references: tuple[tuple[str, str, int], ...] | None = None,
    ) -> SchemaVersion | None:
        """The latest of ``versions`` holding this schema (and, unless None, references)
        with this contract: first exactly, then as Confluent's lookup also allows, with a
        ``confluent:version`` on one side only (see ``_contracts.same_contract``)."""
        matching = [
            v for v in reversed(versions)
            if self.canonical.get(v.schema_id) == identity
            and (references is None or self.schemas[v.schema_id].references == references)
        ]  # fmt: skip
        for entry in matching:
            if self.schemas[entry.schema_id].contract == contract:
                return entry
        for entry in matching:
            stored = self.schemas[entry.schema_id].contract
            if same_contract(contract, stored, stored_version=entry.version):
                return entry
        return None


def _stored_contract(value: dict[str, Any]) -> Contract:
    """The contract a SCHEMA record holds (validated when written; unreadable parts dropped)."""
    try:
        metadata = normalize_metadata(value.get("metadata"))
    except RegistryError:
        metadata = None
    try:
        rule_set = normalize_rule_set(value.get("ruleSet"))
    except RegistryError:
        rule_set = None
    return Contract(metadata, rule_set)
