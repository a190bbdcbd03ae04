"""confluent-kafka's Protobuf and JSON Schema serdes, unmodified, against our registry.

The serializers register (or look up) the schema, frame each record with its id, and the
deserializers fetch the writer's schema by id; the records cross a real cluster.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic, next_http_port
from tests.integration.registry.serving import Served, serve


@pytest.fixture(scope="module")
def served(cluster1: LocalCluster) -> Iterator[Served]:
    running = serve(cluster1, f"_schemas-{uuid.uuid4().hex[:8]}", next_http_port())
    yield running
    running.stop()


def order_class() -> Any:
    """A generated-style message class, built from a descriptor written out by hand."""
    file = descriptor_pb2.FileDescriptorProto(
        name="shop/order.proto", package="shop", syntax="proto3"
    )
    message = file.message_type.add(name="Order")
    t = descriptor_pb2.FieldDescriptorProto
    message.field.add(name="id", number=1, type=t.TYPE_STRING, label=t.LABEL_OPTIONAL)
    message.field.add(name="amount", number=2, type=t.TYPE_INT64, label=t.LABEL_OPTIONAL)
    message.field.add(name="tags", number=3, type=t.TYPE_STRING, label=t.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


def round_trip(
    cluster: LocalCluster, topic: str, values: list[Any],
    serialize: Callable[[Any, SerializationContext], bytes],
    deserialize: Callable[[bytes, SerializationContext], Any],
) -> list[Any]:  # fmt: skip
    create_topic(cluster.admin_settings(), topic)
    ctx = SerializationContext(topic, MessageField.VALUE)
    producer = Producer(cluster.admin_settings().librdkafka())
    for value in values:
        producer.produce(topic, value=serialize(value, ctx))
    assert producer.flush(30) == 0
    consumer = Consumer(cluster.admin_settings().librdkafka(**{
        "group.id": f"g-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
    }))  # fmt: skip
    consumer.subscribe([topic])
    seen: list[Any] = []
    deadline = time.monotonic() + 30
    while len(seen) < len(values) and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            seen.append(deserialize(msg.value(), ctx))
    consumer.close()
    return seen


def test_protobuf_serializer_round_trip(
    served: Served, cluster1: LocalCluster, topic_name: str
) -> None:
    client = SchemaRegistryClient({"url": served.url})
    order = order_class()
    serializer = ProtobufSerializer(order, client, {"use.deprecated.format": False})
    deserializer = ProtobufDeserializer(order, {"use.deprecated.format": False})
    values = [order(id=f"o{i}", amount=i * 100, tags=["a", str(i)]) for i in range(10)]
    assert round_trip(cluster1, topic_name, values, serializer, deserializer) == values
    registered = client.get_latest_version(f"{topic_name}-value")
    assert registered.schema.schema_type == "PROTOBUF"
    text = registered.schema.schema_str
    assert "message Order" in text and "repeated string tags = 3;" in text  # served as .proto


ORDER_JSON = """{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Order",
  "type": "object",
  "properties": {
    "id": {"type": "string"},
    "amount": {"type": "integer", "minimum": 0},
    "tags": {"type": "array", "items": {"type": "string"}}
  },
  "required": ["id", "amount"]
}"""


def test_json_schema_serializer_round_trip(
    served: Served, cluster1: LocalCluster, topic_name: str
) -> None:
    client = SchemaRegistryClient({"url": served.url})
    serializer = JSONSerializer(ORDER_JSON, client)
    deserializer = JSONDeserializer(None, schema_registry_client=client)
    values = [{"id": f"o{i}", "amount": i * 100, "tags": ["a", str(i)]} for i in range(10)]
    assert round_trip(cluster1, topic_name, values, serializer, deserializer) == values
    registered = client.get_latest_version(f"{topic_name}-value")
    assert registered.schema.schema_type == "JSON"
    assert json.loads(registered.schema.schema_str) == json.loads(ORDER_JSON)
    with pytest.raises(SerializationError):  # the serializer validates against the schema
        serializer({"id": "x", "amount": -1}, SerializationContext(topic_name, MessageField.VALUE))
