"""Crypto-shredding: ENCRYPT_PER_SUBJECT fields, ``gdpr forget``, through the real cluster.

Records of three customers are written by the SDK and by confluent-kafka's own
AvroSerializer (the executor registered with its global rule registry); a byte-for-byte
copy of the topic stands for a mirror or a restored backup. After ``streamplane gdpr forget
alice``, alice's encrypted fields read as ``[forgotten]`` in the topic and in the copy,
the others' still decrypt, and a reader without the KMS secret fails instead of seeing
anything in plain text.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer as RawProducer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streamplane.client import Consumer, DataContracts, Producer, Record
from streamplane.client._contracts import rule_registry
from streamplane.client.subject_encryption import FORGOTTEN
from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from streamplane.model import Spec, load_spec
from tests.integration.cli.conftest import cli, cli_json
from tests.integration.client.conftest import raw_messages
from tests.integration.conftest import create_topic
from tests.integration.registry.serving import Served

#: The local KMS's secret: test_contracts.py's, since confluent-kafka keeps the first local
#: KMS client of a process for every local-kms key after it.
SECRET = {"secret": "integration-local-kms-secret"}
#: confluent-kafka's AvroSerializer with the executor registered globally: the bytes, in hex.
OFFICIAL_WRITER = """
import json, sys
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from streamplane.client.subject_encryption import register
register()
url, auth, topic, schema, record, secret = sys.argv[1:]
client = SchemaRegistryClient({"url": url, "basic.auth.user.info": auth})
conf = {"auto.register.schemas": False, "use.latest.version": True}
writer = AvroSerializer(client, schema, conf=conf, rule_conf={"secret": secret})
print(writer(json.loads(record), SerializationContext(topic, MessageField.VALUE)).hex())
"""
#: A reader with the wrong KMS secret: exit 3 when the read fails, 0 (and the value) if not.
BLIND_READER = """
import sys
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from streamplane.client.subject_encryption import register
register()
url, auth, topic, value = sys.argv[1:]
client = SchemaRegistryClient({"url": url, "basic.auth.user.info": auth})
reader = AvroDeserializer(client, rule_conf={"secret": "not-the-kms-secret"})
try:
    print(reader(bytes.fromhex(value), SerializationContext(topic, MessageField.VALUE)))
except Exception as exc:
    print(type(exc).__name__)
    sys.exit(3)
