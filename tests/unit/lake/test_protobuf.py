"""Protobuf values as table columns and messages as rows: scalars, enums by name, nested
messages, repeated and map fields, Timestamp and the wrappers; recursion refused."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.message_factory import GetMessageClass

from streamplane.lake.export import spec_value
from streamplane.lake.protobuf import proto_arrow_schema, proto_converter
from streamplane.lake.schema import UnmappableSchema
from streamplane.registry.compat._proto_compile import compile_schema

ORDER = """
syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

message Order {
  enum State { NEW = 0; PAID = 1; }
  message Line { string sku = 1; uint32 quantity = 2; }
  int64 id = 1;
  State state = 2;
  repeated Line lines = 3;
  map<string, int64> attributes = 4;
  google.protobuf.Timestamp placed_at = 5;
  google.protobuf.StringValue coupon = 6;
  optional double discount = 7;
  bytes signature = 8;
}
"""


def order_class() -> type:
    compiled = compile_schema(ORDER, {})
    pool = descriptor_pool.DescriptorPool()
    for dependency in compiled.dependencies:
        pool.Add(dependency)
    pool.Add(compiled.file)
    return GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


def test_every_kind_of_field_maps_to_a_nullable_column() -> None:
    kind, schema, _ = spec_value("order.proto", ORDER)
    assert kind == "protobuf"
    assert schema == pa.schema(
        [
            pa.field("id", pa.int64()),
            pa.field("state", pa.string()),
            pa.field(
                "lines",
                pa.list_(
                    pa.struct([pa.field("sku", pa.string()), pa.field("quantity", pa.int64())])
                ),
            ),
            pa.field("attributes", pa.map_(pa.string(), pa.int64())),
            pa.field("placed_at", pa.timestamp("us", tz="UTC")),
            pa.field("coupon", pa.string()),
            pa.field("discount", pa.float64()),
            pa.field("signature", pa.binary()),
        ]
    )


def test_messages_become_rows_unset_fields_null() -> None:
    cls = order_class()
    message = cls(id=7, state=1, attributes={"gift": 1}, signature=b"\x01")
    message.lines.add(sku="a", quantity=2)
    message.placed_at.FromDatetime(datetime.datetime(2026, 3, 1, 10, tzinfo=datetime.UTC))
    row = proto_converter(cls.DESCRIPTOR)(message)
    assert row == {
        "id": 7, "state": "PAID", "lines": [{"sku": "a", "quantity": 2}],
        "attributes": [("gift", 1)],
        "placed_at": datetime.datetime(2026, 3, 1, 10, tzinfo=datetime.UTC),
        "coupon": None, "discount": None, "signature": b"\x01",
    }  # fmt: skip
    table = pa.Table.from_pylist([row], schema=proto_arrow_schema(cls.DESCRIPTOR))
    assert table.column("attributes").to_pylist() == [[("gift", 1)]]


def test_a_message_that_contains_itself_is_refused() -> None:
    text = 'syntax = "proto3";\nmessage Node { int64 id = 1; Node next = 2; }\n'
    with pytest.raises(UnmappableSchema, match="contains itself"):
        spec_value("node.proto", text)
