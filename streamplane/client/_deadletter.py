"""Poison pills: retry topics with back-off, then a dead-letter topic, and the consumer moves on.

The pattern is Spring Kafka's non-blocking retry. A record whose handler raises is copied to
the application's first retry topic with a header saying when it is due; the consumer of
that retry topic pauses the partition until then, processes it again, and on another failure
moves it to the second, and so on. After the last retry (or at once, when there are none, or
when the value cannot even be decoded) it goes to the application's dead-letter topic.
Meanwhile the main topic keeps flowing: one bad record does not block its partition.

The topics belong to the consuming application, in its namespace:
``<prefix><domain>.<app>.<topic>.retry.<n>`` and ``<prefix><domain>.<app>.<topic>.dlq``
(:class:`~streamplane.model.DeadLetterOwner` names them, for the SDK and ``apply`` alike).

The copy keeps the original key, value bytes and headers (trace, producing app, schema id)
and adds why it failed, where it came from and when. The consumer commits past the record
only once the copy is acknowledged, so a record is never lost between the two topics.
None of these topics is created here: an application's ``dead_letters`` in the spec makes
``apply`` create them and grant it access (``streamplane.model._dead_letters``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError

from streamplane.client._errors import ClientError, DeadLetterError
from streamplane.client._headers import Headers, header_text

# The names are the platform's, shared with what apply creates and grants.
from streamplane.model._dead_letters import DeadLetterOwner as DeadLetterOwner
from streamplane.model._dead_letters import dlq_topic as dlq_topic
from streamplane.model._dead_letters import retry_topic as retry_topic

ERROR_KIND_HEADER = "streamplane-error-kind"
ERROR_CLASS_HEADER = "streamplane-error-class"
ERROR_MESSAGE_HEADER = "streamplane-error-message"
ORIGIN_TOPIC_HEADER = "streamplane-origin-topic"
ORIGIN_PARTITION_HEADER = "streamplane-origin-partition"
ORIGIN_OFFSET_HEADER = "streamplane-origin-offset"
ORIGIN_TIMESTAMP_HEADER = "streamplane-origin-timestamp"
FAILED_APP_HEADER = "streamplane-failed-app"
FAILED_AT_HEADER = "streamplane-failed-at"
ATTEMPTS_HEADER = "streamplane-attempts"
RETRY_DUE_HEADER = "streamplane-retry-due"
RETRY_DELAY_HEADER = "streamplane-retry-delay-ms"
REPLAYED_FROM_HEADER = "streamplane-replayed-from"

#: Headers describing one failure; a new failure replaces them, a replay removes them.
FAILURE_HEADERS = frozenset(
    {
        ERROR_KIND_HEADER,
        ERROR_CLASS_HEADER,
        ERROR_MESSAGE_HEADER,
        FAILED_APP_HEADER,
        FAILED_AT_HEADER,
        ATTEMPTS_HEADER,
        RETRY_DUE_HEADER,
        RETRY_DELAY_HEADER,
    }
)
ORIGIN_HEADERS = frozenset(
    {ORIGIN_TOPIC_HEADER, ORIGIN_PARTITION_HEADER, ORIGIN_OFFSET_HEADER, ORIGIN_TIMESTAMP_HEADER}
)
#: Error messages can be arbitrarily long (a stack of causes); headers should not be.
MAX_MESSAGE_BYTES = 4096


@dataclass(frozen=True)
class DeadLetterPolicy:
    """How a consumer parks records it cannot process, and in whose topics.

    ``retry_delays_s``: one retry topic per entry, the n-th waited on for the n-th delay,
    e.g. ``(1.0, 30.0)``; empty means straight to the dead-letter topic. Records that fail
    to decode skip the retries: decoding the same bytes again fails the same way.
    ``owner``: the consuming application whose topics these are;
    ``Consumer.for_application`` fills it in from the spec, a consumer built by hand must
    name it (``DeadLetterOwner("risk.", "fraud", "fraud-scorer")``).
    """

    retry_delays_s: tuple[float, ...] = ()
    #: How long to wait for the cluster to acknowledge a parked record before giving up.
    write_timeout_s: float = 30.0
    owner: DeadLetterOwner | None = None

    def checked_owner(self) -> DeadLetterOwner:
        """The owner, or a ClientError saying how to name one."""
        if self.owner is None:
            raise ClientError(
                "this DeadLetterPolicy names no owner, so there is no topic to park records "
                "in; build the consumer with Consumer.for_application (the spec names the "
                "application), or pass DeadLetterPolicy(owner=DeadLetterOwner(<tenant "
                "prefix>, <domain>, <application>))"
            )
        return self.owner

    def retry_topics(self, topic: str) -> list[str]:
        owner = self.checked_owner()
        return [retry_topic(owner, topic, n) for n in range(1, len(self.retry_delays_s) + 1)]

    def dlq_topic(self, topic: str) -> str:
        return dlq_topic(self.checked_owner(), topic)

    def destination(self, topic: str, *, attempt: int, retryable: bool) -> tuple[str, float]:
        """Where a record of ``topic`` that failed on try ``attempt`` (0-based) goes next,
        and after what delay in seconds (0 for the dead-letter topic)."""
        following = attempt + 1
        if retryable and following <= len(self.retry_delays_s):
            delay = self.retry_delays_s[following - 1]
            return retry_topic(self.checked_owner(), topic, following), delay
        return self.dlq_topic(topic), 0.0


def error_class(exc: BaseException) -> str:
    kind = type(exc)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def failure_headers(
    original: Sequence[tuple[str, Any]],
    *,
    kind: str,
    exc: BaseException,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    app: str,
    attempts: int,
    now_ms: int,
    delay_s: float = 0.0,
) -> Headers:
    """The headers of a parked copy: the original ones, then why, whence, by whom and when.

    A record failing again on a retry topic keeps the origin of its first failure, so the
    dead-letter copy always points at the record the producer wrote.
    """
    kept = [(k, v) for k, v in original if k not in FAILURE_HEADERS]
    if header_text(kept, ORIGIN_TOPIC_HEADER) is None:
        kept += [
            (ORIGIN_TOPIC_HEADER, topic.encode()),
            (ORIGIN_PARTITION_HEADER, str(partition).encode()),
            (ORIGIN_OFFSET_HEADER, str(offset).encode()),
            (ORIGIN_TIMESTAMP_HEADER, str(timestamp_ms).encode()),
        ]
    message = str(exc).encode(errors="replace")[:MAX_MESSAGE_BYTES]
    kept += [
        (ERROR_KIND_HEADER, kind.encode()),
        (ERROR_CLASS_HEADER, error_class(exc).encode()),
        (ERROR_MESSAGE_HEADER, message),
        (FAILED_APP_HEADER, app.encode()),
        (FAILED_AT_HEADER, str(now_ms).encode()),
        (ATTEMPTS_HEADER, str(attempts).encode()),
    ]
    if delay_s > 0:
        kept += [
            (RETRY_DUE_HEADER, str(now_ms + int(delay_s * 1000)).encode()),
            (RETRY_DELAY_HEADER, str(int(delay_s * 1000)).encode()),
        ]
    return kept


def replay_headers(original: Sequence[tuple[str, Any]], *, source: str) -> Headers:
    """Headers of a dead letter sent back to its topic: the producer's own, plus where from."""
    drop = FAILURE_HEADERS | ORIGIN_HEADERS | {REPLAYED_FROM_HEADER}
    kept = [(k, v) for k, v in original if k not in drop]
    kept.append((REPLAYED_FROM_HEADER, source.encode()))
    return kept


