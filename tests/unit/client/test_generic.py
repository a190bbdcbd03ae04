"""Values decoded by their own schema id: every format, raw bytes, and what cannot be read."""

from __future__ import annotations

import datetime as dt
import json

from confluent_kafka.schema_registry import SchemaRegistryClient

from streamplane.client import SchemaIdDecoder, TopicSchema, TopicSchemas
from streamplane.client._serdes import RecordSerializer
from tests.unit.client.proto import event_class
from tests.unit.client.specs import NOTE_JSON

TICK = {
    "type": "record", "name": "Tick",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "raw", "type": "bytes"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}  # fmt: skip


def test_each_format_decodes_by_its_schema_id_to_json_ready_values() -> None:
    client = SchemaRegistryClient.new_client({"url": "mock://generic"})
    schemas = {
        "ticks": TopicSchemas(value=TopicSchema.avro(json.dumps(TICK))),
        "notes": TopicSchemas(value=TopicSchema.json(json.dumps(NOTE_JSON))),
        "events": TopicSchemas(value=TopicSchema.protobuf()),
    }
    writer = RecordSerializer(schemas, client, schema_header="streamplane-schema-id")
    at = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    tick = writer.value_encoder("ticks").encode({"id": "t1", "raw": b"\x00\xff", "at": at})
    note = writer.value_encoder("notes").encode({"id": "n1", "n": 3})
    event = writer.value_encoder("events").encode(event_class()(id="e1", n=7))
    decoder = SchemaIdDecoder(client)

    got = decoder.decode("ticks", tick)
    assert (got.format, got.error) == ("AVRO", None)
    assert got.value == {"id": "t1", "raw": "AP8=", "at": "2026-11-25T12:00:00+00:00"}
    assert got.schema_id == int.from_bytes(tick[1:5], "big")  # type: ignore[index]
    assert decoder.decode("notes", note).value == {"id": "n1", "n": 3}
    got = decoder.decode("events", event)
    assert (got.format, got.value) == ("PROTOBUF", {"id": "e1", "n": "7"})  # int64 as string
    json.dumps([d.to_json() for d in (got, decoder.decode("ticks", tick))])  # JSON-ready


def test_raw_values_and_unreadable_ones_are_shown_not_raised() -> None:
    decoder = SchemaIdDecoder(SchemaRegistryClient.new_client({"url": "mock://generic-bad"}))
    assert decoder.decode("t", b"plain text").to_json() == {
        "format": "raw", "schema_id": None, "value": "plain text", "error": None,
    }  # fmt: skip
    binary = decoder.decode("t", b"\xff\xfe")
    assert binary.value == "//4=" and binary.error is not None and "base64" in binary.error
    unknown = decoder.decode("t", b"\x00\x00\x00\x30\x39payload")
    assert unknown.schema_id == 12345 and unknown.error is not None
    assert unknown.error.startswith("schema 12345:")
    assert decoder.decode("t", None).format is None
