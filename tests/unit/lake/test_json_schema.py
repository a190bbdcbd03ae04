"""JSON Schema values as table columns: every JSON type, nullability from `required` and
null types, local references; what a column cannot hold is refused with the path."""

from __future__ import annotations

import datetime
from typing import Any

import pyarrow as pa
import pytest

from streamplane.lake.json_schema import json_arrow_schema, json_converter
from streamplane.lake.schema import UnmappableSchema

ORDER: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["id", "placed_at", "lines"],
    "properties": {
        "id": {"type": "integer"},
        "amount": {"type": "number"},
        "paid": {"type": "boolean"},
        "placed_at": {"type": "string", "format": "date-time"},
        "due": {"type": ["string", "null"], "format": "date"},
        "coupon": {"oneOf": [{"type": "null"}, {"type": "string"}]},
        "lines": {"type": "array", "items": {"$ref": "#/definitions/line"}},
        "attributes": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
    "definitions": {
        "line": {
            "type": "object",
            "required": ["sku"],
            "properties": {
                "sku": {"type": "string"},
                "shipped_at": {"type": "string", "format": "date-time"},
            },
        }
    },
}


LINE = pa.struct(
    [
        pa.field("sku", pa.string(), nullable=False),
        pa.field("shipped_at", pa.timestamp("us", tz="UTC")),
    ]
)


def test_every_json_type_maps_to_a_column() -> None:
    schema = json_arrow_schema(ORDER)
    assert schema == pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("amount", pa.float64()),
            pa.field("paid", pa.bool_()),
            pa.field("placed_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("due", pa.date32()),
            pa.field("coupon", pa.string()),
            pa.field("lines", pa.list_(pa.field("element", LINE, nullable=False)), nullable=False),
            pa.field("attributes", pa.map_(pa.string(), pa.field("value", pa.int64(), False))),
        ]
    )


def test_records_become_rows_of_those_types() -> None:
    convert = json_converter(ORDER)
    row = convert(
        {
            "id": 7, "placed_at": "2026-03-01T10:00:00Z", "due": "2026-03-31",
            "lines": [{"sku": "a", "shipped_at": "2026-03-02T08:30:00+01:00"}],
        }
    )  # fmt: skip
    assert row["placed_at"] == datetime.datetime(2026, 3, 1, 10, tzinfo=datetime.UTC)
    assert row["due"] == datetime.date(2026, 3, 31)
    assert row["lines"][0]["shipped_at"].utcoffset() == datetime.timedelta(hours=1)
    table = pa.Table.from_pylist([row], schema=json_arrow_schema(ORDER))
    assert table.column("lines").to_pylist()[0][0]["sku"] == "a"


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"x": {"type": ["string", "integer"]}}, r"value\.x: several types"),
        ({"x": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}, "union of several types"),
        ({"x": {}}, r"value\.x: no type"),
        ({"x": {"$ref": "#/definitions/x"}}, "refers to itself"),
        ({"x": {"$ref": "other.json#/a"}}, "not local"),
        ({"x": {"type": "object"}}, "neither properties nor typed values"),
    ],
)
def test_what_a_column_cannot_hold_is_refused(properties: dict[str, Any], reason: str) -> None:
    document = {"type": "object", "properties": properties,
                "definitions": {"x": {"$ref": "#/definitions/x"}}}  # fmt: skip
    with pytest.raises(UnmappableSchema, match=reason):
        json_arrow_schema(document)


def test_the_value_must_be_an_object() -> None:
    with pytest.raises(UnmappableSchema, match="not an object with properties"):
        json_arrow_schema({"type": "string"})
