"""Reading a dead-letter topic, and sending its records back to be processed again.

Dead-letter topics belong to the consuming application (``DeadLetterOwner``): one per
application and consumed topic. A replay reads one with a consumer group of its own and
writes each batch to its target (the consumed topic, or the application's first retry
topic so that only that application sees the records again) in a Kafka transaction that
also commits the group's offsets (``send_offsets_to_transaction``): the records and the
progress become visible together or not at all. A rerun's ``init_transactions`` aborts
whatever an interrupted run left open and continues from the committed offsets; a
concurrent replay of the same dead-letter topic fences the older one (one transactional id
per dead-letter topic).

Old-style parking topics (``<topic>.dlq``, ``<topic>.retry.<n>``, from before they
belonged to the consumer) are read the same way while an estate migrates; a replay of one
keeps the group and transactional id replays of it always had, so one half done before
the migration continues where it stopped.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaException, TopicPartition

from streamplane.client._deadletter import (
    ATTEMPTS_HEADER,
    ERROR_CLASS_HEADER,
    ERROR_KIND_HEADER,
    ERROR_MESSAGE_HEADER,
    FAILED_APP_HEADER,
    FAILED_AT_HEADER,
    ORIGIN_OFFSET_HEADER,
    ORIGIN_PARTITION_HEADER,
    ORIGIN_TOPIC_HEADER,
    DeadLetterOwner,
    dlq_topic,
    replay_headers,
)
from streamplane.client._errors import ClientError
from streamplane.client._headers import APP_HEADER, Headers, header_text, message_headers
from streamplane.kafka import ConnectionSettings
from streamplane.model import legacy_parking_of

REPLAY_GROUP_PREFIX = "streamplane-dlq-replay."


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, with the failure its headers describe."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return header_text(self.headers, name)

    @property
    def error_kind(self) -> str | None:
        return self.header(ERROR_KIND_HEADER)

    @property
    def error_class(self) -> str | None:
        return self.header(ERROR_CLASS_HEADER)

    @property
    def error_message(self) -> str | None:
        return self.header(ERROR_MESSAGE_HEADER)

    @property
    def origin(self) -> tuple[str | None, int | None, int | None]:
        """(topic, partition, offset) of the record the producer originally wrote."""
        partition = self.header(ORIGIN_PARTITION_HEADER)
        offset = self.header(ORIGIN_OFFSET_HEADER)
        return (
            self.header(ORIGIN_TOPIC_HEADER),
            int(partition) if partition and partition.isdigit() else None,
            int(offset) if offset and offset.isdigit() else None,
        )

    @property
    def failed_at(self) -> datetime | None:
        millis = self.header(FAILED_AT_HEADER)
        if millis is None or not millis.isdigit():
            return None
        return datetime.fromtimestamp(int(millis) / 1000, UTC)

    def to_json(self) -> dict[str, Any]:
        origin_topic, origin_partition, origin_offset = self.origin
        failed_at = self.failed_at
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
            "error": {
                "kind": self.error_kind,
                "class": self.error_class,
                "message": self.error_message,
            },
            "origin": {
                "topic": origin_topic,
                "partition": origin_partition,
                "offset": origin_offset,
            },
            "failed_app": self.header(FAILED_APP_HEADER),
            "failed_at": failed_at.isoformat() if failed_at else None,
            "attempts": int(a) if (a := self.header(ATTEMPTS_HEADER)) and a.isdigit() else None,
            "producer_app": self.header(APP_HEADER),
            "headers": {k: v.decode(errors="replace") for k, v in self.headers},
            "key": _b64(self.key),
            "value": _b64(self.value),
            "value_bytes": len(self.value) if self.value is not None else 0,
        }


@dataclass(frozen=True)
class ReplayResult:
    topic: str
    dead_letter_topic: str
    group: str
    dry_run: bool
    records: list[DeadLetter]
    #: Where the records were (or would be) written: the topic, or a retry topic.
    target: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "dead_letter_topic": self.dead_letter_topic,
            "target": self.target or self.topic,
            "group": self.group,
            "dry_run": self.dry_run,
            "replayed": 0 if self.dry_run else len(self.records),
            "records": [r.to_json() for r in self.records],
        }


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data is not None else None


def _partitions(client: confluent_kafka.Consumer, topic: str, timeout_s: float) -> list[int]:
    metadata = client.list_topics(topic, timeout=timeout_s)
    entry = metadata.topics.get(topic)
    if entry is None or entry.error is not None:
        raise ClientError(
            f"topic {topic} does not exist (or this principal may not describe it); "
            "dead-letter topics are declared in the spec like any other topic"
        )
    return sorted(entry.partitions)


def _read(
    client: confluent_kafka.Consumer,
    topic: str,
    start: dict[int, int],
    end: dict[int, int],
    *,
    limit: int | None,
    timeout_s: float,
) -> Iterator[DeadLetter]:
    """Records of ``topic`` from ``start`` up to (excluding) ``end``, per partition."""
    todo = {p for p in end if start[p] < end[p]}
    if not todo:
        return
    client.assign([TopicPartition(topic, p, start[p]) for p in sorted(todo)])
    seen = 0
    idle = 0
    while todo and (limit is None or seen < limit):
        batch = client.consume(500, 1.0)
        if not batch:
            idle += 1
            if idle > timeout_s:
                raise ClientError(f"reading {topic} stalled; {sorted(todo)} not read to the end")
            continue
        idle = 0
        for msg in batch:
            if msg.error() is not None:
                continue
            partition, offset = msg.partition() or 0, msg.offset() or 0
            if partition not in todo or offset >= end[partition]:
                continue
            yield DeadLetter(
                topic=topic, partition=partition, offset=offset,
                timestamp_ms=msg.timestamp()[1], key=msg.key(), value=msg.value(),
                headers=list(message_headers(msg)),
            )  # fmt: skip
            seen += 1
            if offset + 1 >= end[partition]:
                todo.discard(partition)
            if limit is not None and seen >= limit:
                return


def _reader(connection: ConnectionSettings, group: str) -> confluent_kafka.Consumer:
    return confluent_kafka.Consumer(
        connection.librdkafka(**{
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        })
    )  # fmt: skip


def _parked_topic(topic: str, owner: DeadLetterOwner | None, dead_letter_topic: str | None) -> str:
    """The topic to read: named outright, or the owner's dead-letter topic of ``topic``."""
    if dead_letter_topic is not None:
        return dead_letter_topic
    if owner is None:
        raise ClientError(
            f"every application consuming {topic} has dead-letter topics of its own: name "
            "one with owner=DeadLetterOwner(<tenant prefix>, <domain>, <application>), or "
            "the topic itself with dead_letter_topic="
        )
    return dlq_topic(owner, topic)


