"""Each application can do exactly what the spec grants, and nothing else."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from streamplane.kafka import ConnectionSettings
from tests.integration.reconcile.conftest import Estate


def produce(settings: ConnectionSettings, topic: str) -> KafkaError | None:
    outcome: list[KafkaError | None] = []
    producer = Producer(settings.librdkafka(**{"message.timeout.ms": 8000, "log_level": 0}))
    producer.produce(topic, b"probe", key=b"probe", on_delivery=lambda err, _m: outcome.append(err))
    producer.flush(15)
    assert outcome, "no delivery report"
    return outcome[0]


def consume(settings: ConnectionSettings, topic: str, group: str) -> KafkaError | None:
    """Join ``group`` and fetch from ``topic``; the first error, or None when allowed."""
    consumer = Consumer(settings.librdkafka(**{
        "group.id": group, "auto.offset.reset": "earliest", "log_level": 0,
        "enable.auto.commit": False,
    }))  # fmt: skip
    consumer.subscribe([topic])
    try:
        for _ in range(20):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error():
                return msg.error()
            if consumer.assignment():
                consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
                return None
        return KafkaError(KafkaError._TIMED_OUT)
    except KafkaException as exc:
        return exc.args[0]
    finally:
        consumer.close()


def visible_topics(settings: ConnectionSettings) -> set[str]:
    return set(AdminClient(settings.librdkafka(**{"log_level": 0})).list_topics(timeout=10).topics)


DENIED = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}


@pytest.mark.parametrize(
    ("app", "topic", "allowed"),
    [
        ("card-gateway", "payments.card.authorizations", True),
        ("card-gateway", "payments.card.authorized.v1", False),  # not its topic
        ("card-authorizer", "payments.card.authorized.v1", True),
        ("card-authorizer", "payments.card.authorizations", False),  # consumes only
        ("fraud-scorer", "risk.fraud.decision.v1", True),
        ("fraud-scorer", "payments.card.authorized.v1", False),  # other tenant's event
        ("kyc-service", "risk.customers.identities", True),
        ("lake-sink", "payments.ledger.entries", False),  # other tenant's private topic
        ("adhoc-explorer", "analytics.reporting.daily-volumes", False),  # read-only app
    ],
)
def test_produce_is_allowed_exactly_where_granted(
    estate: Estate, app: str, topic: str, allowed: bool
) -> None:
    error = produce(estate.as_app(app), topic)
    if allowed:
        assert error is None, error
    else:
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error


@pytest.mark.parametrize(
    ("app", "topic", "own_group", "allowed"),
    [
        ("card-authorizer", "payments.card.authorizations", True, True),
        ("card-authorizer", "payments.card.authorizations", False, False),  # foreign group
        ("ledger-writer", "payments.card.authorized.v1", True, True),
        ("fraud-feature-builder", "payments.card.authorized.v1", True, True),  # public event
        ("fraud-feature-builder", "payments.card.authorizations", True, False),  # private
        ("volume-aggregator", "payments.ledger.balance-changed.v1", True, True),
        ("volume-aggregator", "risk.customers.identities", True, False),  # PII, not granted
        ("card-gateway", "payments.card.authorizations", True, False),  # producer only
    ],
)
def test_consume_is_allowed_exactly_where_granted(
    estate: Estate, app: str, topic: str, own_group: bool, allowed: bool
) -> None:
    entry = estate.spec.applications[app]
    group = (
        entry.consumer_group
        if own_group
        else f"{entry.tenant.namespace}other-{uuid.uuid4().hex[:6]}"
    )
    error = consume(estate.as_app(app), topic, group)
    if allowed:
        assert error is None, error
    else:
        assert error is not None and error.code() in DENIED, error


def test_describe_shows_only_granted_topics(estate: Estate) -> None:
    seen = visible_topics(estate.as_app("fraud-scorer"))
    # Its topics, and the retry and dead-letter topics of its dead_letters.
    mine = "risk.fraud.fraud-scorer.risk.fraud.features"
    parked = {f"{mine}.{t}" for t in ("retry.1", "retry.2", "dlq")}
    assert seen == {"risk.fraud.features", "risk.fraud.decision.v1", *parked}


def test_applications_cannot_create_or_alter_topics(estate: Estate) -> None:
    admin = AdminClient(estate.as_app("card-gateway").librdkafka(**{"log_level": 0}))
    name = f"payments.card.sneaky-{uuid.uuid4().hex[:6]}"
    with pytest.raises(KafkaException) as created:
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(15)
    assert created.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    shorten = ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(
        ResourceType.TOPIC, "payments.card.authorizations", incremental_configs=[shorten]
    )
    with pytest.raises(KafkaException) as altered:
        next(iter(admin.incremental_alter_configs([resource]).values())).result(15)
    assert altered.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_transactional_app_gets_only_its_own_transactional_ids(estate: Estate) -> None:
    settings = estate.as_app("card-authorizer")
    ok = Producer(
        settings.librdkafka(**{"transactional.id": "payments.card-authorizer-0", "log_level": 0})
    )
    ok.init_transactions(15)
    foreign = Producer(
        settings.librdkafka(**{"transactional.id": "payments.ledger-writer-0", "log_level": 0})
    )
    with pytest.raises(KafkaException) as info:
        foreign.init_transactions(15)
    assert info.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
