"""Client-side field encryption end to end: confluent-kafka's serdes, our registry, real Kafka.

An Avro field tagged PII and an ENCRYPT rule in the schema's rule set: confluent-kafka's
``AvroSerializer`` with its ``FieldEncryptionExecutor`` encrypts the field with a DEK
from our DEK registry, the record crosses the cluster, and the deserializer decrypts it.
Checked on the raw bytes a plain consumer reads (what the log holds), across a DEK
version bump and a KEK rotation, and with shared KEKs whose DEKs the registry makes
through the local KMS and through AWS KMS (moto's server, started here).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import fastavro
import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import (
    Rule,
    RuleKind,
    RuleMode,
    RuleParams,
    RuleSet,
    Schema,
    SchemaRegistryClient,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.rule_registry import RuleRegistry
from confluent_kafka.schema_registry.rules.encryption.awskms.aws_driver import AwsKmsDriver
from confluent_kafka.schema_registry.rules.encryption.dek_registry.dek_registry_client import (
    DekRegistryClient,
)
from confluent_kafka.schema_registry.rules.encryption.encrypt_executor import (
    FieldEncryptionExecutor,
)
from confluent_kafka.schema_registry.rules.encryption.localkms.local_client import LocalKmsClient
from confluent_kafka.schema_registry.rules.encryption.localkms.local_driver import LocalKmsDriver
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError

from streamplane.local import LocalCluster
from streamplane.registry import AppOptions
from streamplane.security.kms import AwsKms, KmsDrivers, LocalKms
from tests.integration.conftest import create_topic, next_http_port
from tests.integration.registry.instances import InProcess, serve_in_process, wait_for

# The clients' local KMS secret (one for the whole run: Tink keeps the first local KMS
# client it is given), and the registry's, different so that a shared KEK's DEK can only
# have been wrapped by the registry.
SECRET = "encryption-test-client-secret"
REGISTRY_SECRET = "encryption-test-registry-secret"
SSN = "078-05-1120"
CUSTOMER = json.dumps({
    "type": "record", "name": "Customer", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "ssn", "type": "string", "confluent:tags": ["PII"]},
    ],
})  # fmt: skip
DAY_MS = 24 * 60 * 60 * 1000


@dataclass
class Setup:
    served: InProcess
    aws_key_arn: str

    @property
    def url(self) -> str:
        return self.served.url


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's AWS server in a child process, on a port of this run."""
    port = next_http_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = Path(sys.executable).parent / "moto_server"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/moto-api/", timeout=2).status_code < 500
        except httpx.HTTPError:
            assert proc.poll() is None, f"moto_server exited: {log.read_text()[-2000:]}"
            return False

    try:
        wait_for(up, timeout_s=60, what=f"moto_server on {url} ({log})")
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def setup(cluster1: LocalCluster, moto_url: str) -> Iterator[Setup]:
    with pytest.MonkeyPatch.context() as env:
        # The registry and the clients share this process: what the registry reads from
        # the environment is set here. No local secret: shared KEKs must not need one.
        env.delenv("LOCAL_SECRET", raising=False)
        env.setenv("AWS_ENDPOINT_URL", moto_url)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.delenv("AWS_PROFILE", raising=False)
        arn = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["Arn"]
        LocalKmsDriver.register()
        options = AppOptions(kms=KmsDrivers([LocalKms(REGISTRY_SECRET), AwsKms()]))
        served = serve_in_process(
            cluster1, topic=f"_schemas-enc-{uuid.uuid4().hex[:8]}", port=next_http_port(),
            options=options,
        )  # fmt: skip
        try:
            yield Setup(served, arn)
        finally:
            served.stop()


class FrozenClock:
    """The executor's clock, moved by the test to make a DEK expire."""

    def __init__(self) -> None:
        self.millis = int(time.time() * 1000)

    def now(self) -> int:
        return self.millis


def executors(clock: FrozenClock | None = None) -> RuleRegistry:
    """A rule registry of its own per serde: executors bind to the first registry URL."""
    rules = RuleRegistry()
    rules.register_executor(FieldEncryptionExecutor(clock) if clock else FieldEncryptionExecutor())
    return rules


