"""Schema registry operations with Confluent Schema Registry's semantics and error codes."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from streamplane.errors import RegistryError
from streamplane.kafka import ConnectionSettings
from streamplane.registry._log import SCHEMAS_TOPIC, SchemaLog
from streamplane.registry._state import RegistryState, SchemaVersion, StoredSchema
from streamplane.registry.compat._levels import LEVELS
from streamplane.registry.compat.formats import FORMATS, Parsed

MODES = ("READWRITE", "READONLY", "IMPORT")
DEFAULT_LEVEL = "BACKWARD"
SUPPORTED_TYPES = tuple(FORMATS)


def not_found_subject(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


@dataclass(frozen=True)
class Reference:
    name: str
    subject: str
    version: int


class Registry:
    """One registry instance: the state replayed from ``_schemas`` plus the write path."""

    def __init__(self, settings: ConnectionSettings, *, topic: str = SCHEMAS_TOPIC) -> None:
        self.state = RegistryState()
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._rendered: dict[tuple[int, str | None], str] = {}
        self.log = SchemaLog(settings, self._apply, topic=topic)

    def start(self) -> None:
        self.log.start()

    def stop(self) -> None:
        self.log.stop()

    def _apply(self, record: tuple[dict[str, Any], dict[str, Any] | None]) -> None:
        with self._lock:
            self.state.apply(record, canonicalise=self._canonical_of)

    def _canonical_of(self, stored: StoredSchema) -> str:
        try:
            parsed = self._parse(stored.schema_type, stored.schema, stored.references)
            return FORMATS[stored.schema_type].identity(parsed)
        except RegistryError:
            return stored.schema  # a stored schema we cannot parse still dedups by its text

    # ----------------------------------------------------------------- parsing
    def _reference_texts(self, refs: tuple[tuple[str, str, int], ...]) -> dict[str, str]:
        texts = {}
        for name, subject, version in refs:
            entry = self.state.subjects.get(subject, {}).get(version)
            if entry is None:
                raise RegistryError(
                    422,
                    42201,
                    f"Invalid schema: reference {name} -> {subject} v{version} not found",
                )
            texts[name] = self.state.schemas[entry.schema_id].schema
        return texts

    def _parse(self, schema_type: str, text: str, refs: tuple[tuple[str, str, int], ...]) -> Parsed:
        schema_format = FORMATS.get(schema_type)
        if schema_format is None:
            raise RegistryError(
                422, 42201,
                f"Invalid schema: unknown schema type {schema_type} "
                f"(supported: {', '.join(SUPPORTED_TYPES)})",
            )  # fmt: skip
        try:
            parsed: Parsed = schema_format.parse(text, references=self._reference_texts(refs))
        except schema_format.error as exc:
            raise RegistryError(422, 42201, f"Invalid schema: {exc}") from exc
        return parsed

    def render(self, schema_id: int, fmt: str | None) -> str:
        """The schema text a GET returns for ``?format=fmt`` (cached: ids never change)."""
        key = (schema_id, fmt)
        cached = self._rendered.get(key)
        if cached is not None:
            return cached
        stored = self.schema(schema_id)
        if fmt is None and stored.schema_type == "AVRO":
            return stored.schema  # the hot path: nothing to parse
        parsed = self._parse(stored.schema_type, stored.schema, stored.references)
        try:
            text: str = FORMATS[stored.schema_type].render(parsed, stored.schema, fmt)
        except FORMATS[stored.schema_type].error as exc:
            raise RegistryError(422, 42201, f"Invalid format: {exc}") from exc
        self._rendered[key] = text
        return text

    # ------------------------------------------------------------------- reads
    def subjects(self, *, deleted: bool = False, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(
                s for s in self.state.subjects
                if s.startswith(prefix) and self.state.live_versions(s, deleted=deleted)
            )  # fmt: skip

    def versions(self, subject: str, *, deleted: bool = False) -> list[int]:
        with self._lock:
            if not self.state.subjects.get(subject):
                raise not_found_subject(subject)
            versions = self.state.live_versions(subject, deleted=deleted)
            if not versions:
                raise not_found_subject(subject)
            return [v.version for v in versions]

    def get_version(self, subject: str, version: str, *, deleted: bool = False) -> SchemaVersion:
        with self._lock:
            if not self.state.subjects.get(subject):
                raise not_found_subject(subject)
            live = self.state.live_versions(subject, deleted=deleted)
            if version in ("latest", "-1"):
                if not live:
                    raise not_found_subject(subject)
                return live[-1]
            number = _version_number(version)
            entry = self.state.subjects[subject].get(number)
            if entry is None or (entry.deleted and not deleted):
                raise RegistryError(404, 40402, f"Version {number} not found.")
            return entry

    def schema(self, schema_id: int) -> StoredSchema:
        with self._lock:
            stored = self.state.schemas.get(schema_id)
            if stored is None:
                raise RegistryError(404, 40403, f"Schema {schema_id} not found")
            return stored

    def usages(self, schema_id: int, *, deleted: bool = False) -> list[SchemaVersion]:
        with self._lock:
            self.schema(schema_id)
            return sorted(
                (v for versions in self.state.subjects.values() for v in versions.values()
                 if v.schema_id == schema_id and (deleted or not v.deleted)),
                key=lambda v: (v.subject, v.version),
            )  # fmt: skip

    def referenced_by(self, subject: str, version: int) -> list[int]:
        with self._lock:
            return sorted(
                sid for sid, s in self.state.schemas.items()
                if any(r[1] == subject and r[2] == version for r in s.references)
            )  # fmt: skip

    def config(self, subject: str | None, *, default_to_global: bool = False) -> str:
        with self._lock:
            if subject is None:
                return self.state.global_config or DEFAULT_LEVEL
            level = self.state.subject_config.get(subject)
            if level is None and default_to_global:
                return self.state.global_config or DEFAULT_LEVEL
            if level is None:
                raise RegistryError(
                    404,
                    40408,
                    f"Subject '{subject}' does not have subject-level compatibility configured",
                )
            return level

    def mode(self, subject: str | None) -> str:
        with self._lock:
            if subject is not None and subject in self.state.subject_mode:
                return self.state.subject_mode[subject]
            return self.state.global_mode or "READWRITE"

    # ------------------------------------------------------------------ writes
    def _check_writable(self, subject: str | None) -> None:
        if self.mode(subject) == "READONLY":
            where = f"Subject {subject}" if subject else "The registry"
            raise RegistryError(422, 42205, f"{where} is in read-only mode")

    def lookup(
        self,
        subject: str,
        text: str,
        schema_type: str,
        refs: list[Reference],
        *,
        deleted: bool = False,
    ) -> SchemaVersion:
        parsed = self._parse(schema_type, text, _refs(refs))
        identity = FORMATS[schema_type].identity(parsed)
        with self._lock:
            if not self.state.subjects.get(subject):
                raise not_found_subject(subject)
            for version in reversed(self.state.live_versions(subject, deleted=deleted)):
                if self.state.canonical.get(version.schema_id) == identity:
                    return version
        raise RegistryError(404, 40403, "Schema not found")

    def check(
        self,
        subject: str,
        text: str,
        schema_type: str,
        refs: list[Reference],
        *,
        version: str = "latest",
    ) -> list[str]:
        """Messages explaining why ``text`` is incompatible (empty: compatible)."""
        parsed = self._parse(schema_type, text, _refs(refs))
        with self._lock:
            level = self.config(subject, default_to_global=True)
            live = self.state.live_versions(subject)
            if version in ("latest", "-1"):
                history = live
            else:
                number = _version_number(version)
                chosen = [v for v in live if v.version == number]
                if not chosen:
                    if not self.state.subjects.get(subject):
                        raise not_found_subject(subject)
                    raise RegistryError(404, 40402, f"Version {number} not found.")
                history = [v for v in live if v.version <= number]
            types = {self.state.schemas[v.schema_id].schema_type for v in history}
            existing = [self._stored_parsed(v.schema_id) for v in history]
        if level != "NONE" and types - {schema_type}:
            return [
                f"schema type changed from {', '.join(sorted(types - {schema_type}))} to "
                f"{schema_type}: no reader of one can read data written with the other"
            ]
        return list(FORMATS[schema_type].check(parsed, existing, level))

    def _stored_parsed(self, schema_id: int) -> Parsed:
        stored = self.state.schemas[schema_id]
        return self._parse(stored.schema_type, stored.schema, stored.references)

    def register(self, subject: str, text: str, schema_type: str, refs: list[Reference]) -> int:
        self._check_writable(subject)
        references = _refs(refs)
        parsed = self._parse(schema_type, text, references)
        identity = FORMATS[schema_type].identity(parsed)
        with self._write_lock:
            with self._lock:
                for existing in self.state.live_versions(subject):
                    same_refs = self.state.schemas[existing.schema_id].references == references
                    if same_refs and self.state.canonical.get(existing.schema_id) == identity:
                        return existing.schema_id
            problems = self.check(subject, text, schema_type, refs)
            if problems:
                raise RegistryError(
                    409, 409,
                    "Schema being registered is incompatible with an earlier schema for subject "
                    f"\"{subject}\", details: [{'; '.join(problems)}]",
                )  # fmt: skip
            with self._lock:
                content = (schema_type, identity, references)
                schema_id = self.state.by_content.get(content, self.state.max_id + 1)
                version = max(self.state.subjects.get(subject, {}).keys(), default=0) + 1
            value: dict[str, Any] = {
                "subject": subject, "version": version, "id": schema_id, "schema": text,
                "deleted": False,
            }  # fmt: skip
            if schema_type != "AVRO":
                value["schemaType"] = schema_type
            if refs:
                value["references"] = [vars(r) for r in refs]
            key = {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}
            self.log.write(key, value)
            return schema_id

    def delete_version(self, subject: str, version: str, *, permanent: bool) -> int:
        self._check_writable(subject)
        with self._write_lock:
            # A soft-deleted version is found too, so deleting it again says so (40406).
            latest = version in ("latest", "-1")
            entry = self.get_version(subject, version, deleted=permanent or not latest)
            if permanent and not entry.deleted:
                raise RegistryError(
                    404, 40407,
                    f"Subject '{subject}' Version {entry.version} was not deleted first before "
                    "being permanently deleted",
                )  # fmt: skip
            if not permanent and entry.deleted:
                raise RegistryError(
                    404,
                    40406,
                    f"Subject '{subject}' Version {entry.version} was soft deleted. "
                    "Set permanent=true to delete permanently",
                )
            if self.referenced_by(subject, entry.version):
                raise RegistryError(
                    422,
                    42206,
                    "One or more references exist to the schema "
                    f"{{subject={subject},version={entry.version}}}",
                )
            key = {"keytype": "SCHEMA", "subject": subject, "version": entry.version, "magic": 1}
            if permanent:
                self.log.write(key, None)
            else:
                stored = self.state.schemas[entry.schema_id]
                value = {"subject": subject, "version": entry.version, "id": entry.schema_id,
                         "schema": stored.schema, "deleted": True}  # fmt: skip
                if stored.schema_type != "AVRO":
                    value["schemaType"] = stored.schema_type
                self.log.write(key, value)
            return entry.version

    def delete_subject(self, subject: str, *, permanent: bool) -> list[int]:
        self._check_writable(subject)
        with self._write_lock:
            with self._lock:
                all_versions = self.state.live_versions(subject, deleted=True)
                live = [v for v in all_versions if not v.deleted]
            if not all_versions:
                raise not_found_subject(subject)
            if permanent:
                if live:
                    raise RegistryError(
                        404,
                        40405,
                        f"Subject '{subject}' was not deleted first before being "
                        "permanently deleted",
                    )
                for v in all_versions:
                    self.log.write(
                        {"keytype": "SCHEMA", "subject": subject, "version": v.version, "magic": 1},
                        None,
                    )
                return [v.version for v in all_versions]
            if not live:
                raise RegistryError(
                    404,
                    40404,
                    f"Subject '{subject}' was soft deleted. "
                    "Set permanent=true to delete permanently",
                )
            self.log.write(
                {"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0},
                {"subject": subject, "version": live[-1].version},
            )
            return [v.version for v in live]

    def set_config(self, subject: str | None, level: str | None) -> None:
        if level is not None and level not in LEVELS:
            raise RegistryError(
                422,
                42203,
                "Invalid compatibility level. Valid values are none, backward, forward, full, "
                "backward_transitive, forward_transitive, and full_transitive",
            )
        self._check_writable(subject)
        with self._write_lock:
            value = None if level is None else {"compatibilityLevel": level}
            self.log.write({"keytype": "CONFIG", "subject": subject, "magic": 0}, value)

    def set_mode(self, subject: str | None, mode: str | None) -> None:
        if mode is not None and mode not in MODES:
            raise RegistryError(
                422, 42204, "Invalid mode. Valid values are READWRITE, READONLY, IMPORT"
            )
        with self._write_lock:
            value = None if mode is None else {"mode": mode}
            self.log.write({"keytype": "MODE", "subject": subject, "magic": 0}, value)


def _refs(refs: list[Reference]) -> tuple[tuple[str, str, int], ...]:
    return tuple((r.name, r.subject, r.version) for r in refs)


def _version_number(version: str) -> int:
    try:
        number = int(version)
    except ValueError:
        number = 0
    if number < 1:
        raise RegistryError(
            422,
            42202,
            "The specified version '"
            + version
            + "' is not a valid version id. Allowed values are between [1, 2^31-1] and "
            'the string "latest"',
        )
    return number
