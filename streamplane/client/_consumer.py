"""The SDK consumer: process first, then commit, and never let one bad record stop a partition.

Offsets are stored only after the handler returned for a record (librdkafka's automatic
commit and automatic offset store are off in every profile), then committed either
synchronously after each batch (``commit="sync"``) or asynchronously at most every
``interval_s`` (``commit="async"``), with a final synchronous commit when partitions are
revoked in the cooperative rebalance and when the consumer closes. A crash therefore
re-delivers at most the records since the last commit; it never skips one.

A record that cannot be decoded, or whose handler raises, is parked by the
:class:`DeadLetterPolicy` (retry topics, then ``<topic>.dlq``) and the consumer moves on;
without a policy the error propagates and the record stays uncommitted.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from opentelemetry import context as otel_context

from streamplane.client._config import DEFAULT_PROFILE, application_clients, consumer_config
from streamplane.client._contracts import DataContracts, contracts_for
from streamplane.client._deadletter import (
    RETRY_DUE_HEADER,
    DeadLetterPolicy,
    DeadLetterWriter,
    RetryPauses,
)
from streamplane.client._errors import ClientError
from streamplane.client._headers import Headers, TraceExtractor, header_text
from streamplane.client._metrics import ConsumerStats, consumer_lag
from streamplane.client._offsets import CommitBookkeeping, CommitPolicy
from streamplane.client._parking import Parking
from streamplane.client._processing import Attached, Processing, RecordSpan
from streamplane.client._record import Record
from streamplane.client._schemas import (
    RegistryRef,
    TopicSchemas,
    registry_client,
    registry_from_spec,
    schemas_from_spec,
)
from streamplane.client._serdes import Decoder, RecordDeserializer
from streamplane.client._telemetry import Telemetry
from streamplane.client._telemetry import error_log_level as _level
from streamplane.kafka import client_config

if TYPE_CHECKING:
    from streamplane.kafka import ConnectionSettings
    from streamplane.model import Spec

logger = logging.getLogger(__name__)

Handler = Callable[[Record], object]

#: ``_processing`` without a parent given: extract it from the record's headers.
_NO_PARENT: Any = object()

#: Poison pills go straight to ``<topic>.dlq``.
DEFAULT_DEAD_LETTERS = DeadLetterPolicy()
#: ``for_application`` without ``dead_letters``: the spec's, else DEFAULT_DEAD_LETTERS.
_FROM_SPEC: Any = object()


class Consumer(CommitBookkeeping, Parking):
    """Consumes a group's topics through a handler or an iterator, committing after processing.

    ``Consumer(connection=..., app_id=..., group_id=..., topics=[...])`` builds one
    explicitly; :meth:`for_application` from the spec. Then either
    ``consumer.run(handler)`` or ``for record in consumer: ...``.
    """

    def __init__(
        self,
        *,
        connection: ConnectionSettings,
        app_id: str,
        group_id: str,
        topics: Sequence[str],
        profile: str = DEFAULT_PROFILE,
        config: Mapping[str, Any] | None = None,
        schemas: Mapping[str, TopicSchemas] | None = None,
        registry: RegistryRef | None = None,
        telemetry: Telemetry | None = None,
        commit: CommitPolicy | Literal["sync", "async"] = "async",
        instance_id: str | None = None,
        dead_letters: DeadLetterPolicy | None = DEFAULT_DEAD_LETTERS,
        client_id: str | None = None,
        batch_size: int = 500,
        contracts: DataContracts | None = None,
    ) -> None:
        if not topics:
            raise ClientError(f"consumer of {app_id} has no topics to consume")
        self.app_id = app_id
        self.group_id = group_id
        self.topics = list(topics)
        self.config = consumer_config(
            profile=profile, connection=connection, app_id=app_id, group_id=group_id,
            client_id=client_id, instance_id=instance_id, overrides=config,
        )  # fmt: skip
        self.commit_policy = commit if isinstance(commit, CommitPolicy) else CommitPolicy(commit)
        self.dead_letters = dead_letters
        self._telemetry = telemetry if telemetry is not None else Telemetry()
        self._stats: ConsumerStats | None = (
            self._telemetry.metrics.consumer(
                app=app_id, client_id=str(self.config["client.id"]), group=group_id
            )
            if self._telemetry.metrics is not None
            else None
        )
        self._tracer = self._telemetry.tracer()
        self._extractor = TraceExtractor()
        self._deserializer = RecordDeserializer(
            schemas or {}, registry_client(registry), contracts=contracts
        )
        self._value_decoders: dict[str, Decoder] = {}
        self._key_decoders: dict[str, Decoder] = {}
        self._batch_size = batch_size
        self._pending: dict[tuple[str, int], int] = {}
        self._stored_since_commit = False
        self._last_commit = time.monotonic()
        self._commit_started: deque[tuple[str, float]] = deque()
        self._backlog: list[Message] = []
        self._pauses = RetryPauses()
        self._stopping = False
        self._closed = False
        self._spans = False
        #: retry topic -> (original topic, attempt number)
        self._retry_of: dict[str, tuple[str, int]] = {}
        if dead_letters is not None:
            for topic in self.topics:
                for n, name in enumerate(dead_letters.retry_topics(topic), start=1):
                    self._retry_of[name] = (topic, n)
        writer_config = client_config(
            "zero_loss", "producer", connection=connection.librdkafka(),
            overrides={"linger.ms": 0, "client.id": f"{self.config['client.id']}-dead-letters"},
        )  # fmt: skip
        self._writer = DeadLetterWriter(
            writer_config,
            timeout_s=dead_letters.write_timeout_s if dead_letters is not None else 30.0,
        )
        self._check_parking_topics()
        native = dict(self.config)
        native["on_commit"] = self._committed
        native["error_cb"] = self._kafka_error
        if self._stats is not None and self._telemetry.statistics_interval_ms > 0:
            native["statistics.interval.ms"] = self._telemetry.statistics_interval_ms
            native["stats_cb"] = self._statistics
        self._consumer = confluent_kafka.Consumer(native)
        self._consumer.subscribe(
            [*self.topics, *self._retry_of],
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
        )

    @classmethod
    def for_application(
        cls,
        spec: Spec,
        app: str,
        *,
        connection: ConnectionSettings,
        registry: RegistryRef | None = None,
        config: Mapping[str, Any] | None = None,
        telemetry: Telemetry | None = None,
        commit: CommitPolicy | Literal["sync", "async"] = "async",
        instance_id: str | None = None,
        dead_letters: DeadLetterPolicy | None = _FROM_SPEC,
        topics: Sequence[str] | None = None,
        protobuf_types: Mapping[str, type[Any]] | None = None,
        contracts: DataContracts | None = None,
    ) -> Consumer:
        """A consumer for application ``app``: its profile, group and consumed topics.

        ``config`` goes on top of the spec's consumer overrides; anything that would
        commit before processing raises ProfileError. Unless ``dead_letters`` is given,
        the application's ``dead_letters`` in the spec (its retry delays) decide where
        failed records go, and without one they go straight to ``<topic>.dlq``.

        Topics whose schemas carry a data contract are read with confluent-kafka's rule
        engine (encrypted fields decrypted when the KEK may be used, migrations applied);
        ``contracts`` gives the KMS settings, by default ``DataContracts.from_spec``.
        """
        clients = application_clients(spec, app)
        if dead_letters is _FROM_SPEC:
            declared = spec.applications[app].app.dead_letters
            dead_letters = (
                DeadLetterPolicy(retry_delays_s=tuple(ms / 1000 for ms in declared.retries))
                if declared is not None
                else DEFAULT_DEAD_LETTERS
            )
        chosen = list(topics) if topics is not None else list(clients.consumes)
        if not chosen:
            raise ClientError(f"application {app} consumes no topics in the spec")
        assert clients.group_id is not None
        schemas = schemas_from_spec(spec, chosen, protobuf_types=protobuf_types)
        return cls(
            connection=connection,
            app_id=clients.app_id,
            group_id=clients.group_id,
            topics=chosen,
            profile=clients.profile,
            config={**clients.consumer_overrides, **(config or {})},
            schemas=schemas,
            registry=registry if registry is not None else registry_from_spec(spec, connection),
            contracts=contracts_for(spec, schemas, chosen, contracts),
            telemetry=telemetry,
            commit=commit,
            instance_id=instance_id,
            dead_letters=dead_letters,
            client_id=clients.client_id,
        )

    # ------------------------------------------------------------------ processing
    def run(
        self,
        handler: Handler,
        *,
        max_records: int | None = None,
        idle_timeout_s: float | None = None,
        poll_timeout_s: float = 1.0,
    ) -> int:
        """Call ``handler`` for each record until :meth:`stop`, ``max_records`` records, or
        ``idle_timeout_s`` without any; returns how many records were handled.

        A record's offset is stored only after ``handler`` returned for it (or after it was
        parked by the dead-letter policy).
        """
        handled = 0
        last_record = time.monotonic()
        self._stopping = False
        while not self._stopping:
            batch = self._next_batch(poll_timeout_s)
            if not batch:
                if idle_timeout_s is not None and time.monotonic() - last_record > idle_timeout_s:
                    break
                self._maybe_commit()
                continue
            last_record = time.monotonic()
            limit = None if max_records is None else max_records - handled
            done = self._handle_batch(handler, batch, limit)
            handled += done
            if max_records is not None and handled >= max_records:
                self._stopping = True
            self._maybe_commit()
        return handled

    def _handle_batch(self, handler: Handler, batch: list[Message], limit: int | None) -> int:
        """Hand a fetched batch to ``handler`` in order; the number of records handled.

        This is the consumer's hot loop, so the common record (no error, not from a retry
        topic, no partition paused, decoders already built) is handled inline with local
        variables, and everything else goes through :meth:`_prepare`. Consecutive records
        with identical headers share one extracted trace context, consumed counts are
        added per run of one topic, and a partition's offset is noted when the loop moves
        to another partition or leaves: processing order is offset order per partition, so
        the last offset noted is the highest processed.
        """
        pending = self._pending
        decoders = self._value_decoders
        key_decoders = self._key_decoders
        retry_of = self._retry_of
        pauses = self._pauses
        stats = self._stats
        extract = self._extractor.context
        spans = self._spans
        tracer = self._tracer
        attach, detach = otel_context.attach, otel_context.detach
        handled = 0
        index = 0
        # Offset bookkeeping: the partition of the previous record and its next offset.
        at_topic: str | None = None
        at_partition = -1
        at_next = 0
        # Metric bookkeeping: records and bytes of the current run of one topic.
        counted_topic: str | None = None
        counted = counted_bytes = 0
        last_headers: object = None
        last_parent: otel_context.Context | None = None
        # The producer's context is made current once for consecutive records of one trace
        # (attaching costs more per record than the rest of the bookkeeping), and detached
        # when the trace changes, the batch ends, or a handler leaves another one current.
        current = otel_context.get_current
        attached: otel_context.Context | None = None
        token: Any = None
        try:
            for msg in batch:
                topic = msg.topic()
                decoder = decoders.get(topic)  # type: ignore[arg-type]
                raw_key = msg.key()
                key_decoder = None if raw_key is None else key_decoders.get(topic)  # type: ignore[arg-type]
                record: Record | None = None
                if not (
                    decoder is None
                    or (raw_key is not None and key_decoder is None)
                    or pauses
                    or (retry_of and topic in retry_of)
                    or msg.error() is not None
                ):
                    try:
                        value = decoder.decode(msg.value())
                        key = raw_key if key_decoder is None else key_decoder.decode(raw_key)
                    except Exception:  # noqa: BLE001 (_prepare decodes again and parks it)
                        record = None
                    else:
                        headers: Headers = msg.headers() or []  # type: ignore[assignment]
                        # A fetched record always has a topic, partition and offset.
                        # topic, partition, offset, key, value, headers, timestamp, message
                        record = Record(
                            topic, msg.partition(), msg.offset(), key, value,  # type: ignore[arg-type]
                            headers, msg.timestamp()[1], msg,
                        )  # fmt: skip
                        if stats is not None:
                            if topic != counted_topic:
                                if counted_topic is not None:
                                    _count(stats, counted_topic, counted, counted_bytes)
                                counted_topic, counted, counted_bytes = topic, 0, 0
                            counted += 1
                            counted_bytes += len(msg) + (len(raw_key) if raw_key else 0)
                        if not headers:
                            parent = None
                        elif headers == last_headers:
                            parent = last_parent
                        else:
                            parent = last_parent = extract(headers)
                            last_headers = headers
                        if token is not None and parent is not attached:
                            detach(token)
                            token = attached = None
                        try:
                            if parent is None:
                                # No trace to continue: no span, the record starts its own.
                                handler(record)
                            elif spans:
                                with RecordSpan(
                                    tracer, record, parent, group=self.group_id, app=self.app_id
                                ):
                                    handler(record)
                            else:
                                # Nobody records spans, but what the handler produces still
                                # carries the producer's trace.
                                if token is None:
                                    token, attached = attach(parent), parent
                                handler(record)
                                if current() is not parent:
                                    # The handler left another context current: undo it.
                                    detach(token)
                                    token = attached = None
                        except Exception as exc:  # noqa: BLE001 (parked or raised again)
                            if token is not None:
                                detach(token)
                                token = attached = None
                            self._handler_failed(msg, record, exc)
                if record is None:
                    if token is not None:
                        detach(token)
                        token = attached = None
                    if at_topic is not None:
                        # _prepare and _processed note offsets themselves: flush ours first.
                        pending[(at_topic, at_partition)] = at_next
                        at_topic, at_partition = None, -1
                    record = self._prepare(msg)
                    if record is None:
                        index += 1
                        self._processed(msg)
                        if self._stopping:
                            break
                        continue
                    self._handle(handler, record, msg)
                index += 1
                handled += 1
                # Processed: note its offset (the read_from topic is where it is committed).
                if record.partition != at_partition or record.read_from != at_topic:
                    if at_topic is not None:
                        pending[(at_topic, at_partition)] = at_next
                    at_topic, at_partition = record.read_from, record.partition
                at_next = record.offset + 1
                if handled == limit or self._stopping:
                    break
        finally:
            if token is not None:
                detach(token)
            if at_topic is not None:
                pending[(at_topic, at_partition)] = at_next
            if counted_topic is not None and stats is not None:
                _count(stats, counted_topic, counted, counted_bytes)
            # Records fetched but not processed (a stop, or an error escaping the handler)
            # are kept in order for the next call: the fetch position has already moved
            # past them.
            if index < len(batch):
                self._backlog = batch[index:] + self._backlog
            self._store_pending()
        return handled

    def __iter__(self) -> Iterator[Record]:
        """Records one by one; each is marked processed when the loop asks for the next.

        Leaving the loop (``break`` or an exception) leaves the current record unmarked: it
        is delivered again, by this consumer or after a restart.
        """
        self._stopping = False
        while not self._stopping:
            batch = self._next_batch(1.0)
            if not batch:
                self._maybe_commit()
                continue
            index = 0
            try:
                for index, msg in enumerate(batch):
                    record = self._prepare(msg)
                    if record is not None:
                        with self._processing(record):
                            yield record
                    self._processed(msg)
                    if self._stopping:
                        index += 1
                        break
                else:
                    index = len(batch)
            finally:
                if index < len(batch):
                    self._backlog = batch[index:] + self._backlog
                self._store_pending()
            self._maybe_commit()

    def stop(self) -> None:
        """Ask :meth:`run` (or the iterator) to return after the current record."""
        self._stopping = True

    def _next_batch(self, timeout_s: float) -> list[Message]:
        # Once per batch, not per record: may a span started now be recorded by anyone?
        self._spans = self._telemetry.records_spans()
        if self._backlog:
            batch, self._backlog = self._backlog, []
            return batch
        if self._pauses:
            now = _now_ms()
            ready = self._pauses.take_due(now)
            if ready:
                self._consumer.resume([TopicPartition(t, p) for t, p in ready])
            wait = self._pauses.seconds_to_next(now)
            if wait is not None:
                timeout_s = min(timeout_s, max(wait, 0.01))
        # Whatever is already fetched, without waiting: librdkafka's batch call would
        # otherwise hold on to the first record until the batch is full or time is up.
        batch = self._consumer.consume(self._batch_size, 0)
        if batch:
            return batch
        first = self._consumer.poll(timeout_s)
        return [first] if first is not None else []

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
            if due is not None and due.isdigit() and int(due) > _now_ms():
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

    # ------------------------------------------------------------------ callbacks
    def _statistics(self, document: str) -> None:
        if self._stats is not None:
            self._stats.lag = consumer_lag(json.loads(document))

    def _kafka_error(self, err: KafkaError) -> None:
        if self._stats is not None:
            self._stats.error("kafka")
        logger.log(
            _level(err),
            "kafka client error: %s",
            err.str(),
            extra={"app": self.app_id, "group": self.group_id, "error_code": err.name()},
        )

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Commit what was processed, synchronously, then leave the group."""
        if self._closed:
            return
        self._closed = True
        try:
            self._store_pending()
            self._commit_sync("close")
        finally:
            self._consumer.close()
            self._writer.close()
            self._deserializer.close()
            if self._stats is not None:
                self._stats.lag.clear()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _count(stats: ConsumerStats, topic: str, records: int, size: int) -> None:
    """Add a run of records handed over from ``topic`` to the consumed counters."""
    entry = stats.consumed.get(topic)
    if entry is None:
        entry = stats.consumed[topic] = [0, 0]
    entry[0] += records
    entry[1] += size
