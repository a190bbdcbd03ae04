"""The spec's schemas, reconciled into a Confluent-compatible schema registry.

Each topic's key and value schema is a registry *subject* named by Confluent's
TopicNameStrategy (``<topic>-key``, ``<topic>-value``), so serializers left at their
defaults find what the spec registered. Per subject three things are read: its latest
version, whether some version already holds the spec's schema (the registry's lookup
compares parsed schemas, not text, so reformatting a file is no change), and its compatibility
level. A changed schema is then judged under the level it will be registered with: by the
registry itself when that is the subject's level, otherwise by the registry's compatibility
library against the versions read from it. So ``plan``, ``streamplane check`` and ``apply``
give the answers the registry enforces for every producer.

    desired_schemas(spec, cluster)   -> [DesiredSchema]      the spec's side, files read
    read_subjects(client, schemas)   -> [SubjectReading]     the registry's side (I/O)
    schema_changes(readings)         -> actions, refusals    the diff (pure)
    apply_schema_actions(...)        compatibility first, then registration

The registry is reached through ``RegistryClient`` (``_registry_client.py``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, NewType

from streamplane.errors import PlanError, RegistryError, StreamplaneError
from streamplane.model import Spec, TopicEntry, Visibility
from streamplane.reconcile._plan import Action, Change, Refusal
from streamplane.reconcile._registry_client import (
    RegisteredVersion,
    RegistryClient,
    RegistryEndpoint,
)
from streamplane.registry.compat.formats import FORMATS

log = logging.getLogger(__name__)

Subject = NewType("Subject", str)
Role = Literal["key", "value"]
Status = Literal["new", "unchanged", "compatible", "incompatible"]

#: Observed-digest value of a subject (or subject-level config) that does not exist.
ABSENT = "-"
_OBSERVED_PREFIXES = ("schema:", "compatibility:")


#: Subjects used to check a schema under a level the real subject does not have yet.
# --------------------------------------------------------------------------- the spec side
@dataclass(frozen=True)
class DesiredSchema:
    """One key or value schema of a topic, with its file already read."""

    subject: Subject
    topic: str
    tenant: str
    role: Role
    #: As the spec names it: relative to the spec root.
    file: str
    schema_type: str  # AVRO | PROTOBUF | JSON, from the file suffix
    text: str = field(repr=False)
    #: The level the spec declares; None leaves the registry's level alone.
    compatibility: str | None
    public: bool
    #: ``file:line`` of the spec entry naming the schema, for messages.
    where: str
    #: For public events: the versioned topic an incompatible change must go to instead.
    successor: str | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


def subject_name(topic: str, role: Role) -> Subject:
    """Confluent's TopicNameStrategy: the default of every Confluent serializer."""
    return Subject(f"{topic}-{role}")


def desired_schemas(spec: Spec, cluster: str) -> list[DesiredSchema]:
    """The schemas of the topics on ``cluster``, files read (paths relative to the spec root)."""
    out = []
    for entry in spec.topics_on(cluster):
        for role in ("key", "value"):
            ref = getattr(entry.topic, f"{role}_schema")
            if ref is None:
                continue
            pos = spec.source.locate((*entry.path, f"{role}_schema"))
            where = f"{pos.file}:{pos.line}"
            path = spec.root / ref.file
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PlanError(
                    f"{where}: cannot read schema file {path}: {exc}; schema paths are "
                    "relative to the spec root and files are UTF-8"
                ) from None
            public = entry.topic.visibility is Visibility.PUBLIC
            out.append(
                DesiredSchema(
                    subject=subject_name(entry.full_name, role),
                    topic=entry.full_name,
                    tenant=entry.tenant.name,
                    role=role,
                    file=ref.file,
                    schema_type=ref.format,
                    text=text,
                    compatibility=ref.compatibility,
                    public=public,
                    where=where,
                    successor=successor_topic(spec, entry) if public else None,
                )
            )
    return sorted(out, key=lambda s: s.subject)


_VERSIONED = re.compile(r"^(?P<stem>.*\.v)(?P<n>[1-9][0-9]*)$")


def successor_topic(spec: Spec, entry: TopicEntry) -> str:
    """The next versioned name of a public event (``….v1`` -> ``….v2``) not yet in the spec."""
    match = _VERSIONED.match(entry.full_name)
    stem, number = (match["stem"], int(match["n"])) if match else (f"{entry.full_name}.v", 1)
    number += 1
    while f"{stem}{number}" in spec.topics:
        number += 1
    return f"{stem}{number}"


