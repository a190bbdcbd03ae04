"""The registry's system of record: the single-partition, compacted ``_schemas`` topic.

Every change is a record; the in-memory state is whatever replaying the topic
yields, so a restarted registry rebuilds exactly the same ids and versions. Only
the elected writer produces (see ``_writer``); every instance runs this reader.

Which records count. Each writer's records carry the id of the claim it made when it
became the writer (header ``streamplane-claim``); a claim is itself a record
(``STREAMPLANE_WRITER``). A record counts only if its claim is the latest claim before
it in the log, so a zombie writer (one paused past its group session, then resuming)
writes records nobody applies. Validity is a function of the log alone, so every
instance, and every replay, agrees on it. Records without the header (written by
another registry on the same topic, or before claims were carried) count as they are.

Read-your-writes: a write returns once the writer's reader has read it back and found
that it counts; a forwarded write waits, on the forwarding instance, until its reader
has applied the writer's offset, the way karapace's OffsetWatcher works. The state this
reader builds holds only what the log holds: what the writer computes ahead of the log
lives in a copy of its own (``_service``), so a failed write leaves nothing behind.
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
#: Header naming the claim a writer's record was written under (see the module docstring).
CLAIM_HEADER = "streamplane-claim"
#: Key type of the record announcing a writer and its claim id.
WRITER_KEYTYPE = "STREAMPLANE_WRITER"

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
    """Lets a writer (or a forwarding instance) wait until the reader has read an offset."""

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
        """The last record the state reflects (-1: none); transaction markers are not counted."""
        return self._applied


class SchemaLog:
    """Apply every record of the topic that counts, in order, to ``apply``."""

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
        #: Called from the reader when this instance's claim has been superseded.
        self.on_superseded: Callable[[str], None] | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._failed: str | None = None
        #: Guards the claim bookkeeping shared with the writer (and applies under it).
        self._claims_lock = threading.Lock()
        self._current_claim: str | None = None  # the claim governing the next record
        self._own_claim: str | None = None  # this instance's, while it is the writer
        self._invalid_from: dict[str, int] = {}  # claim -> first of its records not counted
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

    # ----------------------------------------------------------- the writer's side
    def adopt_claim(self, claim: str) -> bool:
        """Make ``claim`` this instance's own if it is still the latest one read."""
        with self._claims_lock:
            if self._current_claim != claim:
                return False
            self._own_claim = claim
            return True

    def drop_claim(self) -> None:
        with self._claims_lock:
            self._own_claim = None

    def counted(self, claim: str, offset: int) -> bool:
        """Whether the record of ``claim`` at ``offset`` (already read) counts."""
        with self._claims_lock:
            invalid_from = self._invalid_from.get(claim)
        return invalid_from is None or offset < invalid_from

    # ------------------------------------------------------------------ reading
    def _consumer(self) -> Any:
        consumer = Consumer(self.settings.librdkafka(**{
            "group.id": f"_streamplane-registry-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            # Writers do not use transactions any more; read_committed still hides what
            # aborted transactions of earlier versions (or other registries) left behind.
            "isolation.level": "read_committed",
            # End of partition is how a replay knows it is done.
            "enable.partition.eof": True,
            "log_level": 3, "fetch.wait.max.ms": 50,
        }))  # fmt: skip
        consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
        return consumer

    def _run(self) -> None:
        try:
            consumer = self._consumer()
        except KafkaException as exc:
            self._failed = f"cannot read {self.topic}: {exc}"
            self._ready.set()
            return
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
                    self._read_message(offset, msg.key(), msg.value(), msg.headers())
                    self.watcher.applied(offset)
        finally:
            consumer.close()

    def _read_message(
        self, offset: int, key: bytes | None, value: bytes | None, headers: Any
    ) -> None:
        claim = _claim_of(headers)
        try:
            parsed_key = json.loads(key) if key else None
            parsed_value = json.loads(value) if value else None
        except ValueError:
            log.warning("skipping a record of %s that is not JSON (offset %d)", self.topic, offset)
            return
        superseded: str | None = None
        with self._claims_lock:
            if claim is not None and claim != self._current_claim:
                # A zombie's record: written under a claim that a later one replaced.
                self._invalid_from.setdefault(claim, offset)
                if claim == self._own_claim:
                    superseded, self._own_claim = claim, None
                log.warning(
                    "ignoring offset %d of %s: written under claim %s, not the current %s",
                    offset, self.topic, claim, self._current_claim,
                )  # fmt: skip
            elif not isinstance(parsed_key, dict):
                return
            else:
                if parsed_key.get("keytype") == WRITER_KEYTYPE:
                    new_claim = (parsed_value or {}).get("claim")
                    self._current_claim = new_claim if isinstance(new_claim, str) else None
                    if self._own_claim is not None and self._current_claim != self._own_claim:
                        superseded, self._own_claim = self._own_claim, None
                self._apply_parsed((parsed_key, parsed_value))
        if superseded is not None and self.on_superseded is not None:
            self.on_superseded(superseded)

    def _apply_parsed(self, record: Record) -> None:
        try:
            self._apply(record)
        except (KeyError, TypeError, ValueError) as exc:
            # One malformed record must not stop every later one from applying.
            log.warning("skipping a malformed record of %s: %r", self.topic, exc)


def _claim_of(headers: list[tuple[str, bytes | None]] | None) -> str | None:
    for name, raw in headers or ():
        if name == CLAIM_HEADER and raw:
            return raw.decode()
    return None