def replay_key(topic: str, parked: str) -> str:
    """The replay group and transactional id of a parking topic.

    One per dead-letter topic. An old-style ``<topic>.dlq`` keeps the per-topic key its
    replays always had, so their committed progress still counts.
    """
    old = legacy_parking_of(parked, [topic])
    return f"{REPLAY_GROUP_PREFIX}{topic if old is not None and old.kind == 'dlq' else parked}"


def inspect_dead_letters(
    connection: ConnectionSettings,
    topic: str,
    *,
    owner: DeadLetterOwner | None = None,
    dead_letter_topic: str | None = None,
    limit: int | None = 50,
    timeout_s: float = 30,
) -> list[DeadLetter]:
    """The oldest ``limit`` records ``owner`` parked for ``topic`` (or of
    ``dead_letter_topic``, named outright); commits nothing."""
    dlq = _parked_topic(topic, owner, dead_letter_topic)
    client = _reader(connection, f"streamplane-dlq-inspect-{uuid.uuid4().hex[:12]}")
    try:
        start, end = {}, {}
        for p in _partitions(client, dlq, timeout_s):
            low, high = client.get_watermark_offsets(
                TopicPartition(dlq, p), timeout=timeout_s, cached=False
            )
            start[p], end[p] = low, high
        found = list(_read(client, dlq, start, end, limit=None, timeout_s=timeout_s))
    finally:
        client.close()
    found.sort(key=lambda d: (d.timestamp_ms, d.partition, d.offset))
    return found if limit is None else found[:limit]


