"""Poison pills are parked with their story and the consumer moves on; nothing is ever lost."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer as RawProducer

from streamplane.client import (
    Consumer,
    DeadLetterError,
    DeadLetterOwner,
    DeadLetterPolicy,
    Producer,
    Record,
    dlq_topic,
    inspect_dead_letters,
    retry_topic,
)
from tests.integration.client.conftest import Estate


def owner(estate: Estate, app: str) -> DeadLetterOwner:
    """Whose parking topics: the application's, in its namespace (shop.orders.<app>.)."""
    return DeadLetterOwner.of(estate.spec.applications[app])


def produce_raw(estate: Estate, topic: str, values: list[bytes]) -> None:
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, telemetry=estate.telemetry()
    ) as producer:
        for value in values:
            producer.produce(topic, value, key=value)


def auditor(estate: Estate, **kwargs: object) -> Consumer:
    return Consumer.for_application(
        estate.spec, "auditor", connection=estate.connection, telemetry=estate.telemetry(),
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_failing_handler_parks_the_record_in_the_dlq_and_the_consumer_moves_on(
    estate: Estate,
) -> None:
    topic = estate.topic("raw")
    dlq = dlq_topic(owner(estate, "auditor"), topic)
    assert dlq == f"{estate.prefix}orders.auditor.{topic}.dlq"
    estate.create(topic, dlq)
    produce_raw(estate, topic, [b"ok-1", b"poison", b"ok-2"])
    handled: list[bytes] = []

    def handle(record: Record) -> None:
        if record.value == b"poison":
            raise ValueError("cannot process a poison pill")
        handled.append(record.value)

    started = int(time.time() * 1000)
    with auditor(estate) as consumer:
        assert consumer.run(handle, max_records=3, idle_timeout_s=30) == 3
    assert handled == [b"ok-1", b"ok-2"]
    group = f"{estate.prefix}auditor"
    assert estate.committed(group, topic) == [3]  # past the poison pill

    (letter,) = inspect_dead_letters(estate.connection, topic, owner=owner(estate, "auditor"))
    assert letter.topic == dlq
    assert (letter.key, letter.value) == (b"poison", b"poison")
    assert letter.error_kind == "handler"
    assert letter.error_class == "ValueError"
    assert letter.error_message == "cannot process a poison pill"
    assert letter.origin == (topic, 0, 1)
    assert letter.header("streamplane-failed-app") == "auditor"
    assert letter.header("streamplane-app") == "checkout"  # the producer's lineage is kept
    assert letter.failed_at is not None and letter.failed_at.timestamp() * 1000 >= started - 1000
    labels = {"app": "auditor", "client_id": "auditor", "group": group}
    parked = estate.metric("streamplane_client_records_dead_lettered_total", **labels, topic=dlq)
    assert parked == 1


def test_an_undecodable_value_goes_straight_to_the_dlq(estate: Estate) -> None:
    topic = estate.topic("placed")
    mine = owner(estate, "fulfilment")
    estate.create(topic, dlq_topic(mine, topic), retry_topic(mine, topic, 1))
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, registry=estate.registry_url,
        telemetry=estate.telemetry(),
    ) as producer:  # fmt: skip
        producer.produce(topic, {"id": "o1", "amount_minor": 1, "currency": "EUR"})
    # A producer outside the SDK writes bytes no deserializer can read.
    raw = RawProducer(estate.connection.librdkafka())
    raw.produce(topic, b"not avro at all")
    assert raw.flush(30) == 0
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, registry=estate.registry_url,
        telemetry=estate.telemetry(),
    ) as producer:  # fmt: skip
        producer.produce(topic, {"id": "o3", "amount_minor": 3, "currency": "EUR"})

    handled: list[str] = []
    with Consumer.for_application(
        estate.spec, "fulfilment", connection=estate.connection, registry=estate.registry_url,
        topics=[topic], telemetry=estate.telemetry(),
        dead_letters=DeadLetterPolicy(retry_delays_s=(0.5,)),
    ) as consumer:  # fmt: skip
        consumer.run(lambda r: handled.append(r.value["id"]), max_records=2, idle_timeout_s=30)
    assert handled == ["o1", "o3"]
    (letter,) = inspect_dead_letters(estate.connection, topic, owner=mine)
    assert letter.value == b"not avro at all" and letter.error_kind == "deserialization"
    assert letter.origin == (topic, 0, 1)
    assert estate.end_offsets(retry_topic(mine, topic, 1)) == [0]  # decoding again fails again


