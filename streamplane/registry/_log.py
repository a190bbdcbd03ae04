"""The registry's system of record: the single-partition, compacted ``_schemas`` topic.

Every change is a record; the in-memory state is whatever replaying the topic
yields, so a restarted registry rebuilds exactly the same ids and versions. A
write returns only after this instance's reader has consumed the offset it just
produced (read-your-writes), the way karapace's OffsetWatcher works.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.errors import RegistryError
from streamplane.kafka import ConnectionSettings

log = logging.getLogger(__name__)

SCHEMAS_TOPIC = "_schemas"

Record = tuple[dict[str, Any], dict[str, Any] | None]


class OffsetWatcher:
    """Lets a writer wait until the reader has applied a given offset."""

    def __init__(self) -> None:
        self._applied = -1
        self._cond = threading.Condition()

    def applied(self, offset: int) -> None:
        with self._cond:
            self._applied = max(self._applied, offset)
            self._cond.notify_all()

    def wait_for(self, offset: int, *, timeout_s: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._applied >= offset, timeout=timeout_s)

    @property
    def offset(self) -> int:
        return self._applied


class SchemaLog:
    """Produce registry records and apply every record of the topic, in order, to ``apply``."""

    def __init__(
        self,
        settings: ConnectionSettings,
        apply: Callable[[Record], None],
        *,
        topic: str = SCHEMAS_TOPIC,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self._apply = apply
        self.watcher = OffsetWatcher()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._producer = Producer(settings.librdkafka(**{
            "acks": "all", "enable.idempotence": True, "linger.ms": 0, "log_level": 3,
        }))  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="schemas-reader", daemon=True)

    def start(self, *, timeout_s: float = 60.0) -> None:
        self._ensure_topic()
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RegistryError(
                500, 50002, f"replaying {self.topic} did not finish in {timeout_s:.0f}s"
            )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._producer.flush(10)

    def _ensure_topic(self) -> None:
        admin = AdminClient(self.settings.librdkafka(**{"log_level": 3}))
        brokers = len(admin.list_topics(timeout=30).brokers)
        rf = min(3, brokers)
        config = {"cleanup.policy": "compact", "min.insync.replicas": str(max(1, rf - 1))}
        future = admin.create_topics([NewTopic(self.topic, 1, rf, config=config)])[self.topic]
        try:
            future.result(30)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise RegistryError(500, 50001, f"cannot create {self.topic}: {exc}") from exc

    def write(
        self, key: dict[str, Any], value: dict[str, Any] | None, *, timeout_s: float = 30.0
    ) -> int:
        """Produce one record and wait until it is applied here; returns its offset."""
        result: dict[str, Any] = {}
        done = threading.Event()

        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            result["err"], result["offset"] = err, None if err else msg.offset()
            done.set()

        self._producer.produce(
            self.topic,
            key=json.dumps(key, separators=(",", ":")).encode(),
            value=None if value is None else json.dumps(value, separators=(",", ":")).encode(),
            on_delivery=on_delivery,
        )
        deadline = time.monotonic() + timeout_s
        # flush() returns the moment the broker acknowledges, unlike a fixed poll interval.
        self._producer.flush(timeout_s)
        if not done.is_set():
            raise RegistryError(500, 50002, f"write to {self.topic} timed out")
        if result["err"] is not None:
            raise RegistryError(500, 50001, f"write to {self.topic} failed: {result['err'].str()}")
        offset = int(result["offset"])
        if not self.watcher.wait_for(offset, timeout_s=max(0.1, deadline - time.monotonic())):
            raise RegistryError(500, 50002, f"record {offset} written but not yet read back")
        return offset

    def _run(self) -> None:
        consumer = Consumer(self.settings.librdkafka(**{
            "group.id": f"_streamplane-registry-{uuid.uuid4().hex}", "enable.auto.commit": False,
            "log_level": 3, "fetch.wait.max.ms": 50,
        }))  # fmt: skip
        consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        try:
            _, high = consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=30)
            if high == 0:
                self._ready.set()
            while not self._stop.is_set():
                # poll() returns as soon as one record arrives (a writer is waiting on
                # it); consume(timeout=0) then drains whatever else is already fetched.
                first = consumer.poll(0.1)
                if first is None:
                    continue
                for msg in [first, *consumer.consume(num_messages=1000, timeout=0)]:
                    error, offset = msg.error(), msg.offset()
                    if error is not None or offset is None:
                        if error is not None and error.code() != KafkaError._PARTITION_EOF:
                            log.warning("reading %s: %s", self.topic, error)
                        continue
                    self._apply_message(msg.key(), msg.value())
                    self.watcher.applied(offset)
                    if offset >= high - 1:
                        self._ready.set()
        finally:
            consumer.close()

    def _apply_message(self, key: bytes | None, value: bytes | None) -> None:
        try:
            parsed_key = json.loads(key) if key else None
            parsed_value = json.loads(value) if value else None
        except ValueError:
            log.warning("skipping a record of %s that is not JSON", self.topic)
            return
        if isinstance(parsed_key, dict):
            self._apply((parsed_key, parsed_value))
