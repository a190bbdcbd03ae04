"""Reading a dead-letter topic, and sending its records back to the topic they came from.

A replay must survive being interrupted and run again without delivering a record twice.
It reads ``<topic>.dlq`` with a consumer group of its own and writes each batch to
``<topic>`` in a Kafka transaction that also commits the group's offsets
(``send_offsets_to_transaction``): the records and the progress become visible together or
not at all. A rerun's ``init_transactions`` aborts whatever an interrupted run left open
and continues from the committed offsets; a concurrent replay of the same topic fences the
older one (one transactional id per topic).
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
    dlq_topic,
    replay_headers,
)
from streamplane.client._errors import ClientError
from streamplane.client._headers import APP_HEADER, Headers, header_text, message_headers
from streamplane.kafka import ConnectionSettings

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

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "dead_letter_topic": self.dead_letter_topic,
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


def inspect_dead_letters(
    connection: ConnectionSettings, topic: str, *, limit: int | None = 50, timeout_s: float = 30
) -> list[DeadLetter]:
    """The oldest ``limit`` records of ``<topic>.dlq``; commits nothing."""
    dlq = dlq_topic(topic)
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
    dry_run: bool = False,
    limit: int | None = None,
    group: str | None = None,
    batch_size: int = 200,
    timeout_s: float = 30,
) -> ReplayResult:
    """Send the records of ``<topic>.dlq`` not yet replayed back to ``topic``.

    "Not yet replayed" is what the replay group has not committed; records parked while a
    replay runs wait for the next one. Each record goes back to the partition it came from
    (when known) with its original key, value and producer headers, plus
    ``streamplane-replayed-from``. ``dry_run`` lists what would be replayed and changes
    nothing.
    """
    dlq = dlq_topic(topic)
    group = group or f"{REPLAY_GROUP_PREFIX}{topic}"
    client = _reader(connection, group)
    try:
        partitions = _partitions(client, dlq, timeout_s)
        targets = set(_partitions(client, topic, timeout_s))
        committed = client.committed(
            [TopicPartition(dlq, p) for p in partitions], timeout=timeout_s
        )
        start, end = {}, {}
        for tp in committed:
            low, high = client.get_watermark_offsets(
                TopicPartition(dlq, tp.partition), timeout=timeout_s, cached=False
            )
            start[tp.partition] = tp.offset if tp.offset >= 0 else low
            end[tp.partition] = high
        records = _read(client, dlq, start, end, limit=limit, timeout_s=timeout_s)
        if dry_run:
            return ReplayResult(topic, dlq, group, True, list(records))
        replayed = _send_back(
            connection, client, topic, records, targets, batch_size=batch_size,
            timeout_s=timeout_s,
        )  # fmt: skip
        return ReplayResult(topic, dlq, group, False, replayed)
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
) -> list[DeadLetter]:
    producer = confluent_kafka.Producer(
        connection.librdkafka(**{
            "transactional.id": f"{REPLAY_GROUP_PREFIX}{topic}",
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
