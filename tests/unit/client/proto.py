"""A generated-style Protobuf message class built at runtime (no protoc in the test environment)."""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


@cache
def event_class() -> type[Any]:
    """``shop.Event {string id = 1; int64 n = 2;}``, as protoc would generate it."""
    file = descriptor_pb2.FileDescriptorProto(name="shop/event.proto", package="shop")
    file.syntax = "proto3"
    message = file.message_type.add(name="Event")
    field = descriptor_pb2.FieldDescriptorProto
    message.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    message.field.add(name="n", number=2, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Event"))
