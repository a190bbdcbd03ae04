"""The consumer's batch loop without a broker: offsets, metrics, decoding and trace context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Message, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from streamplane.client import (
    ClientMetrics,
    Consumer,
    DeadLetterPolicy,
    Record,
    RecordBatch,
    Telemetry,
    TopicSchema,
    TopicSchemas,
)
from streamplane.client._batch import _CURRENT_CONTEXT
from streamplane.client._record import FetchedRecord
from streamplane.kafka import ConnectionSettings

TRACER = TracerProvider().get_tracer("test")


class FakeNative:
    """What the consumer calls on confluent-kafka's Consumer, serving one batch."""

    def __init__(self, batch: list[Message]) -> None:
        self.batches = [batch]
        self.stored: dict[tuple[str, int], int] = {}
        self.committed: dict[tuple[str, int], int] = {}

    def consume(self, _n: int, _timeout: float) -> list[Message]:
        return self.batches.pop(0) if self.batches else []

    def poll(self, _timeout: float) -> None:
        return None

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            self.stored[(tp.topic, tp.partition)] = tp.offset

    def commit(self, asynchronous: bool = True) -> None:
        self.committed.update(self.stored)

    def close(self) -> None:
        return None


@pytest.fixture
def consumer() -> Iterator[Consumer]:
    metrics = ClientMetrics(CollectorRegistry())
    built = Consumer(
        connection=ConnectionSettings(
            "127.0.0.1:1", security_protocol="PLAINTEXT", sasl_mechanism=None
        ),
        app_id="orders", group_id="orders", topics=["t"],
        telemetry=Telemetry(metrics=metrics, statistics_interval_ms=0), dead_letters=None,
    )  # fmt: skip
    built._consumer.close()
    yield built
    built.close()


def serve(consumer: Consumer, batch: list[Message]) -> FakeNative:
    fake = FakeNative(batch)
    consumer._consumer = fake  # type: ignore[assignment]
    return fake


def committed(consumer: Consumer, fake: FakeNative) -> dict[tuple[str, int], int]:
    """What the consumer commits when it next commits (as on revocation or close)."""
    consumer._commit_sync("check")
    return fake.committed


def message(partition: int, offset: int, headers: list[tuple[str, Any]] | None = None) -> Message:
    return Message(
        topic="t", partition=partition, offset=offset, key=b"k", value=b"v" * 10,
        headers=headers, timestamp=(1, 1000 + offset),
    )  # fmt: skip


def test_a_batch_stores_the_next_offset_of_every_partition_and_counts_records(
    consumer: Consumer,
) -> None:
    batch = [message(0, 0), message(1, 7), message(0, 1), message(1, 8), message(0, 2)]
    fake = serve(consumer, batch)
    seen: list[tuple[int, int]] = []

    handled = consumer.run(lambda r: seen.append((r.partition, r.offset)), max_records=5)

    assert handled == 5
    assert seen == [(0, 0), (1, 7), (0, 1), (1, 8), (0, 2)]
    assert committed(consumer, fake) == {("t", 0): 3, ("t", 1): 9}
    assert consumer._stats is not None
    assert consumer._stats.consumed == {"t": [5, 5 * 11]}


def test_processed_offsets_are_stored_when_the_commit_interval_comes_not_per_batch(
    consumer: Consumer,
) -> None:
    fake = serve(consumer, [message(0, 0), message(0, 1), message(1, 3)])

    consumer.run(lambda r: None, max_records=3)

    # Within the commit interval: nothing stored yet, nothing lost either.
    assert fake.stored == {}
    assert consumer._pending == {("t", 0): 2, ("t", 1): 4}
    consumer._last_commit -= consumer.commit_policy.interval_s
    consumer._maybe_commit()
    assert fake.stored == fake.committed == {("t", 0): 2, ("t", 1): 4}
    assert consumer._pending == {}


def test_a_failing_handler_leaves_its_record_and_the_rest_uncommitted(
    consumer: Consumer,
) -> None:
    batch = [message(0, 0), message(1, 7), message(0, 1), message(1, 8)]
    fake = serve(consumer, batch)

    def handle(record: Record) -> None:
        if record.offset == 1:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        consumer.run(handle, max_records=4)

    assert committed(consumer, fake) == {("t", 0): 1, ("t", 1): 8}
    assert [(m.partition(), m.offset()) for m in consumer._backlog] == [(0, 1), (1, 8)]


