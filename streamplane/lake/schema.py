"""Avro schemas (the registry's) as Arrow schemas for Iceberg tables, and which changes an
existing table can take.

pyiceberg creates a table from an Arrow schema and appends Arrow tables, so Arrow is the
common ground: an Avro record maps to a struct of Arrow fields, a ``["null", T]`` union to
a nullable field, logical types to their Arrow counterparts (timestamps in microseconds
with UTC, as Iceberg's ``timestamptz`` is). What Iceberg cannot hold is refused with the
reason: unions of several types (Iceberg has none) and recursive records.

Schema evolution in the registry becomes Iceberg schema evolution: an added field must be
optional (rows written before it have no value), a type may only widen the way Iceberg
promotes (int to long, float to double, decimal precision up), and a removed field stays
in the table, null from then on (Iceberg keeps old data readable; dropping is a choice
the platform team makes by hand).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa

from streamplane.errors import StreamplaneError

_PRIMITIVES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "bytes": pa.binary(),
    "string": pa.string(),
}


class UnmappableSchema(StreamplaneError):
    """An Avro schema (or a change of it) an Iceberg table cannot take."""


def arrow_schema(avro: Mapping[str, Any]) -> pa.Schema:
    """The Arrow schema of an Avro record schema (parsed JSON)."""
    if avro.get("type") != "record":
        raise UnmappableSchema(
            f"the value schema is a {avro.get('type')!r}, not a record: a table needs named columns"
        )
    return pa.schema(list(_fields(avro, path=str(avro.get("name", "record")), seen=set())))


def _fields(record: Mapping[str, Any], *, path: str, seen: set[str]) -> Iterator[pa.Field]:
    name = str(record.get("name", ""))
    if name in seen:
        raise UnmappableSchema(
            f"{path}: record {name} contains itself; Iceberg has no recursive types"
        )
    inner = seen | {name}
    for field in record.get("fields", []):
        where = f"{path}.{field['name']}"
        arrow_type, nullable = _type(field["type"], path=where, seen=inner)
        yield pa.field(field["name"], arrow_type, nullable=nullable)


def _type(avro: Any, *, path: str, seen: set[str]) -> tuple[pa.DataType, bool]:
    """(Arrow type, nullable) of one Avro type."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1:
            raise UnmappableSchema(
                f"{path}: a union of {len(branches)} types; Iceberg has no union type: use a "
                "record with one optional field per branch"
            )
        arrow_type, _ = _type(branches[0], path=path, seen=seen)
        return arrow_type, len(branches) < len(avro)
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro], False
        raise UnmappableSchema(
            f"{path}: named type {avro!r} is a reference; inline the type where it is used"
        )
    kind = avro.get("type")
    logical = avro.get("logicalType")
    if logical in ("timestamp-millis", "timestamp-micros"):
        return pa.timestamp("us", tz="UTC"), False
    if logical in ("local-timestamp-millis", "local-timestamp-micros"):
        return pa.timestamp("us"), False
    if logical == "date":
        return pa.date32(), False
    if logical in ("time-millis", "time-micros"):
        return pa.time64("us"), False
    if logical == "decimal":
        return pa.decimal128(int(avro["precision"]), int(avro.get("scale", 0))), False
    if kind == "record":
        return pa.struct(list(_fields(avro, path=path, seen=seen))), False
    if kind == "enum":
        return pa.string(), False
    if kind == "fixed":
        return pa.binary(int(avro["size"])), False
    if kind == "array":
        item, nullable = _type(avro["items"], path=f"{path}[]", seen=seen)
        return pa.list_(pa.field("element", item, nullable=nullable)), False
    if kind == "map":
        value, nullable = _type(avro["values"], path=f"{path}{{}}", seen=seen)
        return pa.map_(pa.string(), pa.field("value", value, nullable=nullable)), False
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind], False
    raise UnmappableSchema(f"{path}: Avro type {kind!r} has no Iceberg counterpart")


#: Iceberg's type promotions (the table may take the new type where the old one was).
_WIDER: dict[pa.DataType, tuple[pa.DataType, ...]] = {
    pa.int32(): (pa.int64(),),
    pa.float32(): (pa.float64(),),
}


def normal(arrow_type: pa.DataType) -> pa.DataType:
    """``arrow_type`` as the mapping writes it: pyiceberg reads a table's strings, binaries
    and lists back as their 64-bit-offset ``large_`` variants, the same Iceberg types."""
    if pa.types.is_large_string(arrow_type):
        return pa.string()
    if pa.types.is_large_binary(arrow_type):
        return pa.binary()
    if pa.types.is_large_list(arrow_type) or pa.types.is_list(arrow_type):
        item = arrow_type.value_field
        return pa.list_(pa.field("element", normal(item.type), nullable=item.nullable))
    if pa.types.is_struct(arrow_type):
        return pa.struct(
            [pa.field(f.name, normal(f.type), nullable=f.nullable) for f in arrow_type]
        )
    if pa.types.is_map(arrow_type):
        item = arrow_type.item_field
        return pa.map_(
            normal(arrow_type.key_type),
            pa.field("value", normal(item.type), nullable=item.nullable),
        )
    return arrow_type


def same(a: pa.Schema, b: pa.Schema) -> bool:
    """Whether two schemas are the same columns of the same Iceberg types."""
    return [(f.name, normal(f.type), f.nullable) for f in a] == [
        (f.name, normal(f.type), f.nullable) for f in b
    ]


def evolution_problems(current: pa.Schema, proposed: pa.Schema) -> list[str]:
    """Why a table of schema ``current`` cannot take ``proposed``; empty when it can."""
    problems: list[str] = []
    _compare(current, proposed, path="", problems=problems)
    return problems


def _compare(current: Any, proposed: Any, *, path: str, problems: list[str]) -> None:
    before = {f.name: f for f in current}
    for field in proposed:
        where = f"{path}{field.name}"
        old = before.get(field.name)
        if old is None:
            if not field.nullable:
                problems.append(
                    f"{where}: a new column must be optional (give it a null default): rows "
                    "written before it have no value"
                )
            continue
        if old.nullable and not field.nullable:
            problems.append(f"{where}: an optional column cannot become required")
        old_type, new_type = normal(old.type), normal(field.type)
        if pa.types.is_struct(old_type) and pa.types.is_struct(new_type):
            _compare(old_type, new_type, path=f"{where}.", problems=problems)
        elif old_type != new_type and new_type not in _WIDER.get(old_type, ()):
            if _decimal_widens(old_type, new_type):
                continue
            problems.append(
                f"{where}: {old_type} cannot become {new_type}; Iceberg only widens int to "
                "long, float to double and a decimal's precision"
            )


def _decimal_widens(old: pa.DataType, new: pa.DataType) -> bool:
    return bool(
        pa.types.is_decimal(old)
        and pa.types.is_decimal(new)
        and new.scale == old.scale
        and new.precision >= old.precision
    )
