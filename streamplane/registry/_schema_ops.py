"""Registering and looking up schemas with their data contracts, and the configs that govern it.

:class:`SchemaOperations` is the part of :class:`~streamplane.registry._service.Registry`
that follows Confluent Schema Registry's register, lookup and compatibility paths: a
schema's contract (metadata and rule set, ``_contracts``) is completed from the subject's
config and latest version, and the schema id names text, references and contract together;
``compatibilityGroup`` restricts the compatibility check to versions of the same group;
``validateFields`` and ``normalize`` (``_normalize``) shape what is accepted and stored.
The configs themselves (``_config``) are read and written here too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from streamplane.errors import RegistryError
from streamplane.registry import _config
from streamplane.registry._contracts import (
    Contract,
    has_properties,
    normalize_metadata,
    property_of,
    reserved_field_problems,
    resolve,
    validate_rule_set,
)
from streamplane.registry._normalize import (
    check_field_names,
    normalized_references,
    normalized_text,
    top_level_fields,
)
from streamplane.registry._state import RegistryState, SchemaVersion, StoredSchema
from streamplane.registry._writer import WriterElection, WriteSession
from streamplane.registry.compat.formats import FORMATS, Parsed

DEFAULT_LEVEL = _config.DEFAULT_LEVEL
#: (type, text, references) -> identity of a schema being written (see ``Registry``)
IdentityHint = tuple[tuple[str, str, tuple[tuple[str, str, int], ...]], str]


def not_found_subject(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


@dataclass(frozen=True)
class Reference:
    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class Prepared:
    """A schema as a write or lookup uses it: normalised if asked, parsed, with its identity."""

    text: str
    references: tuple[tuple[str, str, int], ...]
    parsed: Parsed
    identity: str


@dataclass(frozen=True)
class Registered:
    """What a registration answers: the version (new or found) and its schema."""

    version: SchemaVersion
    stored: StoredSchema


class SchemaOperations:
    """Schema registration, lookup, compatibility checks and configs (see the module)."""

    _lock: threading.RLock
    writer: WriterElection
    _identity_hint: IdentityHint | None

    # Provided by Registry: the state reads see, parsing, and the mode of a subject.
    @property
    def state(self) -> RegistryState:
        raise NotImplementedError

    def _parse(self, schema_type: str, text: str, refs: tuple[tuple[str, str, int], ...]) -> Parsed:
        raise NotImplementedError

    def _reference_texts(self, refs: tuple[tuple[str, str, int], ...]) -> dict[str, str]:
        raise NotImplementedError

    def _check_writable(self, subject: str | None) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ config
    def config(self, subject: str | None, *, default_to_global: bool = False) -> dict[str, Any]:
        """The config as ``GET /config[/{subject}]`` answers it (the level always filled in)."""
        with self._lock:
            top = self.state.global_config
            if subject is None:
                return _config.with_level(top, DEFAULT_LEVEL)
            own = self.state.subject_config.get(subject)
        if default_to_global:
            return _config.in_scope(top, own)
        if own is None:
            raise RegistryError(
                404,
                40408,
                f"Subject '{subject}' does not have subject-level compatibility configured",
            )
        return _config.with_level(own, (top or {}).get("compatibilityLevel", DEFAULT_LEVEL))

    def subject_settings(self, subject: str) -> _config.SubjectSettings:
        """What governs registrations under ``subject`` (its config, else the global one)."""
        with self._lock:
            return _config.settings(
                self.state.global_config, self.state.subject_config.get(subject)
            )

    def latest_with_metadata(
        self, subject: str, wanted: dict[str, str], *, deleted: bool = False
    ) -> SchemaVersion:
        """The latest version whose metadata has every wanted property (Confluent's
        ``GET /subjects/{s}/metadata``; a version without metadata never matches)."""
        with self._lock:
            versions = self.state.live_versions(subject, deleted=deleted)
            for entry in reversed(versions):
                if has_properties(self.state.schemas[entry.schema_id].contract.metadata, wanted):
                    return entry
        if not versions:
            raise not_found_subject(subject)
        raise RegistryError(404, 40403, "Schema not found")

    # ----------------------------------------------------------------- schemas
    def _prepare(
        self,
        schema_type: str,
        text: str,
        references: tuple[tuple[str, str, int], ...],
        *,
        normalize: bool,
        validate_fields: bool,
    ) -> Prepared:
        """Parse (422 if invalid), check field names, and with ``normalize`` turn the text
        into its normal form (``_normalize``), which is then what is stored and compared."""
        if normalize:
            references = normalized_references(references)
        parsed = self._parse(schema_type, text, references)
        if validate_fields:
            check_field_names(schema_type, parsed)
        if normalize:
            normal = normalized_text(schema_type, parsed, self._reference_texts(references))
            if normal != text:
                text, parsed = normal, self._parse(schema_type, normal, references)
        return Prepared(text, references, parsed, FORMATS[schema_type].identity(parsed))

    def lookup(
        self,
        subject: str,
        text: str,
        schema_type: str,
        refs: list[Reference],
        *,
        deleted: bool = False,
        contract: Contract | None = None,
        normalize: bool = False,
    ) -> SchemaVersion:
        """The version of ``subject`` holding this schema and contract (Confluent's lookup:
        as given, then as a registration would complete it from the config and the latest
        version's contract)."""
        given = contract or Contract()
        settings = self.subject_settings(subject)
        normalize = normalize or settings.normalize
        prepared = self._prepare(schema_type, text, refs_of(refs), normalize=normalize,
                                 validate_fields=False)  # fmt: skip
        with self._lock:
            versions = self.state.live_versions(subject, deleted=deleted)
            if not versions:
                raise not_found_subject(subject)
            found = self.state.find(versions, prepared.identity, given)
            live = self.state.live_versions(subject)
            if found is None and live:
                latest = self.state.schemas[live[-1].schema_id].contract
                completed = resolve(settings.contracts, given, latest)
                if completed != given:
                    found = self.state.find(versions, prepared.identity, completed)
        if found is None:
            raise RegistryError(404, 40403, "Schema not found")
        return found

    def check(
        self,
        subject: str,
        text: str,
        schema_type: str,
        refs: list[Reference],
        *,
        version: str = "latest",
        metadata: dict[str, Any] | None = None,
        normalize: bool = False,
    ) -> list[str]:
        """Messages explaining why ``text`` is incompatible (empty: compatible). ``metadata``
        places it in its compatibility group, as given (not completed from defaults)."""
        settings = self.subject_settings(subject)
        prepared = self._prepare(
            schema_type, text, refs_of(refs), normalize=normalize or settings.normalize,
            validate_fields=settings.validate_fields,
        )  # fmt: skip
        metadata = normalize_metadata(metadata)
        return self._check_parsed(
            subject, prepared.parsed, schema_type, settings=settings, version=version,
            metadata=metadata,
        )  # fmt: skip

    def _check_parsed(
        self,
        subject: str,
        parsed: Parsed,
        schema_type: str,
        *,
        settings: _config.SubjectSettings,
        version: str = "latest",
        metadata: dict[str, Any] | None = None,
    ) -> list[str]:
        with self._lock:
            live = self.state.live_versions(subject)
            if version in ("latest", "-1"):
                history = live
            else:
                number = version_number(version)
                chosen = [v for v in live if v.version == number]
                if not chosen:
                    if not self.state.subjects.get(subject):
                        raise not_found_subject(subject)
                    raise RegistryError(404, 40402, f"Version {number} not found.")
                history = [v for v in live if v.version <= number]
            contracts = [self.state.schemas[v.schema_id].contract for v in history]
            previous = contracts[-1].metadata if contracts else None
            if settings.group is not None:
                # Only versions in the same group (same value of the named property, absent
                # included) are checked: a new major version may break compatibility.
                group = property_of(metadata, settings.group)
                history = [
                    v for v, c in zip(history, contracts, strict=True)
                    if property_of(c.metadata, settings.group) == group
                ]  # fmt: skip
            types = {self.state.schemas[v.schema_id].schema_type for v in history}
            existing = [self._stored_parsed(v.schema_id) for v in history]
        problems: list[str] = []
        if settings.validate_fields:
            fields = top_level_fields(schema_type, parsed)
            problems += reserved_field_problems(metadata, previous, fields)
        if settings.level != "NONE" and types - {schema_type}:
            changed = ", ".join(sorted(types - {schema_type}))
            return [
                *problems,
                f"schema type changed from {changed} to {schema_type}: no reader of one can "
                "read data written with the other",
            ]
        return problems + list(FORMATS[schema_type].check(parsed, existing, settings.level))

    def _stored_parsed(self, schema_id: int) -> Parsed:
        stored = self.state.schemas[schema_id]
        return self._parse(stored.schema_type, stored.schema, stored.references)

    def register(
        self,
        subject: str,
        text: str,
        schema_type: str,
        refs: list[Reference],
        *,
        contract: Contract | None = None,
        normalize: bool = False,
    ) -> Registered:
        """Register (or find again) the schema with its contract, completed as Confluent
        completes it: config defaults, then the given contract or the latest version's,
        then config overrides. Another contract is another id and version."""
        self._check_writable(subject)
        given = contract or Contract()
        validate_rule_set(given.rule_set)
        settings = self.subject_settings(subject)
        prepared = self._prepare(
            schema_type, text, refs_of(refs), normalize=normalize or settings.normalize,
            validate_fields=settings.validate_fields,
        )  # fmt: skip
        hint = ((schema_type, prepared.text, prepared.references), prepared.identity)
        try:
            with self.writer.session() as session:
                return self._register(session, subject, schema_type, prepared, given, hint)
        finally:
            if self._identity_hint is hint:  # kept until read back: the reader reuses it
                self._identity_hint = None

    def _register(
        self,
        session: WriteSession,
        subject: str,
        schema_type: str,
        prepared: Prepared,
        given: Contract,
        hint: IdentityHint,
    ) -> Registered:
        settings = self.subject_settings(subject)
        with self._lock:
            live = self.state.live_versions(subject)
            if not settings.contracts.shapes_contracts:  # the request as given may match
                found = self.state.find(live, prepared.identity, given, prepared.references)
                if found is not None:
                    return Registered(found, self.state.schemas[found.schema_id])
            version = max(self.state.subjects.get(subject, {}).keys(), default=0) + 1
            latest = self.state.schemas[live[-1].schema_id].contract if live else None
            contract = resolve(settings.contracts, given, latest, new_version=version)
            found = self.state.find(live, prepared.identity, contract, prepared.references)
            if found is not None:
                return Registered(found, self.state.schemas[found.schema_id])
        problems = self._check_parsed(
            subject, prepared.parsed, schema_type, settings=settings, metadata=contract.metadata
        )
        if problems:
            raise RegistryError(
                409, 409,
                "Schema being registered is incompatible with an earlier schema for subject "
                f"\"{subject}\", details: [{'; '.join(problems)}]",
            )  # fmt: skip
        with self._lock:
            content = (schema_type, prepared.identity, prepared.references, contract.key)
            # The writer's state holds every committed record (see _writer), so
            # max_id + 1 has never been handed out.
            schema_id = self.state.by_content.get(content, self.state.max_id + 1)
        stored = StoredSchema(schema_id, schema_type, prepared.text, prepared.references, contract)
        key = {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}
        self._identity_hint = hint
        session.write([(key, stored.record_value(subject, version, deleted=False))])
        return Registered(SchemaVersion(subject, version, schema_id), stored)

    # ------------------------------------------------------------ config writes
    def set_config(self, subject: str | None, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the fields of the global or a subject config named in ``changes`` (None
        removes one), as Confluent's PUT does; returns the config now stored."""
        _config.updated(None, changes)  # refuse an invalid change before taking the writer
        self._check_writable(subject)
        with self.writer.session() as session:
            with self._lock:
                if subject is None:
                    previous = self.state.global_config
                else:
                    previous = self.state.subject_config.get(subject)
            stored = _config.updated(previous, changes)
            session.write([({"keytype": "CONFIG", "subject": subject, "magic": 0}, stored)])
            return stored

    def delete_config(self, subject: str | None) -> dict[str, Any]:
        """Remove the global or a subject config; returns it as GET answered it."""
        self._check_writable(subject)
        with self.writer.session() as session:
            with self._lock:
                stored = subject is None or subject in self.state.subject_config
            if not stored:
                raise not_found_subject(subject or "")
            previous = self.config(subject)
            session.write([({"keytype": "CONFIG", "subject": subject, "magic": 0}, None)])
            return previous


def refs_of(refs: list[Reference]) -> tuple[tuple[str, str, int], ...]:
    return tuple((r.name, r.subject, r.version) for r in refs)


def version_number(version: str) -> int:
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
