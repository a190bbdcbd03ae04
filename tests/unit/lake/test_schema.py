"""Avro value schemas as Iceberg (Arrow) schemas, and the changes a table can take."""

from __future__ import annotations

import pyarrow as pa
import pytest

from streamplane.lake.schema import UnmappableSchema, arrow_schema, evolution_problems

PAYMENT = {
    "type": "record",
    "name": "Payment",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OK", "KO"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": ["null", "long"]}},
        {"name": "card", "type": {"type": "record", "name": "Card", "fields": [
            {"name": "last4", "type": "string"}, {"name": "bin", "type": ["null", "int"]}]}},
    ],
}  # fmt: skip


def test_every_kind_of_field_maps() -> None:
    schema = arrow_schema(PAYMENT)
    types = {f.name: (f.type, f.nullable) for f in schema}
    assert types["id"] == (pa.string(), False)
    assert types["amount"] == (pa.decimal128(12, 2), False)
    assert types["at"] == (pa.timestamp("us", tz="UTC"), False)
    assert types["day"] == (pa.date32(), False)
    assert types["note"] == (pa.string(), True)
    assert types["status"] == (pa.string(), False)
    assert types["tags"][0] == pa.list_(pa.field("element", pa.string(), nullable=False))
    assert types["attrs"][0] == pa.map_(pa.string(), pa.field("value", pa.int64(), nullable=True))
    card = types["card"][0]
    assert [(f.name, f.nullable) for f in card] == [("last4", False), ("bin", True)]


def test_what_iceberg_cannot_hold_is_refused_with_the_reason() -> None:
    union = {"type": "record", "name": "R", "fields": [{"name": "v", "type": ["int", "string"]}]}
    with pytest.raises(UnmappableSchema, match=r"R\.v: a union of 2 types; Iceberg has no union"):
        arrow_schema(union)
    recursive = {"type": "record", "name": "Node", "fields": [
        {"name": "next", "type": ["null", {"type": "record", "name": "Node", "fields": []}]}]}  # fmt: skip
    with pytest.raises(UnmappableSchema, match="contains itself"):
        arrow_schema(recursive)
    with pytest.raises(UnmappableSchema, match="not a record"):
        arrow_schema({"type": "string"})


def test_added_optional_fields_and_widening_are_taken() -> None:
    old = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("n", pa.int32()),
                     pa.field("x", pa.float32()), pa.field("d", pa.decimal128(10, 2))])  # fmt: skip
    new = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("n", pa.int64()),
                     pa.field("x", pa.float64()), pa.field("d", pa.decimal128(12, 2)),
                     pa.field("added", pa.string(), nullable=True)])  # fmt: skip
    assert evolution_problems(old, new) == []
    # A removed field stays in the table, null from then on: nothing to refuse.
    assert evolution_problems(new, new.remove(new.get_field_index("added"))) == []


def test_refused_changes_say_why() -> None:
    old = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("n", pa.int64()),
                     pa.field("s", pa.struct([pa.field("a", pa.int32())]))])  # fmt: skip
    new = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("n", pa.int64(), nullable=False),
                     pa.field("s", pa.struct([pa.field("a", pa.string())])),
                     pa.field("must", pa.string(), nullable=False)])  # fmt: skip
    problems = evolution_problems(old, new)
    assert "id: string cannot become int64; Iceberg only widens int to long" in problems[0]
    assert any(p.startswith("n: an optional column cannot become required") for p in problems)
    assert any(p.startswith("s.a: int32 cannot become string") for p in problems)
    assert any(p.startswith("must: a new column must be optional") for p in problems)