def test_stopping_after_max_records_keeps_the_rest_for_the_next_run(consumer: Consumer) -> None:
    fake = serve(consumer, [message(0, 0), message(0, 1), message(0, 2)])

    assert consumer.run(lambda r: None, max_records=2) == 2
    assert committed(consumer, fake) == {("t", 0): 2}
    assert consumer.run(lambda r: None, max_records=1) == 1
    assert committed(consumer, fake) == {("t", 0): 3}


def test_the_handler_runs_in_the_producers_trace_only_for_records_that_carry_one(
    consumer: Consumer,
) -> None:
    carrier: dict[str, str] = {}
    with TRACER.start_as_current_span("produce") as span:
        propagate.inject(carrier)
    traced = [(name, value.encode()) for name, value in carrier.items()]
    batch = [message(0, 0, traced), message(0, 1, traced), message(0, 2), message(0, 3, traced)]
    serve(consumer, batch)
    seen: list[int] = []

    def handle(record: Record) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)
        if record.offset == 0:
            # A handler that leaves a context of its own current must not leak it.
            TRACER.start_as_current_span("leaked").__enter__()

    consumer.run(handle, max_records=4)

    producer = span.get_span_context().trace_id
    assert seen == [producer, producer, 0, producer]
    assert not trace.get_current_span().get_span_context().is_valid


ORDER_SCHEMA = (
    '{"type": "record", "name": "Order", "fields": ['
    '{"name": "id", "type": "string"}, {"name": "amount_minor", "type": "long"}]}'
)


def avro_consumer(registry: SchemaRegistryClient) -> Consumer:
    built = Consumer(
        connection=ConnectionSettings(
            "127.0.0.1:1", security_protocol="PLAINTEXT", sasl_mechanism=None
        ),
        app_id="orders", group_id="orders", topics=["t"],
        schemas={"t": TopicSchemas(value=TopicSchema.avro(ORDER_SCHEMA))}, registry=registry,
        telemetry=Telemetry(metrics=ClientMetrics(CollectorRegistry()), statistics_interval_ms=0),
        dead_letters=None,
    )  # fmt: skip
    built._consumer.close()
    return built


def avro_message(offset: int, value: bytes | None, partition: int = 0) -> Message:
    return Message(
        topic="t", partition=partition, offset=offset, value=value, timestamp=(1, 500 + offset)
    )


def test_avro_values_read_inline_equal_the_deserializers_and_a_tombstone_reads_as_none() -> None:
    registry = SchemaRegistryClient.new_client({"url": "mock://batch"})
    serialize = AvroSerializer(registry, ORDER_SCHEMA)
    context = SerializationContext("t", MessageField.VALUE)
    orders = [{"id": f"o{i}", "amount_minor": i} for i in range(6)]
    values: list[bytes | None] = [serialize(order, context) for order in orders]
    values.insert(3, None)
    consumer = avro_consumer(registry)
    fake = serve(consumer, [avro_message(offset, value) for offset, value in enumerate(values)])
    seen: list[Any] = []

    handled = consumer.run(
        lambda r: seen.append((r.offset, r.timestamp_ms, r.value)), max_records=7
    )
    consumer.close()

    assert handled == 7
    # Read inline through the decoder's shortcut after the first record.
    assert consumer._value_decoders["t"].shortcut() is not None
    expected = [*orders[:3], None, *orders[3:]]
    assert seen == [(offset, 500 + offset, value) for offset, value in enumerate(expected)]
    assert fake.committed == {("t", 0): 7}  # committed by close()
    assert consumer._stats is not None
    assert consumer._stats.consumed == {"t": [7, sum(len(v or b"") for v in values)]}


