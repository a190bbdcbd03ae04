"""confluent-kafka's own rule engine, end to end through a real topic, against our registry.

The rules live in the registry (a version's ``ruleSet``); the official serializers fetch
them with the schema and run them: a CEL condition refuses a bad record, a CEL_FIELD
transform rewrites a tagged field, and JSONata migration rules let a consumer of one major
version read records written with another across a compatibility-group break.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import (
    Metadata,
    MetadataProperties,
    MetadataTags,
    Rule,
    RuleKind,
    RuleMode,
    RuleSet,
    Schema,
    SchemaRegistryClient,
    ServerConfig,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.schema_registry.rules.cel.cel_executor import CelExecutor
from confluent_kafka.schema_registry.rules.cel.cel_field_executor import CelFieldExecutor
from confluent_kafka.schema_registry.rules.jsonata.jsonata_executor import JsonataExecutor
from confluent_kafka.schema_registry.serde import RuleConditionError
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic, next_http_port
from tests.integration.registry.serving import Served, serve

ORDER = '{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"}]}'
ORDER_V2 = '{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"long"}]}'
CUSTOMER = '{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"name","type":"string"},{"name":"ssn","type":"string"}]}'
ORDER_JSON = '{"type":"object","properties":{"id":{"type":"string"},"amount":{"type":"integer"}},"required":["id","amount"]}'
GROUP = "application.major.version"
LATEST = {"auto.register.schemas": False, "use.latest.version": True}


@pytest.fixture(scope="module", autouse=True)
def executors() -> None:
    """The official executors, registered the way an application registers them."""
    CelExecutor.register()
    CelFieldExecutor.register()
    JsonataExecutor.register()


@pytest.fixture(scope="module")
def served(cluster1: LocalCluster) -> Iterator[Served]:
    running = serve(cluster1, f"_schemas-{uuid.uuid4().hex[:8]}", next_http_port())
    yield running
    running.stop()


@pytest.fixture
def client(served: Served) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": served.url})


def rule(name: str, kind: str, mode: str, rule_type: str, expr: str,
         tags: list[str] | None = None, doc: str | None = None) -> Rule:  # fmt: skip
    return Rule(name, doc, RuleKind(kind), RuleMode(mode), rule_type, tags, None, expr,
                None, None, False)  # fmt: skip


POSITIVE = rule("positiveAmount", "CONDITION", "WRITE", "CEL", "message.amount > 0",
                doc="an order's amount must be positive")  # fmt: skip


def refused_by(error: pytest.ExceptionInfo[SerializationError], condition: Rule) -> bool:
    """Whether the serializer failed because ``condition`` did not hold."""
    cause = error.value.__cause__
    return isinstance(cause, RuleConditionError) and str(cause) == condition.doc


def properties(**values: str) -> Metadata:
    return Metadata(None, MetadataProperties(values), None)


def through_topic(
    cluster: LocalCluster, topic: str, records: list[bytes],
    read: Callable[[bytes, SerializationContext], Any],
) -> list[Any]:  # fmt: skip
    """Produce ``records`` (already serialized) to a new topic; what ``read`` makes of them."""
    create_topic(cluster.admin_settings(), topic)
    producer = Producer(cluster.admin_settings().librdkafka())
    for record in records:
        producer.produce(topic, value=record)
    assert producer.flush(30) == 0
    return consume(cluster, topic, len(records), read)


def consume(
    cluster: LocalCluster, topic: str, count: int,
    read: Callable[[bytes, SerializationContext], Any],
) -> list[Any]:  # fmt: skip
    """The first ``count`` records of ``topic``, as ``read`` makes them, in a new group."""
    consumer = Consumer(cluster.admin_settings().librdkafka(**{
        "group.id": f"g-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
    }))  # fmt: skip
    consumer.subscribe([topic])
    ctx = SerializationContext(topic, MessageField.VALUE)
    seen: list[Any] = []
    deadline = time.monotonic() + 30
    while len(seen) < count and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            seen.append(read(msg.value(), ctx))
    consumer.close()
    return seen


def test_a_cel_condition_refuses_a_bad_avro_record_and_passes_a_good_one(
    client: SchemaRegistryClient, cluster1: LocalCluster, topic_name: str
) -> None:
    client.register_schema(f"{topic_name}-value",
                           Schema(ORDER, "AVRO", [], None, RuleSet([], [POSITIVE])))  # fmt: skip
    serializer = AvroSerializer(client, None, conf=LATEST)
    ctx = SerializationContext(topic_name, MessageField.VALUE)
    good = serializer({"id": "o1", "amount": 250}, ctx)
    with pytest.raises(SerializationError) as refused:
        serializer({"id": "o2", "amount": -5}, ctx)
    assert refused_by(refused, POSITIVE)
    read = through_topic(cluster1, topic_name, [good], AvroDeserializer(client))
    assert read == [{"id": "o1", "amount": 250}]


def test_a_cel_field_transform_rewrites_the_tagged_field(
    client: SchemaRegistryClient, cluster1: LocalCluster, topic_name: str
) -> None:
    mask = rule("maskPii", "TRANSFORM", "WRITE", "CEL_FIELD",
                "typeName == 'STRING' ; 'masked:' + value", tags=["PII"])  # fmt: skip
    tagged = Metadata(MetadataTags({"shop.Customer.ssn": ["PII"]}), None, None)
    client.register_schema(f"{topic_name}-value",
                           Schema(CUSTOMER, "AVRO", [], tagged, RuleSet([], [mask])))  # fmt: skip
    serializer = AvroSerializer(client, None, conf=LATEST)
    ctx = SerializationContext(topic_name, MessageField.VALUE)
    record = serializer({"name": "Ada", "ssn": "123-45-6789"}, ctx)
    read = through_topic(cluster1, topic_name, [record], AvroDeserializer(client))
    assert read == [{"name": "Ada", "ssn": "masked:123-45-6789"}]  # only the tagged field


def test_jsonata_migrations_read_across_a_major_version_break(
    client: SchemaRegistryClient, cluster1: LocalCluster, topic_name: str
) -> None:
    subject = f"{topic_name}-value"
    client.set_config(subject, ServerConfig(compatibility_group=GROUP))
    client.register_schema(subject, Schema(ORDER, "AVRO", [], properties(**{GROUP: "1"})))
    migrations = [
        rule("amountToTotal", "TRANSFORM", "UPGRADE", "JSONATA",
             "$merge([$sift($, function($v, $k) {$k != 'amount'}), {'total': $.'amount'}])"),
        rule("totalToAmount", "TRANSFORM", "DOWNGRADE", "JSONATA",
             "$merge([$sift($, function($v, $k) {$k != 'total'}), {'amount': $.'total'}])"),
    ]  # fmt: skip
    # Renaming a field breaks compatibility: allowed only as a new major version.
    v2 = Schema(ORDER_V2, "AVRO", [], properties(**{GROUP: "2"}), RuleSet(migrations, []))
    assert client.register_schema_full_response(subject, v2).version == 2

    def pinned(major: int) -> dict[str, Any]:
        return {"use.latest.with.metadata": {GROUP: str(major)}}

    ctx = SerializationContext(topic_name, MessageField.VALUE)
    old = AvroSerializer(client, None, conf={"auto.register.schemas": False, **pinned(1)})
    new = AvroSerializer(client, None, conf={"auto.register.schemas": False, **pinned(2)})
    records = [old({"id": "o1", "amount": 7}, ctx), new({"id": "o2", "total": 9}, ctx)]
    as_v2 = through_topic(cluster1, topic_name, records, AvroDeserializer(client, conf=pinned(2)))
    assert as_v2 == [{"id": "o1", "total": 7}, {"id": "o2", "total": 9}]  # upgraded
    as_v1 = consume(cluster1, topic_name, 2, AvroDeserializer(client, conf=pinned(1)))
    assert as_v1 == [{"id": "o1", "amount": 7}, {"id": "o2", "amount": 9}]  # downgraded


def test_a_cel_condition_guards_json_schema_records(
    client: SchemaRegistryClient, cluster1: LocalCluster, topic_name: str
) -> None:
    client.register_schema(f"{topic_name}-value",
                           Schema(ORDER_JSON, "JSON", [], None, RuleSet([], [POSITIVE])))  # fmt: skip
    serializer = JSONSerializer(None, client, conf=LATEST)
    ctx = SerializationContext(topic_name, MessageField.VALUE)
    good = serializer({"id": "o1", "amount": 3}, ctx)
    with pytest.raises(SerializationError) as refused:
        serializer({"id": "o2", "amount": 0}, ctx)
    assert refused_by(refused, POSITIVE)
    deserializer = JSONDeserializer(None, schema_registry_client=client)
    assert through_topic(cluster1, topic_name, [good], deserializer) == [{"id": "o1", "amount": 3}]


def order_class() -> Any:
    """A generated-style Protobuf message class, from a descriptor written out by hand."""
    file = descriptor_pb2.FileDescriptorProto(
        name="shop/order.proto", package="shop", syntax="proto3"
    )
    message = file.message_type.add(name="Order")
    t = descriptor_pb2.FieldDescriptorProto
    message.field.add(name="id", number=1, type=t.TYPE_STRING, label=t.LABEL_OPTIONAL)
    message.field.add(name="amount", number=2, type=t.TYPE_INT64, label=t.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


def test_a_cel_condition_guards_protobuf_records(
    served: Served, client: SchemaRegistryClient, cluster1: LocalCluster, topic_name: str
) -> None:
    order = order_class()
    subject = f"{topic_name}-value"
    # Register the schema the serializer derives from the class, then add the rule to it.
    plain = ProtobufSerializer(order, client, {"use.deprecated.format": False})
    ctx = SerializationContext(topic_name, MessageField.VALUE)
    plain(order(id="o0", amount=1), ctx)
    registered = client.get_latest_version(subject).schema
    client.register_schema(
        subject, Schema(registered.schema_str, "PROTOBUF", [], None, RuleSet([], [POSITIVE]))
    )
    fresh = SchemaRegistryClient({"url": served.url})  # the first client cached version 1
    serializer = ProtobufSerializer(order, fresh, {"use.deprecated.format": False, **LATEST})
    good = serializer(order(id="o1", amount=12), ctx)
    with pytest.raises(SerializationError) as refused:
        serializer(order(id="o2", amount=-1), ctx)
    assert refused_by(refused, POSITIVE)
    deserializer = ProtobufDeserializer(order, {"use.deprecated.format": False})
    assert through_topic(cluster1, topic_name, [good], deserializer) == [order(id="o1", amount=12)]
