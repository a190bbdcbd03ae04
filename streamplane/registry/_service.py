"""Schema registry operations with Confluent Schema Registry's semantics and error codes.

Reads are answered from the state this instance replayed from ``_schemas``. Writes
run only on the elected writer (``_writer``), inside a write session: the id or
version a write hands out is computed from the state and produced under the one lock
that a change of writer also takes. Other instances never call the write methods;
they forward the HTTP request (``_forward``).
"""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

from streamplane.errors import RegistryError
from streamplane.kafka import ConnectionSettings
from streamplane.registry._access import ACCESS_KEY, AccessPolicy, AccessRules
from streamplane.registry._log import SCHEMAS_TOPIC, SchemaLog
from streamplane.registry._schema_ops import (
    DEFAULT_LEVEL,
    Reference,
    Registered,
    SchemaOperations,
    not_found_subject,
)
from streamplane.registry._schema_ops import version_number as _version_number
from streamplane.registry._state import RegistryState, SchemaVersion, StoredSchema
from streamplane.registry._writer import ElectionTimeouts, NotWriterError, WriterElection
from streamplane.registry.compat.formats import FORMATS, Parsed

#: Schema registration and configs live in ``_schema_ops``; these names are re-exported.
__all__ = [
    "DEFAULT_LEVEL",
    "MODES",
    "SUPPORTED_TYPES",
    "Reference",
    "Registered",
    "Registry",
    "not_found_subject",
]

MODES = ("READWRITE", "READONLY", "IMPORT")
SUPPORTED_TYPES = tuple(FORMATS)


