"""The registry's in-memory state, built only by applying ``_schemas`` records in order.

Record shapes follow Confluent Schema Registry's own topic (keytype SCHEMA, CONFIG,
MODE, DELETE_SUBJECT, NOOP), so a ``_schemas`` topic written by either can be read.
Two key types of our own carry platform state that every instance and every restart
must agree on, and that Confluent's clients never read (they only see the REST API):
STREAMPLANE_WRITER announces the elected writer's URL (``_writer``), and
STREAMPLANE_ACCESS holds the access policy (``_access``). Both are single keys, so
compaction keeps only the latest of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


@dataclass
class RegistryState:
    schemas: dict[int, StoredSchema] = field(default_factory=dict)
    subjects: dict[str, dict[int, SchemaVersion]] = field(default_factory=dict)
    global_config: str | None = None
    subject_config: dict[str, str] = field(default_factory=dict)
    global_mode: str | None = None
    subject_mode: dict[str, str] = field(default_factory=dict)
    #: (schema type, canonical form, references) -> id, so one schema gets one id everywhere
    by_content: dict[tuple[str, str, tuple[tuple[str, str, int], ...]], int] = field(
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
            stored = StoredSchema(schema_id, value.get("schemaType", "AVRO"), value["schema"], refs)
            if schema_id not in self.schemas:
                self.schemas[schema_id] = stored
                canonical = canonicalise(stored)
                self.canonical[schema_id] = canonical
                self.by_content.setdefault((stored.schema_type, canonical, refs), schema_id)
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
            level = (value or {}).get("compatibilityLevel")
            if not subject:
                self.global_config = level
            elif level is None:
                self.subject_config.pop(subject, None)
            else:
                self.subject_config[subject] = level
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

    def live_versions(self, subject: str, *, deleted: bool = False) -> list[SchemaVersion]:
        versions = sorted(self.subjects.get(subject, {}).values(), key=lambda v: v.version)
        return versions if deleted else [v for v in versions if not v.deleted]
