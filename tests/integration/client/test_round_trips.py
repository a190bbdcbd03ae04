"""Avro, Protobuf and JSON Schema values through the SDK, the cluster and a real registry."""

from __future__ import annotations

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from streamplane.client import (
    APP_HEADER,
    SCHEMA_ID_HEADER,
    Consumer,
    Producer,
    ProfileError,
    Record,
    SchemaViolation,
    schemas_from_spec,
)
from tests.integration.client.conftest import Estate
from tests.integration.registry.serving import Served
from tests.unit.client.proto import event_class


def consume_all(consumer: Consumer, count: int) -> list[Record]:
    seen: list[Record] = []
    with consumer:
        consumer.run(seen.append, max_records=count, idle_timeout_s=30)
    return seen


def test_avro_round_trip_carries_app_and_schema_id_headers(estate: Estate) -> None:
    topic = estate.topic("placed")
    estate.create(topic, partitions=3)
    orders = [{"id": f"o{i}", "amount_minor": i * 100, "currency": "EUR"} for i in range(30)]
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, registry=estate.registry_url,
        telemetry=estate.telemetry(),
    ) as producer:  # fmt: skip
        for order in orders:
            producer.produce(topic, order, key=order["id"])
    consumer = Consumer.for_application(
        estate.spec, "fulfilment", connection=estate.connection, registry=estate.registry_url,
        topics=[topic], telemetry=estate.telemetry(),
    )  # fmt: skip
    records = consume_all(consumer, len(orders))
    assert sorted((r.value for r in records), key=lambda o: int(o["id"][1:])) == orders
    registered = SchemaRegistryClient({"url": estate.registry_url}).get_latest_version(
        f"{topic}-value"
    )
    for record in records:
        assert record.key == record.value["id"].encode()  # raw key: the topic has no key schema
        assert record.producer_app == "checkout" and record.header(APP_HEADER) == b"checkout"
        assert record.schema_id == registered.schema_id
        assert record.header(SCHEMA_ID_HEADER) == str(registered.schema_id).encode()


def test_values_that_break_the_declared_schema_are_refused_before_the_broker(
    estate: Estate,
) -> None:
    topic = estate.topic("placed")
    estate.create(topic)
    telemetry = estate.telemetry()
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, registry=estate.registry_url,
        telemetry=telemetry,
    ) as producer:  # fmt: skip
        with pytest.raises(SchemaViolation) as raw:
            producer.produce(topic, b"\x00\x00\x00\x00\x01 pre-serialized elsewhere")
        assert f"topic {topic} declares an AVRO schema (schemas/order.avsc)" in str(raw.value)
        with pytest.raises(SchemaViolation, match="refused a str value"):
            producer.produce(topic, '{"id": "o1"}')
        with pytest.raises(SchemaViolation, match="refused a dict value"):
            producer.produce(topic, {"id": "o1", "amount_minor": "lots"})
    assert estate.end_offsets(topic) == [0]  # nothing reached the broker
    labels = {"app": "checkout", "client_id": f"{estate.prefix}checkout", "role": "producer"}
    assert estate.metric("streamplane_client_errors_total", **labels, kind="serialization") == 3


def test_zero_loss_application_with_acks_1_is_refused(estate: Estate) -> None:
    with pytest.raises(ProfileError, match=r"acks=1 breaks the zero_loss guarantee"):
        Producer.for_application(
            estate.spec, "checkout", connection=estate.connection, config={"acks": "1"}
        )


def _require_format(registry: Served, fmt: str) -> None:
    served = httpx.get(f"{registry.url}/schemas/types", timeout=10).json()
    assert fmt in served, f"the registry does not serve {fmt} schemas (GET /schemas/types)"


def test_protobuf_round_trip(estate: Estate, registry: Served) -> None:
    _require_format(registry, "PROTOBUF")
    topic = estate.topic("events")
    estate.create(topic)
    event = event_class()
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, registry=estate.registry_url,
        telemetry=estate.telemetry(),
    ) as producer:  # fmt: skip
        for i in range(10):
            producer.produce(topic, event(id=f"e{i}", n=i))
        with pytest.raises(SchemaViolation, match="PROTOBUF"):
            producer.produce(topic, {"id": "not a message"})
    consumer = Consumer.for_application(
        estate.spec, "fulfilment", connection=estate.connection, registry=estate.registry_url,
        topics=[topic], protobuf_types={topic: event}, telemetry=estate.telemetry(),
    )  # fmt: skip
    records = consume_all(consumer, 10)
    assert [(r.value.id, r.value.n) for r in records] == [(f"e{i}", i) for i in range(10)]
    assert all(r.schema_id is not None for r in records)
    # Without the generated class: the writer's type, built from the registry's schema.
    generic = Consumer(
        connection=estate.connection, app_id="inspector", group_id=f"{estate.prefix}inspector",
        topics=[topic], schemas=schemas_from_spec(estate.spec, [topic]),
        registry=estate.registry_url, telemetry=estate.telemetry(),
    )  # fmt: skip
    records = consume_all(generic, 10)
    assert {type(r.value).DESCRIPTOR.full_name for r in records} == {"shop.Event"}
    assert [(r.value.id, r.value.n) for r in records] == [(f"e{i}", i) for i in range(10)]


def test_json_schema_round_trip(estate: Estate, registry: Served) -> None:
    _require_format(registry, "JSON")
    topic = estate.topic("notes")
    estate.create(topic)
    notes = [{"id": f"n{i}", "n": i} for i in range(10)]
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, registry=estate.registry_url,
        telemetry=estate.telemetry(),
    ) as producer:  # fmt: skip
        for note in notes:
            producer.produce(topic, note)
        with pytest.raises(SchemaViolation, match="JSON"):
            producer.produce(topic, {"id": "missing n"})
    consumer = Consumer.for_application(
        estate.spec, "fulfilment", connection=estate.connection, registry=estate.registry_url,
        topics=[topic], telemetry=estate.telemetry(),
    )  # fmt: skip
    assert [r.value for r in consume_all(consumer, 10)] == notes
