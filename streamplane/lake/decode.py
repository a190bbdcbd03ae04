"""Records in the registry's wire format decoded as they were written, rules not applied.

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
from typing import Any

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient

from streamplane.errors import StreamplaneError


def schema_id(value: bytes) -> int:
    """The registry id of a record in Confluent's wire format (magic byte 0, 4-byte id)."""
    if len(value) < 5 or value[0] != 0:
        raise StreamplaneError("a record not in the registry's wire format (no magic byte 0)")
    return int(struct.unpack(">I", value[1:5])[0])


class RecordDecoder:
    """Avro values by writer schema id; each schema fetched and parsed once."""

    def __init__(self, registry: SchemaRegistryClient) -> None:
        self.registry = registry
        self._parsed: dict[int, Any] = {}

    def _schema(self, sid: int) -> Any:
        parsed = self._parsed.get(sid)
        if parsed is None:
            schema = self.registry.get_schema(sid)
            named: dict[str, Any] = {}
            for reference in schema.references or []:
                self._add_reference(reference.subject, reference.version, named)
            parsed = fastavro.parse_schema(json.loads(schema.schema_str or "{}"), named)
            self._parsed[sid] = parsed
        return parsed

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
        decoded = fastavro.schemaless_reader(io.BytesIO(value[5:]), self._schema(sid), None)
        if not isinstance(decoded, dict):
            raise StreamplaneError(f"schema {sid} is not an Avro record: the lake takes records")
        return decoded
