"""Protobuf values (the registry's PROTOBUF type) as Arrow columns, and messages as rows.

The table's columns are the fields of the topic's message (the first message of the
writer's file, as the registry's topic-name strategy has it; the message each record
names is what it is decoded with). Scalars map to their Arrow counterparts (unsigned
64-bit to long: a value over 2^63 stops the sink, Iceberg has no unsigned type), enums
to their value names, nested messages to structs, repeated fields to lists, map fields
to maps, ``google.protobuf.Timestamp`` to a UTC timestamp and the wrapper types to their
nullable scalar. Every column is optional: proto3 fills an absent scalar with its
default, and a field added by a later version must be optional in Iceberg for the rows
written before it. A message that contains itself is refused (Iceberg has no recursive
types).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from streamplane.lake.schema import UnmappableSchema

_SCALARS: dict[int, pa.DataType] = {
    FieldDescriptor.TYPE_DOUBLE: pa.float64(),
    FieldDescriptor.TYPE_FLOAT: pa.float32(),
    FieldDescriptor.TYPE_INT64: pa.int64(),
    FieldDescriptor.TYPE_SINT64: pa.int64(),
    FieldDescriptor.TYPE_SFIXED64: pa.int64(),
    FieldDescriptor.TYPE_UINT64: pa.int64(),
    FieldDescriptor.TYPE_FIXED64: pa.int64(),
    FieldDescriptor.TYPE_INT32: pa.int32(),
    FieldDescriptor.TYPE_SINT32: pa.int32(),
    FieldDescriptor.TYPE_SFIXED32: pa.int32(),
    FieldDescriptor.TYPE_UINT32: pa.int64(),
    FieldDescriptor.TYPE_FIXED32: pa.int64(),
    FieldDescriptor.TYPE_BOOL: pa.bool_(),
    FieldDescriptor.TYPE_STRING: pa.string(),
    FieldDescriptor.TYPE_BYTES: pa.binary(),
}
_WRAPPERS = {
    "google.protobuf.DoubleValue": pa.float64(),
    "google.protobuf.FloatValue": pa.float32(),
    "google.protobuf.Int64Value": pa.int64(),
    "google.protobuf.UInt64Value": pa.int64(),
    "google.protobuf.Int32Value": pa.int32(),
    "google.protobuf.UInt32Value": pa.int64(),
    "google.protobuf.BoolValue": pa.bool_(),
    "google.protobuf.StringValue": pa.string(),
    "google.protobuf.BytesValue": pa.binary(),
}
_TIMESTAMP = "google.protobuf.Timestamp"


def proto_arrow_schema(message: Descriptor) -> pa.Schema:
    """The Arrow schema of a message's fields."""
    return pa.schema(_fields(message, message.full_name, frozenset()))


def _fields(message: Descriptor, path: str, seen: frozenset[str]) -> list[pa.Field]:
    if message.full_name in seen:
        raise UnmappableSchema(
            f"{path}: message {message.full_name} contains itself; Iceberg has no recursive types"
        )
    inner = seen | {message.full_name}
    return [
        pa.field(f.name, _type(f, f"{path}.{f.name}", inner), nullable=True) for f in message.fields
    ]


def _is_map(field: FieldDescriptor) -> bool:
    return bool(
        field.type == FieldDescriptor.TYPE_MESSAGE and _message(field).GetOptions().map_entry
    )


def _type(field: FieldDescriptor, path: str, seen: frozenset[str]) -> pa.DataType:
    if _is_map(field):
        entry = _message(field).fields_by_name
        return pa.map_(_single(entry["key"], path, seen), _single(entry["value"], path, seen))
    single = _single(field, path, seen)
    return pa.list_(single) if _repeated(field) else single


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _message(field: FieldDescriptor) -> Descriptor:
    assert field.message_type is not None, f"{field.full_name} is not a message field"
    return field.message_type


def _single(field: FieldDescriptor, path: str, seen: frozenset[str]) -> pa.DataType:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return pa.string()
    if field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        name = _message(field).full_name
        if name == _TIMESTAMP:
            return pa.timestamp("us", tz="UTC")
        if name in _WRAPPERS:
            return _WRAPPERS[name]
        return pa.struct(_fields(_message(field), path, seen))
    return _SCALARS[field.type]


def proto_converter(message: Descriptor) -> Callable[[Any], dict[str, Any]]:
    """A function from a parsed message (of ``message``'s type) to its row."""
    parts = [(f.name, _converter(f)) for f in message.fields]
    presence = {f.name for f in message.fields if f.has_presence and not _repeated(f)}

    def convert(value: Any) -> dict[str, Any]:
        return {
            name: (
                None
                if name in presence and not value.HasField(name)
                else part(getattr(value, name))
            )
            for name, part in parts
        }

    return convert


def _converter(field: FieldDescriptor) -> Callable[[Any], Any]:
    if _is_map(field):
        value_field = _message(field).fields_by_name["value"]
        item = _single_converter(value_field)
        return lambda mapping: [(k, item(v)) for k, v in mapping.items()]
    single = _single_converter(field)
    if _repeated(field):
        return lambda items: [single(x) for x in items]
    return single


def _single_converter(field: FieldDescriptor) -> Callable[[Any], Any]:
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        names = {v.number: v.name for v in field.enum_type.values}
        return lambda number: names.get(number, str(number))
    if field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        name = _message(field).full_name
        if name == _TIMESTAMP:
            return lambda stamp: stamp.ToDatetime(tzinfo=datetime.UTC)
        if name in _WRAPPERS:
            return lambda wrapper: wrapper.value
        return proto_converter(_message(field))
    return lambda value: value
