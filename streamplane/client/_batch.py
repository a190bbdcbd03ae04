"""The consumer's batch loop: each fetched record decoded, handed over, its offset noted.

Split from ``_consumer`` (construction, fetching, the group's lifecycle). A batch's common
records (no error, decoders built, no retry topic, no pause, no span to record) are handled
inline, at the cost of one ``Record`` and the bookkeeping the guarantees need; the rest
go through :meth:`BatchLoop._prepare`, which parks what cannot be decoded and pauses a
retry topic's partition until its head record is due.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, cast

from confluent_kafka import KafkaError, KafkaException, Message
from opentelemetry import context as otel_context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import Tracer

from streamplane.client._avro import BodyReader
from streamplane.client._deadletter import RETRY_DUE_HEADER, DeadLetterPolicy
from streamplane.client._headers import Headers, TraceExtractor, header_text
from streamplane.client._metrics import ConsumerStats
from streamplane.client._offsets import CommitBookkeeping
from streamplane.client._parking import Parking
from streamplane.client._processing import Attached, Processing, RecordSpan
from streamplane.client._record import FetchedRecord, Record
from streamplane.client._serdes import Decoder, RecordDeserializer

logger = logging.getLogger("streamplane.client._consumer")

Handler = Callable[[Record], object]

#: A decoder without a shortcut: its records go through ``decode``.
_NO_SHORTCUT: tuple[bytes, BodyReader | None] = (b"", None)

#: What the fast path reads a topic's records with: value decoder, key decoding, the value
#: decoder's frame and inline body reader (see ``Decoder.shortcut``).
FastDecoders = tuple[
    "Decoder | None", "Callable[[bytes | None], Any] | None", bytes, "BodyReader | None"
]

#: ``_processing`` without a parent given: extract it from the record's headers.
_NO_PARENT: Any = object()


class BatchLoop(CommitBookkeeping, Parking):
    """Hands fetched batches to a handler, record by record, noting what was processed.

    The attributes are the consumer's own (set in ``Consumer.__init__``).
    """

    dead_letters: DeadLetterPolicy | None
    _deserializer: RecordDeserializer
    _value_decoders: dict[str, Decoder]
    _key_decoders: dict[str, Decoder]
    _extractor: TraceExtractor
    _tracer: Tracer
    _spans: bool
    _stopping: bool

    def _handle_batch(self, handler: Handler, batch: list[Message], limit: int | None) -> int:
        """Hand a fetched batch to ``handler`` in order; the number of records handled.

        This is the consumer's hot loop: per record it does only what the guarantees need.
        The common record (no error, its topic's decoders built, not from a retry topic, no
        partition paused, no span to record) is handled inline, its value read through the
        decoder's shortcut; anything else goes through :meth:`_prepare` and
        :meth:`_handle`. Per run of one topic the decoders are looked up once and the
        consumed counts added once; per run of one partition the offset is noted once, from
        the run's last processed message (processing order is offset order per partition);
        consecutive records with identical headers share one extracted trace context, made
        current once for all of them.
        """
        pending = self._pending
        stats = self._stats
        extract = self._extractor.context
        slow_only = self._spans or bool(self._pauses)
        attach, detach, current = otel_context.attach, otel_context.detach, _CURRENT_CONTEXT
        handled = 0
        # Where the unprocessed rest of the batch starts, if the loop leaves early.
        rest = len(batch)
        # The current run of one topic: its decoders (None: its records take the slow path)
        # and its consumed counts.
        run_topic = ""  # no topic is called that
        decoder: Decoder | None = None
        decode_key: Callable[[bytes | None], Any] | None = None
        # The value decoder's shortcut (Decoder.shortcut), taken inline.
        frame = b""
        read: BodyReader | None = None
        counted = counted_bytes = 0
        # The current run of one partition, and its last processed message.
        at_partition = -1
        last: Message | None = None
        # The producer's context is made current once for consecutive records of one trace
        # (attaching costs more than the rest of the bookkeeping), and detached when the
        # trace changes, the batch ends, or a handler leaves another one current.
        last_headers: object = None
        last_parent: otel_context.Context | None = None
        attached: otel_context.Context | None = None
        token: Any = None
        msg: Message | None = None
        try:
            for msg in batch:
                topic: str = msg.topic()  # type: ignore[assignment]
                if topic != run_topic:
                    if last is not None:
                        pending[(run_topic, at_partition)] = _next_offset(last)
                        last = None
                    if counted and stats is not None:
                        _count(stats, run_topic, counted, counted_bytes)
                        counted = counted_bytes = 0
                    run_topic, at_partition = topic, -1
                    decoder, decode_key, frame, read = self._fast_decoders(topic, slow_only)
                raw_key = msg.key()
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
                        key = raw_key if raw_key is None else decode_key(raw_key)  # type: ignore[misc]
                    except Exception:  # noqa: BLE001 (_prepare decodes again and parks it)
                        pass
                    else:
                        partition: int = msg.partition()  # type: ignore[assignment]
                        if partition != at_partition:
                            if last is not None:
                                pending[(topic, at_partition)] = _next_offset(last)
                                last = None
                            at_partition = partition
                        headers: Headers = msg.headers()  # type: ignore[assignment]
                        if headers is None:
                            headers = []
                            parent = None
                        elif headers == last_headers:
                            parent = last_parent
                        else:
                            parent = last_parent = extract(headers)
                            last_headers = headers
                        record = FetchedRecord(topic, partition, key, value, headers, msg)
                        if stats is not None:
                            counted += 1
                            counted_bytes += (
                                len(msg) if raw_key is None else len(msg) + len(raw_key)
                            )
                        if parent is not attached:
                            if token is not None:
                                detach(token)
                                token = attached = None
                            if parent is not None:
                                token, attached = attach(parent), parent
                        try:
                            handler(record)
                        except Exception as exc:  # noqa: BLE001 (parked or raised again)
                            if token is not None:
                                detach(token)
                                token = attached = None
                            self._handler_failed(msg, record, exc)
                        else:
                            if token is not None and current() is not attached:
                                # The handler left another context current: undo it.
                                detach(token)
                                token = attached = None
                        last = msg
                        handled += 1
                        if handled == limit or self._stopping:
                            rest = _position(batch, msg) + 1
                            break
                        continue
                # The slow path notes offsets and counts itself: close the runs first.
                if token is not None:
                    detach(token)
                    token = attached = None
                if last is not None:
                    pending[(run_topic, at_partition)] = _next_offset(last)
                    last = None
                if counted and stats is not None:
                    _count(stats, run_topic, counted, counted_bytes)
                    counted = counted_bytes = 0
                # Decoders built or a partition paused meanwhile: look the topic up again.
                run_topic = ""
                prepared = self._prepare(msg)
                slow_only = self._spans or bool(self._pauses)
                if prepared is not None:
                    self._handle(handler, prepared, msg)
                    handled += 1
                self._processed(msg)
                if (prepared is not None and handled == limit) or self._stopping:
                    rest = _position(batch, msg) + 1
                    break
        except BaseException:
            # The record in hand was not processed: it stays, with what follows it.
            rest = _position(batch, msg) if msg is not None else 0
            raise
        finally:
            if token is not None:
                detach(token)
            if last is not None:
                pending[(run_topic, at_partition)] = _next_offset(last)
            if counted and stats is not None:
                _count(stats, run_topic, counted, counted_bytes)
            # Records fetched but not processed (a stop, or an error escaping the handler)
            # are kept in order for the next call: the fetch position has already moved
            # past them.
            if rest < len(batch):
                self._backlog = batch[rest:] + self._backlog
        return handled

    def _fast_decoders(self, topic: str, slow_only: bool) -> FastDecoders:
        """The decoders with which ``topic``'s records take the fast path, if they can.

        None for a retry topic's records, for any record while a partition is paused or
        (``slow_only``) spans are recorded, and for a topic whose decoders ``_prepare`` has
        not built yet.
        """
        if slow_only or (self._retry_of and topic in self._retry_of):
            return None, None, *_NO_SHORTCUT
        decoder = self._value_decoders.get(topic)
        key_decoder = self._key_decoders.get(topic)
        frame, read = (decoder.shortcut() if decoder is not None else None) or _NO_SHORTCUT
        return decoder, key_decoder.decode if key_decoder is not None else None, frame, read

    def _prepare(self, msg: Message) -> Record | None:
        """The record to hand over, or None (an event, a paused partition, a parked record)."""
        err = msg.error()
        if err is not None:
            self._event(err)
            return None
        topic = msg.topic() or ""
        partition = msg.partition() or 0
        offset = msg.offset() or 0
        if self._pauses and (topic, partition) in self._pauses:
            return None  # a later record of a partition waiting for its head to be due
        retry = self._retry_of.get(topic) if self._retry_of else None
        headers: Headers = msg.headers() or []  # type: ignore[assignment]
        if retry is None:
            origin, attempt = topic, 0
        else:
            origin, attempt = retry
            due = header_text(headers, RETRY_DUE_HEADER)
            if due is not None and due.isdigit() and int(due) > now_ms():
                self._pause_until(topic, partition, offset, int(due))
                return None
        raw_key = msg.key()
        try:
            key = raw_key
            if raw_key is not None:
                key_decoder = self._key_decoders.get(origin)
                if key_decoder is None:
                    key_decoder = self._key_decoders[origin] = self._deserializer.key_decoder(
                        origin
                    )
                key = key_decoder.decode(raw_key)
            decoder = self._value_decoders.get(origin)
            if decoder is None:
                decoder = self._value_decoders[origin] = self._deserializer.value_decoder(origin)
            value = decoder.decode(msg.value())
        except Exception as exc:  # noqa: BLE001 (any decoding failure is a poison pill)
            if self._stats is not None:
                self._stats.error("deserialization")
            self._park(msg, exc, kind="deserialization", origin=origin, attempt=attempt)
            return None
        stats = self._stats
        if stats is not None:
            entry = stats.consumed.get(origin)
            if entry is None:
                entry = stats.consumed[origin] = [0, 0]
            entry[0] += 1
            entry[1] += len(msg) + (len(raw_key) if raw_key else 0)
        return Record(
            topic=origin, partition=partition, offset=offset, key=key, value=value,
            headers=headers, timestamp_ms=msg.timestamp()[1], message=msg,
            read_from=topic, attempt=attempt,
        )  # fmt: skip

    def _handle(self, handler: Handler, record: Record, msg: Message) -> None:
        parent = self._extractor.context(record.headers)
        try:
            with self._processing(record, parent):
                handler(record)
        except Exception as exc:  # noqa: BLE001 (parked or raised again)
            self._handler_failed(msg, record, exc)

    def _handler_failed(self, msg: Message, record: Record, exc: Exception) -> None:
        """Park the record, or re-raise when there is no dead-letter policy."""
        if self._stats is not None:
            self._stats.error("handler")
        if self.dead_letters is None:
            raise exc
        self._park(msg, exc, kind="handler", origin=record.topic, attempt=record.attempt)

    def _processing(
        self, record: Record, parent: otel_context.Context | None = _NO_PARENT
    ) -> Processing:
        """A CONSUMER span continuing the producer's trace when there is one to continue and
        someone records spans; otherwise only the producer's context, if any, is made
        current (a span per record costs microseconds, more than decoding it)."""
        if parent is _NO_PARENT:
            parent = self._extractor.context(record.headers)
        if parent is not None and self._spans:
            return RecordSpan(self._tracer, record, parent, group=self.group_id, app=self.app_id)
        return Attached(parent)

    def _processed(self, msg: Message) -> None:
        # Skipped records of a paused partition are not processed: their offsets stay put.
        topic, partition = msg.topic(), msg.partition()
        if (
            msg.error() is None
            and topic is not None
            and partition is not None
            and (topic, partition) not in self._pauses
        ):
            self._pending[(topic, partition)] = (msg.offset() or 0) + 1

    def _event(self, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if self._stats is not None:
            self._stats.error("kafka")
        if err.fatal():
            raise KafkaException(err)
        logger.warning(
            "consumer error: %s", err.str(), extra={"app": self.app_id, "group": self.group_id}
        )


def now_ms() -> int:
    """Wall-clock milliseconds, the unit of a retry record's due time."""
    return time.time_ns() // 1_000_000


