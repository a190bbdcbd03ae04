"""Any record's value, decoded by the schema id it carries: for tools that read many topics.

An application decodes with the schema its topic declares. A tool looking at parked
records (``streamplane dlq inspect``) has no such declaration, and a dead-letter topic
mixes values that decode with values that never did. This reads the wire format's own
schema id, asks the registry which format that schema is, and decodes with
confluent-kafka's deserializer for Avro and JSON Schema, and with the writer's own message
type for Protobuf (``_protobuf``). Whatever fails is reported, not raised: the point is
to show the record.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import json_format

from streamplane.client._protobuf import DynamicProtobufDecoder
from streamplane.client._replay import _b64

_SUBJECTS = {"subject.name.strategy.type": "TOPIC"}


@dataclass(frozen=True)
class Decoded:
    """What a value turned out to be. ``value`` is JSON-ready; ``error`` says why it is not."""

    format: str | None  # AVRO, JSON, PROTOBUF; "raw" for bytes without a schema; None: empty
    schema_id: int | None = None
    value: Any = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "schema_id": self.schema_id,
            "value": self.value,
            "error": self.error,
        }


class SchemaIdDecoder:
    """Decodes values by the schema id in their frame; one per registry, caching per id."""

    def __init__(self, registry: SchemaRegistryClient) -> None:
        self._registry = registry
        self._avro = AvroDeserializer(registry, conf=_SUBJECTS)
        self._json = JSONDeserializer(None, schema_registry_client=registry, conf=_SUBJECTS)
        self._protobuf = DynamicProtobufDecoder(registry)

    def decode(self, topic: str, data: bytes | None) -> Decoded:
        if data is None:
            return Decoded(None)
        if len(data) < 5 or data[0] != 0:
            try:
                return Decoded("raw", value=data.decode())
            except UnicodeDecodeError:
                return Decoded("raw", value=_b64(data), error="not text; shown as base64")
        schema_id = int.from_bytes(data[1:5], "big")
        try:
            kind = self._registry.get_schema(schema_id).schema_type or "AVRO"
        except Exception as exc:  # noqa: BLE001 (registry errors, or unreachable: reported)
            return Decoded(None, schema_id, _b64(data), f"schema {schema_id}: {exc}")
        ctx = SerializationContext(topic, MessageField.VALUE)
        try:
            if kind == "AVRO":
                value = self._avro(data, ctx)
            elif kind == "JSON":
                value = self._json(data, ctx)
            else:
                value = json_format.MessageToDict(
                    self._protobuf.decode(data), preserving_proto_field_name=True
                )
        except Exception as exc:  # noqa: BLE001 (a value its schema cannot read: reported)
            return Decoded(kind, schema_id, _b64(data), f"{type(exc).__name__}: {exc}")
        return Decoded(kind, schema_id, jsonable(value))


def jsonable(value: Any) -> Any:
    """``value`` with what JSON cannot hold made readable: bytes as base64, times as ISO
    8601, decimals and UUIDs as strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return _b64(bytes(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value
