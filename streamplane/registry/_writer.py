"""Writer election and claimed writes: of all instances serving one ``_schemas`` topic,
exactly one writes to it, and a write counts only if its writer still held the role.

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
after the group has moved on. So the elected member first *claims* the role: it
writes a ``STREAMPLANE_WRITER`` record carrying a fresh claim id and its URL, and
waits until its own reader has read it back. Every record before the claim is then
in its state, so the next id it hands out (highest id + 1) has never been handed out.
Each later record carries the claim id in a header, and readers count a record only
if its claim is the latest one before it in the log (``_log``): a zombie's records
are read by everyone and counted by no one. A write returns only once the writer's
reader has read it back and counted it -- Confluent's own approach (an elected leader
that writes with an idempotent producer and reads its write back), with the claim
making the read-back decisive.

Why not Kafka transactions (the earlier design): a transaction whose commit markers
never reach the partition hangs it, and read_committed readers see nothing past it.
That is what a quick restart of a 1-node cluster did: the broker died after a commit
was acknowledged but before its marker was written; on restart the controller
briefly fenced the broker (its old session timing out), the coordinator found no
leader for ``_schemas`` and skipped the marker as if the partition were deleted, and
the last stable offset stayed behind the acknowledged registration for good
(``kafka-transactions describe-producers`` shows the open transaction; the
coordinator shows none). Aborting it would have lost an acknowledged id. An
idempotent producer has no such state: what is acknowledged is readable.

Group commit: a write computes its records from the writer's *ahead* state (a copy of
the state taken when the claim was read back, plus every record this writer has
produced since), applies them there, and produces them under one lock; it waits for
the read-back *outside* the lock, so concurrent writes share produce requests and
fetches. Reads are served from the state the reader builds, which holds only what the
log holds. If a write fails its outcome is unknown: the role and the ahead state are
dropped, and the instance claims again from the log.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streamplane.errors import RegistryError
from streamplane.kafka import ConnectionSettings
from streamplane.registry._log import CLAIM_HEADER, WRITER_KEYTYPE, Record, SchemaLog, encode

log = logging.getLogger(__name__)

#: Key of the record announcing the current writer (compacted: the latest one stays).
WRITER_KEY: dict[str, Any] = {"keytype": WRITER_KEYTYPE, "magic": 0}


class NotWriterError(RegistryError):
    """This instance is not (or no longer) the writer; the write goes to the one that is.

    ``maybe_written`` is set when the role was lost after the write was produced: it may
    have counted, so only an idempotent write may be retried.
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
    #: Produce + acknowledgement + read back of one write.
    write_timeout_s: float = 15.0


class AheadState(Protocol):
    """Where the writer computes ahead of the log (implemented by the registry)."""

    def fork(self) -> None:
        """Start from a copy of the state read so far (the claim was just read back)."""

    def apply(self, records: list[Record]) -> None:
        """Apply records being produced, so the next write computes from them."""

    def drop(self) -> None:
        """Forget the copy: the role is gone."""


def group_id(topic: str) -> str:
    return f"_streamplane-registry-writer.{topic}"


