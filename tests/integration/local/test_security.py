"""The local cluster authenticates every client and authorizes (and audits) every request."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic


def test_admin_credentials_produce_and_consume(cluster1: LocalCluster, topic_name: str) -> None:
    settings = cluster1.admin_settings()
    create_topic(settings, topic_name, partitions=3)
    producer = Producer(settings.librdkafka(**{"enable.idempotence": True}))
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(200)}
    errors: list[KafkaError] = []
    for key, value in sent.items():
        producer.produce(
            topic_name, key=key, value=value, on_delivery=lambda e, _m: e and errors.append(e)
        )
    assert producer.flush(30) == 0
    assert errors == []

    consumer = Consumer(
        settings.librdkafka(
            **{"group.id": f"g-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
        )
    )
    consumer.subscribe([topic_name])
    received: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 60
    try:
        while len(received) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            received[msg.key()] = msg.value()
    finally:
        consumer.close()
    assert received == sent


def _refusals(conf: dict[str, object]) -> list[KafkaError]:
    """Errors a client reports while trying (and failing) to read metadata."""
    reported: list[KafkaError] = []
    admin = AdminClient({**conf, "log_level": 0, "error_cb": reported.append})
    with pytest.raises(KafkaException) as info:
        admin.list_topics(timeout=8)
    admin.poll(0.5)  # deliver queued error callbacks
    return [info.value.args[0], *reported]


def test_unauthenticated_client_is_refused(cluster1: LocalCluster) -> None:
    bootstrap = cluster1.admin_settings().bootstrap_servers
    # A plaintext client speaks Kafka to a SASL listener: the broker drops it before any request.
    errors = _refusals({"bootstrap.servers": bootstrap, "security.protocol": "PLAINTEXT"})
    assert {e.code() for e in errors} <= {
        KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN,
    }  # fmt: skip


def test_wrong_password_is_refused_with_an_authentication_error(cluster1: LocalCluster) -> None:
    settings = cluster1.admin_settings().with_credentials("admin", "not-the-password")
    errors = _refusals(settings.librdkafka())
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    assert auth, errors
    assert "invalid credentials" in auth[0].str()


def _create_user(cluster: LocalCluster, name: str, password: str) -> None:
    admin = AdminClient(cluster.admin_settings().librdkafka())
    upsert = UserScramCredentialUpsertion(
        name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password.encode()
    )
    for future in admin.alter_user_scram_credentials([upsert]).values():
        future.result(timeout=30)


def test_user_without_acls_is_denied_and_the_denial_is_audited(
    cluster1: LocalCluster, topic_name: str
) -> None:
    create_topic(cluster1.admin_settings(), topic_name)
    user, password = f"nobody-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    _create_user(cluster1, user, password)
    settings = cluster1.admin_settings().with_credentials(user, password)

    # Authenticated, but no ACL grants anything: writes are refused, not silently dropped.
    errors: list[KafkaError] = []
    producer = Producer(
        settings.librdkafka(**{"enable.idempotence": False, "message.timeout.ms": 10000})
    )
    producer.produce(topic_name, value=b"x", on_delivery=lambda e, _m: errors.append(e))
    producer.flush(20)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    audit = cluster1.dir.node_logs(1) / "kafka-authorizer.log"
    pattern = re.compile(
        rf"Principal = User:{re.escape(user)} is Denied operation = (\w+) "
        rf"from host = (127\.0\.0\.1) on resource = Topic:LITERAL:{re.escape(topic_name)}"
    )
    deadline = time.monotonic() + 10
    matches: list[re.Match[str]] = []
    while not matches and time.monotonic() < deadline:
        matches = list(pattern.finditer(audit.read_text()))
        time.sleep(0.2)
    assert matches, f"no denial for {user} on {topic_name} in {audit}"
    assert {m.group(1) for m in matches} & {"DESCRIBE", "WRITE"}


def test_audit_log_records_granted_decisions_too(cluster1: LocalCluster, topic_name: str) -> None:
    create_topic(cluster1.admin_settings(), topic_name)
    audit = (cluster1.dir.node_logs(1) / "kafka-authorizer.log").read_text()
    assert re.search(
        rf"Principal = User:admin is Allowed operation = \w+ from host = 127\.0\.0\.1 "
        rf"on resource = Topic:LITERAL:{re.escape(topic_name)} for request = CreateTopics",
        audit,
    )
