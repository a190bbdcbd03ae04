"""The registry's system of record: the single-partition, compacted ``_schemas`` topic.

Every change is a record; the in-memory state is whatever replaying the topic
yields, so a restarted registry rebuilds exactly the same ids and versions. Only
the elected writer produces (see ``_writer``); every instance runs this reader.

The reader is ``read_committed``: the writer produces in Kafka transactions, and a
record of a fenced or crashed writer whose transaction never committed must not
exist for anyone. A write returns only once its records are applied here
(read-your-writes): the writer applies what it has just committed itself
(:meth:`SchemaLog.apply_committed`), and a forwarded write waits, on the forwarding
instance, until the reader has applied the writer's offset, the way karapace's
OffsetWatcher works.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.errors import RegistryError
from streamplane.kafka import ConnectionSettings

log = logging.getLogger(__name__)

SCHEMAS_TOPIC = "_schemas"

Record = tuple[dict[str, Any], dict[str, Any] | None]


def encode(record: Record) -> tuple[bytes, bytes | None]:
    """A record as the bytes on the topic (compact JSON, Confluent's shapes)."""
    key, value = record
    return (
        json.dumps(key, separators=(",", ":")).encode(),
        None if value is None else json.dumps(value, separators=(",", ":")).encode(),
    )


def ensure_topic(
    settings: ConnectionSettings, name: str, *, config: dict[str, str], timeout_s: float = 30.0
) -> None:
    """Create a single-partition platform topic unless it exists.

    Replication follows the cluster size (3 where there are 3 brokers, 1 on a
    single node) and min ISR is one less, so a write survives one broker loss
    without making a 1-node development cluster unwritable.
    """
    admin = AdminClient(settings.librdkafka(**{"log_level": 3}))
    try:
        brokers = len(admin.list_topics(timeout=timeout_s).brokers)
    except KafkaException as exc:
        raise RegistryError(
            500, 50001, f"cannot reach {settings.bootstrap_servers}: {exc.args[0].str()}"
        ) from exc
    rf = min(3, brokers)
    config = {"min.insync.replicas": str(max(1, rf - 1)), **config}
    future = admin.create_topics([NewTopic(name, 1, rf, config=config)])[name]
    try:
        future.result(timeout_s)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise RegistryError(500, 50001, f"cannot create {name}: {exc}") from exc


class OffsetWatcher:
    """Lets a writer (or a forwarding instance) wait until the reader has applied an offset."""

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
        """The last data record applied (-1: none); transaction markers are not counted."""
        return self._applied


class SchemaLog:
    """Apply every committed record of the topic, in order, to ``apply``."""

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
        self._failed: str | None = None
        #: Serialises applying between the reader and the writer's direct applies.
        self._apply_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="schemas-reader", daemon=True)

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Create the topic if needed and return once the reader has replayed it to its end."""
        ensure_topic(self.settings, self.topic, config={"cleanup.policy": "compact"})
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._failed:
            raise RegistryError(
                500,
                50002,
                self._failed or f"replaying {self.topic} did not finish in {timeout_s:.0f}s",
            )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        try:
            consumer = Consumer(self.settings.librdkafka(**{
                "group.id": f"_streamplane-registry-{uuid.uuid4().hex}",
                "enable.auto.commit": False, "isolation.level": "read_committed",
                # End of partition is how replay knows it is done: with transactions the
                # last offset is a commit marker the reader never sees as a record.
                "enable.partition.eof": True,
                "log_level": 3, "fetch.wait.max.ms": 50,
            }))  # fmt: skip
        except KafkaException as exc:
            self._failed = f"cannot read {self.topic}: {exc}"
            self._ready.set()
            return
        consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        try:
            while not self._stop.is_set():
                # poll() returns as soon as one record arrives (a writer is waiting on
                # it); consume(timeout=0) then drains whatever else is already fetched.
                first = consumer.poll(0.1)
                if first is None:
                    continue
                for msg in [first, *consumer.consume(num_messages=1000, timeout=0)]:
                    error, offset = msg.error(), msg.offset()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            self._ready.set()
                        else:
                            log.warning("reading %s: %s", self.topic, error)
                        continue
                    if offset is None:
                        continue
                    with self._apply_lock:
                        if offset > self.watcher.offset:  # else the writer applied it already
                            self._apply_message(msg.key(), msg.value())
                            self.watcher.applied(offset)
        finally:
            consumer.close()

    def apply_committed(self, records: list[tuple[int, bytes, bytes | None]]) -> None:
        """Apply records this instance has just committed, ahead of the reader.

        Only the writer may, and only when the reader has applied everything before
        them (see ``_writer``): then nothing else can precede them in the log, and the
        reader skips them when it gets there. It saves the writer waiting for the
        transaction markers and a fetch on every write.
        """
        with self._apply_lock:
            for offset, key, value in sorted(records, key=lambda r: r[0]):
                if offset > self.watcher.offset:
                    self._apply_message(key, value)
                    self.watcher.applied(offset)

    def _apply_message(self, key: bytes | None, value: bytes | None) -> None:
        try:
            parsed_key = json.loads(key) if key else None
            parsed_value = json.loads(value) if value else None
        except ValueError:
            log.warning("skipping a record of %s that is not JSON", self.topic)
            return
        if isinstance(parsed_key, dict):
            try:
                self._apply((parsed_key, parsed_value))
            except (KeyError, TypeError, ValueError) as exc:
                # One malformed record must not stop every later one from applying.
                log.warning("skipping a malformed record of %s: %r", self.topic, exc)