def encrypt_rule(kek: str, kms_type: str, key_id: str, **params: str) -> Rule:
    return Rule(
        "encrypt-pii", "fields tagged PII", RuleKind.TRANSFORM, RuleMode.WRITEREAD, "ENCRYPT",
        ["PII"],
        RuleParams({"encrypt.kek.name": kek, "encrypt.kms.type": kms_type,
                    "encrypt.kms.key.id": key_id, **params}),
        None, None, None, False,
    )  # fmt: skip


def register(sr: SchemaRegistryClient, subject: str, rule: Rule) -> int:
    schema_id: int = sr.register_schema(
        subject, Schema(CUSTOMER, "AVRO", rule_set=RuleSet(None, [rule]))
    )
    return schema_id


def serializer(sr: SchemaRegistryClient, rules: RuleRegistry, **rule_conf: str) -> AvroSerializer:
    conf = {"auto.register.schemas": False, "use.latest.version": True}
    return AvroSerializer(sr, CUSTOMER, None, conf, rule_conf or None, rules)


def deserializer(
    sr: SchemaRegistryClient, rules: RuleRegistry, **rule_conf: str
) -> AvroDeserializer:
    return AvroDeserializer(sr, None, None, False, None, rule_conf or None, rules)


def through_kafka(cluster: LocalCluster, topic: str, payloads: list[bytes]) -> list[bytes]:
    """Produce the serialized records and read them back raw, as the log holds them."""
    producer = Producer(cluster.admin_settings().librdkafka())
    for payload in payloads:
        producer.produce(topic, value=payload)
    assert producer.flush(30) == 0
    consumer = Consumer(cluster.admin_settings().librdkafka(**{
        "group.id": f"raw-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
    }))  # fmt: skip
    consumer.subscribe([topic])
    raw: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(raw) < len(payloads) and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            raw.append(msg.value())
    consumer.close()
    assert len(raw) == len(payloads)
    return raw


def written_ssn(raw: bytes) -> str:
    """The ssn field as written: the record decoded with the plain writer schema."""
    assert raw[0] == 0
    record = fastavro.schemaless_reader(
        io.BytesIO(raw[5:]), fastavro.parse_schema(json.loads(CUSTOMER))
    )
    assert isinstance(record, dict)
    return str(record["ssn"])


def customer(n: int) -> dict[str, Any]:
    return {"id": f"c{n}", "name": f"Ada {n}", "ssn": f"{SSN}-{n}"}


def test_a_pii_field_is_ciphertext_on_the_wire_and_decrypted_only_with_the_key(
    setup: Setup, cluster1: LocalCluster, topic_name: str
) -> None:
    create_topic(cluster1.admin_settings(), topic_name)
    sr, kek = SchemaRegistryClient({"url": setup.url}), f"pii_{uuid.uuid4().hex[:8]}"
    subject = f"{topic_name}-value"
    register(sr, subject, encrypt_rule(kek, "local-kms", "pii-key"))
    # The registry keeps the rule set with the version (the data contract).
    assert sr.get_latest_version(subject).schema.rule_set is not None

    ctx = SerializationContext(topic_name, MessageField.VALUE)
    write = serializer(sr, executors(), secret=SECRET)
    values = [customer(n) for n in range(3)]
    # The serializer encrypts the dict it is given in place: hand it copies.
    raw = through_kafka(cluster1, topic_name, [write(dict(v), ctx) for v in values])
    for value, record in zip(values, raw, strict=True):
        assert value["ssn"].encode() not in record  # not on the wire, not in the log
        assert value["name"].encode() in record  # the other fields stay readable
        assert written_ssn(record) != value["ssn"]
        base64.b64decode(written_ssn(record), validate=True)  # Tink ciphertext, base64

    read = deserializer(sr, executors(), secret=SECRET)
    assert [read(record, ctx) for record in raw] == values
    with pytest.raises(SerializationError) as refused:
        deserializer(sr, RuleRegistry())(raw[0], ctx)  # no executor: no plain text
    assert "Could not find rule executor of type ENCRYPT" in str(refused.value.__cause__)

    # The client made the KEK (not shared) and wrapped the DEK itself; the registry holds both.
    keys = DekRegistryClient({"url": setup.url})
    assert keys.get_kek(kek).shared is False
    dek = keys.get_dek(kek, subject)
    assert dek.key_material is None and dek.encrypted_key_material


