"""Small compacted platform topics: the newest value per key, read whole and written last.

``apply`` records what Kafka cannot hold in single-partition compacted topics (the
tenants a cluster has held, the spec's notes). Both are read whole, key by key, and
written acknowledged by all in-sync replicas; this module is that one mechanism.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from streamplane.errors import ClusterError
from streamplane.kafka import ConnectionSettings
from streamplane.kafka._admin import ClusterAdmin


def read_compacted(
    settings: ConnectionSettings, topic: str, *, timeout_s: float = 30.0
) -> dict[str, bytes] | None:
    """Key -> newest value of ``topic`` (tombstones drop their key); None if it does not exist."""
    consumer = Consumer(
        settings.librdkafka(
            **{
                "group.id": f"_streamplane-read-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
    )
    try:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout_s)
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" in str(exc):
                return None
            raise ClusterError(f"cannot read {topic}: {exc}") from exc
        found: dict[str, bytes] = {}
        if high <= low:
            return found
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout_s
        position = low
        while position < high:
            if time.monotonic() > deadline:
                raise ClusterError(f"reading {topic} took longer than {timeout_s:.0f}s")
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            position = (message.offset() or 0) + 1
            key, value = (message.key() or b"").decode(), message.value()
            if value is None:
                found.pop(key, None)
            else:
                found[key] = value
        return found
    finally:
        consumer.close()


def write_compacted(
    settings: ConnectionSettings, topic: str, records: dict[str, bytes | None], *, failure: str
) -> None:
    """Write ``records`` (None: a tombstone), creating the topic first; raise with ``failure``
    leading the message unless every record is acknowledged by all in-sync replicas."""
    if not records:
        return
    ClusterAdmin(settings).create_topics([(topic, 1, None, {"cleanup.policy": "compact"})])
    errors: list[str] = []
    producer = Producer(
        settings.librdkafka(**{"acks": "all", "enable.idempotence": True, "log_level": 0})
    )
    for key, value in sorted(records.items()):

        def delivered(err: object, _msg: object, shown: str = key) -> None:
            if err is not None:
                errors.append(f"{shown}: {err}")

        producer.produce(topic, key=key.encode(), value=value, on_delivery=delivered)
    left = producer.flush(30)
    if left or errors:
        raise ClusterError(
            f"{failure} in {topic}: "
            + ("; ".join(errors) or f"{left} record(s) not acknowledged in 30s")
        )
