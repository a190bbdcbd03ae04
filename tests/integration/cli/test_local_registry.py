"""Commands that read the local schema registry by default: ``dlq inspect`` decodes parked
values with it, ``topics describe`` names the topic's subjects and what is registered."""

from __future__ import annotations

import json
import uuid

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streamplane.client import ERROR_CLASS_HEADER, ERROR_KIND_HEADER, ERROR_MESSAGE_HEADER
from streamplane.local import LocalCluster
from tests.integration.cli.conftest import Local, cli, cli_json
from tests.integration.conftest import create_topic
from tests.unit.client.specs import ORDER_AVSC

ORDER = {"id": "o-1", "amount_minor": 1250, "currency": "CHF"}
#: A Confluent frame naming a schema id no registry has.
UNKNOWN_ID_FRAME = b"\x00\x00\x0f\x42\x3f" + b"\x02\x06abc"
HEADERS = [
    (ERROR_KIND_HEADER, b"handler"),
    (ERROR_CLASS_HEADER, b"LookupError"),
    (ERROR_MESSAGE_HEADER, b"no warehouse"),
]


def park(cluster: LocalCluster, topic: str, values: list[bytes]) -> None:
    """Write ``values`` to ``<topic>.dlq`` as the SDK parks them (with failure headers); the
    tests name that dead-letter topic outright (without a spec, no application owns it)."""
    create_topic(cluster.admin_settings(), topic)
    create_topic(cluster.admin_settings(), f"{topic}.dlq")
    producer = Producer(cluster.admin_settings().librdkafka())
    for value in values:
        producer.produce(f"{topic}.dlq", value, headers=HEADERS)
    assert producer.flush(30) == 0


def test_dlq_inspect_decodes_with_the_local_registry_by_default(local_platform: Local) -> None:
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    password = local_platform.cluster.credentials().admin_password
    registry = SchemaRegistryClient(
        {"url": local_platform.registry.url, "basic.auth.user.info": f"admin:{password}"}
    )
    encoded = AvroSerializer(registry, json.dumps(ORDER_AVSC))(
        ORDER, SerializationContext(topic, MessageField.VALUE)
    )
    assert encoded is not None
    park(local_platform.cluster, topic, [encoded, UNKNOWN_ID_FRAME])
    schema_id = int.from_bytes(encoded[1:5], "big")

    listed = cli_json(local_platform.cluster, "dlq", "inspect", f"{topic}.dlq")
    assert listed[0]["decoded"] == {
        "format": "AVRO", "schema_id": schema_id, "value": ORDER, "error": None,
    }  # fmt: skip
    assert listed[1]["decoded"]["error"].startswith("schema 999999")

    text = cli(local_platform.cluster, "dlq", "inspect", f"{topic}.dlq")
    assert f"value:   (AVRO schema {schema_id}) {json.dumps(ORDER)}" in text
    # What cannot be decoded is shown as the bytes it is, with the reason.
    assert f"value:   {UNKNOWN_ID_FRAME!r}" in text and "not decoded: schema 999999" in text

    raw = cli_json(local_platform.cluster, "dlq", "inspect", f"{topic}.dlq", "--raw")
    assert all("decoded" not in entry for entry in raw)
    raw_text = cli(local_platform.cluster, "dlq", "inspect", f"{topic}.dlq", "--raw")
    assert f"value:   {encoded!r}"[:80] in raw_text and "AVRO" not in raw_text

    # The same registry names what is registered for the topic.
    described = cli(local_platform.cluster, "topics", "describe", topic)
    assert f"value schema: {topic}-value version 1, schema id {schema_id} (AVRO)" in described
    assert cli_json(local_platform.cluster, "topics", "describe", topic)["subjects"] == {
        "value": f"{topic}-value"
    }


def test_dlq_inspect_without_a_registry_shows_raw_values_and_says_why(
    cluster1: LocalCluster,
) -> None:
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    park(cluster1, topic, [b"plain text"])
    text = cli(cluster1, "dlq", "inspect", f"{topic}.dlq")
    assert "values are shown raw: the local schema registry is not running" in text
    assert "value:   b'plain text'" in text
    listed = cli_json(cluster1, "dlq", "inspect", f"{topic}.dlq")  # JSON stays one document
    assert "decoded" not in listed[0]