class Registry(SchemaOperations):
    """One registry instance: the state replayed from ``_schemas`` plus the write path."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        topic: str = SCHEMAS_TOPIC,
        advertised_url: str | None = None,
        timeouts: ElectionTimeouts | None = None,
    ) -> None:
        self.settings = settings
        #: What the log holds, as this instance's reader applied it: every read sees this.
        self._confirmed = RegistryState()
        #: The writer's copy, ahead of the log by the writes in flight (see ``_writer``).
        self._ahead: RegistryState | None = None
        self.advertised_url = advertised_url.rstrip("/") if advertised_url else None
        self._lock = threading.RLock()
        self._rendered: dict[tuple[int, str | None], str] = {}
        self._rules = AccessRules(None)
        #: (type, text, references) -> identity of the schema this instance is writing
        self._identity_hint: tuple[tuple[str, str, tuple[tuple[str, str, int], ...]], str] | None
        self._identity_hint = None
        self.log = SchemaLog(settings, self._apply, topic=topic)
        self.writer = WriterElection(
            settings,
            self.log,
            instance_id=uuid.uuid4().hex,
            advertised_url=self.advertised_url,
            ahead=_Ahead(self),
            timeouts=timeouts,
        )

    def start(self) -> None:
        """Replay ``_schemas``, then join the writer election."""
        self.log.start()
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()  # first: another instance can take over while this one winds down
        self.log.stop()

    # ------------------------------------------------------------ cluster role
    @property
    def is_writer(self) -> bool:
        return self.writer.is_writer

    def writer_url(self) -> str | None:
        """The URL the current writer announced (None: none announced, or it has no URL)."""
        with self._lock:
            announced = self.state.writer or {}
        url = announced.get("url")
        return url.rstrip("/") if isinstance(url, str) and url else None

    @property
    def applied_offset(self) -> int:
        return self.log.watcher.offset

    def wait_applied(self, offset: int, timeout_s: float) -> bool:
        return self.log.watcher.wait_for(offset, timeout_s=timeout_s)

    def access_rules(self) -> AccessRules:
        """The stored access policy, indexed (rebuilt only when a new one is applied)."""
        return self._rules

    @property
    def state(self) -> RegistryState:
        """The state a caller sees: the writer's ahead copy while it computes a write."""
        ahead = self._ahead
        if ahead is not None and self.writer.in_session:
            return ahead
        return self._confirmed

    def _apply(self, record: tuple[dict[str, Any], dict[str, Any] | None]) -> None:
        with self._lock:
            self._confirmed.apply(record, canonicalise=self._canonical_of)
            if record[0].get("keytype") == ACCESS_KEY["keytype"]:
                self._rules = AccessRules(_stored_policy(self._confirmed.access))

    def _canonical_of(self, stored: StoredSchema) -> str:
        hint = self._identity_hint
        if hint is not None and hint[0] == (stored.schema_type, stored.schema, stored.references):
            return hint[1]  # the write being applied parsed it already
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
            found = (
                self.state.subjects[subject][version]
                for subject, version in self.state.usages.get(schema_id, ())
            )
            return sorted(
                (v for v in found if deleted or not v.deleted),
                key=lambda v: (v.subject, v.version),
            )

    def referenced_by(self, subject: str, version: int) -> list[int]:
        with self._lock:
            return sorted(
                sid for sid, s in self.state.schemas.items()
                if any(r[1] == subject and r[2] == version for r in s.references)
            )  # fmt: skip

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

    def delete_version(self, subject: str, version: str, *, permanent: bool) -> int:
        self._check_writable(subject)
        with self.writer.session() as session:
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
                session.write([(key, None)])
            else:
                stored = self.state.schemas[entry.schema_id]
                session.write([(key, stored.record_value(subject, entry.version, deleted=True))])
            return entry.version

    def delete_subject(self, subject: str, *, permanent: bool) -> list[int]:
        self._check_writable(subject)
        with self.writer.session() as session:
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
                # One transaction: the subject is gone entirely or not at all.
                session.write([
                    ({"keytype": "SCHEMA", "subject": subject, "version": v.version, "magic": 1},
                     None)
                    for v in all_versions
                ])  # fmt: skip
                return [v.version for v in all_versions]
            if not live:
                raise RegistryError(
                    404,
                    40404,
                    f"Subject '{subject}' was soft deleted. "
                    "Set permanent=true to delete permanently",
                )
            session.write([(
                {"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0},
                {"subject": subject, "version": live[-1].version},
            )])  # fmt: skip
            return [v.version for v in live]

    def set_mode(self, subject: str | None, mode: str | None) -> str | None:
        """Set (or with None remove) a mode; returns the previous one."""
        if mode is not None and mode not in MODES:
            raise RegistryError(
                422, 42204, "Invalid mode. Valid values are READWRITE, READONLY, IMPORT"
            )
        with self.writer.session() as session:
            with self._lock:
                if subject is None:
                    previous = self.state.global_mode
                else:
                    previous = self.state.subject_mode.get(subject)
            if mode is None and subject is not None and previous is None:
                raise RegistryError(
                    404, 40409, f"Subject '{subject}' does not have subject-level mode configured"
                )
            value = None if mode is None else {"mode": mode}
            session.write([({"keytype": "MODE", "subject": subject, "magic": 0}, value)])
            return previous

    def set_access(self, policy: AccessPolicy | None) -> None:
        """Store the access policy (None removes it) for every instance and restart."""
        value = None if policy is None else policy.model_dump(mode="json")
        with self.writer.session() as session:
            session.write([(dict(ACCESS_KEY), value)])

    def stored_access(self) -> AccessPolicy | None:
        return self._rules.policy


def _stored_policy(value: dict[str, Any] | None) -> AccessPolicy | None:
    if value is None:
        return None
    try:
        return AccessPolicy.model_validate(value)
    except ValueError:
        # Written through the API, so valid; refusing everything beats trusting garbage.
        return AccessPolicy()


class _Ahead:
    """The registry's side of :class:`AheadState`: a deep copy, so the two never share."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def fork(self) -> None:
        registry = self._registry
        with registry._lock:
            registry._ahead = copy.deepcopy(registry._confirmed)

    def apply(self, records: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
        registry = self._registry
        with registry._lock:
            ahead = registry._ahead
            if ahead is None:
                raise NotWriterError("this instance stopped being the writer")
            for record in records:
                ahead.apply(record, canonicalise=registry._canonical_of)

    def drop(self) -> None:
        with self._registry._lock:
            self._registry._ahead = None
