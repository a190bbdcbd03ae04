"""Client configuration profiles: named, reviewed librdkafka settings instead of raw dicts.

Application teams pick a profile (``zero_loss``, ``low_latency``, ``throughput``) and may
tighten it per application in the spec. A profile also carries the *guarantee* it gives
(``zero_loss`` promises that nothing acknowledged is lost or duplicated); an override that
would break the guarantee is refused with the reason, before any client is built, because
such a setting is silent in production until the day a broker fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from streamplane.errors import StreamplaneError

Role = Literal["producer", "consumer"]

#: Settings every Streamplane consumer has whatever the profile: offsets are committed
#: (and stored) only by the SDK, after processing; cooperative rebalancing keeps the
#: partitions that do not move consuming during a rebalance. A consumer whose handler is
#: slower than the fetcher fills librdkafka's local queue; librdkafka then postpones the
#: next fetch by ``fetch.queue.backoff.ms`` (1 s by default), and once the handler has
#: drained the queue it waits out the rest of that second with nothing to do (measured:
#: 0.7 s stalls every ~90,000 records at 3 µs per record). 20 ms keeps the queue fed.
_CONSUMER_BASE: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "partition.assignment.strategy": "cooperative-sticky",
    "auto.offset.reset": "earliest",
    "fetch.queue.backoff.ms": 20,
}


class ProfileError(StreamplaneError):
    """A client configuration is unknown or breaks the guarantee its profile declares."""


@dataclass(frozen=True)
class Rule:
    """One setting a guarantee depends on: ``ok(value)`` decides, ``need`` says what to use."""

    key: str
    ok: Callable[[Any], bool]
    need: str
    why: str


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    producer: Mapping[str, Any]
    consumer: Mapping[str, Any]
    #: Rules per role that no override may break.
    rules: Mapping[Role, tuple[Rule, ...]] = field(default_factory=dict)


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def _falsy(value: Any) -> bool:
    return str(value).lower() in ("false", "0")


def _int_between(low: int, high: int) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        try:
            return low <= int(value) <= high
        except (TypeError, ValueError):
            return False

    return check


_ZERO_LOSS_PRODUCER_RULES = (
    Rule(
        "acks",
        lambda v: str(v).lower() in ("all", "-1"),
        "acks=all",
        "with fewer acknowledgements a leader failure loses records it alone acknowledged",
    ),
    Rule(
        "enable.idempotence",
        _truthy,
        "enable.idempotence=true",
        "without idempotence a retried batch is written twice",
    ),
    Rule(
        "max.in.flight.requests.per.connection",
        _int_between(1, 5),
        "max.in.flight.requests.per.connection between 1 and 5",
        "idempotent ordering is only guaranteed with at most 5 requests in flight",
    ),
    Rule(
        "retries",
        _int_between(1, 2**31 - 1),
        "retries > 0 (the default retries until delivery.timeout.ms)",
        "with no retries a transient error drops the record",
    ),
)

_AFTER_PROCESSING_RULES = (
    Rule(
        "enable.auto.commit",
        _falsy,
        "enable.auto.commit=false",
        "auto-commit commits offsets of records not yet processed; a crash then loses them",
    ),
    Rule(
        "enable.auto.offset.store",
        _falsy,
        "enable.auto.offset.store=false",
        "the SDK stores an offset only once its record is processed",
    ),
)

PROFILES: dict[str, Profile] = {
    "zero_loss": Profile(
        name="zero_loss",
        summary="nothing acknowledged is lost or duplicated; latency and throughput second",
        producer={
            "acks": "all",
            "enable.idempotence": True,
            "max.in.flight.requests.per.connection": 5,
            # Unbounded retries, bounded in time: librdkafka retries until the deadline.
            "retries": 2**31 - 1,
            "delivery.timeout.ms": 120_000,
            "linger.ms": 5,
            "compression.type": "lz4",
        },
        consumer={**_CONSUMER_BASE, "isolation.level": "read_committed"},
        rules={"producer": _ZERO_LOSS_PRODUCER_RULES, "consumer": _AFTER_PROCESSING_RULES},
    ),
    "low_latency": Profile(
        name="low_latency",
        summary="smallest end-to-end delay; durability of acks=all without batching delay",
        producer={
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 0,
            "batch.num.messages": 100,
            "compression.type": "none",
            "socket.nagle.disable": True,
        },
        consumer={
            **_CONSUMER_BASE,
            "fetch.wait.max.ms": 5,
            "fetch.min.bytes": 1,
            "socket.nagle.disable": True,
        },
        rules={"consumer": _AFTER_PROCESSING_RULES},
    ),
    "throughput": Profile(
        name="throughput",
        summary="most records per second: large batches, zstd, idempotent acks=all",
        producer={
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "batch.num.messages": 100_000,
            "compression.type": "zstd",
            "queue.buffering.max.kbytes": 1_048_576,
        },
        consumer={
            **_CONSUMER_BASE,
            "fetch.min.bytes": 65_536,
            "fetch.wait.max.ms": 100,
            "queued.max.messages.kbytes": 262_144,
        },
        rules={"consumer": _AFTER_PROCESSING_RULES},
    ),
}


def profile(name: str) -> Profile:
    """The profile called ``name``; ProfileError lists the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(
            f"unknown client profile {name!r}; choose one of: {', '.join(PROFILES)}"
        ) from None


def violations(name: str, role: Role, overrides: Mapping[str, Any]) -> list[str]:
    """Why ``overrides`` break profile ``name``'s guarantee for ``role``; [] when they do not."""
    chosen = profile(name)
    problems = []
    for rule in chosen.rules.get(role, ()):
        if rule.key in overrides and not rule.ok(overrides[rule.key]):
            problems.append(
                f"{rule.key}={overrides[rule.key]} breaks the {name} guarantee: {rule.why}; "
                f"use {rule.need} or remove the override"
            )
    return problems


def client_config(
    name: str,
    role: Role,
    *,
    overrides: Mapping[str, Any] | None = None,
    connection: Mapping[str, Any] | None = None,
    owner: str = "this client",
) -> dict[str, Any]:
    """librdkafka settings: connection, then the profile, then the overrides.

    Overrides that break the profile's guarantee raise ProfileError naming ``owner`` (the
    application) and every offending setting, so a reviewer sees all of them at once.
    """
    chosen = profile(name)
    overrides = dict(overrides or {})
    problems = violations(name, role, overrides)
    if problems:
        raise ProfileError(
            f"{owner} uses the {name} profile, but its {role} configuration breaks it:\n  "
            + "\n  ".join(problems)
        )
    base = chosen.producer if role == "producer" else chosen.consumer
    return {**(connection or {}), **base, **overrides}
