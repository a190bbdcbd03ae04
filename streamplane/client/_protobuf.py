"""Protobuf values without the application's generated class: the writer's type, from the registry.

confluent-kafka's ProtobufDeserializer parses every record into the one generated class
it was given, so a consumer without that class (a DLQ inspector, a generic sink, a
service in another language's team) could not read a Protobuf topic at all. The wire
format says which message a record holds: after the schema id come the indexes of the
message in the writer's file (``[0]``, written as a single 0, is its first message). This
decoder fetches that file from the registry in its serialized form, with its references,
builds the message class once per (schema id, indexes) with protobuf's own descriptor
pool and message factory, and parses the payload into it. The value is a real protobuf
message: fields by attribute, ``json_format.MessageToDict`` for a dict.
"""

from __future__ import annotations

import base64
import importlib
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message_factory import GetMessageClass

from streamplane.client._errors import ClientError

_WELL_KNOWN_PREFIX = "google/protobuf/"


class DynamicProtobufDecoder:
    """Decodes framed Protobuf records into message classes built from the writer's schema."""

    def __init__(self, registry: SchemaRegistryClient) -> None:
        self._registry = registry
        #: (schema id, message indexes) -> message class
        self._classes: dict[tuple[int, tuple[int, ...]], type[Any]] = {}

    def decode(self, data: bytes) -> Any:
        if len(data) < 6 or data[0] != 0:
            raise ValueError(
                "not in the schema registry wire format (magic byte 0, a 4-byte schema id "
                "and the message indexes)"
            )
        schema_id = int.from_bytes(data[1:5], "big")
        indexes, start = _message_indexes(data, 5)
        message = self.message_class(schema_id, indexes)()
        message.ParseFromString(data[start:])
        return message

    def message_class(self, schema_id: int, indexes: tuple[int, ...] = (0,)) -> type[Any]:
        """The class of the message at ``indexes`` of schema ``schema_id``'s file (by default
        its first message: what a topic's value is under the topic-name strategy)."""
        key = (schema_id, indexes)
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = self._message_class(schema_id, indexes)
        return found

    def _message_class(self, schema_id: int, indexes: tuple[int, ...]) -> type[Any]:
        schema = self._registry.get_schema(schema_id, fmt="serialized")
        pool = descriptor_pool.DescriptorPool()
        root = self._add(pool, schema, name=None, seen=set())
        file = pool.FindFileByName(root.name)
        try:
            descriptor = file.message_types_by_name[root.message_type[indexes[0]].name]
            for index in indexes[1:]:
                descriptor = descriptor.nested_types[index]
        except IndexError:
            raise ValueError(
                f"schema {schema_id} has no message at indexes {list(indexes)}"
            ) from None
        return GetMessageClass(descriptor)

    def _add(
        self, pool: descriptor_pool.DescriptorPool, schema: Schema, *, name: str | None,
        seen: set[str],
    ) -> descriptor_pb2.FileDescriptorProto:  # fmt: skip
        """Add ``schema``'s file to ``pool``, its imports first; the file."""
        file = _file(schema.schema_str or "")
        if name is not None:
            file.name = name  # imports name the file by its reference name
        for reference in schema.references or []:
            if reference.name is None or reference.subject is None or reference.version is None:
                raise ClientError(f"schema reference {reference} lacks a name, subject or version")
            if reference.name in seen:
                continue
            seen.add(reference.name)
            if reference.name.startswith(_WELL_KNOWN_PREFIX):
                continue
            version = self._registry.get_version(
                reference.subject, reference.version, fmt="serialized"
            )
            self._add(pool, version.schema, name=reference.name, seen=seen)
        for dependency in file.dependency:
            if dependency.startswith(_WELL_KNOWN_PREFIX) and dependency not in seen:
                seen.add(dependency)
                pool.Add(_well_known(dependency))
        pool.Add(file)
        return file


def _file(text: str) -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto()
    try:
        file.ParseFromString(base64.b64decode(text, validate=True))
    except Exception as exc:  # binascii and protobuf errors alike
        raise ClientError(
            "the registry did not return this Protobuf schema in its serialized form "
            f"(?format=serialized): {exc}"
        ) from exc
    return file


def _well_known(name: str) -> descriptor_pb2.FileDescriptorProto:
    """A google/protobuf/*.proto file, from the protobuf runtime's own generated module."""
    module = importlib.import_module(
        "google.protobuf." + name.removeprefix(_WELL_KNOWN_PREFIX).removesuffix(".proto") + "_pb2"
    )
    file = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(file)
    return file


def _message_indexes(data: bytes, start: int) -> tuple[tuple[int, ...], int]:
    """The message indexes after the schema id, and where the payload starts.

    Confluent writes a zig-zag varint count, then that many zig-zag varints; a count of 0
    stands for ``[0]``, the file's first message.
    """
    count, position = _zigzag(data, start)
    if count == 0:
        return (0,), position
    if count < 0 or count > 100:
        raise ValueError(f"invalid Protobuf message index count {count}")
    indexes = []
    for _ in range(count):
        index, position = _zigzag(data, position)
        indexes.append(index)
    return tuple(indexes), position


def _zigzag(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated Protobuf message indexes")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return (value >> 1) ^ -(value & 1), position