"""
PAYMENT = {
    "type": "record",
    "name": "Payment",
    "namespace": "cards",
    "fields": [
        {"name": "customer_id", "type": "string"},
        {"name": "email", "type": "string", "confluent:tags": ["PII"]},
        {"name": "card", "type": "string", "confluent:tags": ["PII"]},
        {"name": "amount", "type": "long"},
    ],
}


def shredding_spec(root: Path, prefix: str, registry_url: str) -> Spec:
    (root / "schemas").mkdir(parents=True)
    (root / "schemas" / "payment.avsc").write_text(json.dumps(PAYMENT))
    (root / "spec.yaml").write_text(
        textwrap.dedent(
            f"""\
            encryption: {{kek: {prefix}kek, kms_type: local-kms, kms_key_id: {prefix}key}}
            clusters:
              - name: local
                local: true
                schema_registry: {registry_url}
                data_classes: [public, internal, confidential, pii]
            tenants:
              - name: cards
                prefix: "{prefix}"
                owners: [cards@example.com]
                clusters: [local]
                domains:
                  - name: payments
                    topics:
                      - name: made
                        classification: pii
                        value_schema:
                          file: schemas/payment.avsc
                          rules:
                            domain:
                              - name: forget-me
                                kind: TRANSFORM
                                mode: WRITEREAD
                                type: ENCRYPT_PER_SUBJECT
                                tags: [PII]
                                params: {{encrypt.subject.field: customer_id}}
                                onFailure: ERROR,ERROR
                    applications:
                      - name: pay-writer
                        produces: [{prefix}payments.made]
                      - name: pay-reader
                        consumes: [{prefix}payments.made]
            """
        )
    )
    return load_spec(root)


def payment(customer: str, n: int) -> dict[str, Any]:
    return {
        "customer_id": customer,
        "email": f"{customer}-{n}@example.com",
        "card": f"4111-0000-0000-{n:04d}",
        "amount": n,
    }


def sdk_read(spec: Spec, connection: ConnectionSettings, url: str, count: int) -> list[Record]:
    seen: list[Record] = []
    with Consumer.for_application(
        spec, "pay-reader", connection=connection, registry=url, contracts=DataContracts(SECRET),
    ) as consumer:  # fmt: skip
        consumer.run(seen.append, max_records=count, idle_timeout_s=30)
    return seen


def test_forget_makes_one_subject_unreadable_everywhere_and_leaves_the_others(
    tmp_path: Path, cluster1: LocalCluster, registry: Served
) -> None:
    prefix = f"s{uuid.uuid4().hex[:8]}."
    spec = shredding_spec(tmp_path / "spec", prefix, registry.url)
    topic, copy = f"{prefix}payments.made", f"backup.{prefix}payments.made"
    connection = cluster1.admin_settings()
    for name in (topic, copy):
        create_topic(connection, name, partitions=1)
    written = [payment(c, n) for n, c in enumerate(["alice", "bob", "alice", "bob"])]
    with Producer.for_application(
        spec, "pay-writer", connection=connection, registry=registry.url,
        contracts=DataContracts(SECRET),
    ) as producer:  # fmt: skip
        for value in written:
            producer.produce(topic, value, key=value["customer_id"])

    # confluent-kafka's own serializer, with the executor on its global rule registry, as a
    # plain confluent-kafka application has it (in a process of its own: an executor on the
    # global registry is configured for one registry client per process).
    carol = payment("carol", 9)
    auth = f"{connection.username}:{connection.password}"
    written_by = subprocess.run(
        [sys.executable, "-c", OFFICIAL_WRITER, registry.url, auth, topic, json.dumps(PAYMENT),
         json.dumps(carol), SECRET["secret"]],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert written_by.returncode == 0, written_by.stderr
    raw = RawProducer(connection.librdkafka())
    raw.produce(topic, value=bytes.fromhex(written_by.stdout.strip()), key=b"carol")
    assert raw.flush(30) == 0
    written.append(carol)
    client = SchemaRegistryClient({"url": registry.url, "basic.auth.user.info": auth})

    logged = raw_messages(connection, topic, len(written))
    for message, value in zip(logged, written, strict=True):
        assert value["email"].encode() not in message.value(), "PII in plain text in the log"
        assert value["customer_id"].encode() in message.value(), "the subject field stays plain"
        raw.produce(copy, value=message.value(), key=message.key())  # the byte-for-byte copy
    assert raw.flush(30) == 0

    deserializer = AvroDeserializer(client, rule_conf=SECRET, rule_registry=rule_registry())
    before = [
        deserializer(m.value(), SerializationContext(topic, MessageField.VALUE))
        for m in raw_messages(connection, topic, len(written))
    ]
    assert before == written

    report = cli_json(cluster1, "gdpr", "forget", "alice", str(spec.root))
    assert report["topics"] == [topic]
    assert copy in report["copies"]
    assert {k["dek"] for k in report["keys"]} == {f"{topic}-value|alice"}
    assert report["recorded"] is True
    again = cli_json(cluster1, "gdpr", "forget", "alice", str(spec.root))
    assert again["keys"] == [], "nothing is left to destroy"

    after = [r.value for r in sdk_read(spec, connection, registry.url, len(written))]
    for value, original in zip(after, written, strict=True):
        if original["customer_id"] == "alice":
            assert (value["email"], value["card"]) == (FORGOTTEN, FORGOTTEN)
            assert value["amount"] == original["amount"], "unencrypted fields stay readable"
        else:
            assert value == original, "other subjects keep their keys"

    # The copy under another topic name: same answer through the official deserializer
    # (a new process: this one's executor holds alice's key for its cache time).
    deserializer = AvroDeserializer(client, rule_conf=SECRET, rule_registry=rule_registry())
    copied = [
        deserializer(m.value(), SerializationContext(copy, MessageField.VALUE))
        for m in raw_messages(connection, copy, len(written))
    ]
    assert copied == after

    # Without the KMS secret nothing is shown: the read fails closed (bob's key exists). In
    # a process of its own: confluent-kafka keeps one KMS client per key URI per process.
    bob = next(m for m in raw_messages(connection, topic, len(written)) if m.key() == b"bob")
    blind = subprocess.run(
        [sys.executable, "-c", BLIND_READER, registry.url,
         f"{connection.username}:{connection.password}", topic, bob.value().hex()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert blind.returncode == 3, blind.stdout + blind.stderr
    assert "bob-" not in blind.stdout + blind.stderr

    lines = cli(cluster1, "audit", "query", "--source", "gdpr", "--resource", "sha256:", "--json")
    trail = [json.loads(line) for line in lines.splitlines()]
    assert any(event.get("resource_name") == report["reference"] for event in trail), trail
