"""Which parking topic an operator means, and where a replay of it should send the records.

``streamplane dlq inspect|replay TOPIC`` accepts what a person has at hand: the topic the
records were consumed from (with ``--app`` when several applications park records of it),
a parking topic's own name as ``topics list`` shows it, or an old-style ``<topic>.dlq`` /
``<topic>.retry.<n>`` left from before parking topics belonged to the consumer. The spec
says whose records they are; this module turns that into a :class:`ParkedRecords`.

Where a replay goes: to the application's first retry topic when it has retries, so that
only the application that failed the records processes them again; otherwise back to the
consumed topic, which every consumer of it reads (``to_source`` asks for that outright).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from streamplane.client._errors import ClientError
from streamplane.model import (
    DeadLetterOwner,
    dlq_topic,
    legacy_parking_of,
    parked_by,
    parking_kind,
    parking_topics_of,
    retry_topic,
)

if TYPE_CHECKING:
    from streamplane.model import ApplicationEntry, Spec


@dataclass(frozen=True)
class ParkedRecords:
    """The records one application parked for one consumed topic, and where they go back."""

    #: The topic the records were consumed from.
    topic: str
    #: The topic holding them.
    parked: str
    kind: Literal["dlq", "retry"]
    #: The application that failed them; None for an old-style DLQ shared by all consumers.
    application: str | None
    #: Where ``dlq replay`` writes them.
    target: str
    #: Why there, in a sentence for the operator.
    target_reason: str
    #: An old-style topic (from before parking topics belonged to the consumer).
    legacy: bool = False
    #: For an old-style retry topic: the group that was reading it (what it has not
    #: committed is what still waits for a retry).
    resume_group: str | None = None


def find_parked(
    spec: Spec, topic: str, *, app: str | None = None, to_source: bool = False
) -> ParkedRecords:
    """The parking topic ``topic`` (and ``app``) designate in ``spec``, or a ClientError
    that lists the choices."""
    if app is not None and app not in spec.applications:
        known = ", ".join(sorted(spec.applications)) or "none"
        raise ClientError(f"--app {app}: no such application in the spec (applications: {known})")
    entry = spec.applications[app] if app is not None else None
    if topic in spec.topics:
        return _of_consumed(spec, topic, entry, to_source=to_source)
    for owning in spec.applications.values():
        # Any consumer's, with dead_letters or not: the SDK parks in the same names.
        hit = parked_by(topic, DeadLetterOwner.of(owning), owning.app.consumes)
        if hit is None:
            continue
        if entry is not None and entry.app.name != owning.app.name:
            raise ClientError(
                f"{topic} belongs to application {owning.app.name}, not {app}; leave out --app"
            )
        _, kind, consumed = hit
        return _parked(owning, consumed, topic, kind, to_source)
    legacy = legacy_parking_of(topic, spec.topics)
    if legacy is not None:
        return _of_legacy(spec, legacy.origin, topic, legacy.kind, entry, to_source=to_source)
    raise ClientError(
        f"{topic} is neither a topic of the spec nor a retry or dead-letter topic it implies; "
        "pass the topic the records were consumed from (with --app APP), or a parking topic "
        "as `streamplane topics list` shows it"
    )


def _consumers(spec: Spec, topic: str) -> list[str]:
    """Applications that park records of ``topic``: those with ``dead_letters``, else any
    that consumes it (the SDK parks in its dead-letter topic if someone created it)."""
    parking = sorted({p.application.app.name for p in parking_topics_of(spec, topic)})
    return parking or sorted(n for n, e in spec.applications.items() if topic in e.app.consumes)


def _of_consumed(
    spec: Spec, topic: str, entry: ApplicationEntry | None, *, to_source: bool
) -> ParkedRecords:
    if entry is None:
        parking = _consumers(spec, topic)
        if len(parking) != 1:
            raise ClientError(
                f"no application of the spec consumes {topic}, so none parks records of it"
                if not parking
                else f"applications {', '.join(parking)} each park records of {topic} in "
                "topics of their own: pass --app with one of them"
            )
        entry = spec.applications[parking[0]]
    if topic not in entry.app.consumes:
        raise ClientError(
            f"application {entry.app.name} does not consume {topic}, so it parks no records "
            f"of it; applications that do: {', '.join(_consumers(spec, topic)) or 'none'}"
        )
    return _parked(entry, topic, dlq_topic(DeadLetterOwner.of(entry), topic), "dlq", to_source)


def _of_legacy(
    spec: Spec,
    topic: str,
    parked: str,
    kind: Literal["dlq", "retry"],
    entry: ApplicationEntry | None,
    *,
    to_source: bool,
) -> ParkedRecords:
    """An old-style topic: a DLQ replays as it always did (to the consumed topic) unless
    --app names whose retry topic should take its records; a retry topic needs to know
    which application's group was reading it."""
    if kind == "dlq" and entry is None:
        return ParkedRecords(
            topic, parked, kind, None, topic,
            "back to the topic, as replays of old-style dead-letter topics always did: every "
            "consumer of it reads them again (--app APP sends them to APP's retry topic)",
            legacy=True,
        )  # fmt: skip
    if entry is None:
        retrying = [
            name
            for name in _consumers(spec, topic)
            if (settings := spec.applications[name].app.dead_letters) and settings.retries
        ]
        if len(retrying) != 1:
            raise ClientError(
                f"{parked} is an old-style retry topic; pass --app with the application "
                "whose retries it held (`streamplane plan` names it; applications retrying "
                f"records of {topic} now: {', '.join(retrying) or 'none'})"
            )
        entry = spec.applications[retrying[0]]
    found = _parked(entry, topic, parked, kind, to_source)
    return ParkedRecords(
        found.topic, found.parked, found.kind, found.application, found.target,
        found.target_reason, legacy=True,
        resume_group=entry.consumer_group if kind == "retry" else None,
    )  # fmt: skip


def _parked(
    entry: ApplicationEntry,
    topic: str,
    parked: str,
    kind: Literal["dlq", "retry"],
    to_source: bool,
) -> ParkedRecords:
    """The records ``entry`` parked in ``parked``, sent to its first retry topic if any."""
    owner = DeadLetterOwner.of(entry)
    retries = entry.app.dead_letters.retries if entry.app.dead_letters else []
    first_retry = retry_topic(owner, topic, 1)
    if retries and not to_source and parked != first_retry:
        return ParkedRecords(
            topic, parked, kind, owner.application, first_retry,
            f"to {owner.application}'s first retry topic: only {owner.application} "
            "processes them again (--to-source sends them to the topic, for every consumer)",
        )  # fmt: skip
    why = (
        "back to the topic (--to-source): every consumer of it reads them again"
        if to_source
        else f"back to the topic: {owner.application} has no retry topic of its own, so "
        "every consumer of it reads them again"
    )
    return ParkedRecords(topic, parked, kind, owner.application, topic, why)


def named_parked(topic: str) -> ParkedRecords:
    """A parking topic named outright, without a spec to say whose it is (inspection only)."""
    kind = parking_kind(topic)
    if kind is None:
        raise ClientError(
            f"{topic} is not a retry or dead-letter topic by its name; pass --spec SPEC so "
            f"the dead-letter topic of the application consuming {topic} can be found "
            "(--app APP when several do), or name the dead-letter topic itself"
        )
    return ParkedRecords(topic, topic, kind, None, topic, "")
