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

Each schema carries its data contract (``metadata`` and ``ruleSet``, see
``streamplane.model.schema_contract``): a changed contract is a new version even when the
text is the same, shown as a readable diff (``_contracts.py``), and a change that would stop
encrypting PII is refused. Under a ``compatibilityGroup`` a schema is judged only against
the versions of its own group value (e.g. its ``application.major.version``).

    desired_schemas(spec, cluster)   -> [DesiredSchema]      the spec's side, files read
    read_subjects(client, schemas)   -> [SubjectReading]     the registry's side (I/O)
    schema_changes(readings)         -> actions, refusals    the diff (pure)
    apply_schema_actions(...)        compatibility first, then registration

The registry is reached through ``RegistryClient`` (``_registry_client.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, NewType

from streamplane.errors import PlanError, RegistryError
from streamplane.model import Classification, Contract, Spec, TopicEntry, Visibility
from streamplane.model import schema_contract as spec_contract
from streamplane.reconcile._contracts import (
    contract_changes,
    contract_notes,
    contract_refusals,
    property_of,
    refusal_alternative,
    same_contract,
)
from streamplane.reconcile._plan import Action, Change, Refusal
from streamplane.reconcile._registry_client import (
    RegisteredVersion,
    RegistryClient,
    RegistryEndpoint,
)

# Saved plans and apply live in _schema_apply.py; re-exported for the engine and callers.
from streamplane.reconcile._schema_apply import ABSENT as ABSENT
from streamplane.reconcile._schema_apply import SCHEMA_KINDS as SCHEMA_KINDS
from streamplane.reconcile._schema_apply import apply_schema_actions as apply_schema_actions
from streamplane.reconcile._schema_apply import observe_now as observe_now
from streamplane.reconcile._schema_apply import observed_subject_keys as observed_subject_keys
from streamplane.reconcile._schema_apply import observed_subjects as observed_subjects
from streamplane.reconcile._schema_apply import verify_schema_actions as verify_schema_actions
from streamplane.reconcile._schema_refusals import (
    InvalidSchemaFile,
    contract_refusal,
    incompatible_alternative,
    incompatible_refusal,
)
from streamplane.registry.compat.formats import FORMATS

log = logging.getLogger(__name__)

Subject = NewType("Subject", str)
Role = Literal["key", "value"]
Status = Literal["new", "unchanged", "compatible", "incompatible", "refused"]


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
    #: The data contract registered with the schema (metadata and ruleSet).
    contract: Contract = field(default_factory=Contract)
    #: The topic is classification: pii (its encryption may not be removed).
    pii: bool = False
    #: The compatibilityGroup the spec sets on the subject; None leaves the registry's.
    group: str | None = None

    @property
    def digest(self) -> str:
        """The text, and the contract and group when there are any (so a saved plan of a
        schema without a contract keeps its digest)."""
        data = self.text
        if not self.contract.empty or self.group is not None:
            extra = [self.contract.metadata, self.contract.rule_set, self.group]
            data += "\0" + json.dumps(extra, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]


def subject_name(topic: str, role: Role) -> Subject:
    """Confluent's TopicNameStrategy: the default of every Confluent serializer."""
    return Subject(f"{topic}-{role}")


def desired_schemas(spec: Spec, cluster: str) -> list[DesiredSchema]:
    """The schemas of the topics on ``cluster``, files read (paths relative to the spec root)."""
    out = []
    unreadable = []
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
                unreadable.append(f"  {where}: cannot read schema file {path}: {exc}")
                continue
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
                    contract=spec_contract(spec, entry, role),
                    pii=entry.topic.classification is Classification.PII,
                    group=ref.compatibility_group,
                )
            )
    if unreadable:
        raise PlanError(
            f"{len(unreadable)} schema file(s) cannot be read (paths are relative to the spec "
            "root; files are UTF-8):\n" + "\n".join(unreadable)
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
    #: The subject's compatibilityGroup (its own, else the registry's global one).
    subject_group: str | None = None
    #: The contract of the version holding the spec's text (``registered_as``).
    held_contract: Contract | None = None
    #: Why the contract change may not be registered (it would stop encrypting PII).
    refused: tuple[str, ...] = ()

    @property
    def current_level(self) -> str:
        return self.pinned or self.global_level

    @property
    def level(self) -> str:
        """The level the spec's schema is registered under: the spec's, else the subject's."""
        return self.schema.compatibility or self.current_level

    @property
    def contract_changed(self) -> bool:
        """The version holding the text has another contract: registering makes a new one."""
        return self.registered_as is not None and not same_contract(
            self.held_contract, self.schema.contract
        )

    @property
    def status(self) -> Status:
        """``unchanged`` when any live version holds the schema and its contract, not only the
        latest: the registry answers a registration of it with that version's id."""
        if self.latest is None:
            return "new"
        if self.registered_as is not None and not self.contract_changed:
            return "unchanged"
        if self.problems:
            return "incompatible"
        return "refused" if self.refused else "compatible"

    @property
    def group(self) -> str | None:
        """The group the schema is judged under: the spec's, else the subject's."""
        return self.schema.group or self.subject_group

    def contract_diff(self) -> list[Change]:
        """The contract as the plan shows it: against the latest version, or all of it."""
        before = self.latest.contract if self.latest is not None else None
        if before is not None and same_contract(before, self.schema.contract):
            return []
        return contract_changes(before, self.schema.contract)

    def notes(self) -> list[str]:
        """What a reviewer should know about an allowed contract change (new rules...)."""
        if self.status not in ("new", "compatible"):
            return []
        before = self.latest.contract if self.latest is not None else None
        return contract_notes(before, self.schema.contract)

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
            "contract": {"metadata": s.contract.metadata, "ruleSet": s.contract.rule_set},
            "contract_changes": [
                {"key": c.key, "before": c.before, "after": c.after} for c in self.contract_diff()
            ],
            "notes": self.notes(),
            "refused": list(self.refused),
            "refusal_alternative": (
                refusal_alternative(pii_topic=s.pii) if self.status == "refused" else None
            ),
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
            if latest is None:
                return SubjectReading(schema, latest, pinned, global_level, registered_as)
            group = client.compatibility_group(schema.subject)
            held = None
            if registered_as is not None:
                # The newest version holding the text decides whether the contract changed
                # (the lookup may answer with an older one holding the same text).
                if registered_as != latest.version and _same_text(latest, schema):
                    registered_as = latest.version
                version = (
                    latest
                    if registered_as == latest.version
                    else client.version(schema.subject, registered_as)
                )
                held = version.contract if version is not None else None
            refused = tuple(
                contract_refusals(
                    before=latest.contract,
                    before_text=latest.text,
                    after=schema.contract,
                    after_text=schema.text,
                    schema_type=schema.schema_type,
                    pii_topic=schema.pii,
                )
            )
            reading = SubjectReading(
                schema, latest, pinned, global_level, registered_as,
                subject_group=group, held_contract=held, refused=refused,
            )  # fmt: skip
            if registered_as is not None:
                return reading  # the text is registered: only the contract may change
            problems = _problems_under(
                client, schema, latest, reading.level, current=reading.current_level,
                group=reading.group, subject_group=group,
            )  # fmt: skip
        except RegistryError as exc:
            if exc.error_code == 42201:  # the registry cannot parse it
                raise InvalidSchemaFile(schema, exc.message) from None
            raise
        return SubjectReading(
            schema, latest, pinned, global_level, registered_as, problems,
            subject_group=group, held_contract=held, refused=refused,
        )  # fmt: skip

    def attempt(schema: DesiredSchema) -> SubjectReading | InvalidSchemaFile:
        try:
            return read(schema)
        except InvalidSchemaFile as exc:  # every invalid file is reported, not the first
            return exc

    with ThreadPoolExecutor(max_workers=min(workers, len(schemas))) as pool:
        results = list(pool.map(attempt, schemas))
    invalid = [r for r in results if isinstance(r, InvalidSchemaFile)]
    if invalid:
        raise PlanError(
            f"{len(invalid)} schema file(s) of the spec are not valid schemas:\n"
            + "\n".join(f"  {problem}" for problem in invalid)
        )
    return [r for r in results if isinstance(r, SubjectReading)]


def _same_text(version: RegisteredVersion, schema: DesiredSchema) -> bool:
    """Whether a registered version holds the spec's schema text (parsed JSON, or as is)."""
    if version.schema_type != schema.schema_type:
        return False
    if schema.schema_type == "PROTOBUF":
        return version.text.strip() == schema.text.strip()
    try:
        return bool(json.loads(version.text) == json.loads(schema.text))
    except ValueError:
        return False


def _problems_under(
    client: RegistryClient,
    schema: DesiredSchema,
    latest: RegisteredVersion,
    level: str,
    *,
    current: str,
    group: str | None = None,
    subject_group: str | None = None,
) -> tuple[str, ...]:
    """The verdict on ``schema`` under ``level``, the level it will be registered at.

    Under the subject's current level (and group) the registry's own endpoint judges. The
    endpoint takes no level, so when the spec proposes another one the versions that level
    compares against are read from the registry and judged here with the registry's
    compatibility library: nothing is written, and the real subject's level never changes
    during a plan (producers could otherwise register under the wrong level meanwhile).

    Under a compatibilityGroup only the versions with the schema's own value of that
    property count: a new ``application.major.version`` starts a line of its own, so a
    breaking change is allowed exactly when it comes with a new major version.
    """
    if level == "NONE":
        return ()
    if level == current and group == subject_group:
        return tuple(client.check(schema.subject, schema.schema_type, schema.text, schema.contract))
    schema_format = FORMATS.get(schema.schema_type)
    if schema_format is None:
        raise PlanError(f"{schema.where}: unknown schema type {schema.schema_type}")
    if group is not None:
        value = property_of(schema.contract, group)
        everything = [
            latest if number == latest.version else client.version(schema.subject, number)
            for number in client.version_numbers(schema.subject)
        ]
        history: list[RegisteredVersion] = [
            v for v in everything if v is not None and property_of(v.contract, group) == value
        ]
        if not history:
            return ()  # the first version of its group: nothing to be compatible with
        if not level.endswith("_TRANSITIVE"):
            history = history[-1:]
    else:
        numbers = (
            client.version_numbers(schema.subject)
            if level.endswith("_TRANSITIVE")
            else [latest.version]
        )
        read = [
            latest if number == latest.version else client.version(schema.subject, number)
            for number in numbers
        ]
        history = [v for v in read if v is not None]  # None: deleted meanwhile
    try:
        new = schema_format.parse(schema.text, references={})
        existing = [
            FORMATS[v.schema_type].parse(v.text, references=_reference_texts(client, v))
            for v in history
            if v.schema_type == schema.schema_type
        ]
    except ValueError as exc:  # every format's parse error is a ValueError
        raise InvalidSchemaFile(schema, str(exc)) from None
    if any(v.schema_type != schema.schema_type for v in history):
        held = next(v.schema_type for v in history if v.schema_type != schema.schema_type)
        return (f"schema type changes from {held} to {schema.schema_type}",)
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
    """Plan actions for registry subjects: compatibility settings, then new versions."""
    actions: list[Action] = []
    refusals: list[Refusal] = []
    for reading in readings:
        schema = reading.schema
        sets_level = schema.compatibility is not None and schema.compatibility != reading.pinned
        sets_group = schema.group is not None and schema.group != reading.subject_group
        if reading.latest is None:
            changes = [Change("file", None, schema.file), Change("type", None, schema.schema_type)]
            if sets_level:
                changes.append(Change("compatibility", None, schema.compatibility))
            if sets_group:
                changes.append(Change("compatibilityGroup", None, schema.group))
            changes.extend(reading.contract_diff())
            actions.append(
                Action(
                    "create",
                    "schema",
                    schema.subject,
                    schema.tenant,
                    changes=tuple(changes),
                    reason="; ".join([f"{schema.role} schema of {schema.topic}", *reading.notes()]),
                    payload=_payload(
                        schema,
                        1,
                        schema.compatibility if sets_level else None,
                        group=schema.group if sets_group else None,
                    ),
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
        if sets_group:
            # One line in the plan: ~ compatibility <subject> (no group) → group <property>
            actions.append(
                Action(
                    "update",
                    "compatibility",
                    schema.subject,
                    schema.tenant,
                    changes=(
                        Change(
                            "compatibilityGroup",
                            f"group {reading.subject_group}"
                            if reading.subject_group
                            else "(no group)",
                            f"group {schema.group}",
                        ),
                    ),
                    payload={"subject": schema.subject, "group": schema.group},
                )
            )
        status = reading.status
        if status == "unchanged":
            continue
        version = reading.latest.version
        if status == "incompatible":
            refusals.append(incompatible_refusal(reading))
            continue
        if status == "refused":
            refusals.append(contract_refusal(reading))
            continue
        if reading.registered_as is not None:
            why = f"{schema.file}: same schema, new data contract"
        else:
            why = f"{schema.file}: compatible under {reading.level} (the registry's verdict)"
        actions.append(
            Action(
                "update",
                "schema",
                schema.subject,
                schema.tenant,
                changes=(
                    Change("version", str(version), str(version + 1)),
                    *reading.contract_diff(),
                ),
                reason="; ".join([why, *reading.notes()]),
                payload=_payload(
                    schema,
                    version + 1,
                    None,
                    clears_contract=schema.contract.empty and not reading.latest.contract.empty,
                ),
            )
        )
    return actions, refusals


def _payload(
    schema: DesiredSchema,
    version: int,
    level: str | None,
    *,
    group: str | None = None,
    clears_contract: bool = False,
) -> dict[str, Any]:
    # The digest, not the text: apply reads the file again and refuses if it changed.
    payload = {
        "subject": schema.subject,
        "topic": schema.topic,
        "file": schema.file,
        "schema_type": schema.schema_type,
        "digest": schema.digest,
        "version": version,
        "compatibility": level,
    }
    if group is not None:
        payload["group"] = group
    if clears_contract:
        # Sent as empty metadata and ruleSet: an absent one would be inherited.
        payload["clears_contract"] = True
    return payload


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
