"""Records in the registry's wire format decoded as they were written, rules not applied.

Avro records are read with their writer schema (fastavro); JSON records are parsed and
their date-times typed by their writer schema (:mod:`streamplane.lake.json_schema`).

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

from streamplane.errors import StreamplaneError
from streamplane.lake.json_schema import json_arrow_schema, json_converter
from streamplane.lake.schema import UnmappableSchema, arrow_schema


def schema_id(value: bytes) -> int:
    """The registry id of a record in Confluent's wire format (magic byte 0, 4-byte id)."""
    if len(value) < 5 or value[0] != 0:
        raise StreamplaneError("a record not in the registry's wire format (no magic byte 0)")
    return int(struct.unpack(">I", value[1:5])[0])


def value_columns(schema_str: str, schema_type: str | None) -> pa.Schema:
    """The Arrow columns of a registered value schema (Avro or JSON Schema)."""
    document = json.loads(schema_str or "{}")
    kind = (schema_type or "AVRO").upper()
    if kind == "AVRO":
        return arrow_schema(document)
    if kind == "JSON":
        return json_arrow_schema(document)
    raise UnmappableSchema(
        f"the value schema is {kind}: the lake takes Avro and JSON Schema values"
    )


class RecordDecoder:
    """Avro and JSON values by writer schema id; each schema fetched and parsed once."""

    def __init__(self, registry: SchemaRegistryClient) -> None:
        self.registry = registry
        self._parsed: dict[int, Callable[[bytes], Any]] = {}

    def _reader(self, sid: int) -> Callable[[bytes], Any]:
        reader = self._parsed.get(sid)
        if reader is None:
            schema = self.registry.get_schema(sid)
            document = json.loads(schema.schema_str or "{}")
            kind = (schema.schema_type or "AVRO").upper()
            if kind == "JSON":
                convert = json_converter(document)
                reader = lambda body: convert(json.loads(body))  # noqa: E731
            elif kind == "AVRO":
                named: dict[str, Any] = {}
                for reference in schema.references or []:
                    self._add_reference(reference.subject, reference.version, named)
                parsed = fastavro.parse_schema(document, named)
                reader = lambda body: fastavro.schemaless_reader(io.BytesIO(body), parsed, None)  # noqa: E731
            else:
                raise UnmappableSchema(
                    f"schema {sid} is {kind}: the lake takes Avro and JSON Schema values"
                )
            self._parsed[sid] = reader
        return reader

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
        decoded = self._reader(sid)(value[5:])
        if not isinstance(decoded, dict):
            raise StreamplaneError(f"schema {sid} is not an Avro record: the lake takes records")
        return decoded
