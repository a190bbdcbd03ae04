"""Records in the registry's wire format decoded as they were written, rules not applied.

Avro records are read with their writer schema (fastavro); JSON records are parsed and
their date-times typed by their writer schema (:mod:`streamplane.lake.json_schema`);
Protobuf records are parsed into the message their indexes name, built from the writer's
file (the SDK's ``DynamicProtobufDecoder``), and turned into rows
(:mod:`streamplane.lake.protobuf`).

The sink and ``--fresh`` decode each record with its writer schema from the registry
(fastavro, the reader confluent-kafka's ``AvroDeserializer`` itself wraps) but do not run
the schema's rules: a field a data contract encrypts reaches the table as the ciphertext
the topic holds, never decrypted by a process that holds no key grant of the reader's.
confluent-kafka's deserializer would run the rules, and fail on an ENCRYPT rule whose
executor is not registered, so the lake cannot use it; decoding directly also skips its
per-record rule bookkeeping.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from typing import Any

import fastavro
import pyarrow as pa
from confluent_kafka.schema_registry import SchemaRegistryClient

from streamplane.client._protobuf import DynamicProtobufDecoder
from streamplane.errors import StreamplaneError
from streamplane.lake.json_schema import json_arrow_schema, json_converter
from streamplane.lake.protobuf import proto_arrow_schema, proto_converter
from streamplane.lake.schema import arrow_schema


def schema_id(value: bytes) -> int:
    """The registry id of a record in Confluent's wire format (magic byte 0, 4-byte id)."""
    if len(value) < 5 or value[0] != 0:
        raise StreamplaneError("a record not in the registry's wire format (no magic byte 0)")
    return int(struct.unpack(">I", value[1:5])[0])


def _json_reader(convert: Callable[[Any], Any]) -> Callable[[bytes], Any]:
    return lambda value: convert(json.loads(value[5:]))


def _avro_reader(parsed: Any) -> Callable[[bytes], Any]:
    return lambda value: fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed, None)


class RecordDecoder:
    """Avro, JSON and Protobuf values by writer schema id; each schema fetched and parsed
    once."""

    def __init__(self, registry: SchemaRegistryClient) -> None:
        self.registry = registry
        self._readers: dict[int, Callable[[bytes], Any]] = {}
        # A client of its own: confluent-kafka caches a schema by id whatever format was
        # asked for, so once this decoder has read a Protobuf schema as text, the same
        # client would answer the serialized form the protobuf decoder needs with it.
        self._protobuf = DynamicProtobufDecoder(SchemaRegistryClient(dict(registry._conf)))
        self._proto_rows: dict[str, Callable[[Any], dict[str, Any]]] = {}

    def columns(self, sid: int) -> pa.Schema:
        """The Arrow columns of the value schema registered as ``sid``."""
        schema = self.registry.get_schema(sid)
        kind = (schema.schema_type or "AVRO").upper()
        if kind == "PROTOBUF":
            return proto_arrow_schema(self._protobuf.message_class(sid).DESCRIPTOR)
        document = json.loads(schema.schema_str or "{}")
        if kind == "JSON":
            return json_arrow_schema(document)
        return arrow_schema(document)

    def _reader(self, sid: int) -> Callable[[bytes], Any]:
        reader = self._readers.get(sid)
        if reader is None:
            schema = self.registry.get_schema(sid)
            kind = (schema.schema_type or "AVRO").upper()
            if kind == "PROTOBUF":
                reader = self._proto_row
            elif kind == "JSON":
                reader = _json_reader(json_converter(json.loads(schema.schema_str or "{}")))
            else:
                named: dict[str, Any] = {}
                for reference in schema.references or []:
                    self._add_reference(reference.subject, reference.version, named)
                parsed = fastavro.parse_schema(json.loads(schema.schema_str or "{}"), named)
                reader = _avro_reader(parsed)
            self._readers[sid] = reader
        return reader

    def _proto_row(self, value: bytes) -> dict[str, Any]:
        """The record's message (the one its indexes name) as a row."""
        message = self._protobuf.decode(value)
        name = message.DESCRIPTOR.full_name
        convert = self._proto_rows.get(name)
        if convert is None:
            convert = self._proto_rows[name] = proto_converter(message.DESCRIPTOR)
        return convert(message)

    def _add_reference(
        self, subject: str | None, version: int | None, named: dict[str, Any]
    ) -> None:
        if subject is None or version is None:
            raise StreamplaneError("a schema reference without a subject and version")
        registered = self.registry.get_version(subject, version)
        for reference in registered.schema.references or []:
            self._add_reference(reference.subject, reference.version, named)
        fastavro.parse_schema(json.loads(registered.schema.schema_str or "{}"), named)

    def __call__(self, value: bytes) -> dict[str, Any]:
        sid = schema_id(value)
        decoded = self._reader(sid)(value)
        if not isinstance(decoded, dict):
            raise StreamplaneError(f"schema {sid} is not a record: the lake takes records")
        return decoded
