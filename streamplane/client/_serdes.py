"""Values to bytes and back through the schema registry, with confluent-kafka's own serdes.

Each topic gets one encoder and one decoder, built on first use and cached: the
serializer, its ``SerializationContext`` and the schema-id header are made once per
topic, so the per-record work is the serializer call itself.

A topic that declares a schema accepts only values its serializer can encode. Raw bytes
or text, or a value the serializer rejects, raise :class:`SchemaViolation` here, before
anything is handed to librdkafka: a consumer of that topic must be able to trust that every
record carries a registered schema id.

A schema with a data contract is written and read through the subject's registered version
with confluent-kafka's rule engine (``_contracts``): ENCRYPT rules encrypt tagged fields, a
CEL condition that refuses a record raises :class:`SchemaViolation` naming the rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streamplane.client._avro import (
    BodyReader,
    BodyWriter,
    body_reader,
    body_writer,
    extra_fields_reason,
    field_check,
)
from streamplane.client._contracts import (
    ContractRules,
    DataContracts,
    contract_schema,
    copying,
    fast_path_allowed,
    rule_failure,
)
from streamplane.client._errors import ClientError, SchemaViolation
from streamplane.client._protobuf import DynamicProtobufDecoder
from streamplane.client._schemas import TopicSchema, TopicSchemas

_RAW_TYPES = (bytes, bytearray, memoryview, str)
_MAGIC_BYTE = 0
#: Subjects are ``<topic>-key`` and ``<topic>-value``, as the platform registers them.
#: Naming the strategy also spares confluent-kafka's default (associations looked up in the
#: registry, then a locked cache consulted for every record).
_SUBJECTS = {"subject.name.strategy.type": "TOPIC"}


class Encoder:
    """Encodes one side (key or value) of one topic."""

    #: The ``streamplane-schema-id`` header of the last record, or None for raw topics.
    schema_header: tuple[str, bytes] | None = None

    def encode(self, obj: Any) -> bytes | None:
        raise NotImplementedError


class _RawEncoder(Encoder):
    def __init__(self, topic: str, field: str) -> None:
        self.topic = topic
        self.field = field

    def encode(self, obj: Any) -> bytes | None:
        if obj is None or isinstance(obj, bytes):
            return obj
        if isinstance(obj, str):
            return obj.encode()
        if isinstance(obj, bytearray | memoryview):
            return bytes(obj)
        raise SchemaViolation(
            f"topic {self.topic} declares no {self.field} schema, so its {self.field}s are "
            f"raw bytes; got {type(obj).__name__}. Pass bytes or str, or declare a "
            f"{self.field}_schema for the topic in the spec",
            topic=self.topic,
            declared="none",
        )


class _SchemaEncoder(Encoder):
    """A registry serializer, with the refusal rules and the schema-id header."""

    def __init__(
        self,
        topic: str,
        field: str,
        schema: TopicSchema,
        serialize: Callable[[Any, SerializationContext], bytes | None],
        *,
        header: str,
    ) -> None:
        self.topic = topic
        self.field = field
        self.schema = schema
        self._serialize = serialize
        self._ctx = SerializationContext(
            topic, MessageField.KEY if field == "key" else MessageField.VALUE
        )
        self._header_name = header
        self._prefix = b""

    def _refuse(self, obj: Any, why: str) -> SchemaViolation:
        return SchemaViolation(
            f"topic {self.topic} declares {self.schema.describe()} for its {self.field}s; "
            f"refused a {type(obj).__name__} {self.field} before sending it: {why}",
            topic=self.topic,
            declared=self.schema.format,
        )

    def encode(self, obj: Any) -> bytes | None:
        if obj is None:
            return None  # a tombstone, or an absent key: nothing to encode
        if isinstance(obj, _RAW_TYPES):
            raise self._refuse(
                obj,
                "raw bytes or text bypass the schema; pass the record itself and the SDK "
                "serializes it with the registered schema",
            )
        try:
            data = self._serialize(obj, self._ctx)
        except SchemaRegistryError as exc:
            raise ClientError(
                f"the schema registry refused the {self.field} schema of topic {self.topic} "
                f"({self.schema.source or self.schema.format}): {exc}"
            ) from exc
        except Exception as exc:
            failure = rule_failure(exc)
            if failure is not None and failure[0]:
                raise self._refuse(obj, f"the data contract refused it: {failure[1]}") from exc
            if failure is not None:
                raise ClientError(
                    f"the data contract of topic {self.topic} ({self.field}s) could not be "
                    f"applied: {failure[1]}; check the KEK and the KMS settings (rule_config, "
                    "LOCAL_SECRET, AWS credentials)"
                ) from exc
            # fastavro, protobuf and jsonschema each raise their own types for a bad value.
            raise self._refuse(obj, f"{type(exc).__name__}: {exc}") from exc
        if data is None:
            return None
        prefix = data[1:5]
        if prefix != self._prefix:
            self._prefix = prefix
            self.schema_header = (
                self._header_name,
                str(int.from_bytes(prefix, "big")).encode(),
            )
        return data


def _document(text: str | None) -> Any:
    """The parsed JSON of a schema text, or None when there is none or it is not JSON."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class _AvroEncoder(_SchemaEncoder):
    """Avro: confluent-kafka's AvroSerializer for the first record, then ``_avro``'s writer.

    The serializer registers (or looks up) the schema and frames the first record. For the
    records after it, the SDK writes the same 5-byte frame and the body with the writer
    built once (``_avro``), and skips the per-record bookkeeping around the
    serializer's fastavro call (subject strategy, known-subject lock, rule checks, buffer
    wrappers), which costs as much as the encoding itself. That is exact while the
    serializer writes with its own schema and runs no rules; the first record is encoded
    both ways and the shortcut is taken only if the bytes are identical.

    With ``registered`` (the serializer writes with the subject's registered version, as
    for a schema with a data contract) the writer is built from that registered schema,
    and only when it has no rules (``fast_path_allowed``): a CEL condition or an ENCRYPT
    rule must run on every record, not only on the first, so such a schema always goes
    through the serializer. Identical bytes for one record would prove nothing there (a
    condition that held, a null field left unencrypted).

    Every record, on every path, is first checked for dict keys the declared schema has
    no field for (nested records included): Avro writers drop them silently, so they are
    refused here instead (``_avro.field_check``).
    """

    def __init__(
        self,
        topic: str,
        field: str,
        schema: TopicSchema,
        serialize: Callable[[Any, SerializationContext], bytes | None],
        *,
        header: str,
        registry: SchemaRegistryClient | None = None,
    ) -> None:
        super().__init__(topic, field, schema, serialize, header=header)
        #: Set when the serializer writes with the registered version (use.latest...).
        self._registry = registry
        document = _document(schema.text)
        self._candidate = None if registry is not None else body_writer(document)
        self._fields = field_check(document) if document is not None else None
        #: The field names of a flat record schema: a plain dict is checked with one `<=`.
        self._flat = self._fields.flat if self._fields is not None else None
        self._write: BodyWriter | None = None
        self._frame = b""
        #: Whether the shortcut may still be adopted (never again once refused).
        self._open = True

    def encode(self, obj: Any) -> bytes | None:
        fields = self._fields
        if fields is not None and obj is not None:
            flat = self._flat
            # A plain dict of a flat record: one set comparison, then the walk only to say
            # which keys. Anything else (nested records, other mappings): the walk.
            if flat is None or type(obj) is not dict or not obj.keys() <= flat:
                found = fields.extra_fields(obj)
                if found:
                    raise self._refuse(obj, extra_fields_reason(found))
        write = self._write
        if write is None or obj is None or isinstance(obj, _RAW_TYPES):
            data = super().encode(obj)
            if data is not None and write is None and self._open:
                self._adopt(obj, data)
            return data
        try:
            return self._frame + write(obj)
        except Exception as exc:
            # cavro and fastavro each raise their own types for a value the schema refuses.
            raise self._refuse(obj, f"{type(exc).__name__}: {exc}") from exc

    def _adopt(self, obj: Any, data: bytes) -> None:
        self._open = False
        candidate, self._candidate = self._candidate, None
        if self._registry is not None:
            candidate = self._registered_writer(data)
        if candidate is None:
            return
        try:
            same = candidate is not None and data[:5] + candidate(obj) == data
        except Exception:  # noqa: BLE001 (no shortcut then; the serializer stays in charge)
            same = False
        if same:
            self._write, self._frame = candidate, data[:5]

    def _registered_writer(self, data: bytes) -> BodyWriter | None:
        """The writer of the registered schema the serializer used, if it runs no rules."""
        assert self._registry is not None
        try:
            registered = self._registry.get_schema(int.from_bytes(data[1:5], "big"))
        except SchemaRegistryError:
            return None
        if not fast_path_allowed(registered):
            return None
        return body_writer(_document(registered.schema_str))


