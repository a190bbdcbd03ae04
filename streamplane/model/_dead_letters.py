"""The retry and dead-letter topics the spec implies, and who writes and reads them.

Dead letters belong to the application that failed to process them. An application with
``dead_letters`` parks the records it cannot process in topics of its own namespace,
named after itself and the topic it consumes::

    <consumer tenant prefix><consumer domain>.<application>.<consumed topic>.retry.<n>
    <consumer tenant prefix><consumer domain>.<application>.<consumed topic>.dlq

e.g. ``risk.fraud.fraud-scorer.payments.card.authorized.v1.retry.1``. Why this shape:

* The consumer's namespace, not the source's: a marketing application's failures are
  marketing's data, created, retained and granted in marketing's tenant; the tenant that
  owns the consumed topic is given nothing (and is not asked for anything).
* One set per consuming application: every consumer of a public event may retry, each
  in its own topics, so no consumer ever processes another's failures.
* The consumed topic's full name, verbatim: the name says at a glance whose records it
  holds, and it cannot collide (application names are unique and hold no dots).

Deriving the names here, once, keeps the topics ``apply`` creates, the ACLs it grants,
the names the SDK writes to and the ones ``dlq inspect|replay`` and ``import`` read from
from drifting apart: :func:`dlq_topic` and :func:`retry_topic` are the only definitions.

Before this scheme, parking topics were ``<consumed topic>.retry.<n>`` and
``<consumed topic>.dlq``, in the namespace of the consumed topic's owner. Kafka cannot
rename a topic, so estates that have them migrate (``plan`` shows it):
:func:`legacy_parking_of` recognises those names, and nothing else uses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from streamplane.model._types import NAME_RE

if TYPE_CHECKING:
    from streamplane.model._spec import ApplicationEntry, Spec, TopicEntry

DLQ_SUFFIX = ".dlq"
RETRY_INFIX = ".retry."
#: Most retry delays an application may declare (``DeadLetters.retries``).
MAX_RETRIES = 10
#: Durability settings a parking topic copies from the topic whose records it holds.
INHERITED_CONFIGS = ("min.insync.replicas", "unclean.leader.election.enable")

ParkingKind = Literal["dlq", "retry"]
#: A parking topic by name: (its name, "dlq" or "retry", the topic whose records it holds).
ParkingName = tuple[str, ParkingKind, str]

_NAME = re.compile(NAME_RE)
#: ``<anything>.retry.<n>``: the topic before the suffix, and the retry number.
_RETRY_SUFFIX = re.compile(r"^(.+)\.retry\.([1-9][0-9]*)$")


@dataclass(frozen=True)
class DeadLetterOwner:
    """The consuming application whose namespace holds its retry and dead-letter topics.

    Built from the spec with :meth:`of`; the SDK carries one in its ``DeadLetterPolicy``
    so a consumer writes exactly where ``apply`` created topics and granted access.
    """

    #: The tenant's namespace, its topic prefix including the separator, e.g. "risk."
    namespace: str
    domain: str
    application: str

    @classmethod
    def of(cls, entry: ApplicationEntry) -> DeadLetterOwner:
        return cls(entry.tenant.namespace, entry.domain.name, entry.app.name)

    @property
    def prefix(self) -> str:
        """What every parking topic of the application starts with."""
        return f"{self.namespace}{self.domain}.{self.application}."


def dlq_topic(owner: DeadLetterOwner, topic: str) -> str:
    """The dead-letter topic where ``owner`` parks the records of ``topic`` it gave up on."""
    return f"{owner.prefix}{topic}{DLQ_SUFFIX}"


def retry_topic(owner: DeadLetterOwner, topic: str, attempt: int) -> str:
    """The topic where ``owner`` waits before processing a record of ``topic`` again
    (``attempt``: 1 for the first retry)."""
    return f"{owner.prefix}{topic}{RETRY_INFIX}{attempt}"


def parking_names(
    owner: DeadLetterOwner, consumes: Iterable[str], retries: int
) -> list[ParkingName]:
    """The parking topics of the topics an application consumes, with ``retries`` retries."""
    names: list[ParkingName] = []
    for consumed in consumes:
        names += [
            (retry_topic(owner, consumed, n), "retry", consumed) for n in range(1, retries + 1)
        ]
        names.append((dlq_topic(owner, consumed), "dlq", consumed))
    return names


def longest_parking_name(owner: DeadLetterOwner, topic: str, retries: int) -> str:
    """The longest name :func:`parking_names` gives ``topic``: what must fit Kafka's limit."""
    return retry_topic(owner, topic, retries) if retries else dlq_topic(owner, topic)


def parked_by(name: str, owner: DeadLetterOwner, consumes: Iterable[str]) -> ParkingName | None:
    """(name, kind, consumed topic) when ``name`` is one of ``owner``'s parking topics for
    one of ``consumes``, whatever its number of retries (``import`` reads names back)."""
    if not name.startswith(owner.prefix):
        return None
    rest = name.removeprefix(owner.prefix)
    if rest.endswith(DLQ_SUFFIX) and rest.removesuffix(DLQ_SUFFIX) in consumes:
        return name, "dlq", rest.removesuffix(DLQ_SUFFIX)
    match = _RETRY_SUFFIX.match(rest)
    if match is not None and match.group(1) in consumes:
        return name, "retry", match.group(1)
    return None