def test_a_body_that_does_not_decode_behind_a_known_frame_is_not_handed_over() -> None:
    registry = SchemaRegistryClient.new_client({"url": "mock://batch-bad"})
    context = SerializationContext("t", MessageField.VALUE)
    good = [AvroSerializer(registry, ORDER_SCHEMA)({"id": "o", "amount_minor": i}, context)
            for i in range(3)]  # fmt: skip
    bad = good[0][:5] + b"\xff"  # the right schema id, a body that is no Order
    consumer = avro_consumer(registry)
    batch = [avro_message(0, good[0]), avro_message(1, good[1]), avro_message(2, bad),
             avro_message(3, good[2])]  # fmt: skip
    fake = serve(consumer, batch)
    seen: list[int] = []

    # Without a dead-letter policy the decoding error stops the consumer at that record.
    with pytest.raises(Exception):  # noqa: B017 (cavro's and fastavro's own error types)
        consumer.run(lambda r: seen.append(r.offset), max_records=4)

    assert seen == [0, 1]
    assert committed(consumer, fake) == {("t", 0): 2}
    assert [m.offset() for m in consumer._backlog] == [2, 3]
    consumer.close()


def test_records_of_two_topics_are_counted_and_stored_per_topic_and_partition(
    consumer: Consumer,
) -> None:
    def of(topic: str, partition: int, offset: int) -> Message:
        return Message(topic=topic, partition=partition, offset=offset, value=b"v" * 4)

    batch = [
        of("t", 0, 5),
        of("t", 0, 6),
        of("u", 0, 1),
        of("u", 1, 9),
        of("t", 1, 2),
        of("u", 0, 2),
    ]
    fake = serve(consumer, batch)
    seen: list[tuple[str, int, int]] = []

    consumer.run(lambda r: seen.append((r.topic, r.partition, r.offset)), max_records=6)

    assert seen == [(m.topic(), m.partition(), m.offset()) for m in batch]
    assert committed(consumer, fake) == {("t", 0): 7, ("u", 0): 3, ("u", 1): 10, ("t", 1): 3}
    assert consumer._stats is not None
    assert consumer._stats.consumed == {"t": [3, 12], "u": [3, 12]}


def test_stop_called_by_the_handler_returns_after_that_record_and_keeps_the_rest(
    consumer: Consumer,
) -> None:
    batch = [message(0, 0), message(1, 4), message(0, 1), message(1, 5)]
    fake = serve(consumer, batch)
    seen: list[int] = []

    def handle(record: Record) -> None:
        seen.append(record.offset)
        if record.offset == 4:
            consumer.stop()

    assert consumer.run(handle) == 2
    assert seen == [0, 4]
    assert committed(consumer, fake) == {("t", 0): 1, ("t", 1): 5}
    assert [(m.partition(), m.offset()) for m in consumer._backlog] == [(0, 1), (1, 5)]


def test_a_record_reads_offset_and_timestamp_from_its_message_unless_given() -> None:
    msg = message(2, 41)
    fetched = FetchedRecord("t", 2, b"k", "v", [], msg)
    given = Record("t", 2, 7, b"k", "v", [], 99, msg, read_from="t.retry.1", attempt=1)

    assert isinstance(fetched, Record)
    assert (fetched.offset, fetched.timestamp_ms, fetched.attempt, fetched.read_from) == (
        41, 1041, 0, "t",
    )  # fmt: skip
    assert (given.offset, given.timestamp_ms, given.attempt, given.read_from) == (
        7, 99, 1, "t.retry.1",
    )  # fmt: skip
    assert repr(fetched) == "Record(topic='t', partition=2, offset=41, key=b'k', attempt=0)"


def test_the_loops_current_context_call_answers_as_opentelemetry_does() -> None:
    with TRACER.start_as_current_span("outer"):
        assert _CURRENT_CONTEXT() is otel_context.get_current()
    assert _CURRENT_CONTEXT() is otel_context.get_current()


# ---------------------------------------------------------------------- run_batches
def test_run_batches_hands_a_poll_over_in_one_call_and_stores_offsets_after_it(
    consumer: Consumer,
) -> None:
    batch = [message(0, 0), message(1, 7), message(0, 1), message(1, 8), message(0, 2)]
    fake = serve(consumer, batch)
    calls: list[RecordBatch] = []

    pending: list[dict[tuple[str, int], int]] = []

    def handle(records: RecordBatch) -> None:
        pending.append(dict(consumer._pending))
        calls.append(records)

    assert consumer.run_batches(handle, max_records=5) == 5

    # The first record builds the topic's decoders (the slow path, alone); then one call.
    assert [len(call) for call in calls] == [1, 4]
    # Offsets are noted after each call returned, never before.
    assert pending == [{}, {("t", 0): 1}]
    rest = calls[1]
    assert rest.values == [b"v" * 10] * 4 and rest.keys == [b"k"] * 4
    assert [(r.partition, r.offset, r.timestamp_ms) for r in rest] == [
        (1, 7, 1007), (0, 1, 1001), (1, 8, 1008), (0, 2, 1002)
    ]  # fmt: skip
    assert rest[-1].topic == "t" and [r.offset for r in rest[1:3]] == [1, 8]
    assert committed(consumer, fake) == {("t", 0): 3, ("t", 1): 9}
    assert consumer._stats is not None
    assert consumer._stats.consumed == {"t": [5, 5 * 11]}


