"""SLO samples in ``_streamplane_slo``: the platform's measurements, kept in Kafka.

The canary writes one record per broker per sample interval (the counts of that interval),
the lag monitor one per consumer group (its partitions' committed and end offsets), and
alerts one per change of state. ``slo report``, ``lag`` and a restarted canary rebuild
their windows by reading the topic back from the start of the longest window they need,
so no budget is forgotten across restarts and nothing needs a database.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.kafka import ConnectionSettings
from streamplane.model import Objective
from streamplane.slo.budget import Sample

log = logging.getLogger(__name__)
T = TypeVar("T")

SLO_TOPIC = "_streamplane_slo"
#: Longer than the longest default SLO window (30 d) plus the ticket alert's 3 d.
RETENTION_MS = 35 * 86400_000


def ensure_slo_topic(admin: AdminClient, *, brokers: int, timeout_s: float = 30.0) -> None:
    rf = min(3, brokers)
    topic = NewTopic(
        SLO_TOPIC,
        1,
        rf,
        config={
            "retention.ms": str(RETENTION_MS),
            "min.insync.replicas": str(max(1, rf - 1)),
            "cleanup.policy": "delete",
        },
    )
    create_if_missing(admin, topic, timeout_s=timeout_s)


def create_if_missing(admin: AdminClient, topic: NewTopic, *, timeout_s: float) -> None:
    """Create ``topic``; one that exists already (another process won the race) is fine."""
    for future in admin.create_topics([topic]).values():
        try:
            future.result(timeout_s)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


@dataclass(frozen=True)
class Record:
    """One sample: ``kind`` canary, lag or alert; ``time`` seconds since the epoch."""

    kind: str
    time: float
    data: dict[str, Any]


def encode(kind: str, at: float, data: dict[str, Any]) -> bytes:
    return json.dumps({"kind": kind, "time": at, **data}, separators=(",", ":")).encode()


def decode(value: bytes | None) -> Record | None:
    try:
        data = json.loads(value or b"")
        return Record(str(data.pop("kind")), float(data.pop("time")), data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def read_samples(
    settings: ConnectionSettings, *, since: float, timeout_s: float = 30.0
) -> list[Record]:
    """Every sample newer than ``since`` (epoch seconds), oldest first."""
    consumer = Consumer(
        settings.librdkafka(
            **{
                "group.id": "_streamplane_slo_reader",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "log_level": 3,
            }
        )
    )
    try:
        metadata = consumer.list_topics(SLO_TOPIC, timeout=timeout_s).topics.get(SLO_TOPIC)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return []
        parts = [TopicPartition(SLO_TOPIC, p, int(since * 1000)) for p in metadata.partitions]
        deadline = time.monotonic() + timeout_s
        starts = _retrying(lambda: consumer.offsets_for_times(parts, timeout=timeout_s), deadline)
        ends: dict[int, int] = {}
        for tp in starts:

            def watermarks(tp: TopicPartition = tp) -> tuple[int, int]:
                low, high = consumer.get_watermark_offsets(tp, timeout=timeout_s)
                return int(low), int(high)

            ends[tp.partition] = _retrying(watermarks, deadline)[1]
        todo = [tp for tp in starts if tp.offset >= 0 and tp.offset < ends[tp.partition]]
        if not todo:
            return []
        consumer.assign(todo)
        found: list[Record] = []
        left = {tp.partition for tp in todo}
        while left and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=1.0):
                partition, error = message.partition() or 0, message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        left.discard(partition)
                    continue
                record = decode(message.value())
                if record is not None and record.time > since:
                    found.append(record)
                if (message.offset() or 0) + 1 >= ends[partition]:
                    left.discard(partition)
        return sorted(found, key=lambda r: r.time)
    finally:
        consumer.close()


def _retrying(call: Callable[[], T], deadline: float) -> T:
    """``call()``, again after errors a failing-over cluster gives (a broker's handle
    destroyed, a leader not yet elected) until ``deadline``."""
    while True:
        try:
            return call()
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise
            log.debug("retrying after %s", exc)
            time.sleep(0.5)


def _under(buckets: dict[str, Any], threshold_s: float) -> float:
    """Events at or under ``threshold_s`` in a sample's ``{"bounds": [...], "counts": [...]}``
    (non-cumulative counts, the last one above every bound); the nearest bound below counts
    when the threshold is none of them."""
    under = 0.0
    for bound, count in zip(buckets.get("bounds", []), buckets.get("counts", []), strict=False):
        if bound <= threshold_s + 1e-12:
            under += count
    return under


def sli_samples(objective: Objective, records: Iterable[Record]) -> Iterator[tuple[str, Sample]]:
    """(part, Sample) per record that measures ``objective``; ``part`` names what it
    measured (``broker 2``, ``group g``), so a report can say what burned the budget.

    Tenant availability and produce latency come from the SDK's metrics in Prometheus,
    not from these samples: none are yielded for them.
    """
    slo = objective.slo
    for record in records:
        data = record.data
        if slo.sli == "freshness":
            if record.kind != "lag":
                continue
            group = str(data.get("group"))
            if objective.tenant is not None and group not in objective.groups:
                continue
            lag = sum(int(p.get("lag", 0)) for p in data.get("partitions", []))
            assert slo.max_lag is not None
            yield f"group {group}", Sample(record.time, float(lag <= slo.max_lag), 1.0)
            continue
        if record.kind != "canary" or objective.tenant is not None:
            continue
        part = f"broker {data.get('broker')}"
        if slo.sli == "availability":
            total = float(data.get("requests", 0))
            yield part, Sample(record.time, total - float(data.get("errors", 0)), total)
        elif slo.sli == "durability":
            checked = float(data.get("checked", 0))
            yield part, Sample(record.time, checked - float(data.get("lost", 0)), checked)
        else:
            key = "produce" if slo.sli == "produce_latency" else "e2e"
            buckets = data.get(key, {})
            total = float(sum(buckets.get("counts", [])))
            assert slo.threshold is not None
            yield part, Sample(record.time, _under(buckets, slo.threshold / 1000), total)
