"""An idempotent sink: a batch's effect and its consumed offsets in one database transaction.

Kafka's exactly-once ends at Kafka. A consumer that writes into a database gets it back
by storing, in the *same* database transaction as the effect, where it has read up to:
the effect and the offsets commit together or not at all. The database, not Kafka, is
then the truth about where to resume; on start and on every partition assignment the
sink seeks to the offsets stored there. A crash between the database commit and the
Kafka commit therefore re-reads nothing that was applied; the Kafka commit that follows
only keeps the group's lag visible to the usual tools.

Zombies: a member that lost its partitions in a rebalance may still be finishing a
batch. The offsets row is advanced with a compare-and-set on the offset this member
read at assignment (or wrote last), so when another member has stored progress in
between, the zombie's transaction is rolled back and its effect never lands.

Usage::

    def record_payment(cursor, batch):
        cursor.executemany(
            "INSERT INTO payments (id, amount) VALUES (?, ?)",
            [(m.key(), m.value()) for m in batch],
        )

    store = SqliteSinkStore("ledger.db")            # or PostgresSinkStore("host=... dbname=...")
    with IdempotentSink(
        ["payments.card.authorized.v1"],
        group="payments.ledger-writer",
        store=store,
        effect=record_payment,
        connection=settings,
    ) as sink:
        sink.run(stop=stopping.is_set)

The effect receives the store's DB-API cursor (``sqlite3.Cursor`` or ``psycopg.Cursor``,
so parameters are ``?`` or ``%s``) and the batch, and must not commit or roll back:
the sink does, together with the offsets.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from streamplane.client._errors import ClientError
from streamplane.kafka import ConnectionSettings, client_config

log = logging.getLogger(__name__)

#: (topic, partition)
Partition = tuple[str, int]

#: The application's effect: a DB-API cursor inside the batch's transaction, and the batch.
Effect = Callable[[Any, list[Message]], None]


class SinkError(ClientError):
    """The sink's database could not be opened or used as configured."""


class SinkStore(ABC):
    """A database holding the effects and an ``offsets`` table keyed by (group, topic, partition).

    Implementations differ only in how they connect, open a transaction and spell a
    query parameter; the offsets logic (read, compare-and-set) is shared here.
    """

    #: DB-API parameter marker: "?" for sqlite3, "%s" for psycopg.
    marker: str = "?"

    def __init__(self, *, table: str = "offsets") -> None:
        if not table.replace("_", "").isalnum():
            raise SinkError(f"offsets table name {table!r}: use letters, digits and underscores")
        self.table = table

    @abstractmethod
    def open(self) -> None:
        """Connect and create the offsets table if it does not exist."""

    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A cursor in a new transaction: committed on exit, rolled back on an exception."""

    @abstractmethod
    def close(self) -> None: ...

    def _create_sql(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " consumer_group TEXT NOT NULL,"
            " topic TEXT NOT NULL,"
            " partition INTEGER NOT NULL,"
            " next_offset BIGINT NOT NULL,"
            " PRIMARY KEY (consumer_group, topic, partition))"
        )

    def stored_offsets(self, group: str, partitions: Sequence[Partition]) -> dict[Partition, int]:
        """The next offset to read for each partition that has one stored."""
        wanted = set(partitions)
        m = self.marker
        with self.transaction() as cursor:
            cursor.execute(
                f"SELECT topic, partition, next_offset FROM {self.table} "
                f"WHERE consumer_group = {m}",
                (group,),
            )
            rows = cursor.fetchall()
        return {(t, int(p)): int(o) for t, p, o in rows if (t, int(p)) in wanted}

    def advance(
        self,
        cursor: Any,
        *,
        group: str,
        partition: Partition,
        expected: int | None,
        next_offset: int,
    ) -> bool:
        """Move a partition's stored offset from ``expected`` to ``next_offset``.

        False when the stored value is no longer ``expected`` (another member stored
        progress for this partition meanwhile): the caller must roll back.
        """
        m = self.marker
        topic, number = partition
        if expected is None:
            cursor.execute(
                f"INSERT INTO {self.table} (consumer_group, topic, partition, next_offset) "
                f"VALUES ({m}, {m}, {m}, {m}) ON CONFLICT DO NOTHING",
                (group, topic, number, next_offset),
            )
        else:
            cursor.execute(
                f"UPDATE {self.table} SET next_offset = {m} WHERE consumer_group = {m} "
                f"AND topic = {m} AND partition = {m} AND next_offset = {m}",
                (next_offset, group, topic, number, expected),
            )
        return bool(cursor.rowcount == 1)

    def __enter__(self) -> SinkStore:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SqliteSinkStore(SinkStore):
    """SQLite (stdlib) in WAL mode: readers never block the sink, and a commit is durable.

    ``synchronous=FULL`` makes each commit survive a power loss as well as a crash of the
    process; ``NORMAL`` is faster and still survives a process crash (kill -9).
    """

    marker = "?"

    def __init__(
        self,
        path: str | Path,
        *,
        table: str = "offsets",
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_s: float = 30.0,
    ) -> None:
        super().__init__(table=table)
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout_s = busy_timeout_s
        self._db: sqlite3.Connection | None = None

    def open(self) -> None:
        if self._db is not None:
            return
        # isolation_level=None: no implicit transactions; each batch is an explicit
        # BEGIN IMMEDIATE ... COMMIT, taking the write lock up front so two sinks on one
        # file serialise instead of failing at commit.
        db = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout_s)
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            db.close()
            raise SinkError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute(self._create_sql())
        self._db = db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        db = self._require()
        cursor = db.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
        except BaseException:
            db.rollback()
            raise
        else:
            db.commit()
        finally:
            cursor.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise SinkError(f"{self.path} is not open; call open() or use the store in `with`")
        return self._db


class PostgresSinkStore(SinkStore):
    """PostgreSQL through psycopg 3, READ COMMITTED: the offsets' compare-and-set does the rest.

    Under READ COMMITTED a concurrent UPDATE of the same offsets row waits for the
    other transaction and then re-checks ``next_offset``, so of two members storing the
    same partition exactly one succeeds.
    """

    marker = "%s"

    def __init__(self, conninfo: str, *, table: str = "offsets") -> None:
        super().__init__(table=table)
        self.conninfo = conninfo
        self._db: Any = None

    def open(self) -> None:
        if self._db is not None:
            return
        import psycopg

        try:
            db = psycopg.connect(self.conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise SinkError(f"cannot connect to PostgreSQL: {exc}") from exc
        # Another sink may create the table at the same moment (CREATE ... IF NOT EXISTS
        # is not atomic in PostgreSQL); then it exists, which is all we need.
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            db.execute(self._create_sql())
        self._db = db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        if self._db is None:
            raise SinkError("the PostgreSQL store is not open; call open() or use it in `with`")
        with self._db.transaction(), self._db.cursor() as cursor:
            yield cursor

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


@dataclass(frozen=True)
class BatchSettings:
    """How many records one database transaction holds, and how long a poll waits for them."""

    max_records: int = 500
    poll_timeout_s: float = 1.0


@dataclass
class SinkStats:
    batches_stored: int = 0
    records_stored: int = 0
    #: Batches rolled back because another member had stored progress (zombie fencing).
    batches_refused: int = 0
    kafka_commit_failures: int = 0


class _StaleOffsets(Exception):
    """Another member advanced a partition's stored offset; this batch must not land."""

    def __init__(self, partition: Partition) -> None:
        super().__init__(partition)
        self.partition = partition


