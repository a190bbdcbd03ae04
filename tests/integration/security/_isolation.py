"""The isolation matrix's estate and probes: three tenants, each with an application per way
in (SCRAM, mTLS, OAuth), and one probe per operation, run with the application's own client
configuration (the file ``apply`` wrote), never as the admin."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamplane.client import RegistrySettings
from streamplane.kafka import ConnectionSettings

TENANTS = ("alpha", "beta", "gamma")
MECHANISMS = ("scram", "mtls", "oauth")
#: Each operation and whether the spec grants it on the application's own tenant's
#: resources; nothing is granted on another tenant's.
OPERATIONS = {
    "produce": True,
    "consume": True,
    "describe": True,
    "join group": True,
    "transactional id": True,
    "create topic": False,
    "alter config": False,
    # At the schema registry, as the same identity (password, token or certificate).
    "read schema": True,
    "write schema": True,
}


EVENT_SCHEMA = '{"type": "string"}'


def app_name(tenant: str, mechanism: str) -> str:
    return f"{tenant}-{mechanism}"


def topic_of(tenant: str) -> str:
    return f"{tenant}.orders.events"


def group_of(tenant: str, mechanism: str) -> str:
    return f"{tenant}.{app_name(tenant, mechanism)}"


#: platform.yaml's start for a spec of the shared 1-node test cluster (no prod rules).
ONE_NODE_PLATFORM = (
    "clusters:\n"
    "  - {name: local, local: true, environment: dev, brokers: 1}\n"
    "policy:\n"
    "  rules:\n"
    "    replication:\n"
    "      exemptions: [{resource: '*', reason: 'one-node test cluster'}]\n"
)


def write_spec(root: Path) -> Path:
    """The estate: tenants alpha, beta, gamma; one topic each; an application per way in."""
    (root / "tenants").mkdir(parents=True, exist_ok=True)
    (root / "platform.yaml").write_text(ONE_NODE_PLATFORM)
    # A value schema per topic: apply then publishes the registry's access policy too.
    (root / "schemas").mkdir(exist_ok=True)
    (root / "schemas" / "event.avsc").write_text(EVENT_SCHEMA)
    for tenant in TENANTS:
        apps = "".join(
            f"          - name: {app_name(tenant, m)}\n"
            f"            auth: {m}\n"
            f"            produces: [{topic_of(tenant)}]\n"
            f"            consumes: [{topic_of(tenant)}]\n"
            "            transactional: true\n"
            for m in MECHANISMS
        )
        (root / "tenants" / f"{tenant}.yaml").write_text(
            tenant_yaml(tenant, apps, value_schema="schemas/event.avsc")
        )
    return root


def tenant_yaml(tenant: str, apps: str = "", *, value_schema: str | None = None) -> str:
    """A tenant file: domain orders with one topic, ``events`` (with ``value_schema``, a path
    under the spec root, if given), and ``apps`` (YAML items)."""
    return (
        "tenants:\n"
        f"  - name: {tenant}\n"
        f"    owners: [{tenant}@example.com]\n"
        "    clusters: [local]\n"
        "    domains:\n"
        "      - name: orders\n"
        f"        owner: {tenant}-orders@example.com\n"
        "        topics:\n"
        "          - name: events\n"
        "            partitions: 1\n"
        "            classification: internal\n"
        f"            owner: {tenant}-orders@example.com\n"
        + (f"            value_schema: {value_schema}\n" if value_schema else "")
    ) + ("        applications:\n" + apps if apps else "")


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    detail: str


def _quiet(settings: ConnectionSettings, **extra: object) -> dict[str, object]:
    return settings.librdkafka(**{"log_level": 0, "socket.timeout.ms": 10000, **extra})


def _refused(error: KafkaError | None) -> Outcome:
    if error is None:
        return Outcome(True, "ok")
    return Outcome(False, error.name())


def produce(settings: ConnectionSettings, topic: str) -> Outcome:
    errors: list[KafkaError | None] = []
    producer = Producer(_quiet(settings, **{"message.timeout.ms": 15000}))
    producer.produce(topic, b"probe", on_delivery=lambda err, _m: errors.append(err))
    producer.flush(20)
    return _refused(errors[0] if errors else KafkaError(KafkaError._MSG_TIMED_OUT))


def consume(settings: ConnectionSettings, topic: str, group: str) -> Outcome:
    consumer = Consumer(_quiet(settings, **{"group.id": group, "enable.auto.commit": False}))
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(10):
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            return _refused(msg.error())
        return Outcome(False, "no record and no error within 10 s")
    finally:
        consumer.close()


def describe(settings: ConnectionSettings, topic: str) -> Outcome:
    admin = AdminClient(_quiet(settings))
    try:
        metadata = admin.list_topics(topic, timeout=15)
    except KafkaException as exc:
        return Outcome(False, exc.args[0].name())
    found = metadata.topics.get(topic)
    return _refused(found.error if found is not None else None)


def join_group(settings: ConnectionSettings, topic: str, group: str) -> Outcome:
    """Subscribing joins the group: its coordinator checks READ on the group."""
    consumer = Consumer(_quiet(settings, **{"group.id": group, "enable.auto.commit": False}))
    try:
        consumer.subscribe([topic])
        for _ in range(20):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                return _refused(msg.error())
            if consumer.assignment():
                return Outcome(True, "ok")
        return Outcome(False, "no assignment within 10 s")
    finally:
        consumer.close()


def transactional_id(settings: ConnectionSettings, txn_id: str) -> Outcome:
    producer = Producer(_quiet(settings, **{"transactional.id": txn_id}))
    try:
        producer.init_transactions(20)
    except KafkaException as exc:
        return Outcome(False, exc.args[0].name())
    return Outcome(True, "ok")


def create_topic(settings: ConnectionSettings, tenant: str) -> Outcome:
    admin = AdminClient(_quiet(settings))
    name = f"{tenant}.orders.probe-{uuid.uuid4().hex[:8]}"
    future = admin.create_topics([NewTopic(name, 1, 1)], request_timeout=15)[name]
    try:
        future.result(20)
    except KafkaException as exc:
        return Outcome(False, exc.args[0].name())
    return Outcome(True, "ok")


def alter_config(settings: ConnectionSettings, topic: str) -> Outcome:
    admin = AdminClient(_quiet(settings))
    resource = ConfigResource(
        ResourceType.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    future = admin.incremental_alter_configs([resource], request_timeout=15)[resource]
    try:
        future.result(20)
    except KafkaException as exc:
        return Outcome(False, exc.args[0].name())
    return Outcome(True, "ok")


Probe = Callable[[ConnectionSettings, str, str], Outcome]


def resource_of(operation: str, tenant: str, mechanism: str) -> str:
    """The resource whose refusal the audit trail must show for ``operation`` on ``tenant``'s
    resources (a prefix for a created topic: its name is random)."""
    return {
        "join group": group_of(tenant, mechanism),
        "transactional id": group_of(tenant, mechanism),
        "create topic": f"{tenant}.orders.probe-",
    }.get(operation, topic_of(tenant))


def _registry_call(
    registry: RegistrySettings, call: Callable[[SchemaRegistryClient], object]
) -> Outcome:
    try:
        call(registry.client())
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return Outcome(True, "allowed (no such schema yet)")
        return Outcome(False, f"{exc.http_status_code} {exc.error_message}")
    return Outcome(True, "ok")


def read_schema(registry: RegistrySettings, topic: str) -> Outcome:
    return _registry_call(registry, lambda c: c.get_latest_version(f"{topic}-value"))


def write_schema(registry: RegistrySettings, topic: str) -> Outcome:
    schema = Schema(EVENT_SCHEMA, "AVRO")  # the declared one: registering it again is a no-op
    return _registry_call(registry, lambda c: c.register_schema(f"{topic}-value", schema))


def probe(
    operation: str,
    settings: ConnectionSettings,
    tenant: str,
    mechanism: str,
    registry_url: str,
) -> Outcome:
    """Run ``operation`` as the application against ``tenant``'s resources (its own
    tenant's or another's: the application's group and transactional id are named after
    ``tenant``, which for another tenant is that tenant's application of the same kind)."""
    topic, group = topic_of(tenant), group_of(tenant, mechanism)
    if operation == "produce":
        return produce(settings, topic)
    if operation == "consume":
        return consume(settings, topic, group)
    if operation == "describe":
        return describe(settings, topic)
    if operation == "join group":
        return join_group(settings, topic, group)
    if operation == "transactional id":
        return transactional_id(settings, group)
    if operation == "create topic":
        return create_topic(settings, tenant)
    if operation == "alter config":
        return alter_config(settings, topic)
    registry = RegistrySettings.of(registry_url, settings)
    if operation == "read schema":
        return read_schema(registry, topic)
    if operation == "write schema":
        return write_schema(registry, topic)
    raise ValueError(operation)