@dataclass
class _Pending:
    """The records of one write on their way: delivery reports fill it in."""

    claim: str
    expected: int
    offsets: list[int] = field(default_factory=list)
    errors: list[KafkaError] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return len(self.offsets) + len(self.errors) >= self.expected

    def report(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.errors.append(err)
        else:
            self.offsets.append(int(msg.offset()))


class WriterElection:
    """Membership in the writer group, the claim it leads to, and the claimed writes."""

    def __init__(
        self,
        settings: ConnectionSettings,
        log_: SchemaLog,
        *,
        instance_id: str,
        advertised_url: str | None,
        ahead: AheadState,
        timeouts: ElectionTimeouts | None = None,
    ) -> None:
        self.settings = settings
        self.ahead = ahead
        self.log = log_
        self.topic = log_.topic
        self.instance_id = instance_id
        self.advertised_url = advertised_url
        self.timeouts = timeouts or ElectionTimeouts()
        #: Held by a claim and while a write computes, applies ahead and produces.
        self._lock = threading.Lock()
        self._assigned = False
        self._claim: str | None = None  # set while this instance is the writer
        #: Set on the thread running a write session: its reads see the ahead state.
        self._in_session = threading.local()
        self._producer: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="writer-election", daemon=True)
        log_.on_superseded = self._superseded

    # --------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Leave the group (the next instance takes over at once) and drop the producer."""
        self._stop.set()
        self._thread.join(15)
        with self._lock:
            self._give_up(None)

    @property
    def is_writer(self) -> bool:
        return self._claim is not None and self._assigned

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
                if self._assigned and self._claim is None and time.monotonic() >= backoff:
                    try:
                        self._claim_role()
                    except (KafkaException, RegistryError) as exc:
                        log.warning("claiming the writer role of %s failed: %s", self.topic, exc)
                        backoff = time.monotonic() + 1.0
        finally:
            self._claim = None
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
            # No lock (a claim holds it while it waits for the reader): a write in flight
            # may still count, which is safe because its records precede any claim of the
            # next writer, whose state will include them.
            self._assigned = False
            self._lose("the group moved the role on")

    def _claim_role(self) -> None:
        with self._lock:
            self._give_up(None)
            producer = self._new_producer()
            claim = uuid.uuid4().hex
            value = {
                "url": self.advertised_url, "instance": self.instance_id, "claim": claim,
                "claimed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }  # fmt: skip
            key, raw = encode((WRITER_KEY, value))
            pending = _Pending(claim, 1)
            deadline = time.monotonic() + self.timeouts.write_timeout_s
            producer.produce(self.topic, key=key, value=raw, on_delivery=pending.report)
            offset = self._delivered(producer, pending, deadline)
            if not self.log.watcher.wait_for(offset, timeout_s=_left(deadline)):
                raise RegistryError(500, 50002, f"claim {offset} written but not yet read back")
            if not self._assigned or not self.log.adopt_claim(claim):
                raise RegistryError(500, 50004, f"claim {offset} was superseded before use")
            self.ahead.fork()
            self._producer, self._claim = producer, claim
            log.info("writer of %s (claim %s, announced as %s)", self.topic, claim,
                     self.advertised_url)  # fmt: skip

    def _new_producer(self) -> Any:
        return Producer(self.settings.librdkafka(**{
            "enable.idempotence": True, "acks": "all",
            "message.timeout.ms": int(self.timeouts.write_timeout_s * 1000),
            # Concurrent writes queue behind the requests in flight and share the next one.
            "linger.ms": 0, "log_level": 3,
        }))  # fmt: skip

    def _superseded(self, claim: str) -> None:
        """The reader saw a newer claim than ours: another instance writes now."""
        if self._claim == claim:
            self._lose("another instance claimed the role")

    def _lose(self, reason: str) -> None:
        """Stop writing under the current claim (called without the lock, see above)."""
        if self._claim is None:
            return
        log.warning("no longer the writer of %s: %s", self.topic, reason)
        self._claim = None
        self.log.drop_claim()

    def _give_up(self, reason: str | None) -> None:
        """Drop the role, the ahead state and the producer (with the lock held)."""
        self._claim = None
        self.log.drop_claim()
        producer, self._producer = self._producer, None
        if producer is not None:
            # Nothing queued under the old claim may reach the log later: it would count
            # if no new claim preceded it, behind the back of the write that failed.
            producer.purge(in_queue=True, in_flight=False, blocking=False)
        self.ahead.drop()
        if reason is not None:
            log.warning("giving up the writer role of %s: %s", self.topic, reason)

    def _delivered(self, producer: Any, pending: _Pending, deadline: float) -> int:
        """Serve delivery reports until ``pending`` is acknowledged; its last offset."""
        while not pending.delivered:
            if time.monotonic() >= deadline:
                raise RegistryError(
                    500, 50002, f"write to {self.topic} was not acknowledged in time"
                )
            producer.poll(min(0.05, _left(deadline)))
        if pending.errors:
            error = pending.errors[0]
            code = 50002 if error.code() == KafkaError._MSG_TIMED_OUT else 50001
            raise RegistryError(500, code, f"write to {self.topic} failed: {error.str()}")
        return max(pending.offsets)

    # ------------------------------------------------------------------ writes
    @contextmanager
    def session(self) -> Iterator[WriteSession]:
        """Exclusive use of the role to compute and produce; the read-back waits after.

        The lock is held while the caller computes ids and calls ``write``; leaving the
        ``with`` block releases it and then waits until every record written in it has
        been read back and counted, so concurrent writes overlap their waits.
        """
        with self._lock:
            claim, producer = self._claim, self._producer
            if claim is None or producer is None or not self._assigned:
                raise NotWriterError("this instance is not the writer")
            written = WriteSession(self, claim, producer)
            self._in_session.active = True
            try:
                yield written
            finally:
                self._in_session.active = False
        written.wait()

    @property
    def in_session(self) -> bool:
        """Whether the calling thread is computing a write (and so reads ahead)."""
        return bool(getattr(self._in_session, "active", False))

    def _write(self, claim: str, producer: Any, records: list[Record]) -> _Pending:
        """Apply ``records`` ahead and produce them (with the lock held)."""
        if self._claim != claim:
            raise NotWriterError("this instance stopped being the writer")
        pending = _Pending(claim, len(records))
        headers = [(CLAIM_HEADER, claim.encode())]
        encoded = [encode(record) for record in records]
        try:
            for key, value in encoded:
                producer.produce(
                    self.topic, key=key, value=value, headers=headers, on_delivery=pending.report
                )
        except (KafkaException, BufferError) as exc:
            # Some records may be queued: purge them, and start again from the log.
            self._give_up(f"producing failed: {exc}")
            raise RegistryError(500, 50001, f"write to {self.topic} failed: {exc}") from exc
        self.ahead.apply(records)
        return pending

    def _await(self, producer: Any, pending: _Pending, deadline: float) -> int:
        """Wait until ``pending`` is read back and counted; its last offset."""
        try:
            offset = self._delivered(producer, pending, deadline)
        except RegistryError as exc:
            self._fail(pending.claim, exc.message)
            raise RegistryError(
                500, exc.error_code, f"{exc.message}; it may or may not have been applied: "
                "read it back before retrying",
            ) from exc  # fmt: skip
        if not self.log.watcher.wait_for(offset, timeout_s=_left(deadline)):
            self._fail(pending.claim, f"offset {offset} not read back in time")
            raise RegistryError(
                500, 50002, f"write to {self.topic} (offset {offset}) was acknowledged but not "
                f"read back within {self.timeouts.write_timeout_s:.0f}s; it may have been applied",
            )  # fmt: skip
        if not self.log.counted(pending.claim, offset):
            self._fail(pending.claim, "another instance claimed the role first")
            raise NotWriterError(
                f"another instance became the writer of {self.topic} before this write",
            )
        return offset

    def _fail(self, claim: str, reason: str) -> None:
        with self._lock:
            if self._claim == claim:
                self._give_up(reason)


class WriteSession:
    """Handed out by :meth:`WriterElection.session` while its lock is held."""

    def __init__(self, election: WriterElection, claim: str, producer: Any) -> None:
        self._election = election
        self._claim = claim
        self._producer = producer
        self._pending: list[_Pending] = []
        self._deadline = time.monotonic() + election.timeouts.write_timeout_s

    def write(self, records: list[Record]) -> None:
        """Apply ``records`` here and produce them; the session's end waits for them."""
        self._pending.append(self._election._write(self._claim, self._producer, records))

    def wait(self) -> int:
        """The last offset written, once everything is read back and counted (-1: none)."""
        last = -1
        for pending in self._pending:
            last = max(last, self._election._await(self._producer, pending, self._deadline))
        return last


def _left(deadline: float) -> float:
    return max(0.01, deadline - time.monotonic())
