"""Data contracts through the SDK, a real registry (with its DEK registry) and the cluster.

A pii topic's PII field is encrypted by the producing application without code: it is
ciphertext in the log and plain again after the SDK consumer, and a CEL condition refuses
a bad record before it reaches the broker. Needs the registry's data contracts and DEK
registry (``/dek-registry/v1``).
"""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest

from streamplane.client import Consumer, DataContracts, Producer, Record, SchemaViolation
from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from streamplane.model import Spec, load_spec
from tests.integration.client.conftest import raw_messages
from tests.integration.conftest import create_topic
from tests.integration.registry.serving import Served

#: The local KMS's master secret of these tests (the same for producer and consumer).
SECRET = {"secret": "integration-local-kms-secret"}
CUSTOMER = {
    "type": "record",
    "name": "Customer",
    "namespace": "kyc",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "email", "type": "string", "confluent:tags": ["PII"]},
        {"name": "country", "type": "string"},
    ],
}


def contract_spec(root: Path, prefix: str) -> Spec:
    """A pii topic with the default ENCRYPT rule and a CEL condition, a writer and a reader."""
    (root / "schemas").mkdir(parents=True)
    (root / "schemas" / "customer.avsc").write_text(json.dumps(CUSTOMER))
    (root / "spec.yaml").write_text(
        textwrap.dedent(
            f"""\
            encryption: {{kek: {prefix}kek, kms_type: local-kms, kms_key_id: {prefix}key}}
            clusters:
              - name: local
                local: true
                data_classes: [public, internal, confidential, pii]
            tenants:
              - name: kyc
                prefix: "{prefix}"
                owners: [kyc@example.com]
                clusters: [local]
                domains:
                  - name: customers
                    topics:
                      - name: identities
                        classification: pii
                        value_schema:
                          file: schemas/customer.avsc
                          rules:
                            domain:
                              - name: id-present
                                kind: CONDITION
                                mode: WRITE
                                type: CEL
                                expr: "message.id != ''"
                    applications:
                      - name: kyc-writer
                        produces: [{prefix}customers.identities]
                      - name: kyc-reader
                        consumes: [{prefix}customers.identities]
            """
        )
    )
    return load_spec(root)


def raw_values(connection: ConnectionSettings, topic: str, count: int) -> list[bytes]:
    """The values as the log holds them, read without any deserializer."""
    return [m.value() for m in raw_messages(connection, topic, count)]


def test_a_pii_field_is_ciphertext_in_the_log_and_plain_after_sdk_consume(
    tmp_path: Path, cluster1: LocalCluster, registry: Served
) -> None:
    prefix = f"k{uuid.uuid4().hex[:8]}."
    spec = contract_spec(tmp_path / "spec", prefix)
    topic = f"{prefix}customers.identities"
    connection = cluster1.admin_settings()
    create_topic(connection, topic, partitions=1)
    customers = [
        {"id": f"c{n}", "email": f"person-{n}@example.com", "country": "NL"} for n in range(5)
    ]
    expected = [dict(c) for c in customers]
    with Producer.for_application(
        spec, "kyc-writer", connection=connection, registry=registry.url,
        contracts=DataContracts(SECRET),
    ) as producer:  # fmt: skip
        for customer in customers:
            producer.produce(topic, customer, key=customer["id"])
        with pytest.raises(SchemaViolation, match=r"the data contract refused it"):
            producer.produce(topic, {"id": "", "email": "x@example.com", "country": "NL"})

    assert customers == expected, "the application's own records are left as they were"
    logged = raw_values(connection, topic, len(customers))
    assert len(logged) == len(customers), "the refused record never reached the broker"
    for value, customer in zip(logged, customers, strict=True):
        assert customer["email"].encode() not in value, "PII in plain text in the log"
        assert customer["id"].encode() in value and b"NL" in value, "other fields stay plain"

    seen: list[Record] = []
    with Consumer.for_application(
        spec, "kyc-reader", connection=connection, registry=registry.url,
        contracts=DataContracts(SECRET),
    ) as consumer:  # fmt: skip
        consumer.run(seen.append, max_records=len(customers), idle_timeout_s=30)
    assert [r.value for r in seen] == customers