# ------------------------------------------------------------------------ the readings
@dataclass(frozen=True)
class SubjectReading:
    """A spec schema beside what its subject holds, and the registry's verdict on it."""

    schema: DesiredSchema
    latest: RegisteredVersion | None
    #: The subject's own level; None when it follows the global one.
    pinned: str | None
    global_level: str
    #: The version already holding the spec's schema, if any.
    registered_as: int | None
    #: Why the registry would refuse the spec's schema (changed schemas only).
    problems: tuple[str, ...] = ()

    @property
    def current_level(self) -> str:
        return self.pinned or self.global_level

    @property
    def level(self) -> str:
        """The level the spec's schema is registered under: the spec's, else the subject's."""
        return self.schema.compatibility or self.current_level

    @property
    def status(self) -> Status:
        """``unchanged`` when any live version holds the schema, not only the latest: the
        registry answers a registration of it with that version's id and adds none."""
        if self.latest is None:
            return "new"
        if self.registered_as is not None:
            return "unchanged"
        return "incompatible" if self.problems else "compatible"

    @property
    def paths(self) -> tuple[str, ...]:
        return field_paths(self.problems)

    @property
    def alternative(self) -> str:
        """What to do instead when the schema is incompatible."""
        return incompatible_alternative(self)

    def to_json(self) -> dict[str, Any]:
        s = self.schema
        return {
            "subject": s.subject,
            "topic": s.topic,
            "role": s.role,
            "file": s.file,
            "schema_type": s.schema_type,
            "status": self.status,
            "level": self.level,
            "latest_version": None if self.latest is None else self.latest.version,
            "registered_as": self.registered_as,
            "public": s.public,
            "paths": list(self.paths),
            "messages": list(self.problems),
            "successor": s.successor if self.status == "incompatible" else None,
            "alternative": self.alternative if self.status == "incompatible" else None,
        }


_PATH = re.compile(r"(?<![\w/])/[\w.\-\[\]/]*(?=$|[\s:'\",;)\]])")


def field_paths(messages: Iterable[str]) -> tuple[str, ...]:
    """The schema paths (``/fields/amount``) the registry's verbose messages name, in order."""
    seen: dict[str, None] = {}
    for message in messages:
        seen.update(dict.fromkeys(_PATH.findall(message)))
    return tuple(seen)


def read_subjects(
    client: RegistryClient, schemas: list[DesiredSchema], *, workers: int = 8
) -> list[SubjectReading]:
    """Read each schema's subject and ask the registry about every changed schema."""
    if not schemas:
        return []
    global_level = client.global_level()  # also proves the registry answers before the rest

    def read(schema: DesiredSchema) -> SubjectReading:
        try:
            latest = client.version(schema.subject, "latest")
            pinned = client.subject_level(schema.subject)
            # Lookup for new subjects too: the registry then validates the file for us.
            registered_as = client.lookup(schema.subject, schema.schema_type, schema.text)
            reading = SubjectReading(schema, latest, pinned, global_level, registered_as)
            if latest is None or registered_as is not None:
                return reading
            problems = _problems_under(
                client, schema, latest, reading.level, current=reading.current_level
            )
        except RegistryError as exc:
            if exc.error_code == 42201:  # the registry cannot parse it
                raise PlanError(
                    f"{schema.where}: schema file {schema.file} is not a valid "
                    f"{schema.schema_type} schema: {exc.message}"
                ) from None
            raise
        return SubjectReading(schema, latest, pinned, global_level, registered_as, problems)

    with ThreadPoolExecutor(max_workers=min(workers, len(schemas))) as pool:
        return list(pool.map(read, schemas))


def _problems_under(
    client: RegistryClient,
    schema: DesiredSchema,
    latest: RegisteredVersion,
    level: str,
    *,
    current: str,
) -> tuple[str, ...]:
    """The verdict on ``schema`` under ``level``, the level it will be registered at.

    Under the subject's current level the registry's own endpoint judges. The endpoint
    takes no level, so when the spec proposes another one the versions that level compares
    against are read from the registry and judged here with the registry's compatibility
    library: nothing is written, and the real subject's level never changes during a plan
    (producers could otherwise register under the wrong level meanwhile).
    """
    if level == "NONE":
        return ()
    if level == current:
        return tuple(client.check(schema.subject, schema.schema_type, schema.text))
    schema_format = FORMATS.get(schema.schema_type)
    if schema_format is None:
        raise PlanError(f"{schema.where}: unknown schema type {schema.schema_type}")
    numbers = (
        client.version_numbers(schema.subject)
        if level.endswith("_TRANSITIVE")
        else [latest.version]
    )
    history = [
        latest if number == latest.version else client.version(schema.subject, number)
        for number in numbers
    ]
    try:
        new = schema_format.parse(schema.text, references={})
        existing = [
            FORMATS[v.schema_type].parse(v.text, references=_reference_texts(client, v))
            for v in history
            if v is not None and v.schema_type == schema.schema_type
        ]
    except ValueError as exc:  # every format's parse error is a ValueError
        raise PlanError(f"{schema.where}: {schema.file}: {exc}") from None
    if any(v is not None and v.schema_type != schema.schema_type for v in history):
        return (f"schema type changes from {latest.schema_type} to {schema.schema_type}",)
    return tuple(schema_format.check(new, existing, level))


