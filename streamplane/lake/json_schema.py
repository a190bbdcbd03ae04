"""JSON Schema values (the registry's JSON type) as Arrow columns, and their records as rows.

A JSON topic's schema is an object schema: each property becomes a column, nullable
unless ``required`` names it (or its type admits null). ``integer`` maps to long,
``number`` to double, strings with ``format: date-time`` to UTC timestamps and ``date``
to dates, arrays to lists, objects with properties to structs and objects with only
``additionalProperties`` to maps. Local ``$ref`` (``#/definitions/…``, ``#/$defs/…``)
is followed. What a column cannot hold — a union of several types, a recursive
reference, a property with no type — is refused with the path and the reason, as the
Avro mapping does (:mod:`streamplane.lake.schema`).

Records arrive as JSON text; the converter built from the same schema turns date-time
and date strings into the values Arrow takes, so the schema decides the row's types.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa

from streamplane.lake.schema import UnmappableSchema

Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def json_arrow_schema(document: Mapping[str, Any]) -> pa.Schema:
    """The Arrow schema of a JSON Schema object (parsed)."""
    root = _Resolver(document)
    kind, _, node = _single(root.resolve(document, "value"), "value")
    if kind != "object" or "properties" not in node:
        raise UnmappableSchema(
            "the value schema is not an object with properties: a table needs named columns"
        )
    return pa.schema(root.fields(node, "value"))


def json_converter(document: Mapping[str, Any]) -> Convert:
    """A function from a decoded record to its row values (date-times parsed)."""
    root = _Resolver(document)
    return root.converter(root.resolve(document, "value"), "value")


class _Resolver:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolve(
        self, node: Mapping[str, Any], path: str, seen: frozenset[str] = frozenset()
    ) -> Any:
        """``node`` with its ``$ref`` followed, and those of its oneOf/anyOf branches."""
        ref = node.get("$ref")
        if ref is None:
            for key in ("oneOf", "anyOf"):
                if isinstance(node.get(key), list):
                    branches = [self.resolve(b, path, seen) for b in node[key]]
                    return {**node, key: branches}
            return node
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise UnmappableSchema(f"{path}: $ref {ref!r} is not local to the schema")
        if ref in seen:
            raise UnmappableSchema(
                f"{path}: {ref} refers to itself; Iceberg has no recursive types"
            )
        target: Any = self.document
        for part in ref[2:].split("/"):
            if not isinstance(target, Mapping) or part not in target:
                raise UnmappableSchema(f"{path}: $ref {ref} points nowhere")
            target = target[part]
        return self.resolve(target, path, seen | {ref})

    def fields(self, node: Mapping[str, Any], path: str) -> list[pa.Field]:
        required = set(node.get("required", []))
        found = []
        for name, child in node.get("properties", {}).items():
            where = f"{path}.{name}"
            arrow_type, nullable = self.column(child, where)
            found.append(pa.field(name, arrow_type, nullable=nullable or name not in required))
        return found

    def column(self, node: Mapping[str, Any], path: str) -> tuple[pa.DataType, bool]:
        kind, nullable, node = _single(self.resolve(node, path), path)
        if kind == "object":
            if node.get("properties"):
                return pa.struct(self.fields(node, path)), nullable
            values = node.get("additionalProperties")
            if isinstance(values, Mapping):
                item, item_null = self.column(values, f"{path}.*")
                return pa.map_(pa.string(), pa.field("value", item, nullable=item_null)), nullable
            raise UnmappableSchema(f"{path}: an object with neither properties nor typed values")
        if kind == "array":
            items = node.get("items")
            if not isinstance(items, Mapping):
                raise UnmappableSchema(f"{path}: an array without one items schema")
            item, item_null = self.column(items, f"{path}[]")
            return pa.list_(pa.field("element", item, nullable=item_null)), nullable
        if kind == "string":
            fmt = node.get("format")
            if fmt == "date-time":
                return pa.timestamp("us", tz="UTC"), nullable
            if fmt == "date":
                return pa.date32(), nullable
            return pa.string(), nullable
        simple = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
        return simple[kind], nullable

    def converter(self, node: Mapping[str, Any], path: str) -> Convert:
        kind, _, node = _single(self.resolve(node, path), path)
        if kind == "object" and node.get("properties"):
            parts = {
                name: self.converter(child, f"{path}.{name}")
                for name, child in node["properties"].items()
            }
            if all(p is _identity for p in parts.values()):
                return _identity
            return lambda v: (
                None if v is None else {k: parts.get(k, _identity)(x) for k, x in v.items()}
            )
        if kind == "array" and isinstance(node.get("items"), Mapping):
            item = self.converter(node["items"], f"{path}[]")
            if item is _identity:
                return _identity
            return lambda v: None if v is None else [item(x) for x in v]
        if kind == "string" and node.get("format") == "date-time":
            return _timestamp
        if kind == "string" and node.get("format") == "date":
            return lambda v: None if v is None else datetime.date.fromisoformat(v)
        return _identity


def _timestamp(value: Any) -> datetime.datetime | None:
    if value is None:
        return None
    stamp = datetime.datetime.fromisoformat(value)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.UTC)


def _single(node: Mapping[str, Any], path: str) -> tuple[str, bool, Mapping[str, Any]]:
    """The one non-null type of a node, whether null is allowed too, and the node of that
    type (a oneOf/anyOf of one type and null merged into one)."""
    if "oneOf" in node or "anyOf" in node:
        branches = node.get("oneOf") or node.get("anyOf") or []
        kinds = [b.get("type") for b in branches if isinstance(b, Mapping)]
        others = [b for b in branches if isinstance(b, Mapping) and b.get("type") != "null"]
        if len(others) == 1 and "null" in kinds:
            rest = {k: v for k, v in node.items() if k not in ("oneOf", "anyOf")}
            merged = {**rest, **others[0]}
            kind, _, single = _single(merged, path)
            return kind, True, single
        raise UnmappableSchema(f"{path}: a union of several types; Iceberg has none")
    declared = node.get("type")
    kinds = [declared] if isinstance(declared, str) else list(declared or [])
    nullable = "null" in kinds
    kinds = [k for k in kinds if k != "null"]
    if len(kinds) != 1:
        what = "no type" if not kinds else f"several types {kinds}"
        raise UnmappableSchema(f"{path}: {what}; a column needs exactly one")
    if kinds[0] not in ("object", "array", "string", "integer", "number", "boolean"):
        raise UnmappableSchema(f"{path}: type {kinds[0]!r} is not a JSON Schema type")
    return kinds[0], nullable, node
