"""The compiled Avro path writes and reads exactly what confluent-kafka's serdes do.

The SDK hands the first record of a schema to confluent-kafka's AvroSerializer or
AvroDeserializer and every later one to the codec compiled by ``_avro``; these tests
compare the two paths value by value over a schema that uses every Avro type and the
logical types applications use, and check where the compiled path is stricter.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

import cavro
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import given, settings
from hypothesis import strategies as st

from streamplane.client import SchemaViolation, TopicSchema, TopicSchemas
from streamplane.client._serdes import RecordDeserializer, RecordSerializer

TOPIC = "shop.everything"
CTX = SerializationContext(TOPIC, MessageField.VALUE)
LINE = {
    "type": "record", "name": "Line",
    "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}],
}  # fmt: skip
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Everything",
    "namespace": "shop",
    "fields": [
        {"name": "s", "type": "string"},
        {"name": "l", "type": "long"},
        {"name": "i", "type": "int"},
        {"name": "d", "type": "double"},
        {"name": "f", "type": "float"},
        {"name": "b", "type": "boolean"},
        {"name": "raw", "type": "bytes"},
        {"name": "fx", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "e", "type": {"type": "enum", "name": "State", "symbols": ["NEW", "PAID"]}},
        {"name": "lines", "type": {"type": "array", "items": LINE}},
        {"name": "m", "type": {"type": "map", "values": "long"}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "first", "type": ["null", "Line"], "default": None},
        {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        },
        {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
    ],
}
TEXT = json.dumps(SCHEMA)

_longs = st.integers(-(2**63), 2**63 - 1)
_ints = st.integers(-(2**31), 2**31 - 1)
_lines = st.fixed_dictionaries({"sku": st.text(max_size=8), "qty": _ints})
# Millisecond (and microsecond) timestamps, as the logical types keep them.
_instants = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1),
    timezones=st.just(dt.UTC),
)  # fmt: skip
VALUES = st.fixed_dictionaries(
    {
        "s": st.text(max_size=40),
        "l": _longs,
        "i": _ints,
        "d": st.floats(allow_nan=False),
        # Floats that survive the round trip through 32 bits, as Avro floats do.
        "f": st.floats(width=32, allow_nan=False),
        "b": st.booleans(),
        "raw": st.binary(max_size=64),
        "fx": st.binary(min_size=4, max_size=4),
        "e": st.sampled_from(["NEW", "PAID"]),
        "lines": st.lists(_lines, max_size=4),
        "m": st.dictionaries(st.text(max_size=6), _longs, max_size=4),
        "note": st.none() | st.text(max_size=10),
        "first": st.none() | _lines,
        "at_us": _instants,
        "day": st.dates(min_value=dt.date(1900, 1, 1)),
        "price": st.decimals(min_value=-(10**9), max_value=10**9, places=2),
        "ref": st.uuids(),
    }
)


def _by_cavro(write: object) -> bool:
    return isinstance(getattr(write, "__self__", None), cavro.Schema)


@pytest.fixture(scope="module")
def paths() -> tuple[RecordSerializer, RecordDeserializer, AvroSerializer, AvroDeserializer]:
    client = SchemaRegistryClient.new_client({"url": "mock://avro-codec"})
    schemas = {TOPIC: TopicSchemas(value=TopicSchema.avro(TEXT))}
    ours = RecordSerializer(schemas, client, schema_header="streamplane-schema-id")
    theirs = AvroSerializer(client, TEXT, conf={"subject.name.strategy.type": "TOPIC"})
    readers = RecordDeserializer({TOPIC: TopicSchemas(value=TopicSchema.avro())}, client)
    return ours, readers, theirs, AvroDeserializer(client)


def _sample() -> dict[str, Any]:
    return {
        "s": "o-1", "l": 2**40, "i": -3, "d": 1.5, "f": 0.25, "b": True, "raw": b"\x00\xff",
        "fx": b"abcd", "e": "PAID", "lines": [{"sku": "A", "qty": 2}], "m": {"x": 1},
        "note": None, "first": {"sku": "B", "qty": 1}, "at_us": dt.datetime(2026, 1, 2, 3, 4, 5, 6007, tzinfo=dt.UTC),
        "day": dt.date(2026, 11, 25), "price": decimal.Decimal("12.34"), "ref": uuid.UUID(int=7),
    }  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_compiled_path_writes_and_reads_what_the_confluent_serdes_do(
    paths: tuple[RecordSerializer, RecordDeserializer, AvroSerializer, AvroDeserializer],
    value: dict[str, Any],
) -> None:
    ours, readers, theirs, their_reader = paths
    encoder = ours.value_encoder(TOPIC)
    if encoder._write is None:  # type: ignore[attr-defined]
        encoder.encode(_sample())  # the first record goes through the serializer
    assert _by_cavro(encoder._write)  # type: ignore[attr-defined]  # the compiled path is on
    data = encoder.encode(value)
    assert data == theirs(value, CTX)
    decoder = readers.value_decoder(TOPIC)
    if not any(decoder._writers.values()):  # type: ignore[attr-defined]
        decoder.decode(encoder.encode(_sample()))
    assert any(decoder._writers.values())  # type: ignore[attr-defined]
    assert decoder.decode(data) == their_reader(data, CTX)


@pytest.mark.parametrize(
    ("field", "bad", "why"),
    [
        ("l", 1.5, "1.5"),  # fastavro would write 1
        ("l", True, "True"),
        ("i", 2**40, str(2**40)),  # fastavro would write an invalid int
        ("e", "SHIPPED", "SHIPPED"),
        ("fx", b"abc", "3 != 4"),
    ],
)
def test_compiled_path_refuses_values_the_schema_cannot_hold(
    paths: tuple[RecordSerializer, RecordDeserializer, AvroSerializer, AvroDeserializer],
    field: str,
    bad: object,
    why: str,
) -> None:
    ours = paths[0]
    encoder = ours.value_encoder(TOPIC)
    encoder.encode(_sample())
    with pytest.raises(SchemaViolation, match=f"topic {TOPIC} declares an AVRO schema") as err:
        encoder.encode({**_sample(), field: bad})
    assert why in str(err.value)


def test_a_reader_schema_resolves_older_writers_like_the_confluent_deserializer() -> None:
    client = SchemaRegistryClient.new_client({"url": "mock://avro-resolve"})
    v1 = {"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]}
    v2 = {**v1, "fields": [*v1["fields"], {"name": "n", "type": "int", "default": 7}]}
    writer = RecordSerializer(
        {"o": TopicSchemas(value=TopicSchema.avro(json.dumps(v1)))}, client,
        schema_header="streamplane-schema-id",
    ).value_encoder("o")  # fmt: skip
    data = [writer.encode({"id": f"o{i}"}) for i in range(5)]
    decoder = RecordDeserializer(
        {"o": TopicSchemas(value=TopicSchema.avro(json.dumps(v2)))}, client
    ).value_decoder("o")
    reference = AvroDeserializer(client, json.dumps(v2))
    ctx = SerializationContext("o", MessageField.VALUE)
    assert [decoder.decode(d) for d in data] == [reference(d, ctx) for d in data]
    assert decoder.decode(data[0]) == {"id": "o0", "n": 7}
    assert any(decoder._writers.values())  # type: ignore[attr-defined]


MILLIS = json.dumps(
    {
        "type": "record", "name": "Tick",
        "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}],
    }
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(at=_instants.map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)))
def test_timestamp_millis_schemas_take_fastavro_and_match_the_serializer(at: dt.datetime) -> None:
    """cavro writes 2107-01-01T00:00:00.004Z as .003 (float arithmetic): not used for it."""
    client = SchemaRegistryClient.new_client({"url": "mock://avro-millis"})
    encoder = RecordSerializer(
        {"t": TopicSchemas(value=TopicSchema.avro(MILLIS))}, client,
        schema_header="streamplane-schema-id",
    ).value_encoder("t")  # fmt: skip
    far = dt.datetime(2107, 1, 1, 0, 0, 0, 4000, tzinfo=dt.UTC)
    encoder.encode({"at": far})
    assert encoder._write is not None and not _by_cavro(encoder._write)  # type: ignore[attr-defined]
    reference = AvroSerializer(client, MILLIS, conf={"subject.name.strategy.type": "TOPIC"})
    ctx = SerializationContext("t", MessageField.VALUE)
    for value in ({"at": far}, {"at": at}):
        data = encoder.encode(value)
        assert data == reference(value, ctx)
        decoder = RecordDeserializer({"t": TopicSchemas(value=TopicSchema.avro())}, client)
        assert decoder.value_decoder("t").decode(data) == value
