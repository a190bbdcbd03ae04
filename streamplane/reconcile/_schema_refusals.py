"""Why the plan refuses a new version of a subject, and what to do instead.

An incompatible schema is refused with the registry's messages and the safe alternative
(a new versioned event, a compatible change, or a new major version under a
compatibilityGroup); a contract change that would stop encrypting PII is refused with the
fields it would leave in plain text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamplane.errors import PlanError
from streamplane.model import MAJOR_VERSION
from streamplane.reconcile._contracts import property_of, refusal_alternative
from streamplane.reconcile._plan import Refusal

if TYPE_CHECKING:
    from streamplane.reconcile._schemas import DesiredSchema, SubjectReading


class InvalidSchemaFile(PlanError):
    """A schema file the registry (or its compatibility library) cannot parse.

    Raised per schema and gathered by ``read_subjects``, so one run names every bad file.
    """

    def __init__(self, schema: DesiredSchema, problem: str) -> None:
        super().__init__(
            f"{schema.where}: {schema.file} is not a valid {schema.schema_type} schema: {problem}"
        )
        self.schema = schema


def incompatible_refusal(reading: SubjectReading) -> Refusal:
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


def contract_refusal(reading: SubjectReading) -> Refusal:
    schema = reading.schema
    assert reading.latest is not None
    pii = " of pii topic" if schema.pii else ""
    return Refusal(
        schema.subject,
        schema.tenant,
        f"the data contract{pii} {schema.topic} would stop encrypting personal data from "
        f"version {reading.latest.version + 1} on",
        refusal_alternative(pii_topic=schema.pii),
        kind="schema",
        details=reading.refused,
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
        "move producers and consumers to it" + _major_version_advice(reading)
    )


def _major_version_advice(reading: SubjectReading) -> str:
    """How a breaking change can be a new major version instead (compatibility groups)."""
    assert reading.latest is not None
    was = property_of(reading.latest.contract, MAJOR_VERSION)
    now = property_of(reading.schema.contract, MAJOR_VERSION)
    if reading.group is not None:
        current = property_of(reading.schema.contract, reading.group)
        return (
            f"; or make it a new major version: set properties: {{{reading.group}: "
            f'"{_next(current)}"}} on the schema (the subject groups versions by '
            f"{reading.group}, now {current or 'unset'}), with a JSONATA migration rule so "
            "readers of either version can read the other"
        )
    if was != now:
        return (
            f"; the spec moves {MAJOR_VERSION} from {was or 'unset'} to {now or 'unset'}, but "
            f"the subject has no compatibilityGroup, so the new major version is still checked "
            f"against the old one: add compatibility_group: {MAJOR_VERSION} to the schema"
        )
    return ""


def _next(value: str | None) -> str:
    return str(int(value) + 1) if value is not None and value.isdigit() else "2"
