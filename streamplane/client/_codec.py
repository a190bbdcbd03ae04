"""``ApplicationCodec``: an application's schema-aware encoding without a producer or
consumer of its own.

A transactional processor produces through its own transactional producer and consumes
through its own consumer, so the records it hands out and takes back are bytes. The codec
gives such an application what ``Producer`` and ``Consumer`` do for records: values
checked against their topic's declared schema (and its data contract) before they are
written, records decoded by the schema id they carry, and the spec's scope (a topic the
application does not list for writing is refused before anything is encoded).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamplane.client._contracts import DataContracts, contracts_for
from streamplane.client._headers import SCHEMA_ID_HEADER
from streamplane.client._identity import ApplicationScope
from streamplane.client._schemas import (
    RegistryRef,
    TopicSchemas,
    registry_client,
    schemas_from_spec,
)
from streamplane.client._serdes import Decoder, Encoder, RecordDeserializer, RecordSerializer

if TYPE_CHECKING:
    from streamplane.model import Spec


class ApplicationCodec:
    """Encode values for the topics an application writes, decode those it reads."""

    def __init__(
        self,
        schemas: Mapping[str, TopicSchemas],
        registry: RegistryRef | None,
        *,
        contracts: DataContracts | None = None,
        scope: ApplicationScope | None = None,
    ) -> None:
        client = registry_client(registry)
        self.scope = scope
        self._serializer = RecordSerializer(
            schemas, client, auto_register=False, schema_header=SCHEMA_ID_HEADER,
            contracts=contracts,
        )  # fmt: skip
        self._deserializer = RecordDeserializer(schemas, client, contracts=contracts)
        self._encoders: dict[str, Encoder] = {}
        self._key_encoders: dict[str, Encoder] = {}
        self._decoders: dict[str, Decoder] = {}

    @classmethod
    def for_application(
        cls,
        spec: Spec,
        scope: ApplicationScope,
        registry: RegistryRef | None,
        *,
        contracts: DataContracts | None = None,
        data_dir: Path | None = None,
    ) -> ApplicationCodec:
        """The codec of the application ``scope`` holds, with the spec's schemas."""
        schemas = schemas_from_spec(spec)
        topics = [*scope.produces, *scope.consumes]
        return cls(
            schemas,
            registry,
            contracts=contracts_for(spec, schemas, topics, contracts, data_dir=data_dir),
            scope=scope,
        )

    def encode(self, topic: str, value: Any) -> bytes | None:
        """The value as ``topic``'s schema writes it; SchemaViolation if it does not fit."""
        encoder = self._encoders.get(topic)
        if encoder is None:
            if self.scope is not None:
                self.scope.require_produce(topic)
            encoder = self._encoders[topic] = self._serializer.value_encoder(topic)
        return encoder.encode(value)

    def schema_header(self, topic: str) -> tuple[str, bytes] | None:
        """The schema-id header of ``topic``'s values (after the first :meth:`encode`), for
        the lineage readers that look for it, as the SDK's producer writes it."""
        encoder = self._encoders.get(topic)
        return encoder.schema_header if encoder is not None else None

    def encode_key(self, topic: str, key: Any) -> bytes | None:
        encoder = self._key_encoders.get(topic)
        if encoder is None:
            if self.scope is not None:
                self.scope.require_produce(topic)
            encoder = self._key_encoders[topic] = self._serializer.key_encoder(topic)
        return encoder.encode(key)

    def decode(self, topic: str, data: bytes | None) -> Any:
        """A value of ``topic``, decoded by the schema id it carries."""
        decoder = self._decoders.get(topic)
        if decoder is None:
            decoder = self._decoders[topic] = self._deserializer.value_decoder(topic)
        return decoder.decode(data)

    def close(self) -> None:
        self._serializer.close()
        self._deserializer.close()