def test_a_new_dek_version_and_a_rotated_kek_keep_old_records_readable(
    setup: Setup, cluster1: LocalCluster, topic_name: str
) -> None:
    create_topic(cluster1.admin_settings(), topic_name)
    sr, subject = SchemaRegistryClient({"url": setup.url}), f"{topic_name}-value"
    old_kek, new_kek = f"old_{uuid.uuid4().hex[:8]}", f"new_{uuid.uuid4().hex[:8]}"
    first_id = register(sr, subject, encrypt_rule(old_kek, "local-kms", "k1", **{
        "encrypt.dek.expiry.days": "1"}))  # fmt: skip
    ctx = SerializationContext(topic_name, MessageField.VALUE)

    clock = FrozenClock()
    write = serializer(sr, executors(clock), secret=SECRET)
    first = write(customer(1), ctx)
    clock.millis += 3 * DAY_MS  # the DEK has expired: the next record gets version 2
    second = write(customer(2), ctx)
    keys = DekRegistryClient({"url": setup.url})
    versions = keys._rest_client.get(f"/dek-registry/v1/keks/{old_kek}/deks/{subject}/versions")
    assert versions == [1, 2]
    # Each ciphertext names its DEK version (a 0 byte, then 4 bytes big-endian).
    assert [base64.b64decode(written_ssn(r))[1:5] for r in (first, second)] == [
        (1).to_bytes(4, "big"), (2).to_bytes(4, "big"),
    ]  # fmt: skip

    # KEK rotation: a new version of the subject whose rule names another KEK.
    assert register(sr, subject, encrypt_rule(new_kek, "local-kms", "k2")) != first_id
    assert sr.get_versions(subject) == [1, 2]
    # A new client: the serializer's client caches the latest version it saw.
    fresh = SchemaRegistryClient({"url": setup.url})
    third = serializer(fresh, executors(), secret=SECRET)(customer(3), ctx)
    assert keys.get_dek(new_kek, subject).version == 1

    raw = through_kafka(cluster1, topic_name, [first, second, third])
    read = deserializer(sr, executors(), secret=SECRET)
    assert [read(r, ctx) for r in raw] == [customer(1), customer(2), customer(3)]


@pytest.mark.parametrize("kms", ["local-kms", "aws-kms"])
def test_a_shared_kek_lets_clients_encrypt_without_kms_access(
    setup: Setup, cluster1: LocalCluster, topic_name: str, kms: str
) -> None:
    create_topic(cluster1.admin_settings(), topic_name)
    sr, subject = SchemaRegistryClient({"url": setup.url}), f"{topic_name}-value"
    kek = f"shared_{kms.split('-')[0]}_{uuid.uuid4().hex[:8]}"
    key_id = setup.aws_key_arn if kms == "aws-kms" else "estate-key"
    keys = DekRegistryClient({"url": setup.url})
    assert keys.register_kek(kek, kms, key_id, shared=True).shared is True
    register(sr, subject, encrypt_rule(kek, kms, key_id))
    ctx = SerializationContext(topic_name, MessageField.VALUE)

    # No secret and no KMS settings on either side: the registry wraps and unwraps (with
    # a secret the clients do not have).
    assert "LOCAL_SECRET" not in os.environ
    raw = through_kafka(cluster1, topic_name, [serializer(sr, executors())(customer(7), ctx)])
    assert SSN.encode() not in raw[0]
    assert deserializer(sr, executors())(raw[0], ctx) == customer(7)
    with pytest.raises(SerializationError):
        deserializer(sr, RuleRegistry())(raw[0], ctx)

    dek = keys.get_dek(kek, subject)
    wrapped, key = dek.get_encrypted_key_material_bytes(), dek.get_key_material_bytes()
    assert key is not None and wrapped is not None and wrapped != key
    # Wrapped by the registry's KMS: the clients' own KMS drivers unwrap it to the same key.
    if kms == "aws-kms":
        uri = f"aws-kms://{key_id}"
        aead = AwsKmsDriver().new_kms_client({}, uri).get_aead(uri)
        plain = boto3.client("kms", region_name="eu-west-1").decrypt(CiphertextBlob=wrapped)
        assert plain["Plaintext"] == key
    else:
        aead = LocalKmsClient(REGISTRY_SECRET).get_aead(f"local-kms://{key_id}")
    assert aead.decrypt(wrapped, b"") == key
