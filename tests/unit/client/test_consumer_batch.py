"""The consumer's batch loop without a broker: offsets, metrics and trace context per batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Message, TopicPartition
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from streamplane.client import ClientMetrics, Consumer, Record, Telemetry
from streamplane.kafka import ConnectionSettings

TRACER = TracerProvider().get_tracer("test")


class FakeNative:
    """What the consumer calls on confluent-kafka's Consumer, serving one batch."""

    def __init__(self, batch: list[Message]) -> None:
        self.batches = [batch]
        self.stored: dict[tuple[str, int], int] = {}

    def consume(self, _n: int, _timeout: float) -> list[Message]:
        return self.batches.pop(0) if self.batches else []

    def poll(self, _timeout: float) -> None:
        return None

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            self.stored[(tp.topic, tp.partition)] = tp.offset

    def commit(self, asynchronous: bool = True) -> None:
        return None

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
    assert fake.stored == {("t", 0): 3, ("t", 1): 9}
    assert consumer._stats is not None
    assert consumer._stats.consumed == {"t": [5, 5 * 11]}


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

    assert fake.stored == {("t", 0): 1, ("t", 1): 8}
    assert [(m.partition(), m.offset()) for m in consumer._backlog] == [(0, 1), (1, 8)]


def test_stopping_after_max_records_keeps_the_rest_for_the_next_run(consumer: Consumer) -> None:
    fake = serve(consumer, [message(0, 0), message(0, 1), message(0, 2)])

    assert consumer.run(lambda r: None, max_records=2) == 2
    assert fake.stored == {("t", 0): 2}
    assert consumer.run(lambda r: None, max_records=1) == 1
    assert fake.stored == {("t", 0): 3}


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