def _reference_texts(client: RegistryClient, version: RegisteredVersion) -> dict[str, str]:
    texts = {}
    for ref in version.references:
        held = client.version(str(ref["subject"]), int(ref["version"]))
        if held is not None:
            texts[str(ref["name"])] = held.text
    return texts


# ------------------------------------------------------------------------------ the plan
def schema_changes(readings: list[SubjectReading]) -> tuple[list[Action], list[Refusal]]:
    """Plan actions for registry subjects: compatibility levels, then new versions."""
    actions: list[Action] = []
    refusals: list[Refusal] = []
    for reading in readings:
        schema = reading.schema
        sets_level = schema.compatibility is not None and schema.compatibility != reading.pinned
        if reading.latest is None:
            changes = [Change("file", None, schema.file), Change("type", None, schema.schema_type)]
            if sets_level:
                changes.append(Change("compatibility", None, schema.compatibility))
            actions.append(
                Action(
                    "create",
                    "schema",
                    schema.subject,
                    schema.tenant,
                    changes=tuple(changes),
                    reason=f"{schema.role} schema of {schema.topic}",
                    payload=_payload(schema, 1, schema.compatibility if sets_level else None),
                )
            )
            continue
        if sets_level:
            before = reading.pinned or f"{reading.global_level} (global)"
            actions.append(
                Action(
                    "update",
                    "compatibility",
                    schema.subject,
                    schema.tenant,
                    changes=(Change("compatibility", before, schema.compatibility),),
                    payload={"subject": schema.subject, "level": schema.compatibility},
                )
            )
        if reading.registered_as is not None:
            continue
        version = reading.latest.version
        if reading.problems:
            refusals.append(_refusal(reading))
            continue
        actions.append(
            Action(
                "update",
                "schema",
                schema.subject,
                schema.tenant,
                changes=(Change("version", str(version), str(version + 1)),),
                reason=f"{schema.file}: compatible under {reading.level} (the registry's verdict)",
                payload=_payload(schema, version + 1, None),
            )
        )
    return actions, refusals


def _payload(schema: DesiredSchema, version: int, level: str | None) -> dict[str, Any]:
    # The digest, not the text: apply reads the file again and refuses if it changed.
    return {
        "subject": schema.subject,
        "topic": schema.topic,
        "file": schema.file,
        "schema_type": schema.schema_type,
        "digest": schema.digest,
        "version": version,
        "compatibility": level,
    }


def _refusal(reading: SubjectReading) -> Refusal:
    schema = reading.schema
    assert reading.latest is not None
    version = reading.latest.version
    at = f" at {', '.join(reading.paths)}" if reading.paths else ""
    problem = (
        f"{schema.file} is incompatible with version {version} under {reading.level}{at}; "
        f"the registry would refuse it as version {version + 1}"
    )
    return Refusal(
        schema.subject,
        schema.tenant,
        problem,
        reading.alternative,
        kind="schema",
        details=reading.problems,
    )


def incompatible_alternative(reading: SubjectReading) -> str:
    """What to do instead of an incompatible change (for a public event: a new versioned one)."""
    schema = reading.schema
    if schema.public:
        return (
            f"{schema.topic} is a public event: an incompatible change to a public event must "
            f"be published as a new versioned event instead. Add {schema.successor} beside "
            f"{schema.topic} with the new schema, produce to both while consumers move, then "
            f"retire {schema.topic}"
        )
    return (
        f"make the change compatible under {reading.level} (give new fields a default; "
        "only remove fields that have one), or publish the new shape on a new topic and "
        "move producers and consumers to it"
    )


def observed_subjects(readings: Iterable[SubjectReading]) -> dict[str, str]:
    """Digests of what a saved plan relied on: each subject's latest version and level."""
    out: dict[str, str] = {}
    for reading in readings:
        subject = reading.schema.subject
        out[f"schema:{subject}"] = _version_digest(reading.latest)
        out[f"compatibility:{subject}"] = reading.pinned or ABSENT
    return out