def test_a_failing_batch_handler_leaves_the_whole_call_uncommitted_for_the_next_run(
    consumer: Consumer,
) -> None:
    fake = serve(consumer, [message(0, 0), message(0, 1), message(1, 5), message(0, 2)])
    failures = iter([None, RuntimeError("boom")])

    def handle(records: RecordBatch) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure

    with pytest.raises(RuntimeError, match="boom"):
        consumer.run_batches(handle, max_records=4)

    assert committed(consumer, fake) == {("t", 0): 1}
    assert [(m.partition(), m.offset()) for m in consumer._backlog] == [(0, 1), (1, 5), (0, 2)]
    seen: list[int] = []
    assert consumer.run_batches(lambda rs: seen.extend(r.offset for r in rs), max_records=3) == 3
    assert seen == [1, 5, 2]
    assert committed(consumer, fake) == {("t", 0): 3, ("t", 1): 6}


def test_with_dead_letters_a_failed_batch_is_retried_one_by_one_and_only_its_culprit_parked(
    consumer: Consumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = serve(consumer, [message(0, 0), message(0, 1), message(0, 2), message(0, 3)])
    consumer.dead_letters = DeadLetterPolicy()
    parked: list[int] = []
    monkeypatch.setattr(
        consumer, "_park", lambda msg, exc, **_: parked.append(msg.offset())
    )  # fmt: skip
    handed: list[list[int]] = []

    def handle(records: RecordBatch) -> None:
        offsets = [r.offset for r in records]
        handed.append(offsets)
        if 2 in offsets:
            raise ValueError("record 2 is bad")

    assert consumer.run_batches(handle, max_records=4) == 4

    assert handed == [[0], [1, 2, 3], [1], [2], [3]]
    assert parked == [2]
    assert committed(consumer, fake) == {("t", 0): 4}


def test_run_batches_stops_at_max_records_and_keeps_the_rest(consumer: Consumer) -> None:
    fake = serve(consumer, [message(0, 0), message(0, 1), message(0, 2), message(0, 3)])
    sizes: list[int] = []

    assert consumer.run_batches(lambda rs: sizes.append(len(rs)), max_records=3) == 3
    assert sizes == [1, 2]
    assert committed(consumer, fake) == {("t", 0): 3}
    assert [m.offset() for m in consumer._backlog] == [3]


def test_an_undecodable_record_splits_a_batch_and_stops_it_without_dead_letters() -> None:
    registry = SchemaRegistryClient.new_client({"url": "mock://batches-bad"})
    context = SerializationContext("t", MessageField.VALUE)
    good = [AvroSerializer(registry, ORDER_SCHEMA)({"id": "o", "amount_minor": i}, context)
            for i in range(4)]  # fmt: skip
    bad = good[0][:5] + b"\xff"
    consumer = avro_consumer(registry)
    batch = [avro_message(0, good[0]), avro_message(1, good[1]), avro_message(2, good[2]),
             avro_message(3, bad), avro_message(4, good[3])]  # fmt: skip
    fake = serve(consumer, batch)
    handed: list[list[int]] = []

    with pytest.raises(Exception):  # noqa: B017 (cavro's and fastavro's own error types)
        consumer.run_batches(lambda rs: handed.append([r.value["amount_minor"] for r in rs]))

    # The first alone (decoders built), the next two together, then the bad one stops it.
    assert handed == [[0], [1, 2]]
    assert committed(consumer, fake) == {("t", 0): 3}
    assert [m.offset() for m in consumer._backlog] == [3, 4]
    consumer.close()
