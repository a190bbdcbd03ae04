"""The official confluent-kafka client, unmodified, against our registry and a real cluster."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic, next_http_port
from tests.integration.registry.serving import Served, serve


@pytest.fixture
def served(cluster1: LocalCluster) -> Iterator[Served]:
    """A registry on a `_schemas` topic of its own, so tests do not share ids."""
    running = serve(cluster1, f"_schemas-{uuid.uuid4().hex[:8]}", next_http_port())
    yield running
    running.stop()


ORDER_V1 = '{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"}]}'
ORDER_V2 = '{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"},{"name":"currency","type":"string","default":"EUR"}]}'
ORDER_BAD = '{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"},{"name":"note","type":"string"}]}'


def test_schema_registry_client_calls(served: Served) -> None:
    client = SchemaRegistryClient({"url": served.url})
    first = client.register_schema("orders-value", Schema(ORDER_V1, "AVRO"))
    assert client.register_schema("orders-value", Schema(ORDER_V1, "AVRO")) == first
    assert client.register_schema("orders-copy-value", Schema(ORDER_V1, "AVRO")) == first  # one id
    second = client.register_schema("orders-value", Schema(ORDER_V2, "AVRO"))
    assert second != first
    assert client.get_schema(first).schema_str == ORDER_V1
    latest = client.get_latest_version("orders-value")
    assert (latest.version, latest.schema_id) == (2, second)
    assert client.get_versions("orders-value") == [1, 2]
    assert client.lookup_schema("orders-value", Schema(ORDER_V1, "AVRO")).version == 1
    assert sorted(client.get_subjects()) == ["orders-copy-value", "orders-value"]
    assert client.test_compatibility("orders-value", Schema(ORDER_V2, "AVRO")) is True
    assert client.test_compatibility("orders-value", Schema(ORDER_BAD, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as info:
        client.register_schema("orders-value", Schema(ORDER_BAD, "AVRO"))
    assert info.value.http_status_code == 409
    client.set_compatibility("orders-value", "NONE")
    assert client.get_compatibility("orders-value") == "NONE"
    assert client.register_schema("orders-value", Schema(ORDER_BAD, "AVRO")) > second
    assert client.delete_subject("orders-copy-value") == [1]
    assert client.get_subjects() == ["orders-value"]


def test_avro_serializer_round_trip_through_the_cluster(
    served: Served, cluster1: LocalCluster, topic_name: str
) -> None:
    create_topic(cluster1.admin_settings(), topic_name)
    client = SchemaRegistryClient({"url": served.url})
    serializer = AvroSerializer(client, ORDER_V2)
    deserializer = AvroDeserializer(client)
    producer = Producer(cluster1.admin_settings().librdkafka())
    orders = [{"id": f"o{i}", "amount": i * 100, "currency": "EUR"} for i in range(20)]
    for order in orders:
        value = serializer(order, SerializationContext(topic_name, MessageField.VALUE))
        producer.produce(topic_name, value=value)
    assert producer.flush(30) == 0
    consumer = Consumer(cluster1.admin_settings().librdkafka(**{
        "group.id": f"g-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
    }))  # fmt: skip
    consumer.subscribe([topic_name])
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < len(orders) and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            seen.append(
                deserializer(msg.value(), SerializationContext(topic_name, MessageField.VALUE))
            )
    consumer.close()
    assert seen == orders
    assert client.get_latest_version(f"{topic_name}-value").schema.schema_str == ORDER_V2


def test_restarted_registry_replays_the_same_ids_and_versions(
    served: Served, cluster1: LocalCluster
) -> None:
    client = SchemaRegistryClient({"url": served.url})
    ids = {}
    for i in range(20):
        schema = f'{{"type":"record","name":"R{i}","fields":[{{"name":"f","type":"int"}}]}}'
        ids[f"s{i}"] = client.register_schema(f"s{i}-value", Schema(schema, "AVRO"))
    client.delete_subject("s3-value")
    served.stop()
    again = serve(cluster1, served.topic, next_http_port())
    try:
        with httpx.Client(base_url=again.url) as http:
            for i in range(20):
                if i == 3:
                    continue
                body = http.get(f"/subjects/s{i}-value/versions/latest").json()
                assert (body["id"], body["version"]) == (ids[f"s{i}"], 1)
            assert http.get("/subjects/s3-value/versions").json()["error_code"] == 40401
            assert http.get("/subjects", params={"deleted": "true"}).json().count("s3-value") == 1
            new = http.post("/subjects/new-value/versions", json={"schema": '"string"'}).json()[
                "id"
            ]
            assert new == max(ids.values()) + 1
    finally:
        again.stop()


def test_error_bodies_match_confluent(served: Served) -> None:
    with httpx.Client(base_url=served.url) as http:
        missing = http.get("/subjects/nope/versions")
        assert missing.status_code == 404 and missing.json()["error_code"] == 40401
        assert missing.headers["content-type"].startswith("application/vnd.schemaregistry.v1+json")
        assert http.get("/schemas/ids/999999").json()["error_code"] == 40403
        bad = http.post("/subjects/x-value/versions", json={"schema": '{"type": "nonsense"}'})
        assert bad.status_code == 422 and bad.json()["error_code"] == 42201
        http.post("/subjects/x-value/versions", json={"schema": '"string"'})
        assert http.get("/subjects/x-value/versions/7").json()["error_code"] == 40402
        assert http.get("/subjects/x-value/versions/zero").json()["error_code"] == 42202
        level = http.put("/config/x-value", json={"compatibility": "SIDEWAYS"})
        assert level.status_code == 422 and level.json()["error_code"] == 42203
        mode = http.put("/mode/x-value", json={"mode": "SOMETIMES"})
        assert mode.json()["error_code"] == 42204
        assert http.get("/config/x-value").json()["error_code"] == 40408
        permanent = http.delete("/subjects/x-value", params={"permanent": "true"})
        assert permanent.json()["error_code"] == 40405
        http.delete("/subjects/x-value")
        assert http.delete("/subjects/x-value").json()["error_code"] == 40404
        http.put("/mode", json={"mode": "READONLY"})
        readonly = http.post("/subjects/y-value/versions", json={"schema": '"int"'})
        assert readonly.status_code == 422 and readonly.json()["error_code"] == 42205
        http.put("/mode", json={"mode": "READWRITE"})