class _ProtobufEncoder(_SchemaEncoder):
    """Protobuf serializers are per message class; the class is taken from the value."""

    def __init__(
        self, topic: str, field: str, schema: TopicSchema, registry: SchemaRegistryClient, *,
        conf: dict[str, Any], header: str, rules: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(topic, field, schema, self._dispatch, header=header)
        self._registry = registry
        self._conf = conf
        self._rules = rules or {}
        self._by_type: dict[type[Any], ProtobufSerializer] = {}

    def _dispatch(self, obj: Any, ctx: SerializationContext) -> bytes | None:
        from google.protobuf.message import Message

        kind = type(obj)
        serializer = self._by_type.get(kind)
        if serializer is None:
            expected = self.schema.message_type
            if not isinstance(obj, Message) or (expected is not None and kind is not expected):
                wanted = expected.__name__ if expected is not None else "a protobuf message"
                raise TypeError(f"expected {wanted}")
            serializer = ProtobufSerializer(kind, self._registry, dict(self._conf), **self._rules)
            self._by_type[kind] = serializer
        return serializer(obj, ctx)


class RecordSerializer:
    """Encodes keys and values for the topics a producer writes, per their declared schemas."""

    def __init__(
        self,
        schemas: Mapping[str, TopicSchemas],
        registry: SchemaRegistryClient | None,
        *,
        auto_register: bool = True,
        schema_header: str,
        contracts: DataContracts | None = None,
    ) -> None:
        self._schemas = dict(schemas)
        self._registry = registry
        self._auto_register = auto_register
        self._header = schema_header
        self._values: dict[str, Encoder] = {}
        self._keys: dict[str, Encoder] = {}
        self._contracts = ContractRules(contracts)

    def close(self) -> None:
        """Release the rule executors' resources (their DEK registry clients)."""
        self._contracts.close()

    def value_encoder(self, topic: str) -> Encoder:
        encoder = self._values.get(topic)
        if encoder is None:
            declared = self._schemas.get(topic)
            encoder = self._build(topic, "value", declared.value if declared else None)
            self._values[topic] = encoder
        return encoder

    def key_encoder(self, topic: str) -> Encoder:
        encoder = self._keys.get(topic)
        if encoder is None:
            declared = self._schemas.get(topic)
            encoder = self._build(topic, "key", declared.key if declared else None)
            self._keys[topic] = encoder
        return encoder

    def _build(self, topic: str, field: str, schema: TopicSchema | None) -> Encoder:
        if schema is None:
            return _RawEncoder(topic, field)
        if self._registry is None:
            raise ClientError(
                f"topic {topic} declares {schema.describe()} for its {field}s, but this client "
                "has no schema registry; pass registry=RegistrySettings(url, ...)"
            )
        if schema.has_contract:
            return self._build_contract(topic, field, schema, self._registry)
        conf: dict[str, Any] = {"auto.register.schemas": self._auto_register, **_SUBJECTS}
        if schema.format == "PROTOBUF":
            return _ProtobufEncoder(
                topic, field, schema, self._registry, conf=conf, header=self._header
            )
        if schema.text is None:
            # No schema text: write with the subject's latest registered version.
            conf = {"auto.register.schemas": False, "use.latest.version": True, **_SUBJECTS}
        if schema.format == "AVRO":
            avro = AvroSerializer(self._registry, schema.text, conf=conf)
            registered = self._registry if schema.text is None else None
            return _AvroEncoder(
                topic, field, schema, avro, header=self._header, registry=registered
            )
        serializer = JSONSerializer(schema.text, self._registry, conf=conf)
        return _SchemaEncoder(topic, field, schema, serializer, header=self._header)

    def _build_contract(
        self, topic: str, field: str, schema: TopicSchema, registry: SchemaRegistryClient
    ) -> Encoder:
        """A serializer that writes with the registered version and runs its rules."""
        if self._auto_register and schema.text is not None:
            # The schema with its contract, as `streamplane apply` registers it: the same
            # version when apply already did, else the one the rules are read from.
            subject = f"{topic}-{field}"
            contract = contract_schema(schema.text, schema.format, schema.metadata, schema.rule_set)
            try:
                registry.register_schema(subject, contract)
            except SchemaRegistryError as exc:
                raise ClientError(
                    f"the schema registry refused the {field} schema of topic {topic} with its "
                    f"data contract ({schema.source or schema.format}): {exc}"
                ) from exc
        conf: dict[str, Any] = {
            "auto.register.schemas": False,
            **schema.latest_conf(),
            **_SUBJECTS,
        }
        rules = self._contracts.serde_kwargs()
        if schema.format == "PROTOBUF":
            return _ProtobufEncoder(
                topic, field, schema, registry, conf=conf, header=self._header, rules=rules
            )
        if schema.format == "AVRO":
            avro = copying(AvroSerializer(registry, schema.text, conf=conf, **rules), schema)
            return _AvroEncoder(topic, field, schema, avro, header=self._header, registry=registry)
        serializer = copying(JSONSerializer(schema.text, registry, conf=conf, **rules), schema)
        return _SchemaEncoder(topic, field, schema, serializer, header=self._header)


class Decoder:
    def decode(self, data: bytes | None) -> Any:
        raise NotImplementedError

    def shortcut(self) -> tuple[bytes, BodyReader] | None:
        """A frame and a body reader such that, for data starting with that frame,
        ``reader(data[5:])`` is exactly ``decode(data)``; None when there is none yet.

        The consumer's batch loop reads most records through it inline, saving a method
        call per record; it asks again after any record that did not start with the frame.
        """
        return None


class _RawDecoder(Decoder):
    def decode(self, data: bytes | None) -> Any:
        return data


class _SchemaDecoder(Decoder):
    def __init__(
        self, topic: str, field: str, deserialize: Callable[[bytes, SerializationContext], Any]
    ) -> None:
        self._deserialize = deserialize
        self._ctx = SerializationContext(
            topic, MessageField.KEY if field == "key" else MessageField.VALUE
        )

    def decode(self, data: bytes | None) -> Any:
        if data is None:
            return None
        if len(data) < 5 or data[0] != _MAGIC_BYTE:
            raise ValueError(
                "not in the schema registry wire format (magic byte 0 and a 4-byte schema id)"
            )
        return self._deserialize(data, self._ctx)


class _AvroDecoder(_SchemaDecoder):
    """Avro: confluent-kafka's AvroDeserializer for the first record, then ``_avro``'s reader.

    Per writer schema id, the first record goes through the deserializer. When the
    registered schema has no references and no rule set (nothing the deserializer would
    run besides decoding) and the reader built from it (resolved to the consumer's reader
    schema, if one is declared) gives the identical value, later records with that id are
    read by that reader. The deserializer otherwise walks the whole schema for field tags on
    every record, which costs more than reading it.

    With ``latest`` (a schema with a data contract: the deserializer reads with the
    subject's registered version and runs its READ rules and migrations), the shortcut is
    taken only for records written with that very version, when it has no rules.
    """

    def __init__(
        self,
        topic: str,
        field: str,
        deserialize: Callable[[bytes, SerializationContext], Any],
        *,
        registry: SchemaRegistryClient,
        reader: str | None,
        latest: TopicSchema | None = None,
    ) -> None:
        super().__init__(topic, field, deserialize)
        self._registry = registry
        self._subject = f"{topic}-{field}"
        self._latest = latest
        self._reader_text = reader
        self._reader = _document(reader)
        #: frame (magic byte + schema id) -> the body reader for that writer, or None
        self._writers: dict[bytes, BodyReader | None] = {}
        #: The frame and reader of the last record read that way: consecutive records
        #: nearly always share their writer, and startswith() neither slices nor hashes.
        self._last_frame = b"\xff"  # matches no record: the wire format starts with 0
        self._last_read: BodyReader | None = None

    def decode(self, data: bytes | None) -> Any:
        if data is None:
            return None
        if data.startswith(self._last_frame):
            return self._last_read(data[5:])  # type: ignore[misc]
        frame = data[:5]
        if frame not in self._writers:
            return self._first(data)
        read = self._writers[frame]
        if read is None:
            return super().decode(data)
        self._last_frame, self._last_read = frame, read
        return read(data[5:])

    def shortcut(self) -> tuple[bytes, BodyReader] | None:
        read = self._last_read
        return None if read is None else (self._last_frame, read)

    def _first(self, data: bytes) -> Any:
        value = super().decode(data)  # checks the framing, fetches and caches the schema
        frame = data[:5]
        self._writers[frame] = None
        if self._reader_text is not None and self._reader is None:
            return value
        writer_id = int.from_bytes(frame[1:5], "big")
        registered = self._registry.get_schema(writer_id)
        if not fast_path_allowed(registered):
            return value
        reader = self._reader
        if self._latest is not None:
            # The deserializer read with the registered version: only its own records are
            # exactly "decode with that schema".
            latest = self._registered_reader()
            if latest is None or latest.schema_id != writer_id:
                return value
            if not fast_path_allowed(latest.schema):
                return value
            reader = None
        writer = _document(registered.schema_str)
        read = body_reader(writer, reader) if writer is not None else None
        if read is None:
            return value
        try:
            same = read(data[5:]) == value
        except Exception:  # noqa: BLE001 (no shortcut then; the deserializer stays in charge)
            same = False
        if same:
            self._writers[frame] = read
        return value

    def _registered_reader(self) -> Any:
        """The registered version the deserializer reads with (from the client's cache)."""
        assert self._latest is not None
        try:
            if self._latest.latest_metadata:
                return self._registry.get_latest_with_metadata(
                    self._subject, dict(self._latest.latest_metadata), deleted=True
                )
            return self._registry.get_latest_version(self._subject)
        except SchemaRegistryError:
            return None


class RecordDeserializer:
    """Decodes keys and values of the topics a consumer reads, per their declared schemas."""

    def __init__(
        self,
        schemas: Mapping[str, TopicSchemas],
        registry: SchemaRegistryClient | None,
        *,
        contracts: DataContracts | None = None,
    ) -> None:
        self._schemas = dict(schemas)
        self._registry = registry
        self._values: dict[str, Decoder] = {}
        self._keys: dict[str, Decoder] = {}
        self._contracts = ContractRules(contracts)

    def close(self) -> None:
        """Release the rule executors' resources (their DEK registry clients)."""
        self._contracts.close()

    def value_decoder(self, topic: str) -> Decoder:
        decoder = self._values.get(topic)
        if decoder is None:
            declared = self._schemas.get(topic)
            decoder = self._build(topic, "value", declared.value if declared else None)
            self._values[topic] = decoder
        return decoder

    def key_decoder(self, topic: str) -> Decoder:
        decoder = self._keys.get(topic)
        if decoder is None:
            declared = self._schemas.get(topic)
            decoder = self._build(topic, "key", declared.key if declared else None)
            self._keys[topic] = decoder
        return decoder

    def _build(self, topic: str, field: str, schema: TopicSchema | None) -> Decoder:
        if schema is None:
            return _RawDecoder()
        if self._registry is None:
            raise ClientError(
                f"topic {topic} declares {schema.describe()} for its {field}s, but this client "
                "has no schema registry; pass registry=RegistrySettings(url, ...)"
            )
        conf: dict[str, Any] = dict(_SUBJECTS)
        rules: dict[str, Any] = {}
        if schema.has_contract:
            # Read with the registered version: its READ rules decrypt, its migration rules
            # upgrade records of an older major version.
            conf.update(schema.latest_conf())
            rules = self._contracts.serde_kwargs()
        if schema.format == "AVRO":
            avro = AvroDeserializer(self._registry, schema.text, conf=conf, **rules)
            return _AvroDecoder(
                topic, field, avro, registry=self._registry, reader=schema.text,
                latest=schema if schema.has_contract else None,
            )  # fmt: skip
        deserializer: JSONDeserializer | ProtobufDeserializer
        if schema.format == "JSON":
            deserializer = JSONDeserializer(
                schema.text, schema_registry_client=self._registry, conf=conf, **rules
            )
        elif schema.message_type is None:
            # No generated class: the writer's message type, built from the registry (no
            # rules run: name the class with protobuf_types to have them run).
            dynamic = DynamicProtobufDecoder(self._registry)
            return _SchemaDecoder(topic, field, lambda data, _ctx: dynamic.decode(data))
        else:
            deserializer = ProtobufDeserializer(
                schema.message_type, conf, schema_registry_client=self._registry, **rules
            )
        return _SchemaDecoder(topic, field, deserializer)
