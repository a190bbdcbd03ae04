"""The retry and dead-letter topics the spec implies, and who writes and reads them.

An application with ``dead_letters`` parks the records it cannot process in topics named
after the topic it consumes: ``<topic>.retry.<n>`` (one per retry delay, read back by the
same application after the delay) and then ``<topic>.dlq``. Deriving them here, once,
keeps the names the SDK writes to, the topics ``apply`` creates and the ACLs it grants
from drifting apart.

A dead-letter topic may be shared: every application consuming the topic parks its
failures there, each copy naming the application that failed it. Retry topics may not:
each consumer of ``<topic>.retry.1`` would process the others' failures with its own
handler, so validation allows retries on a topic for one application only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from streamplane.model._spec import ApplicationEntry, Spec, TopicEntry

DLQ_SUFFIX = ".dlq"
RETRY_INFIX = ".retry."
#: Durability settings a parking topic copies from the topic whose records it holds.
INHERITED_CONFIGS = ("min.insync.replicas", "unclean.leader.election.enable")


#: A parking topic by name: (its name, "dlq" or "retry", the topic whose records it holds).
ParkingName = tuple[str, Literal["dlq", "retry"], str]


def parking_names(consumes: Iterable[str], retries: int) -> list[ParkingName]:
    """The parking topics of the topics an application consumes, with ``retries`` retries."""
    names: list[ParkingName] = []
    for consumed in consumes:
        names += [(retry_topic(consumed, n), "retry", consumed) for n in range(1, retries + 1)]
        names.append((dlq_topic(consumed), "dlq", consumed))
    return names


def dlq_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


def retry_topic(topic: str, attempt: int) -> str:
    return f"{topic}{RETRY_INFIX}{attempt}"


@dataclass
class ParkingTopic:
    """One retry or dead-letter topic the spec implies."""

    name: str
    kind: Literal["dlq", "retry"]
    origin: TopicEntry
    retention_ms: int
    #: application name -> the delay (ms) it waits on this retry topic; 0 for a DLQ
    applications: dict[str, int] = field(default_factory=dict)
    #: The spec declares this topic itself: apply creates it from that declaration, and
    #: the applications parking records in it are still granted access.
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
    (validation reports them). When several applications share a DLQ, the longest
    retention wins.
    """
    found: dict[str, ParkingTopic] = {}
    entries = [app] if app is not None else list(spec.applications.values())
    for entry in entries:
        settings = entry.app.dead_letters
        if settings is None:
            continue
        delays = [0, *settings.retries]  # by retry number; a DLQ has none
        for name, kind, consumed in parking_names(entry.app.consumes, len(settings.retries)):
            origin = spec.topics.get(consumed)
            if origin is None:
                continue
            delay = 0 if kind == "dlq" else delays[int(name.rsplit(".", 1)[1])]
            parked = found.get(name)
            if parked is None:
                parked = found[name] = ParkingTopic(
                    name, kind, origin, settings.retention, declared=name in spec.topics
                )
            parked.retention_ms = max(parked.retention_ms, settings.retention)
            parked.applications[entry.app.name] = delay
    return found
