"""Handing a poll's records to a handler as one list: the consumer's batch mode.

A per-record handler costs a Python call, a ``Record`` and the trace context's attach per
record on top of decoding it; for consumers whose work is itself batched (bulk inserts,
vectorised scoring, writing files) that is most of the SDK's overhead. Here a fetched
batch is decoded in one loop into a :class:`RecordBatch` (the decoded values and keys in
lists beside the messages; a ``Record`` is built only for an element asked for, headers
parsed only when read) and handed over in one call, and the offsets of the whole batch are
noted only after the call returned: the same at-least-once guarantee.

Records that cannot take the fast path (a fetch error, a value that does not decode, a
record from a retry topic, a paused partition) split the list: what came before is handed
over first, then the odd record alone through the per-record machinery (parking, retry
pauses, its trace context), so offsets stay in order per partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from confluent_kafka import Message

from streamplane.client._batch import _NO_SHORTCUT, BatchLoop, _count
from streamplane.client._headers import Headers
from streamplane.client._record import FetchedRecord, Record
from streamplane.client._serdes import Decoder


class RecordBatch(Sequence[Record]):
    """Records handed over together: ``values``, ``keys`` and ``messages`` side by side.

    Indexing or iterating gives :class:`Record` objects, built on demand; a handler that
    only needs the values (a bulk insert, a model scoring a column) reads ``values`` and
    allocates nothing per record. Records from a retry topic come one per batch, built by
    the slow path, and keep their ``attempt`` and ``read_from``.
    """

    __slots__ = ("_records", "keys", "messages", "values")

    def __init__(
        self,
        messages: list[Message],
        keys: list[Any],
        values: list[Any],
        records: list[Record] | None = None,
    ) -> None:
        self.messages = messages
        self.keys = keys
        self.values = values
        self._records = records

    @classmethod
    def of(cls, record: Record) -> RecordBatch:
        """A batch of one record already built (the slow path's)."""
        return cls([record.message], [record.key], [record.value], [record])

    def __len__(self) -> int:
        return len(self.messages)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...
    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if self._records is not None:
            return self._records[index]
        msg = self.messages[index]
        headers: Headers = msg.headers() or []  # type: ignore[assignment]
        return FetchedRecord(
            msg.topic() or "", msg.partition() or 0, self.keys[index], self.values[index],
            headers, msg,
        )  # fmt: skip

    def __iter__(self) -> Iterator[Record]:
        if self._records is not None:
            yield from self._records
            return
        for index in range(len(self.messages)):
            yield self[index]

    def __repr__(self) -> str:
        return f"RecordBatch({len(self)} records)"


BatchHandler = Callable[[RecordBatch], object]


class BatchDelivery(BatchLoop):
    """Decodes fetched batches into lists for a :data:`BatchHandler`."""

    def _deliver_batch(self, handler: BatchHandler, batch: list[Message], limit: int | None) -> int:
        """Hand ``batch`` to ``handler`` as lists of records; the number of records handed.

        ``limit`` caps the records taken from this batch (the rest waits in the backlog).
        When the handler raises, the list's records are unprocessed: without a dead-letter
        policy the error propagates and they are handed over again by the next call; with
        one, they are handed over again one at a time (each in a list of one), so only
        the records that fail on their own are parked. A batch handler therefore sees a
        record again after a failure, as any at-least-once consumer may.
        """
        if limit is not None and limit < len(batch):
            self._backlog = batch[limit:] + self._backlog
            batch = batch[:limit]
        paused = bool(self._pauses)
        handled = 0
        # The segment being collected: batch[start:index], all decoded on the fast path.
        start = 0
        keys: list[Any] = []
        values: list[Any] = []
        key_bytes = 0
        # The last message of each partition run in the segment: offsets noted on success.
        ends: dict[tuple[str, int], Message] = {}
        at_partition = -1
        # Where the batch resumes if an error escapes: the first message not processed.
        resume = 0
        run_topic = ""  # no topic is called that
        decoder: Decoder | None = None
        decode_key: Callable[[bytes | None], Any] | None = None
        frame, read = _NO_SHORTCUT
        last: Message | None = None
        try:
            for index, msg in enumerate(batch):
                topic: str = msg.topic()  # type: ignore[assignment]
                if topic != run_topic:
                    if last is not None:
                        ends[(run_topic, at_partition)] = last
                        last = None
                    run_topic, at_partition = topic, -1
                    decoder, decode_key, frame, read = self._fast_decoders(topic, paused)
                raw_key = msg.key()
                # Decoded inline, as in BatchLoop._handle_batch: a helper called per record
                # would cost more than the decoding it wraps.
                if not (
                    decoder is None
                    or (raw_key is not None and decode_key is None)
                    or msg.error() is not None
                ):
                    try:
                        data = msg.value()
                        # A tombstone (None) raises here and is decoded by _prepare.
                        if read is not None and data.startswith(frame):  # type: ignore[union-attr]
                            value = read(data[5:])  # type: ignore[index]
                        else:
                            value = decoder.decode(data)
                            frame, read = decoder.shortcut() or _NO_SHORTCUT
                        if raw_key is None:
                            key = None
                        else:
                            key = decode_key(raw_key)  # type: ignore[misc]
                            key_bytes += len(raw_key)
                    except Exception:  # noqa: BLE001 (_prepare decodes again and parks it)
                        pass
                    else:
                        partition: int = msg.partition()  # type: ignore[assignment]
                        if partition != at_partition:
                            if last is not None:
                                ends[(topic, at_partition)] = last
                            at_partition = partition
                        last = msg
                        keys.append(key)
                        values.append(value)
                        continue
                # The odd record: hand over what came before it, then it alone.
                if last is not None:
                    ends[(run_topic, at_partition)] = last
                    last = None
                if start < index:
                    segment = RecordBatch(batch[start:index], keys, values)
                    handled += self._hand_over(handler, segment, ends, key_bytes)
                keys, values, ends, key_bytes, resume = [], [], {}, 0, index
                run_topic = ""  # decoders built or a partition paused meanwhile: look again
                prepared = self._prepare(msg)
                paused = bool(self._pauses)
                if prepared is not None:
                    self._handle(lambda record: handler(RecordBatch.of(record)), prepared, msg)
                    handled += 1
                self._processed(msg)
                start = resume = index + 1
                if self._stopping:
                    break
            else:
                if last is not None:
                    ends[(run_topic, at_partition)] = last
                if start < len(batch):
                    segment = RecordBatch(batch[start:] if start else batch, keys, values)
                    handled += self._hand_over(handler, segment, ends, key_bytes)
                resume = len(batch)
        finally:
            # Fetched but not processed (a stop, or an error escaping the handler): kept in
            # order for the next call, the fetch position having moved past them.
            if resume < len(batch):
                self._backlog = batch[resume:] + self._backlog
        return handled

    def _hand_over(
        self,
        handler: BatchHandler,
        segment: RecordBatch,
        ends: dict[tuple[str, int], Message],
        key_bytes: int,
    ) -> int:
        """Call ``handler`` with ``segment``, then note its offsets as processed."""
        stats = self._stats
        if stats is not None:
            # Counted per segment, in C: a record's size is its value's plus its key's.
            topics = {topic for topic, _ in ends}
            if len(topics) == 1:
                size = sum(map(len, segment.messages)) + key_bytes
                _count(stats, topics.pop(), len(segment), size)
            else:
                for msg in segment.messages:
                    _count(stats, msg.topic() or "", 1, len(msg) + len(msg.key() or b""))
        try:
            handler(segment)
        except Exception:  # handed over one by one, or raised again
            if self.dead_letters is None:
                raise
            for record in segment:
                self._handle(lambda one: handler(RecordBatch.of(one)), record, record.message)
                self._processed(record.message)
            return len(segment)
        pending = self._pending
        for key, last in ends.items():
            pending[key] = (last.offset() or 0) + 1
        return len(segment)
