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


@cache
def shipment_classes() -> tuple[type[Any], type[Any]]:
    """``shop.Order`` then ``shop.Shipment {message Parcel {...}; Timestamp at}`` in one file:
    the second message, and one nested in it, need message indexes other than [0]."""
    from google.protobuf import timestamp_pb2

    file = descriptor_pb2.FileDescriptorProto(name="shop/shipment.proto", package="shop")
    file.syntax = "proto3"
    file.dependency.append("google/protobuf/timestamp.proto")
    field = descriptor_pb2.FieldDescriptorProto
    order = file.message_type.add(name="Order")
    order.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    shipment = file.message_type.add(name="Shipment")
    shipment.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    shipment.field.add(
        name="at", number=2, type=field.TYPE_MESSAGE, label=field.LABEL_OPTIONAL,
        type_name=".google.protobuf.Timestamp",
    )  # fmt: skip
    parcel = shipment.nested_type.add(name="Parcel")
    parcel.field.add(name="grams", number=1, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    well_known = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(well_known)
    pool.Add(well_known)
    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Shipment")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Shipment.Parcel")),
    )