class DeadLetterWriter:
    """Writes parked copies and waits for each acknowledgement.

    Synchronous on purpose: poison pills are rare, and the consumer may commit past a
    record only once its copy is durable.
    """

    def __init__(self, config: dict[str, Any], *, timeout_s: float) -> None:
        self._config = config
        self._timeout_s = timeout_s
        self._producer: confluent_kafka.Producer | None = None
        self._known: set[str] = set()
        self._written = 0

    def _client(self) -> confluent_kafka.Producer:
        if self._producer is None:
            self._producer = confluent_kafka.Producer(self._config)
        return self._producer

    def missing(self, topics: Iterable[str]) -> list[str]:
        """Those of ``topics`` the cluster does not have (auto-creation is off)."""
        wanted = [t for t in topics if t not in self._known]
        if not wanted:
            return []
        metadata = self._client().list_topics(timeout=self._timeout_s)
        absent = []
        for topic in wanted:
            entry = metadata.topics.get(topic)
            if entry is None or entry.error is not None:
                absent.append(topic)
            else:
                self._known.add(topic)
        return absent

    def write(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        if self.missing([topic]):
            raise DeadLetterError(
                f"topic {topic} does not exist, so the failed record cannot be parked there; "
                "give the application `dead_letters` in the spec and apply it (retry and "
                "dead-letter topics are not created automatically). The consumer stopped "
                "without committing past the record."
            )
        outcome: list[KafkaError | None] = []
        producer = self._client()
        self._written += 1
        producer.produce(
            topic, value, key, headers=headers, on_delivery=lambda err, _msg: outcome.append(err)
        )
        deadline = time.monotonic() + self._timeout_s
        while not outcome and time.monotonic() < deadline:
            producer.poll(0.05)
        if not outcome or outcome[0] is not None:
            reason = outcome[0].str() if outcome and outcome[0] is not None else "timed out"
            raise DeadLetterError(
                f"could not write the failed record to {topic}: {reason}. The consumer stopped "
                "without committing past the record."
            )

    def close(self) -> None:
        if self._producer is None:
            return
        producer, self._producer = self._producer, None
        try:
            producer.flush(self._timeout_s)
        except confluent_kafka.KafkaException:
            # The producer was made only to look the parking topics up: an application
            # allowed no writes fails its idempotent producer's id request, which is no
            # failure of a consumer that never parked anything.
            if self._written:
                raise
        finally:
            producer.close()


class RetryPauses:
    """Retry-topic partitions paused until their head record is due (wall-clock ms)."""

    def __init__(self) -> None:
        self._due: dict[tuple[str, int], int] = {}

    def __contains__(self, partition: tuple[str, int]) -> bool:
        return partition in self._due

    def __bool__(self) -> bool:
        return bool(self._due)

    def pause(self, topic: str, partition: int, due_ms: int) -> None:
        self._due[(topic, partition)] = due_ms

    def take_due(self, now_ms: int) -> list[tuple[str, int]]:
        """The partitions whose time has come; they are no longer tracked as paused."""
        ready = [tp for tp, due in self._due.items() if due <= now_ms]
        for tp in ready:
            del self._due[tp]
        return ready

    def seconds_to_next(self, now_ms: int) -> float | None:
        if not self._due:
            return None
        return max(0.0, (min(self._due.values()) - now_ms) / 1000)

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        for tp in partitions:
            self._due.pop(tp, None)
