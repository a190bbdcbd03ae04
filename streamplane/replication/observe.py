"""How far each flow is behind, read from Kafka itself, not from MM2's metrics.

Per copied partition the replicated position is the newest offset sync's upstream
offset plus what the copy holds past its downstream offset; the lag in records is the
source's end offset minus that, the lag in seconds the age of the oldest record not yet
copied. The newest checkpoint per group and the newest heartbeat come from their topics
on the target. Everything is read with the clusters' admin connections.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streamplane.kafka import ConnectionSettings
from streamplane.model import (
    HEARTBEATS_TOPIC,
    ReplicationFlow,
    Spec,
    checkpoints_topic,
    flow_topics,
    offset_syncs_topic,
)
from streamplane.replication.records import (
    Checkpoint,
    OffsetSync,
    checkpoint,
    heartbeat,
    offset_sync,
)

T = TypeVar("T")


def _consumer(settings: ConnectionSettings) -> Consumer:
    # assign() only, never a group: nothing is committed, nobody's offsets move.
    return Consumer(
        settings.librdkafka(
            **{
                "group.id": f"streamplane-replicate-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )
    )


def partitions_of(consumer: Consumer, topic: str, timeout_s: float = 10.0) -> list[int]:
    """The topic's partitions; [] when it does not exist."""
    meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if meta is None or meta.error is not None:
        return []
    return sorted(meta.partitions)


def read_all(
    settings: ConnectionSettings,
    topic: str,
    decode: Callable[[Any], T],
    *,
    timeout_s: float = 30.0,
) -> list[T]:
    """Every record of a (small, internal) topic up to its end now, decoded."""
    consumer = _consumer(settings)
    try:
        parts = partitions_of(consumer, topic)
        ends = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        if not ends:
            return []
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        out: list[T] = []
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            part = msg.partition() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    ends.pop(part, None)
                    continue
                raise KafkaException(error)
            if msg.value() is not None and msg.key() is not None:
                out.append(decode(msg))
            if (msg.offset() or 0) + 1 >= ends.get(part, 0):
                ends.pop(part, None)
        return out
    finally:
        consumer.close()


def watermarks(
    settings: ConnectionSettings, topics: Iterable[str]
) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (low, high) for topics that exist."""
    consumer = _consumer(settings)
    try:
        out = {}
        for topic in topics:
            for p in partitions_of(consumer, topic):
                out[(topic, p)] = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=10
                )
        return out
    finally:
        consumer.close()


def timestamps_at(
    settings: ConnectionSettings, positions: dict[tuple[str, int], int], timeout_s: float = 10.0
) -> dict[tuple[str, int], int]:
    """The timestamp (ms) of the record at each (topic, partition) -> offset."""
    if not positions:
        return {}
    consumer = _consumer(settings)
    try:
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in positions.items()])
        out: dict[tuple[str, int], int] = {}
        deadline = time.monotonic() + timeout_s
        while len(out) < len(positions) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            key = (msg.topic() or "", msg.partition() or 0)
            if key not in out:
                out[key] = msg.timestamp()[1]
        return out
    finally:
        consumer.close()


def latest_offset_syncs(
    settings: ConnectionSettings, flow: ReplicationFlow
) -> dict[tuple[str, int], list[OffsetSync]]:
    """Every offset sync on the target, oldest first, per upstream (topic, partition)."""
    syncs: dict[tuple[str, int], list[OffsetSync]] = {}
    for sync in read_all(
        settings, offset_syncs_topic(flow), lambda m: offset_sync(m.key(), m.value())
    ):
        syncs.setdefault((sync.topic, sync.partition), []).append(sync)
    return syncs


def latest_checkpoints(
    settings: ConnectionSettings, flow: ReplicationFlow, group: str | None = None
) -> dict[tuple[str, str, int], Checkpoint]:
    """(group, upstream topic, partition) -> the newest checkpoint on the target."""
    out: dict[tuple[str, str, int], Checkpoint] = {}
    for cp in read_all(
        settings,
        checkpoints_topic(flow),
        lambda m: checkpoint(m.key(), m.value(), m.timestamp()[1]),
    ):
        if group is None or cp.group == group:
            out[(cp.group, cp.topic, cp.partition)] = cp
    return out


@dataclass
class PartitionLag:
    topic: str
    partition: int
    source_end: int
    replicated: int
    lag_records: int
    lag_s: float


@dataclass
class TopicLag:
    topic: str
    remote: str
    exists: bool
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def lag_records(self) -> int:
        return sum(p.lag_records for p in self.partitions)

    @property
    def lag_s(self) -> float:
        return max((p.lag_s for p in self.partitions), default=0.0)


@dataclass
class FlowLag:
    topics: list[TopicLag]
    #: group -> newest checkpoint time (ms) on the target
    checkpoints: dict[str, int]
    last_heartbeat_ms: int | None

    @property
    def lag_records(self) -> int:
        return sum(t.lag_records for t in self.topics)

    @property
    def lag_s(self) -> float:
        return max((t.lag_s for t in self.topics), default=0.0)


def replicated_position(syncs: list[OffsetSync], copy: tuple[int, int], source_low: int) -> int:
    """How far into the source partition the copy reaches (see the module docstring)."""
    low, high = copy
    if syncs:
        last = syncs[-1]
        return last.upstream + max(0, high - last.downstream)
    # No sync yet: the copy started at the source's first record.
    return source_low + (high - low)


def flow_lag(
    spec: Spec,
    flow: ReplicationFlow,
    source: ConnectionSettings,
    target: ConnectionSettings,
) -> FlowLag:
    topics = flow_topics(spec, flow)
    src_marks = watermarks(source, [t.name for t in topics])
    dst_marks = watermarks(target, [t.remote for t in topics])
    syncs = latest_offset_syncs(target, flow)
    report: list[TopicLag] = []
    behind: dict[tuple[str, int], int] = {}
    for topic in topics:
        parts = sorted(p for (t, p) in src_marks if t == topic.name)
        lag = TopicLag(
            topic.name, topic.remote, exists=any(t == topic.remote for t, _ in dst_marks)
        )
        for p in parts:
            low, high = src_marks[(topic.name, p)]
            copy = dst_marks.get((topic.remote, p), (0, 0))
            done = min(high, replicated_position(syncs.get((topic.name, p), []), copy, low))
            lag.partitions.append(PartitionLag(topic.name, p, high, done, high - done, 0.0))
            if high > done:
                behind[(topic.name, p)] = max(done, low)
        report.append(lag)
    now = time.time() * 1000
    ages = timestamps_at(source, behind)
    for lag in report:
        for part in lag.partitions:
            ts = ages.get((part.topic, part.partition))
            if ts is not None and ts > 0:
                part.lag_s = max(0.0, (now - ts) / 1000)
    checkpoints: dict[str, int] = {}
    for cp in latest_checkpoints(target, flow).values():
        checkpoints[cp.group] = max(checkpoints.get(cp.group, 0), cp.timestamp_ms)
    beats = [
        hb.timestamp_ms
        for hb in read_all(target, HEARTBEATS_TOPIC, lambda m: heartbeat(m.key(), m.value()))
        if hb.source == flow.source and hb.target == flow.target
    ]
    return FlowLag(report, checkpoints, max(beats) if beats else None)
