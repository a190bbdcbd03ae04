"""A dict key an Avro schema has no field for is refused, not silently dropped.

Avro writers (fastavro inside confluent-kafka's serializer, and cavro) write only the
schema's fields and drop the rest. These tests go through the SDK's encoder with a mock
registry: the first record (confluent-kafka's serializer), the records after it (the
compiled writer), and a schema that keeps fastavro (``timestamp-millis``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from streamplane.client import SchemaViolation, TopicSchema, TopicSchemas
from streamplane.client._avro import field_check
from streamplane.client._serdes import Encoder, RecordSerializer

ADDRESS = {
    "type": "record",
    "name": "Address",
    "fields": [{"name": "city", "type": "string"}],
}
ORDER = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "currency", "type": "string", "default": "EUR"},
        {
            "name": "lines",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Line",
                    "fields": [{"name": "sku", "type": "string"}],
                },
            },
            "default": [],
        },
        {"name": "ship_to", "type": ["null", ADDRESS], "default": None},
        {"name": "bill_to", "type": ["null", "Address"], "default": None},  # by name
        {"name": "by_warehouse", "type": {"type": "map", "values": "Line"}, "default": {}},
        {"name": "labels", "type": {"type": "map", "values": "string"}, "default": {}},
    ],
}
VALID: dict[str, Any] = {
    "id": "o1",
    "lines": [{"sku": "a"}],
    "ship_to": {"city": "Lyon"},
    "bill_to": None,
    "by_warehouse": {"w1": {"sku": "b"}},
    "labels": {"any key": "is fine in a map"},
}


def encoder(schema: dict[str, Any], topic: str = "shop.orders") -> Encoder:
    registry = SchemaRegistryClient.new_client({"url": "mock://extra-fields"})
    declared = TopicSchema.avro(json.dumps(schema), source="schemas/order.avsc")
    serializer = RecordSerializer(
        {topic: TopicSchemas(value=declared)}, registry, schema_header="streamplane-schema-id"
    )
    return serializer.value_encoder(topic)


def refusal(enc: Encoder, value: Any) -> str:
    with pytest.raises(SchemaViolation) as info:
        enc.encode(value)
    assert info.value.topic == "shop.orders" and info.value.declared == "AVRO"
    return str(info.value)


@pytest.mark.parametrize("records_before", [0, 2], ids=["first record", "compiled writer"])
def test_an_extra_top_level_key_is_refused_naming_it_the_record_and_the_schema(
    records_before: int,
) -> None:
    enc = encoder(ORDER)
    for _ in range(records_before):
        assert enc.encode(VALID) is not None
    message = refusal(enc, {**VALID, "amount": 1250})
    assert "topic shop.orders declares an AVRO schema (schemas/order.avsc)" in message
    assert "it has a key the schema has no field for: `amount` (record shop.Order)" in message
    assert "Avro would drop it without a word" in message


@pytest.mark.parametrize(
    ("value", "found"),
    [
        (
            {**VALID, "lines": [{"sku": "a"}, {"sku": "b", "qty": 2}]},
            "`lines[1].qty` (record shop.Line)",
        ),
        (
            {**VALID, "ship_to": {"city": "Lyon", "zip": "69001"}},
            "`ship_to.zip` (record shop.Address)",
        ),
        (
            {**VALID, "bill_to": {"city": "Nice", "zip": "06000"}},
            "`bill_to.zip` (record shop.Address)",
        ),
        (
            {**VALID, "by_warehouse": {"w1": {"sku": "b", "bin": 4}}},
            "`by_warehouse['w1'].bin` (record shop.Line)",
        ),
    ],
    ids=["array of records", "union with a record", "record named by reference", "map of records"],
)
def test_extra_keys_in_nested_records_are_refused_with_their_path(value: Any, found: str) -> None:
    enc = encoder(ORDER)
    enc.encode(VALID)
    enc.encode(VALID)  # the compiled writer is in charge from here
    assert found in refusal(enc, value)


def test_every_extra_key_is_listed() -> None:
    message = refusal(encoder(ORDER), {**VALID, "zz": 1, "ship_to": {"city": "x", "street": "y"}})
    assert "keys the schema has no field for: `zz` (record shop.Order), `ship_to.street`" in message


def test_keys_a_map_holds_and_fields_left_to_their_defaults_are_fine() -> None:
    enc = encoder(ORDER)
    assert enc.encode({"id": "o2", "labels": {"k1": "v", "k2": "w"}}) is not None
    assert enc.encode({"id": "o3"}) is not None


def test_a_schema_that_keeps_fastavro_refuses_extra_keys_too() -> None:
    stamped = {
        "type": "record",
        "name": "Event",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ],
    }
    enc = encoder(stamped)
    for _ in range(2):
        assert enc.encode({"id": "e", "at": 1767225600000}) is not None
    assert "`note` (record Event)" in refusal(enc, {"id": "e", "at": 1767225600000, "note": "x"})


def test_a_recursive_schema_is_checked_at_every_depth() -> None:
    node = {
        "type": "record",
        "name": "Node",
        "namespace": "tree",
        "fields": [
            {"name": "label", "type": "string"},
            {"name": "children", "type": {"type": "array", "items": "Node"}, "default": []},
        ],
    }
    deep = {"label": "a", "children": [{"label": "b", "children": [{"label": "c", "x": 1}]}]}
    assert "`children[0].children[0].x` (record tree.Node)" in refusal(encoder(node), deep)


def test_a_flat_record_is_checked_with_one_set_comparison_and_nested_ones_walked() -> None:
    flat = field_check({"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]})
    assert flat is not None and flat.flat == frozenset({"a"})
    nested = field_check(ORDER)
    assert nested is not None and nested.flat is None
    assert nested.extra_fields(VALID) == []
    assert field_check({"type": "array", "items": "string"}) is None  # no record: no check
