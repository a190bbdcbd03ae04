"""``GlobalTable``: a compacted topic materialized whole on every instance (a GlobalKTable).

Reference data (currencies, merchants, feature flags, a region's customer directory) is
read by every instance in full, not split across a consumer group. The table:

* reads every partition of its topics by assignment, without a consumer group, so each
  instance holds everything;
* :meth:`start` blocks until the table has caught up with the high watermarks it saw when
  it started (processing must not begin on half a table), then a background thread keeps
  it updated;
* keeps the rows and the offset reached per partition in RocksDB (``rocksdict``), written
  together in one write batch per poll, so a restart opens the store and reads only the
  tail of the topic. RocksDB rather than SQLite: it is a log-structured key-value store
  made for exactly this write pattern (many small upserts, point reads), with no SQL or
  schema in the way, and it is what Kafka Streams keeps its stores in;
* resolves concurrent writes by **last write wins on the record timestamp**: with a
  topic's regional copies (``payments.fx``, ``eu.payments.fx`` from MirrorMaker 2) in one
  table, a row changes only for a record at least as new as the one it holds, whichever
  copy delivers it first. A deletion (tombstone) is kept as such with its timestamp, so an
  older write arriving later from another region does not bring the row back. Equal
  timestamps: the later arrival wins.

Values are stored as written and decoded on read (``decode``: e.g. the SDK's schema-aware
decoder for the topic), so a table of Avro records costs no decoding until it is read.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition
from rocksdict import Options, Rdict, WriteBatch

from streamplane.client._errors import ClientError
from streamplane.kafka import ConnectionSettings

log = logging.getLogger(__name__)

_ROW = b"r"  # + key: row
_OFFSET = b"o"  # + topic \0 partition: next offset to read
_LIVE, _DELETED = b"\x01", b"\x00"
_TS = struct.Struct(">q")


@dataclass(frozen=True)
class Bootstrap:
    """What :meth:`GlobalTable.start` read before returning."""

    records: int
    seconds: float
    #: Records the table already held from its store (a restart), without reading them.
    restored_rows: int

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


class GlobalTable:
    """A whole compacted topic (or its regional copies) in a local RocksDB store.

    >>> table = GlobalTable(["payments.fx"], connection=settings, path="state/fx")
    >>> table.start()           # returns once caught up
    >>> table.get("EUR")        # the latest value, decoded
    """

    def __init__(
        self,
        topics: str | Sequence[str],
        *,
        connection: ConnectionSettings,
        path: Path | str,
        decode: Callable[[bytes], Any] | None = None,
        poll_timeout_s: float = 0.2,
        batch: int = 5000,
    ) -> None:
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        self.path = Path(path)
        self._decode = decode
        self._poll_timeout_s = poll_timeout_s
        self._batch = batch
        self.path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(self.path), options=options)
        self._consumer = Consumer(
            connection.librdkafka(
                **{
                    # No group: assignment only, every instance reads every partition.
                    "group.id": "streamplane-global-table",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "isolation.level": "read_committed",
                    "fetch.max.bytes": 52428800,
                }
            )
        )
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.applied = 0

    # ------------------------------------------------------------------ reads
    def get(self, key: bytes | str) -> Any:
        """The key's latest value (decoded), or None if absent or deleted."""
        self._raise_if_failed()
        db: Any = self._db
        with self._lock:
            stored = db.get(_ROW + _bytes(key))
        if stored is None or stored[:1] == _DELETED:
            return None
        value = bytes(stored[1 + _TS.size :])
        return self._decode(value) if self._decode is not None else value

    def items(self) -> Iterator[tuple[bytes, Any]]:
        """Every live row, as (key, decoded value), in key order."""
        with self._lock:
            rows = [(bytes(k), bytes(v)) for k, v in self._rows()]
        for key, stored in rows:
            if stored[:1] == _LIVE:
                value = stored[1 + _TS.size :]
                yield key[1:], self._decode(value) if self._decode is not None else value

    def __len__(self) -> int:
        return sum(1 for _ in self.items())

    # ------------------------------------------------------------------ lifecycle
    def start(self, *, timeout_s: float = 300.0, follow: bool = True) -> Bootstrap:
        """Catch up with the topics' ends as they are now, then (``follow``) keep updating
        in the background. Raises if not caught up within ``timeout_s``."""
        began = time.monotonic()
        restored = sum(1 for _ in self._rows())
        assignment, ends = self._assign()
        remaining = {
            (tp.topic, tp.partition)
            for tp in assignment
            if tp.offset < ends[(tp.topic, tp.partition)]
        }
        read = 0
        while remaining:
            if time.monotonic() - began > timeout_s:
                raise ClientError(
                    f"the global table of {', '.join(self.topics)} did not catch up within "
                    f"{timeout_s:.0f}s ({len(remaining)} partitions behind)"
                )
            read += self._poll_once()
            positions = self._consumer.position([TopicPartition(t, p) for t, p in remaining])
            remaining = {
                (tp.topic, tp.partition)
                for tp in positions
                if tp.offset < ends[(tp.topic, tp.partition)]
            }
        stats = Bootstrap(read, time.monotonic() - began, restored)
        if follow:
            self._thread = threading.Thread(target=self._follow, name="global-table", daemon=True)
            self._thread.start()
        return stats

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self._consumer.close()
        with self._lock:
            self._db.close()

    def __enter__(self) -> GlobalTable:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _rows(self) -> Iterator[tuple[Any, Any]]:
        """The stored (row key, stored value) pairs: a scan from the first row key (offset
        keys, 'o...', sort before it) to the last."""
        db: Any = self._db  # rocksdict is untyped: keys and values are bytes in raw mode
        for key, stored in db.items(from_key=_ROW):
            if not bytes(key).startswith(_ROW):
                return
            yield key, stored

    def _assign(self) -> tuple[list[TopicPartition], dict[tuple[str, int], int]]:
        assignment: list[TopicPartition] = []
        ends: dict[tuple[str, int], int] = {}
        metadata = self._consumer.list_topics(timeout=30)
        for topic in self.topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                reason = "does not exist" if found is None else found.error.str()
                raise ClientError(f"the global table cannot read topic {topic}: {reason}")
            for partition in sorted(found.partitions):
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=30, cached=False
                )
                stored = self._db.get(_offset_key(topic, partition))
                start = max(low, int(stored)) if stored is not None else low
                ends[(topic, partition)] = high
                assignment.append(TopicPartition(topic, partition, start))
        self._consumer.assign(assignment)
        return assignment, ends

    def _poll_once(self) -> int:
        messages = self._consumer.consume(self._batch, self._poll_timeout_s)
        usable = [m for m in messages if m.error() is None]
        if not usable:
            return 0
        rows: dict[bytes, bytes] = {}
        offsets: dict[tuple[str, int], int] = {}
        with self._lock:
            for message in usable:
                self._apply(rows, message)
                where = (message.topic() or "", message.partition() or 0)
                offsets[where] = (message.offset() or 0) + 1
            batch = WriteBatch(raw_mode=True)
            for row, stored in rows.items():
                batch.put(row, stored)
            for (topic, partition), offset in offsets.items():
                batch.put(_offset_key(topic, partition), str(offset).encode())
            self._db.write(batch)
        self.applied += len(usable)
        return len(usable)

    def _apply(self, rows: dict[bytes, bytes], message: Message) -> None:
        """Put the record's row into ``rows`` (this poll's writes) unless it is older."""
        key = message.key()
        if key is None:
            return  # a compacted topic's record without a key names no row
        row = _ROW + key
        kind, stamp = message.timestamp()
        stamp = stamp if kind else 0
        held = rows.get(row)
        if held is None:
            found = self._db.get(row)
            held = None if found is None else bytes(found)
        if held is not None and _TS.unpack_from(held, 1)[0] > stamp:
            return  # an older write (another region's copy arriving late)
        value = message.value()
        rows[row] = _DELETED + _TS.pack(stamp) if value is None else _LIVE + _TS.pack(stamp) + value

    def _follow(self) -> None:
        try:
            while not self._stop.is_set():
                self._poll_once()
        except BaseException as exc:
            log.exception("the global table of %s stopped updating", ", ".join(self.topics))
            self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise ClientError(f"the global table stopped updating: {self._error}")


def _offset_key(topic: str, partition: int) -> bytes:
    return _OFFSET + topic.encode() + b"\0" + str(partition).encode()


def _bytes(key: bytes | str) -> bytes:
    return key.encode() if isinstance(key, str) else key
