"""``ChangelogStore``: keyed state in RocksDB, backed by a compacted changelog topic and
changed exactly when a ``TransactionalProcessor``'s transactions commit.

Kafka Streams' state stores, for an application of the SDK (the fraud blueprint keeps its
cards in one, the ledger blueprint its accounts):

* every change is written to the changelog (one record per key, partitioned as the
  input is: a key's state lives on its input partition) **in the same transaction** as
  the outputs and the consumed offsets, so the changelog holds exactly the state the
  committed outputs were computed from; it is also every key's snapshot, so a restore
  reads one record per key, not the key's history;
* RocksDB is a cache of that changelog. A batch's changes stay in memory until the
  transaction commits (``on_committed``) and are dropped if it aborts (``on_aborted``):
  the batch is read again and must see the state from before it;
* a partition newly assigned (``on_assigned``: a restart, a rebalance, a failed
  instance's partitions) is restored from its changelog before its first record is
  processed: from the checkpoint this store wrote when it last knew it was up to date,
  else from the start. Restoring is idempotent (the latest record of each key wins),
  so a checkpoint that is too old costs time, never correctness;
* a checkpoint is the changelog's end just after one of our commits, while nothing of
  ours is in flight: it is written with the data it covers in one RocksDB write batch,
  every ``checkpoint_interval_s`` and when partitions are revoked.

No standby replicas: a new owner restores from the changelog (the time it takes is in
``restores``). RocksDB rather than SQLite for the same reasons as ``GlobalTable``: many
small upserts and point reads, written in batches, no SQL in the way.

Values are kept decoded while their transaction is open (``decode`` and ``encode``
convert to and from the changelog's bytes, e.g. through the application's codec), so a
key changed many times in one batch is encoded once, when its changelog record is made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from confluent_kafka import Consumer, KafkaError, TopicPartition
from rocksdict import Options, Rdict, WriteBatch

from streamplane.client.transactional import (
    Output,
    TransactionalProcessor,
    TransactionListener,
)
from streamplane.kafka import ConnectionSettings

V = TypeVar("V")

log = logging.getLogger(__name__)

_STATE = b"s"  # + key: the value as the changelog holds it
_CHECKPOINT = b"c"  # + partition: the changelog offset the state is complete up to


@dataclass(frozen=True)
class Restore:
    """One restore of changelog partitions."""

    partitions: tuple[int, ...]
    records: int
    seconds: float
    #: Wall-clock seconds when it finished.
    at: float


class ChangelogStore(TransactionListener, Generic[V]):
    """The keys of the input partitions this instance owns; see the module docstring.

    Use it as (or from) the processor's listener, ``get`` and ``put`` in the transform,
    and yield ``changelog_outputs()`` at the end of each batch.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        changelog: str,
        connection: ConnectionSettings,
        group: str,
        encode: Callable[[V], bytes | None],
        decode: Callable[[bytes], V],
        checkpoint_interval_s: float = 10.0,
    ) -> None:
        self.changelog = changelog
        self._encode = encode
        self._decode = decode
        self.checkpoint_interval_s = checkpoint_interval_s
        Path(path).mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(path), options=options)
        self._connection = connection
        self._group = group
        self._reader: Consumer | None = None
        #: key -> (partition, value) changed by the open transaction.
        self._pending: dict[bytes, tuple[int, V]] = {}
        #: key -> encoded value written to the changelog in the open transaction.
        self._written: dict[bytes, bytes] = {}
        #: Keys changed since the last changelog outputs were taken.
        self._unsent: set[bytes] = set()
        self.owned: set[int] = set()
        self.restores: list[Restore] = []
        self._last_checkpoint = time.monotonic()

    @classmethod
    def for_processor(
        cls,
        processor: TransactionalProcessor,
        path: Path | str,
        *,
        changelog: str,
        to_record: Callable[[V], Any],
        from_record: Callable[[Any], V],
        checkpoint_interval_s: float = 10.0,
    ) -> ChangelogStore[V]:
        """The store of a processor made by ``for_application``: its connection and group,
        and values kept in the changelog as records of the topic's schema (``to_record``
        and ``from_record`` convert), through the processor's codec."""
        codec = processor.codec
        if codec is None:
            raise ValueError(
                "the processor has no codec: make it with TransactionalProcessor."
                "for_application, or build the store with encode= and decode="
            )
        return cls(
            path,
            changelog=changelog,
            connection=processor.connection,
            group=processor.group,
            encode=lambda value: codec.encode(changelog, to_record(value)),
            decode=lambda data: from_record(codec.decode(changelog, data)),
            checkpoint_interval_s=checkpoint_interval_s,
        )

    # ------------------------------------------------------------------ state
    def get(self, key: bytes | str) -> V | None:
        """The key's value as of the open transaction (None: no such key)."""
        raw = _bytes(key)
        pending = self._pending.get(raw)
        if pending is not None:
            return pending[1]
        stored = self._db.get(_STATE + raw)
        return None if stored is None else self._decode(stored)

    def put(self, key: bytes | str, partition: int, value: V) -> None:
        """Change the key's value in the open transaction; ``partition`` is the input
        partition the key belongs to (its changelog record goes to the same one)."""
        raw = _bytes(key)
        self._pending[raw] = (partition, value)
        self._unsent.add(raw)

    def changelog_outputs(self) -> Iterable[Output]:
        """One changelog record per key changed since the last call (its latest value),
        to be produced in the open transaction."""
        for key in sorted(self._unsent):
            partition, state = self._pending[key]
            value = self._encode(state)
            if value is None:
                raise ValueError(f"the store's encoder gave no bytes for key {key!r}")
            self._written[key] = value
            yield Output(self.changelog, value, key=key, partition=partition)
        self._unsent.clear()

    # ------------------------------------------------------- the processor's hooks
    def on_committed(self) -> None:
        batch = WriteBatch(raw_mode=True)
        for key, value in self._written.items():
            batch.put(_STATE + key, value)
        due = time.monotonic() - self._last_checkpoint >= self.checkpoint_interval_s
        if due and self.owned:
            for partition, end in self._ends(self.owned).items():
                batch.put(_checkpoint_key(partition), str(end).encode())
            self._last_checkpoint = time.monotonic()
        self._db.write(batch)
        self._pending.clear()
        self._written.clear()
        self._unsent.clear()

    def on_aborted(self, *, certain: bool) -> None:
        self._pending.clear()
        self._written.clear()
        self._unsent.clear()
        if not certain and self.owned:
            # The transaction may have committed after all: the changelog knows.
            self.restore(sorted(self.owned))

    def on_assigned(self, partitions: list[TopicPartition]) -> None:
        mine = sorted({tp.partition for tp in partitions})
        self.restore(mine)
        self.owned.update(mine)

    def on_revoked(self, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions} & self.owned
        if gone:
            # Just committed (or aborted), nothing of ours in flight: a true checkpoint
            # for the day these partitions come back.
            batch = WriteBatch(raw_mode=True)
            for partition, end in self._ends(gone).items():
                batch.put(_checkpoint_key(partition), str(end).encode())
            self._db.write(batch)
        self.owned -= gone

    # ------------------------------------------------------------------ restore
    def restore(self, partitions: list[int]) -> Restore:
        """Bring the keys of ``partitions`` up to their changelog's committed end."""
        began = time.monotonic()
        reader = self._restore_reader()
        starts = []
        for partition in partitions:
            stored = self._db.get(_checkpoint_key(partition))
            start = int(stored) if stored is not None else -2  # -2: the beginning
            starts.append(TopicPartition(self.changelog, partition, start))
        reader.assign(starts)
        remaining = set(partitions)
        records = 0
        deadline = began + 300.0
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"restoring {self.changelog} partitions {sorted(remaining)} took over 300 s"
                )
            batch = WriteBatch(raw_mode=True)
            for message in reader.consume(10_000, 0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(message.partition() or 0)
                    elif error.fatal():
                        raise RuntimeError(f"restoring {self.changelog}: {error.str()}")
                    else:
                        log.warning("restoring %s: %s", self.changelog, error.str())
                    continue
                key = message.key()
                if key is None:
                    continue
                value = message.value()
                if value is None:
                    batch.delete(_STATE + key)
                else:
                    batch.put(_STATE + key, value)
                records += 1
            self._db.write(batch)
        reader.unassign()
        done = Restore(tuple(partitions), records, time.monotonic() - began, time.time())
        self.restores.append(done)
        log.info(
            "restored %d record(s) of %s partitions %s in %.2fs",
            records, self.changelog, partitions, done.seconds,
        )  # fmt: skip
        return done

    def items(self) -> Iterable[tuple[bytes, V]]:
        """Every stored key and value (committed state; all partitions ever owned)."""
        db: Any = self._db
        for key, value in db.items(from_key=_STATE):
            raw = bytes(key)
            if not raw.startswith(_STATE):
                return
            yield raw[len(_STATE) :], self._decode(bytes(value))

    def _restore_reader(self) -> Consumer:
        if self._reader is None:
            self._reader = Consumer(
                self._connection.librdkafka(
                    **{
                        # The application's group (its principal may use it), by assignment
                        # only: this reader never joins it or commits.
                        "group.id": self._group,
                        "enable.auto.commit": False,
                        "enable.partition.eof": True,
                        # Only committed state: an aborted batch's changes never happened.
                        "isolation.level": "read_committed",
                        "log_level": 3,
                    }
                )
            )
        return self._reader

    def _ends(self, partitions: Iterable[int]) -> dict[int, int]:
        reader = self._restore_reader()
        ends = {}
        for partition in partitions:
            _low, high = reader.get_watermark_offsets(
                TopicPartition(self.changelog, partition), timeout=10, cached=False
            )
            ends[partition] = high
        return ends

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._db.close()


def _checkpoint_key(partition: int) -> bytes:
    return _CHECKPOINT + str(partition).encode()


def _bytes(key: bytes | str) -> bytes:
    return key.encode() if isinstance(key, str) else key
