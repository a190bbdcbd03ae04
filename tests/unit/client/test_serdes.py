"""Values are encoded per their topic's declared schema, and refused before the broker otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from streamplane.client import (
    ClientError,
    SchemaViolation,
    TopicSchema,
    TopicSchemas,
    schemas_from_spec,
)
from streamplane.client._serdes import RecordDeserializer, RecordSerializer
from tests.unit.client.proto import event_class
from tests.unit.client.specs import ORDER_AVSC, write_spec

ORDER = {"id": "o1", "amount_minor": 1250, "currency": "EUR"}


def registry() -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": "mock://unit"})


def serializer(spec_root: Path, client: SchemaRegistryClient | None = None) -> RecordSerializer:
    spec = write_spec(spec_root)
    return RecordSerializer(
        schemas_from_spec(spec), client or registry(), schema_header="streamplane-schema-id"
    )


def test_schemas_from_spec_reads_formats_and_files(tmp_path: Path) -> None:
    schemas = schemas_from_spec(write_spec(tmp_path), protobuf_types={"shop.orders.events": int})
    placed = schemas["shop.orders.placed"].value
    assert placed is not None and placed.format == "AVRO" and placed.source == "schemas/order.avsc"
    assert '"Order"' in (placed.text or "")
    assert schemas["shop.orders.notes"].value == TopicSchema.json(
        (tmp_path / "schemas/note.json").read_text(), source="schemas/note.json"
    )
    events = schemas["shop.orders.events"].value
    assert events is not None and events.message_type is int
    assert "shop.orders.raw" not in schemas


def test_avro_value_round_trips_and_carries_its_schema_id(tmp_path: Path) -> None:
    client = registry()
    encoder = serializer(tmp_path, client).value_encoder("shop.orders.placed")
    data = encoder.encode(ORDER)
    assert data is not None and data[0] == 0
    assert encoder.schema_header is not None
    name, value = encoder.schema_header
    assert name == "streamplane-schema-id"
    assert int(value) == client.get_latest_version("shop.orders.placed-value").schema_id
    schemas = {"shop.orders.placed": TopicSchemas(value=TopicSchema.avro())}
    assert (
        RecordDeserializer(schemas, client).value_decoder("shop.orders.placed").decode(data)
        == ORDER
    )


@pytest.mark.parametrize("raw", [b"\x00\x00\x00\x00\x01abc", "an order", bytearray(b"x")])
def test_raw_bytes_or_text_for_an_avro_topic_are_refused_naming_topic_and_schema(
    tmp_path: Path, raw: Any
) -> None:
    encoder = serializer(tmp_path).value_encoder("shop.orders.placed")
    with pytest.raises(SchemaViolation) as info:
        encoder.encode(raw)
    message = str(info.value)
    assert "topic shop.orders.placed declares an AVRO schema (schemas/order.avsc)" in message
    assert "raw bytes or text bypass the schema" in message
    assert info.value.topic == "shop.orders.placed" and info.value.declared == "AVRO"


def test_a_value_that_does_not_match_the_avro_schema_is_refused(tmp_path: Path) -> None:
    encoder = serializer(tmp_path).value_encoder("shop.orders.placed")
    with pytest.raises(SchemaViolation, match="refused a dict value before sending it"):
        encoder.encode({"id": "o1", "amount_minor": "twelve"})
    with pytest.raises(SchemaViolation, match="refused a int value"):
        encoder.encode(42)


def test_json_schema_topic_validates_values(tmp_path: Path) -> None:
    client = registry()
    encoder = serializer(tmp_path, client).value_encoder("shop.orders.notes")
    data = encoder.encode({"id": "n1", "n": 2})
    assert data is not None and data[0] == 0
    with pytest.raises(SchemaViolation, match="JSON schema"):
        encoder.encode({"id": "n1"})


def test_protobuf_topic_takes_the_message_class_from_the_value(tmp_path: Path) -> None:
    event = event_class()
    client = registry()
    encoder = serializer(tmp_path, client).value_encoder("shop.orders.events")
    data = encoder.encode(event(id="e1", n=7))
    assert data is not None and encoder.schema_header is not None
    with pytest.raises(SchemaViolation, match="expected a protobuf message"):
        encoder.encode({"id": "e1"})
    schemas = {"shop.orders.events": TopicSchemas(value=TopicSchema.protobuf(event))}
    decoded = RecordDeserializer(schemas, client).value_decoder("shop.orders.events").decode(data)
    assert (decoded.id, decoded.n) == ("e1", 7)


def test_a_protobuf_topic_is_consumed_without_its_class_into_the_writer_type(
    tmp_path: Path,
) -> None:
    client = registry()
    encoder = serializer(tmp_path, client).value_encoder("shop.orders.events")
    data = encoder.encode(event_class()(id="e1", n=7))
    schemas = schemas_from_spec(write_spec(tmp_path))  # declares PROTOBUF, names no class
    decoded = RecordDeserializer(schemas, client).value_decoder("shop.orders.events").decode(data)
    assert decoded.DESCRIPTOR.full_name == "shop.Event"
    assert (decoded.id, decoded.n) == ("e1", 7)


def test_message_indexes_pick_the_second_and_nested_messages_of_a_file() -> None:
    from tests.unit.client.proto import shipment_classes

    shipment, parcel = shipment_classes()
    client = registry()
    schemas = {t: TopicSchemas(value=TopicSchema.protobuf()) for t in ("s", "p")}
    writer = RecordSerializer(schemas, client, schema_header="streamplane-schema-id")
    value = shipment(id="s1")
    value.at.seconds = 1767225600
    sent = writer.value_encoder("s").encode(value)
    packed = writer.value_encoder("p").encode(parcel(grams=750))
    assert sent is not None and packed is not None
    assert sent[5:7] == b"\x02\x02" and packed[5:8] == b"\x04\x02\x00"  # [1] and [1, 0]
    readers = RecordDeserializer(schemas, client)
    got = readers.value_decoder("s").decode(sent)
    assert got.DESCRIPTOR.full_name == "shop.Shipment"
    assert (got.id, got.at.seconds) == ("s1", 1767225600)
    got = readers.value_decoder("p").decode(packed)
    assert got.DESCRIPTOR.full_name == "shop.Shipment.Parcel" and got.grams == 750
    with pytest.raises(ValueError, match="wire format"):
        readers.value_decoder("p").decode(b"\x00\x00\x00\x00\x01")


def test_topics_without_a_schema_take_bytes_and_text_only(tmp_path: Path) -> None:
    encoder = serializer(tmp_path).value_encoder("shop.orders.raw")
    assert encoder.encode(b"x") == b"x" and encoder.encode("é") == "é".encode()
    assert encoder.schema_header is None
    with pytest.raises(SchemaViolation, match="declares no value schema"):
        encoder.encode({"a": 1})


def test_a_schema_topic_without_a_registry_says_what_to_pass(tmp_path: Path) -> None:
    schemas = {"t": TopicSchemas(value=TopicSchema.avro(str(ORDER_AVSC)))}
    with pytest.raises(ClientError, match="no schema registry; pass registry="):
        RecordSerializer(schemas, None, schema_header="h").value_encoder("t")


def test_decoding_bytes_that_are_not_in_the_wire_format_fails(tmp_path: Path) -> None:
    schemas = {"t": TopicSchemas(value=TopicSchema.avro())}
    with pytest.raises(ValueError, match="wire format"):
        RecordDeserializer(schemas, registry()).value_decoder("t").decode(b"plain text")


def test_avro_shortcut_writes_exactly_what_the_confluent_serializer_writes(tmp_path: Path) -> None:
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = registry()
    encoder = serializer(tmp_path, client).value_encoder("shop.orders.placed")
    orders = [{"id": f"o{i}", "amount_minor": i * 1000 - 7, "currency": "CHF"} for i in range(50)]
    ours = [encoder.encode(order) for order in orders]
    assert encoder._write is not None  # type: ignore[attr-defined]  # the shortcut is on
    reference = AvroSerializer(client, (tmp_path / "schemas/order.avsc").read_text())
    ctx = SerializationContext("shop.orders.placed", MessageField.VALUE)
    assert ours == [reference(order, ctx) for order in orders]
    with pytest.raises(SchemaViolation, match="refused a dict value"):
        encoder.encode({"id": 5, "amount_minor": 1})


def test_avro_shortcut_reads_exactly_what_the_confluent_deserializer_reads(tmp_path: Path) -> None:
    client = registry()
    encoder = serializer(tmp_path, client).value_encoder("shop.orders.placed")
    orders = [{"id": f"o{i}", "amount_minor": i, "currency": "EUR"} for i in range(20)]
    data = [encoder.encode(order) for order in orders]
    decoder = RecordDeserializer(
        {"shop.orders.placed": TopicSchemas(value=TopicSchema.avro())}, client
    ).value_decoder("shop.orders.placed")
    assert [decoder.decode(d) for d in data] == orders
    assert list(decoder._writers.values()) != [None]  # type: ignore[attr-defined]


def test_avro_records_whose_schema_has_rules_keep_the_full_deserializer(tmp_path: Path) -> None:
    import io
    import json

    from confluent_kafka.schema_registry import RuleSet, Schema
    from fastavro import parse_schema, schemaless_writer

    client = registry()
    text = (write_spec(tmp_path).root / "schemas/order.avsc").read_text()
    schema_id = client.register_schema("t-value", Schema(text, "AVRO", rule_set=RuleSet([], [])))
    body = io.BytesIO()
    schemaless_writer(body, parse_schema(json.loads(text)), ORDER)
    data = b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()
    decoder = RecordDeserializer({"t": TopicSchemas(value=TopicSchema.avro())}, client)
    value_decoder = decoder.value_decoder("t")
    assert value_decoder.decode(data) == ORDER
    assert value_decoder.decode(data) == ORDER
    assert list(value_decoder._writers.values()) == [None]  # type: ignore[attr-defined]