def _version_digest(latest: RegisteredVersion | None) -> str:
    return ABSENT if latest is None else f"version {latest.version} (id {latest.schema_id})"


def observed_subject_keys(observed: dict[str, str]) -> set[str]:
    return {key.split(":", 1)[1] for key in observed if key.startswith(_OBSERVED_PREFIXES)}


def observe_now(client: RegistryClient, subjects: Iterable[str]) -> dict[str, str]:
    """The same digests as ``observed_subjects``, read again (for a saved plan's staleness)."""
    out: dict[str, str] = {}
    for subject in sorted(subjects):
        out[f"schema:{subject}"] = _version_digest(client.version(subject, "latest"))
        out[f"compatibility:{subject}"] = client.subject_level(subject) or ABSENT
    return out


# ------------------------------------------------------------------------------- apply
SCHEMA_KINDS = ("compatibility", "schema")


def verify_schema_actions(actions: list[Action], schemas: list[DesiredSchema]) -> None:
    """Before anything is applied: each schema to register is still the planned file."""
    by_subject = {s.subject: s for s in schemas}
    for action in actions:
        if action.kind != "schema":
            continue
        schema = by_subject.get(Subject(action.resource))
        if schema is None or schema.digest != action.payload["digest"]:
            what = "is no longer in the spec" if schema is None else "changed"
            raise PlanError(
                f"schema file {action.payload['file']} of subject {action.resource} {what} "
                "since the plan was made; nothing was applied. Plan again and review the new "
                "plan."
            )


def apply_schema_actions(
    actions: list[Action],
    schemas: list[DesiredSchema],
    client: RegistryClient,
    *,
    step: Callable[[str, int], None],
) -> None:
    """Set compatibility levels, then register schemas; on failure say exactly what was done.

    Every Kafka change of the plan has been applied before this runs. Each call is an
    idempotent upsert (the registry returns the existing id for a schema it holds), so
    applying again after a failure continues where this stopped.
    """
    by_subject = {s.subject: s for s in schemas}
    ordered = [a for a in actions if a.kind == "compatibility"] + [
        a for a in actions if a.kind == "schema"
    ]
    done: list[str] = []
    for action in ordered:
        label = f"{_SIGN[action.op]} {action.kind} {action.resource}"
        try:
            for applied in _apply_one(action, by_subject, client):
                done.append(applied)
        except StreamplaneError as exc:
            remaining = ordered[ordered.index(action) :]
            raise PlanError(
                f"{label} failed: {exc}\nEvery Kafka change of the plan was applied, and of "
                f"the schema registry changes these were:{_listing(done)}\n"
                f"Not applied:{_listing([_label(a) for a in remaining])}\nFix the cause and "
                "apply again: what was applied drops out of the new plan."
            ) from None
        step("schemas" if action.kind == "schema" else "compatibility", 1)


_SIGN = {"create": "+", "update": "~", "delete": "-"}


def _label(action: Action) -> str:
    return f"{_SIGN[action.op]} {action.kind} {action.resource}"


def _listing(items: list[str]) -> str:
    return " none" if not items else "".join(f"\n  {item}" for item in items)


def _apply_one(
    action: Action, by_subject: dict[Subject, DesiredSchema], client: RegistryClient
) -> Iterator[str]:
    subject = action.resource
    if action.kind == "compatibility":
        client.set_level(subject, action.payload["level"])
        yield f"~ compatibility {subject} = {action.payload['level']}"
        return
    level = action.payload.get("compatibility")
    if level is not None:
        # The level first: the registration is then judged under the level the spec asks.
        client.set_level(subject, level)
        yield f"~ compatibility {subject} = {level}"
    schema = by_subject[Subject(subject)]
    schema_id = client.register(subject, schema.schema_type, schema.text)
    yield f"{_label(action)} (id {schema_id})"


def check_schemas(
    spec: Spec, endpoint: RegistryEndpoint | None, *, cluster: str
) -> list[SubjectReading]:
    """``streamplane check``: the registry's verdict on every schema of the spec, no changes.

    Nothing is written to the registry.
    """
    schemas = desired_schemas(spec, cluster)
    if not schemas:
        return []
    if endpoint is None:
        raise PlanError(
            f"cluster {cluster} has no `schema_registry` in the spec; add it to the cluster, or "
            "pass --registry URL"
        )
    with endpoint.client() as client:
        return read_subjects(client, schemas)
