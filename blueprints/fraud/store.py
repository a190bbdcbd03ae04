"""Per-card state in RocksDB, backed by a compacted changelog topic, changed exactly when
the scorer's transactions commit.

Kafka Streams' state stores, done with the SDK's transactional processor:

* every change is written to the changelog (``risk.fraud.scorer-state``, one record per
  card, partitioned as the transactions are) **in the same transaction** as the
  decisions and the consumed offsets, so the changelog holds exactly the state the
  committed decisions were made from;
* RocksDB is a cache of that changelog. A batch's changes stay in memory until the
  transaction commits (``on_committed``) and are dropped if it aborts (``on_aborted``):
  the batch is read again and must see the state from before it;
* a partition newly assigned (``on_assigned``: a restart, a rebalance, a failed
  instance's partitions) is restored from its changelog before its first record is
  processed: from the checkpoint this store wrote when it last knew it was up to date,
  else from the start. Restoring is idempotent (the latest record of each card wins),
  so a checkpoint that is too old costs time, never correctness;
* a checkpoint is the changelog's end just after one of our commits, while nothing of
  ours is in flight: it is written with the data it covers in one RocksDB write batch,
  every ``checkpoint_interval_s`` and when partitions are revoked.

No standby replicas: a new owner restores from the changelog (the time it takes is in
``restores``, and in the blueprint's README).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from rocksdict import Options, Rdict, WriteBatch

from blueprints.fraud.features import CardState
from streamplane.client import Output, TransactionListener
from streamplane.kafka import ConnectionSettings

log = logging.getLogger(__name__)

_STATE = b"s"  # + card id: the card-state-v1 value as the changelog holds it
_CHECKPOINT = b"c"  # + partition: the changelog offset the state is complete up to


@dataclass(frozen=True)
class Restore:
    """One restore of changelog partitions."""

    partitions: tuple[int, ...]
    records: int
    seconds: float
    #: Wall-clock seconds when it finished.
    at: float


class CardStore(TransactionListener):
    """The cards of the partitions this instance owns; see the module docstring."""

    def __init__(
        self,
        path: Path | str,
        *,
        changelog: str,
        connection: ConnectionSettings,
        group: str,
        encode: Callable[[dict[str, Any]], bytes | None],
        decode: Callable[[bytes], Any],
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
        #: card -> (partition, state) changed by the open transaction.
        self._pending: dict[str, tuple[int, CardState]] = {}
        #: card -> encoded value written to the changelog in the open transaction.
        self._written: dict[str, bytes] = {}
        #: Cards changed since the last changelog outputs were taken.
        self._unsent: set[str] = set()
        self.owned: set[int] = set()
        self.restores: list[Restore] = []
        self._last_checkpoint = time.monotonic()

    # ------------------------------------------------------------------ state
    def get(self, card: str) -> CardState:
        pending = self._pending.get(card)
        if pending is not None:
            return pending[1]
        stored = self._db.get(_STATE + card.encode())
        return CardState() if stored is None else CardState.from_record(self._decode(stored))

    def put(self, card: str, partition: int, state: CardState) -> None:
        self._pending[card] = (partition, state)
        self._unsent.add(card)

    def changelog_outputs(self) -> Iterable[Output]:
        """One changelog record per card changed since the last call (its latest state),
        to be produced in the open transaction."""
        for card in sorted(self._unsent):
            partition, state = self._pending[card]
            value = self._encode(state.record())
            assert value is not None
            self._written[card] = value
            yield Output(self.changelog, value, key=card.encode(), partition=partition)
        self._unsent.clear()

    # ------------------------------------------------------- the processor's hooks
    def on_committed(self) -> None:
        batch = WriteBatch(raw_mode=True)
        for card, value in self._written.items():
            batch.put(_STATE + card.encode(), value)
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
        """Bring the cards of ``partitions`` up to their changelog's committed end."""
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
            "restored %d card state record(s) of %s partitions %s in %.2fs",
            records, self.changelog, partitions, done.seconds,
        )  # fmt: skip
        return done

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

    def cards(self) -> int:
        """Cards held (all partitions this store ever owned)."""
        db: Any = self._db
        return sum(1 for key in db.keys(from_key=_STATE) if bytes(key).startswith(_STATE))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._db.close()


def _checkpoint_key(partition: int) -> bytes:
    return _CHECKPOINT + str(partition).encode()