def _next_offset(processed: Message) -> int:
    """The offset to commit once ``processed`` is: the one after it."""
    return (processed.offset() or 0) + 1


def _position(batch: list[Message], msg: Message) -> int:
    """Where ``msg`` is in ``batch`` (by identity: messages compare equal by content)."""
    for index, candidate in enumerate(batch):
        if candidate is msg:
            return index
    raise ValueError("message not in its batch")


def _current_context() -> Callable[[], otel_context.Context]:
    """The cheapest call that returns the current OpenTelemetry context.

    The batch loop asks after every handler whether it left another context current.
    ``get_current()`` reaches OpenTelemetry's ContextVar through two Python calls, which
    cost more than the rest of that check; with OpenTelemetry's default runtime context
    (the contextvars one) the ContextVar's own ``get`` answers the same, in C. Any other
    runtime context keeps the public call.
    """
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    variable = getattr(runtime, "_current_context", None)
    if isinstance(runtime, ContextVarsRuntimeContext) and isinstance(variable, ContextVar):
        return cast("Callable[[], otel_context.Context]", variable.get)
    return otel_context.get_current


def _count(stats: ConsumerStats, topic: str, records: int, size: int) -> None:
    """Add a run of records handed over from ``topic`` to the consumed counters."""
    entry = stats.consumed.get(topic)
    if entry is None:
        entry = stats.consumed[topic] = [0, 0]
    entry[0] += records
    entry[1] += size


#: How the batch loop reads the current OpenTelemetry context (fixed once OpenTelemetry is
#: imported: its runtime context is chosen then).
_CURRENT_CONTEXT = _current_context()
