"""Saved plans and apply for registry subjects: what a plan relied on, and how it is applied.

observed_subjects(readings)  digests of each subject's latest version and settings
observe_now(client, ...)     the same digests read again (is a saved plan still valid?)
verify_schema_actions(...)   the files and contracts are still the planned ones
apply_schema_actions(...)    compatibility settings first, then registrations
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from streamplane.errors import PlanError, StreamplaneError
from streamplane.model import Contract
from streamplane.reconcile._plan import Action
from streamplane.reconcile._registry_client import RegisteredVersion, RegistryClient

if TYPE_CHECKING:
    from streamplane.reconcile._schemas import DesiredSchema, SubjectReading

#: Observed-digest value of a subject (or subject-level config) that does not exist.
ABSENT = "-"
_OBSERVED_PREFIXES = ("schema:", "compatibility:")


def observed_subjects(readings: Iterable[SubjectReading]) -> dict[str, str]:
    """Digests of what a saved plan relied on: each subject's latest version and settings."""
    out: dict[str, str] = {}
    for reading in readings:
        subject = reading.schema.subject
        out[f"schema:{subject}"] = _version_digest(reading.latest)
        out[f"compatibility:{subject}"] = _settings_digest(reading.pinned, reading.subject_group)
    return out


def _settings_digest(level: str | None, group: str | None) -> str:
    # Unchanged for subjects without a group, so saved plans made before groups stay valid.
    return f"{level or ABSENT} group {group}" if group else level or ABSENT


def _version_digest(latest: RegisteredVersion | None) -> str:
    return ABSENT if latest is None else f"version {latest.version} (id {latest.schema_id})"


def observed_subject_keys(observed: dict[str, str]) -> set[str]:
    return {key.split(":", 1)[1] for key in observed if key.startswith(_OBSERVED_PREFIXES)}


def observe_now(client: RegistryClient, subjects: Iterable[str]) -> dict[str, str]:
    """The same digests as ``observed_subjects``, read again (for a saved plan's staleness)."""
    out: dict[str, str] = {}
    for subject in sorted(subjects):
        latest = client.version(subject, "latest")
        out[f"schema:{subject}"] = _version_digest(latest)
        # The group is read for existing subjects only, as read_subjects does.
        group = client.compatibility_group(subject) if latest is not None else None
        out[f"compatibility:{subject}"] = _settings_digest(client.subject_level(subject), group)
    return out


# ------------------------------------------------------------------------------- apply
SCHEMA_KINDS = ("compatibility", "schema")


def verify_schema_actions(actions: list[Action], schemas: list[DesiredSchema]) -> None:
    """Before anything is applied: each schema to register is still the planned file and
    contract (the digest covers both)."""
    by_subject: dict[str, DesiredSchema] = {s.subject: s for s in schemas}
    for action in actions:
        if action.kind != "schema":
            continue
        schema = by_subject.get(action.resource)
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
    by_subject: dict[str, DesiredSchema] = {s.subject: s for s in schemas}
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
    action: Action, by_subject: dict[str, DesiredSchema], client: RegistryClient
) -> Iterator[str]:
    subject = action.resource
    if action.kind == "compatibility":
        if "group" in action.payload:
            client.set_group(subject, action.payload["group"])
            yield f"~ compatibility {subject} group = {action.payload['group']}"
        else:
            client.set_level(subject, action.payload["level"])
            yield f"~ compatibility {subject} = {action.payload['level']}"
        return
    level = action.payload.get("compatibility")
    if level is not None:
        # The level first: the registration is then judged under the level the spec asks.
        client.set_level(subject, level)
        yield f"~ compatibility {subject} = {level}"
    group = action.payload.get("group")
    if group is not None:
        client.set_group(subject, group)
        yield f"~ compatibility {subject} group = {group}"
    schema = by_subject[subject]
    contract = Contract({}, {}) if action.payload.get("clears_contract") else schema.contract
    schema_id = client.register(subject, schema.schema_type, schema.text, contract=contract)
    yield f"{_label(action)} (id {schema_id})"
