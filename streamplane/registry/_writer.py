"""Writer election and fenced writes: of all instances serving one ``_schemas`` topic,
exactly one produces to it.

Election is Kafka's group protocol, used as Confluent Schema Registry and karapace
use it, but without a custom group protocol (librdkafka does not expose one): every
instance joins the consumer group ``_streamplane-registry-writer.<topic>``
subscribed to the single-partition ``<topic>`` itself, with the cooperative-sticky
assignor, and the member that is assigned partition 0 is the writer. The coordinator
guarantees one assignee per generation, a member that joins does not move the
partition (sticky, no stop-the-world revocation), a member that leaves cleanly
hands it over at once, and a member that dies loses it after the session timeout.
The partition is paused: membership is the point, not the records (each instance
reads those with its own reader, ``_log.SchemaLog``).

Group membership alone cannot stop two instances from writing: a writer that is
paused (GC, a stopped VM, a partitioned network) still believes it is the writer
after the group has moved on. Hence *fencing*: the writer produces only in Kafka
transactions, with the ``transactional.id`` s ``_streamplane-registry-writer.<topic>.0``
and ``.1``, the same for every instance. The new writer's ``init_transactions()`` on
both bumps their producer epochs, which aborts the old writer's open transaction and
makes every later commit of the old writer fail; readers are ``read_committed``, so
an aborted record does not exist for anyone, and the log cleaner drops aborted
records rather than letting them shadow committed ones of the same key. (Fencing by
an epoch carried in each record was rejected: compaction could keep a zombie's
invalid record and delete the valid one with the same key.)

Claiming the role: after ``init_transactions()`` the new writer commits a
``STREAMPLANE_WRITER`` record announcing its advertised URL and waits until its own
reader has applied that record. Every committed record of earlier writers precedes
it in the log, so from then on the writer's state is complete and the next id it
hands out (highest id + 1) cannot collide. Other instances learn where to forward
writes from the same record (see ``_forward``). Only the writer's transactions
commit, and a write computes its id and produces it under one lock that a claim also
takes, so no write can straddle a change of writer. For the same reason nothing but
the writer's own records can follow its claim, so it applies each record it has
committed itself rather than waiting for its reader to fetch it back.

Why two transactional ids, and the NOOP record: a transaction's first record makes
librdkafka register the partition with the coordinator after a fixed 1 ms timer plus
a round trip, and the coordinator refuses a new transaction of the same id until the
previous commit's markers are written. Together that more than doubled the cost of a
registration. So right after each write the writer opens the next transaction on
the *other* id and produces a NOOP record (Confluent's key type for "no change"):
the registration happens while the next request is on its way, and the next write
only adds its record and commits. An open transaction holds back what readers see,
which is harmless here because only the writer writes and the next record goes into
that same transaction; one left idle is aborted after ``preopen_idle_s``, and on stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streamplane.errors import RegistryError
from streamplane.kafka import ConnectionSettings
from streamplane.registry._log import Record, SchemaLog, encode

log = logging.getLogger(__name__)

#: Key of the record announcing the current writer (compacted: the latest one stays).
WRITER_KEY: dict[str, Any] = {"keytype": "STREAMPLANE_WRITER", "magic": 0}
#: Confluent's record that changes nothing; opens the next transaction early.
NOOP_KEY = encode(({"keytype": "NOOP", "magic": 0}, None))[0]


class NotWriterError(RegistryError):
    """This instance is not (or no longer) the writer; the write goes to the one that is.

    ``maybe_written`` is set when the role was lost during a commit: Kafka may have
    committed it just before the fence, so only an idempotent write may be retried.
    """

    def __init__(self, message: str, *, maybe_written: bool = False) -> None:
        super().__init__(500, 50004, message)
        self.maybe_written = maybe_written


@dataclass(frozen=True)
class ElectionTimeouts:
    """How fast a dead writer is replaced, and how long one write may take."""

    #: A writer that stops heartbeating loses the role after this long (broker minimum 6 s).
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    #: Produce + commit + read back of one write.
    write_timeout_s: float = 15.0
    #: A writer that died inside a transaction holds back readers at most this long
    #: when no other instance takes over (a new writer aborts it at once).
    transaction_timeout_ms: int = 20_000
    #: A transaction opened ahead of a write that has not come is aborted after this long.
    preopen_idle_s: float = 2.0


def group_id(topic: str) -> str:
    return f"_streamplane-registry-writer.{topic}"


class WriterElection:
    """Membership in the writer group, the role it confers, and the fenced producers."""

    def __init__(
        self,
        settings: ConnectionSettings,
        log_: SchemaLog,
        *,
        instance_id: str,
        advertised_url: str | None,
        timeouts: ElectionTimeouts | None = None,
    ) -> None:
        self.settings = settings
        self.log = log_
        self.topic = log_.topic
        self.instance_id = instance_id
        self.advertised_url = advertised_url
        self.timeouts = timeouts or ElectionTimeouts()
        #: Held by a claim and by every write session: a write never straddles a claim.
        self._lock = threading.Lock()
        self._assigned = False
        self._writer = False
        self._producers: list[Any] = []
        self._turn = 0  # the producer the next write uses
        self._opened_at: float | None = None  # when _producers[_turn] opened its transaction
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer-election", daemon=True)

    # --------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Leave the group (the next instance takes over at once) and drop the producers."""
        self._stop.set()
        self._thread.join(15)
        self._writer = False
        with self._lock:
            self._abort_open()
            self._producers = []

    @property
    def is_writer(self) -> bool:
        return self._writer and self._assigned

    # ---------------------------------------------------------------- election
    def _run(self) -> None:
        consumer = Consumer(self.settings.librdkafka(**{
            "group.id": group_id(self.topic), "enable.auto.commit": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": self.timeouts.session_timeout_ms,
            "heartbeat.interval.ms": self.timeouts.heartbeat_interval_ms,
            "log_level": 3,
        }))  # fmt: skip
        consumer.subscribe(
            [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )  # fmt: skip
        backoff = 0.0
        try:
            while not self._stop.is_set():
                consumer.poll(0.2)  # serves the rebalance callbacks; the partition is paused
                if self._assigned and not self._writer and time.monotonic() >= backoff:
                    try:
                        self._claim()
                    except (KafkaException, RegistryError) as exc:
                        log.warning("claiming the writer role of %s failed: %s", self.topic, exc)
                        backoff = time.monotonic() + 1.0
                self._abort_if_idle()
        finally:
            self._writer = False
            consumer.close()  # leaves the group: the partition moves on immediately

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)
        consumer.pause(partitions)
        if any(p.partition == 0 for p in partitions):
            log.info("elected writer of %s; claiming", self.topic)
            self._assigned = True

    def _on_revoke(self, _: Any, partitions: list[TopicPartition]) -> None:
        if any(p.partition == 0 for p in partitions):
            log.info("no longer the writer of %s", self.topic)
            # No lock: a write in flight may still commit, which is safe because no other
            # instance can commit before its init_transactions() has fenced this one.
            self._assigned = False
            self._writer = False

    def _claim(self) -> None:
        with self._lock:
            self._producers, self._opened_at, self._turn = [], None, 0
            producers = [self._producer(n) for n in (0, 1)]
            for producer in producers:
                producer.init_transactions(self.timeouts.write_timeout_s)  # fences the old writer
            self._producers = producers
            claim = {
                "url": self.advertised_url, "instance": self.instance_id,
                "claimed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }  # fmt: skip
            self._commit([(WRITER_KEY, claim)], claim=True)
            if self._assigned:
                self._writer = True
                log.info("writer of %s (announced as %s)", self.topic, self.advertised_url)

    def _producer(self, number: int) -> Any:
        return Producer(self.settings.librdkafka(**{
            "transactional.id": f"{group_id(self.topic)}.{number}",
            "transaction.timeout.ms": self.timeouts.transaction_timeout_ms,
            "message.timeout.ms": int(self.timeouts.write_timeout_s * 1000),
            "linger.ms": 0, "log_level": 3,
            # Registering a partition is refused with CONCURRENT_TRANSACTIONS while the
            # previous commit's markers are written (about a millisecond): retry soon.
            "retry.backoff.ms": 1, "retry.backoff.max.ms": 20,
        }))  # fmt: skip

    # ------------------------------------------------------------------ writes
    @contextmanager
    def session(self) -> Iterator[WriteSession]:
        """Exclusive use of the writer role: compute ids and write them under one lock."""
        with self._lock:
            if not self.is_writer or not self._producers:
                raise NotWriterError("this instance is not the writer")
            yield WriteSession(self)

    def _commit(self, records: list[Record], *, claim: bool = False) -> int:
        """Commit ``records`` in one transaction and apply them here; their last offset.

        Called with the lock held. A claim waits for the reader to apply its record,
        which proves the reader has applied every earlier record; after that only this
        writer's records can enter the log, so each write applies its own records
        directly (the reader skips them).
        """
        deadline = time.monotonic() + self.timeouts.write_timeout_s
        producer = self._producers[self._turn]
        encoded = [encode(record) for record in records]
        written: list[tuple[int, bytes, bytes | None]] = []
        failures: list[KafkaError] = []

        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                failures.append(err)
            else:
                written.append((int(msg.offset()), msg.key(), msg.value()))

        committing = False
        try:
            if self._opened_at is None:
                producer.begin_transaction()
            self._opened_at = None
            for key, value in encoded:
                producer.produce(self.topic, key=key, value=value, on_delivery=delivered)
            committing = True
            producer.commit_transaction(max(0.1, deadline - time.monotonic()))
        except KafkaException as exc:
            raise self._failed(producer, exc.args[0], committing=committing) from exc
        self._turn = 1 - self._turn
        if len(written) + len(failures) < len(records):
            producer.poll(0)  # commit_transaction() serves delivery reports; be sure of it
        if failures or len(written) != len(records):
            raise RegistryError(500, 50001, f"write to {self.topic} failed: {failures}")
        offset = max(o for o, _, _ in written)
        if claim:
            timeout_s = max(0.1, deadline - time.monotonic())
            if not self.log.watcher.wait_for(offset, timeout_s=timeout_s):
                raise RegistryError(500, 50002, f"claim {offset} written but not yet read back")
        else:
            self.log.apply_committed(written)
        self._open_next()
        return offset

    def _open_next(self) -> None:
        """Open the next write's transaction now, while its request is on the way."""
        producer = self._producers[self._turn]
        try:
            producer.begin_transaction()
            producer.produce(self.topic, key=NOOP_KEY, value=None)
        except KafkaException as exc:
            log.info("could not open the next transaction early: %s", exc)
            self._abort_open(producer)
            return
        self._opened_at = time.monotonic()

    def _abort_if_idle(self) -> None:
        opened = self._opened_at
        if opened is None or time.monotonic() - opened < self.timeouts.preopen_idle_s:
            return
        if self._lock.acquire(blocking=False):  # a write in progress will use it
            try:
                if self._opened_at is not None:
                    self._abort_open()
            finally:
                self._lock.release()

    def _abort_open(self, producer: Any = None) -> None:
        """Abort the transaction opened ahead of a write (with the lock held)."""
        if producer is None:
            if self._opened_at is None or not self._producers:
                return
            producer = self._producers[self._turn]
        self._opened_at = None
        try:
            producer.abort_transaction(self.timeouts.write_timeout_s)
        except KafkaException as exc:
            # The producer's transaction state is unknown: claim afresh, whose
            # init_transactions() settles it.
            log.warning("aborting an idle transaction of %s failed: %s", self.topic, exc)
            self._writer = False

    def _failed(self, producer: Any, error: KafkaError, *, committing: bool) -> RegistryError:
        """Map a transaction failure to the error the client sees, and recover the role."""
        self._opened_at = None
        if error.fatal():
            # Fenced: another instance has run init_transactions(). It is the writer now.
            self._writer = False
            self._producers = []
            return NotWriterError(
                f"another instance became the writer of {self.topic}: {error.str()}",
                maybe_written=committing,
            )
        if error.txn_requires_abort():
            try:
                producer.abort_transaction(self.timeouts.write_timeout_s)
                return RegistryError(
                    500, 50001, f"write to {self.topic} failed and was rolled back: {error.str()}"
                )
            except KafkaException:
                pass
        # State unknown (e.g. the commit timed out): start over with a fresh claim, whose
        # init_transactions() settles the open transaction one way or the other.
        self._writer = False
        self._producers = []
        code = 50002 if error.code() == KafkaError._TIMED_OUT else 50001
        return RegistryError(
            500, code, f"write to {self.topic} may not have completed: {error.str()}; retry it"
        )


class WriteSession:
    """Handed out by :meth:`WriterElection.session` while its lock is held."""

    def __init__(self, election: WriterElection) -> None:
        self._election = election

    def write(self, records: list[Record]) -> int:
        """Commit ``records`` atomically; returns once applied here (the last offset)."""
        election = self._election
        if not election.is_writer or not election._producers:
            raise NotWriterError("this instance stopped being the writer")
        return election._commit(records)