def parking_kind(name: str) -> ParkingKind | None:
    """The kind ("dlq" or "retry") ``name`` has by its ending; None for other topics."""
    if name.endswith(DLQ_SUFFIX):
        return "dlq"
    return "retry" if _RETRY_SUFFIX.match(name) else None


def conventional_parking_of(
    name: str, topics: Mapping[str, object] | Iterable[str]
) -> tuple[DeadLetterOwner, ParkingKind, str] | None:
    """(owner, kind, consumed topic) of a parking topic, read from its name alone, for an
    application whose tenant uses the conventional prefix ``<tenant>.`` and whose consumed
    topic is one of ``topics``; None for any other name. ``import`` has nothing else to go
    by: the ACLs then say whether that application really parks there."""
    kind = parking_kind(name)
    if kind is None:
        return None
    retry = _RETRY_SUFFIX.match(name)
    rest = retry.group(1) if kind == "retry" and retry else name.removesuffix(DLQ_SUFFIX)
    parts = rest.split(".", 3)
    known = topics if isinstance(topics, Mapping) else set(topics)
    if len(parts) == 4 and all(_NAME.match(p) for p in parts[:3]) and parts[3] in known:
        return DeadLetterOwner(f"{parts[0]}.", parts[1], parts[2]), kind, parts[3]
    return None


@dataclass(frozen=True)
class LegacyParking:
    """A topic named the way parking topics were before they belonged to the consumer."""

    name: str
    kind: ParkingKind
    #: The topic whose records it holds.
    origin: str
    #: The retry number (0 for a dead-letter topic).
    attempt: int


def legacy_parking_of(
    name: str, topics: Mapping[str, object] | Iterable[str]
) -> LegacyParking | None:
    """The old-style parking topic ``name`` is (``<origin>.dlq``, ``<origin>.retry.<n>``),
    when its origin is one of ``topics``; None for any other name."""
    known = topics if isinstance(topics, Mapping) else set(topics)
    if name.endswith(DLQ_SUFFIX) and name.removesuffix(DLQ_SUFFIX) in known:
        return LegacyParking(name, "dlq", name.removesuffix(DLQ_SUFFIX), 0)
    match = _RETRY_SUFFIX.match(name)
    if match is not None and match.group(1) in known:
        return LegacyParking(name, "retry", match.group(1), int(match.group(2)))
    return None


@dataclass
class ParkingTopic:
    """One retry or dead-letter topic the spec implies, and the one application using it."""

    name: str
    kind: ParkingKind
    origin: TopicEntry
    #: The application that parks records here (and, for a retry topic, reads them back).
    application: ApplicationEntry
    retention_ms: int
    #: The retry number; 0 for the dead-letter topic.
    attempt: int = 0
    #: How long the application waits on this retry topic (ms); 0 for a dead-letter topic.
    delay_ms: int = 0
    #: The spec declares this topic itself: apply creates it from that declaration, and
    #: the application parking records in it is still granted access.
    declared: bool = False

    def configs(self) -> dict[str, object]:
        return parking_configs(self.origin.topic.kafka_configs(), self.retention_ms)


def parking_configs(origin: Mapping[str, object], retention_ms: int) -> dict[str, object]:
    """retention.ms, plus the origin's durability settings (a zero-loss topic's parked
    records deserve the same guarantees as the records themselves)."""
    inherited = {k: origin[k] for k in INHERITED_CONFIGS if k in origin}
    return {**inherited, "retention.ms": retention_ms}


def parking_topics(spec: Spec, app: ApplicationEntry | None = None) -> dict[str, ParkingTopic]:
    """Every parking topic the spec implies (or one application's), by name.

    A topic the spec also declares explicitly is marked ``declared``: its declaration wins
    over the derived settings. Consumed topics the spec does not know are skipped
    (validation reports them). Two applications never derive the same name (validation
    reports it if odd tenant prefixes make them); the first one keeps it here.
    """
    found: dict[str, ParkingTopic] = {}
    entries = [app] if app is not None else list(spec.applications.values())
    for entry in entries:
        settings = entry.app.dead_letters
        if settings is None:
            continue
        owner = DeadLetterOwner.of(entry)
        for consumed in entry.app.consumes:
            origin = spec.topics.get(consumed)
            if origin is None:
                continue
            for attempt, delay in enumerate([0, *settings.retries]):
                kind: ParkingKind = "retry" if attempt else "dlq"
                if attempt:
                    name = retry_topic(owner, consumed, attempt)
                else:
                    name = dlq_topic(owner, consumed)
                found.setdefault(
                    name,
                    ParkingTopic(
                        name, kind, origin, entry, settings.retention, attempt=attempt,
                        delay_ms=delay, declared=name in spec.topics,
                    ),
                )  # fmt: skip
    return found


def parking_topics_of(spec: Spec, topic: str) -> list[ParkingTopic]:
    """The parking topics of every application that parks records of ``topic``, DLQs
    first, by application name (``dlq inspect|replay`` and migration plans read it)."""
    parked = [p for p in parking_topics(spec).values() if p.origin.full_name == topic]
    return sorted(parked, key=lambda p: (p.kind != "dlq", p.application.app.name, p.attempt))