def test_retry_topic_waits_for_the_delay_then_the_dlq(estate: Estate) -> None:
    topic = estate.topic("raw")
    mine = owner(estate, "auditor")
    retry = retry_topic(mine, topic, 1)
    estate.create(topic, retry, dlq_topic(mine, topic))
    produce_raw(estate, topic, [b"flaky", b"next"])
    calls: list[tuple[bytes, int, str, float]] = []

    def handle(record: Record) -> None:
        calls.append((record.value, record.attempt, record.read_from, time.monotonic()))
        if record.value == b"flaky":
            raise RuntimeError(f"still failing on attempt {record.attempt}")

    with auditor(estate, dead_letters=DeadLetterPolicy(retry_delays_s=(1.5,))) as consumer:
        consumer.run(handle, max_records=3, idle_timeout_s=30)

    assert [(v, a, src) for v, a, src, _ in calls] == [
        (b"flaky", 0, topic),
        (b"next", 0, topic),  # the main topic is not blocked by the retry
        (b"flaky", 1, retry),
    ]
    assert calls[2][3] - calls[0][3] >= 1.4  # waited for the retry's due time
    (letter,) = inspect_dead_letters(estate.connection, topic, owner=mine)
    assert letter.value == b"flaky" and letter.header("streamplane-attempts") == "2"
    assert letter.error_message == "still failing on attempt 1"
    assert letter.origin == (topic, 0, 0)  # the original record, not its retry copy
    assert letter.header("streamplane-retry-due") is None
    group = f"{estate.prefix}auditor"
    assert estate.committed(group, topic) == [2]
    assert estate.committed(group, retry) == [1]


def test_a_missing_dlq_stops_the_consumer_without_losing_the_record(estate: Estate) -> None:
    topic = estate.topic("raw")
    estate.create(topic)  # no .dlq
    produce_raw(estate, topic, [b"ok", b"poison"])

    def handle(record: Record) -> None:
        if record.value == b"poison":
            raise ValueError("poison")

    with auditor(estate) as consumer, pytest.raises(DeadLetterError, match=r"does not exist"):
        consumer.run(handle, idle_timeout_s=30)
    assert estate.committed(f"{estate.prefix}auditor", topic) == [1]  # the poison pill stays


def test_a_handler_that_raises_before_commit_does_not_lose_the_record(estate: Estate) -> None:
    topic = estate.topic("raw")
    estate.create(topic)
    produce_raw(estate, topic, [b"r0", b"r1", b"r2"])
    failing = {b"r1"}
    handled: list[bytes] = []

    def handle(record: Record) -> None:
        if record.value in failing:
            raise ConnectionError("downstream database unavailable")
        handled.append(record.value)

    with (
        auditor(estate, dead_letters=None, commit="async") as consumer,
        pytest.raises(ConnectionError),
    ):
        consumer.run(handle, idle_timeout_s=30)
    assert handled == [b"r0"]
    assert estate.committed(f"{estate.prefix}auditor", topic) == [1]

    failing.clear()  # the database is back; the application restarts
    with auditor(estate, dead_letters=None) as consumer:
        consumer.run(handle, max_records=2, idle_timeout_s=30)
    assert handled == [b"r0", b"r1", b"r2"]
    assert estate.committed(f"{estate.prefix}auditor", topic) == [3]


def test_the_same_consumer_can_resume_after_a_handler_error(estate: Estate) -> None:
    topic = estate.topic("raw")
    estate.create(topic)
    produce_raw(estate, topic, [b"a", b"b", b"c"])
    attempts: dict[bytes, int] = {}

    def handle(record: Record) -> None:
        attempts[record.value] = attempts.get(record.value, 0) + 1
        if record.value == b"b" and attempts[b"b"] == 1:
            raise TimeoutError("transient")

    with auditor(estate, dead_letters=None, commit="sync") as consumer:
        with pytest.raises(TimeoutError):
            consumer.run(handle, idle_timeout_s=30)
        assert consumer.run(handle, max_records=2, idle_timeout_s=30) == 2
    assert attempts == {b"a": 1, b"b": 2, b"c": 1}


def test_iterator_marks_a_record_processed_only_when_the_next_is_asked_for(
    estate: Estate,
) -> None:
    topic = estate.topic("raw")
    estate.create(topic)
    produce_raw(estate, topic, [b"a", b"b", b"c", b"d"])
    group = f"{estate.prefix}auditor"
    seen: list[bytes] = []
    with auditor(estate, commit="sync") as consumer:
        for record in consumer:
            seen.append(record.value)
            if record.value == b"b":
                break  # b was not acknowledged by asking for the next record
    assert seen == [b"a", b"b"]
    assert estate.committed(group, topic) == [1]
    with auditor(estate, commit="sync") as consumer:
        again = []
        for record in consumer:
            again.append(record.value)
            if len(again) == 2:
                consumer.stop()  # mid-batch: d stays unprocessed
    assert again == [b"b", b"c"]
    assert estate.committed(group, topic) == [3]