class IdempotentSink:
    """Apply each batch's effect exactly once: effect and offsets in one DB transaction.

    The consumer uses the ``zero_loss`` profile (no auto-commit, ``read_committed``,
    cooperative rebalancing); ``overrides`` are checked against its guarantee.
    """

    def __init__(
        self,
        topics: Sequence[str],
        *,
        group: str,
        store: SinkStore,
        effect: Effect,
        connection: ConnectionSettings,
        batch: BatchSettings | None = None,
        overrides: Mapping[str, Any] | None = None,
        owner: str = "this sink",
    ) -> None:
        self.topics = list(topics)
        self.group = group
        self.store = store
        self.effect = effect
        self.batch = batch or BatchSettings()
        self.stats = SinkStats()
        self._config = client_config(
            "zero_loss",
            "consumer",
            connection=connection.librdkafka(),
            overrides={**dict(overrides or {}), "group.id": group},
            owner=owner,
        )
        self._cooperative = "cooperative" in str(
            self._config.get("partition.assignment.strategy", "")
        ) or (str(self._config.get("group.protocol", "")) == "consumer")
        #: Where to start a partition the database knows nothing about.
        reset = str(self._config.get("auto.offset.reset", "earliest")).lower()
        self._no_offset = (
            OFFSET_BEGINNING if reset in ("earliest", "smallest", "beginning") else OFFSET_END
        )
        #: Owned partitions -> the offset stored in the database (None: no row yet).
        self._owned: dict[Partition, int | None] = {}
        #: Why the sink may not continue (its position is unknown after a failed seek).
        self._broken: str | None = None
        self._closed = False
        store.open()
        self._consumer = Consumer(self._config)
        self._consumer.subscribe(
            self.topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    # ------------------------------------------------------------------ loop
    def run(self, *, stop: Callable[[], bool] | None = None) -> None:
        """Apply batches until ``stop()`` is true."""
        while not (stop is not None and stop()):
            self.step()

    def step(self) -> int:
        """Poll one batch and apply it; returns the number of records stored."""
        if self._broken is not None:
            raise SinkError(f"{self.group}: the sink cannot continue safely: {self._broken}")
        messages = self._consumer.consume(
            num_messages=self.batch.max_records, timeout=self.batch.poll_timeout_s
        )
        records: list[Message] = []
        for message in messages:
            if not _usable(message):
                continue
            # Records of a partition revoked while they were being fetched belong to
            # its new owner now.
            if _where(message) in self._owned:
                records.append(message)
        if not records:
            return 0
        return self._store_batch(records)

    def _store_batch(self, records: list[Message]) -> int:
        next_offsets: dict[Partition, int] = {}
        for message in records:
            where = _where(message)
            next_offsets[where] = max(next_offsets.get(where, 0), _offset(message) + 1)
        try:
            with self.store.transaction() as cursor:
                self.effect(cursor, records)
                for where, next_offset in next_offsets.items():
                    expected = self._owned.get(where)
                    if not self.store.advance(
                        cursor,
                        group=self.group,
                        partition=where,
                        expected=expected,
                        next_offset=next_offset,
                    ):
                        raise _StaleOffsets(where)
        except _StaleOffsets as stale:
            self.stats.batches_refused += 1
            log.warning(
                "%s [%d]: another member stored progress meanwhile; batch rolled back",
                *stale.partition,
            )
            self._guarded(lambda: self._resume_from_store(list(next_offsets)))
            return 0
        except BaseException:
            # Nothing was stored: read the batch again once the caller has dealt with
            # the error (the effect raised, or the database is unreachable).
            self._guarded(lambda: self._rewind(list(next_offsets)))
            raise
        self._owned.update(next_offsets)
        self.stats.batches_stored += 1
        self.stats.records_stored += len(records)
        self._commit_to_kafka(next_offsets)
        return len(records)

    def _guarded(self, reposition: Callable[[], None]) -> None:
        """Run a seek back; if it fails, refuse to go on rather than skip the batch.

        The offsets' compare-and-set stops a batch that was stored twice, not one that was
        never stored: a consumer left past an unstored batch would lose it for good.
        """
        try:
            reposition()
        except Exception as exc:
            self._broken = f"could not seek back to the stored offsets ({exc})"
            raise SinkError(
                f"{self.group}: {self._broken}; close this sink and create a new one, which "
                "resumes from the database's offsets"
            ) from exc

    def _commit_to_kafka(
        self, next_offsets: Mapping[Partition, int], *, asynchronous: bool = True
    ) -> None:
        """Tell the group what is stored, for lag monitoring; correctness never depends on it."""
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        try:
            if asynchronous:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            else:
                self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self.stats.kafka_commit_failures += 1
            log.info("offset commit to Kafka failed (the database has them): %s", exc)

    def _rewind(self, partitions: Sequence[Partition]) -> None:
        """Seek back to what the database holds (the batch was not stored)."""
        for where in partitions:
            if where in self._owned:
                self._seek(where, self._owned[where])

    def _resume_from_store(self, partitions: Sequence[Partition]) -> None:
        stored = self.store.stored_offsets(self.group, partitions)
        for where in partitions:
            if where in self._owned:
                self._owned[where] = stored.get(where)
                self._seek(where, stored.get(where))

    def _seek(self, where: Partition, offset: int | None) -> None:
        target = TopicPartition(*where, offset if offset is not None else self._no_offset)
        try:
            self._consumer.seek(target)
        except KafkaException:
            # The fetcher for this partition has not started: assign it at the offset.
            if self._cooperative:
                self._consumer.incremental_unassign([TopicPartition(*where)])
                self._consumer.incremental_assign([target])
            else:
                others = [
                    TopicPartition(*p, o if o is not None else self._no_offset)
                    for p, o in self._owned.items()
                    if p != where
                ]
                self._consumer.assign([*others, target])

    # ------------------------------------------------------------ rebalance
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The database decides where each partition resumes, whatever Kafka has
        # committed: an offset commit lost in a crash must not replay stored effects.
        wanted = [(tp.topic, tp.partition) for tp in partitions]
        stored = self.store.stored_offsets(self.group, wanted)
        targets = []
        for where in wanted:
            offset = stored.get(where)
            self._owned[where] = offset
            targets.append(
                TopicPartition(*where, offset if offset is not None else self._no_offset)
            )
        log.info("assigned %d partition(s); resuming from the database's offsets", len(targets))
        if self._cooperative:
            consumer.incremental_assign(targets)
        else:
            consumer.assign(targets)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Nothing is in flight between steps: each batch is stored before the next poll.
        for tp in partitions:
            self._owned.pop((tp.topic, tp.partition), None)

    # ------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Leave the group (committing what is stored) and close the database."""
        if self._closed:
            return
        self._closed = True
        try:
            stored = {where: o for where, o in self._owned.items() if o is not None}
            if stored:
                self._commit_to_kafka(stored, asynchronous=False)
            self._consumer.close()
        finally:
            self.store.close()

    def __enter__(self) -> IdempotentSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _usable(message: Message) -> bool:
    error = message.error()
    if error is None:
        return True
    if error.fatal():
        raise KafkaException(error)
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer: %s", error.str())
    return False


def _where(message: Message) -> Partition:
    topic, partition = message.topic(), message.partition()
    assert topic is not None and partition is not None  # set on every consumed record
    return topic, partition


def _offset(message: Message) -> int:
    offset = message.offset()
    assert offset is not None  # set on every consumed record
    return offset