def replay_dead_letters(
    connection: ConnectionSettings,
    topic: str,
    *,
    owner: DeadLetterOwner | None = None,
    dead_letter_topic: str | None = None,
    target: str | None = None,
    resume_group: str | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    group: str | None = None,
    batch_size: int = 200,
    timeout_s: float = 30,
) -> ReplayResult:
    """Send the records ``owner`` parked for ``topic`` (or those of ``dead_letter_topic``)
    not yet replayed to ``target``: by default ``topic`` itself, where every consumer of it
    reads them again; the owner's first retry topic reaches that application alone.

    "Not yet replayed" is what the replay group has not committed; records parked while a
    replay runs wait for the next one. Where the replay group has committed nothing yet,
    ``resume_group``'s offsets say where to start (an old-style retry topic: what its
    application has not processed yet). Each record goes to the partition it came from
    (when known) with its original key, value and producer headers, plus
    ``streamplane-replayed-from``. ``dry_run`` lists what would be replayed and changes
    nothing.
    """
    dlq = _parked_topic(topic, owner, dead_letter_topic)
    target = target or topic
    key = replay_key(topic, dlq)
    group = group or key
    client = _reader(connection, group)
    try:
        partitions = _partitions(client, dlq, timeout_s)
        targets = set(_partitions(client, target, timeout_s))
        wanted = [TopicPartition(dlq, p) for p in partitions]
        committed = {tp.partition: tp.offset for tp in client.committed(wanted, timeout=timeout_s)}
        if resume_group is not None and all(o < 0 for o in committed.values()):
            resumed = _reader(connection, resume_group)
            try:
                committed = {
                    tp.partition: tp.offset for tp in resumed.committed(wanted, timeout=timeout_s)
                }
            finally:
                resumed.close()
        start, end = {}, {}
        for partition, offset in committed.items():
            low, high = client.get_watermark_offsets(
                TopicPartition(dlq, partition), timeout=timeout_s, cached=False
            )
            start[partition] = max(offset, low) if offset >= 0 else low
            end[partition] = high
        records = _read(client, dlq, start, end, limit=limit, timeout_s=timeout_s)
        if dry_run:
            return ReplayResult(topic, dlq, group, True, list(records), target)
        replayed = _send_back(
            connection, client, target, records, targets, batch_size=batch_size,
            timeout_s=timeout_s, transactional_id=key,
        )  # fmt: skip
        return ReplayResult(topic, dlq, group, False, replayed, target)
    finally:
        client.close()


def _send_back(
    connection: ConnectionSettings,
    client: confluent_kafka.Consumer,
    topic: str,
    records: Iterator[DeadLetter],
    targets: set[int],
    *,
    batch_size: int,
    timeout_s: float,
    transactional_id: str,
) -> list[DeadLetter]:
    producer = confluent_kafka.Producer(
        connection.librdkafka(**{
            "transactional.id": transactional_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
        })
    )  # fmt: skip
    producer.init_transactions(timeout_s)
    replayed: list[DeadLetter] = []
    batch: list[DeadLetter] = []

    def commit(batch: list[DeadLetter]) -> None:
        producer.begin_transaction()
        positions: dict[int, int] = {}
        for record in batch:
            _, origin_partition, _ = record.origin
            kwargs: dict[str, Any] = {
                "headers": replay_headers(
                    record.headers, source=f"{record.topic}/{record.partition}/{record.offset}"
                )
            }
            if origin_partition is not None and origin_partition in targets:
                kwargs["partition"] = origin_partition
            producer.produce(topic, record.value, record.key, **kwargs)
            positions[record.partition] = record.offset + 1
        producer.send_offsets_to_transaction(
            [TopicPartition(batch[0].topic, p, o) for p, o in positions.items()],
            client.consumer_group_metadata(),
            timeout_s,
        )
        producer.commit_transaction(timeout_s)

    try:
        for record in records:
            batch.append(record)
            if len(batch) >= batch_size:
                commit(batch)
                replayed += batch
                batch = []
        if batch:
            commit(batch)
            replayed += batch
    except BaseException:
        # Nothing of an unfinished batch becomes visible to read_committed consumers: abort
        # it now, or the next run's init_transactions aborts it.
        with contextlib.suppress(KafkaException):
            producer.abort_transaction(timeout_s)
        raise
    finally:
        producer.close()
    return replayed
