"""Where a failed record goes next, and the headers that say why, whence and when."""

from __future__ import annotations

import pytest

from streamplane.client import ClientError, Consumer, DeadLetterOwner, DeadLetterPolicy
from streamplane.client._deadletter import RetryPauses, error_class, failure_headers, replay_headers
from streamplane.client._headers import header_text
from streamplane.kafka import ConnectionSettings

OWNER = DeadLetterOwner("shop.", "orders", "fulfilment")


def test_destinations_walk_the_applications_retry_topics_then_its_dlq() -> None:
    policy = DeadLetterPolicy(retry_delays_s=(1.0, 30.0), owner=OWNER)
    mine = "shop.orders.fulfilment.orders"
    assert policy.retry_topics("orders") == [f"{mine}.retry.1", f"{mine}.retry.2"]
    assert policy.destination("orders", attempt=0, retryable=True) == (f"{mine}.retry.1", 1.0)
    assert policy.destination("orders", attempt=1, retryable=True) == (f"{mine}.retry.2", 30.0)
    assert policy.destination("orders", attempt=2, retryable=True) == (f"{mine}.dlq", 0.0)
    # A value that cannot be decoded will not decode on a retry either.
    assert policy.destination("orders", attempt=0, retryable=False) == (f"{mine}.dlq", 0.0)
    straight = DeadLetterPolicy(owner=OWNER)
    assert straight.destination("o", attempt=0, retryable=True) == (
        "shop.orders.fulfilment.o.dlq",
        0.0,
    )


def test_a_policy_without_an_owner_says_how_to_name_one() -> None:
    with pytest.raises(ClientError, match=r"names no owner.*for_application.*DeadLetterOwner"):
        DeadLetterPolicy(retry_delays_s=(1.0,)).destination("o", attempt=0, retryable=True)
    # A consumer built by hand refuses it at once, before connecting anywhere.
    nowhere = ConnectionSettings("127.0.0.1:1", security_protocol="PLAINTEXT", sasl_mechanism=None)
    with pytest.raises(ClientError, match="names no owner"):
        Consumer(
            connection=nowhere, app_id="f", group_id="f", topics=["o"],
            dead_letters=DeadLetterPolicy(),
        )  # fmt: skip


def test_failure_headers_keep_the_producers_and_say_why_whence_who_when() -> None:
    original = [("traceparent", b"00-x"), ("streamplane-app", b"checkout")]
    headers = failure_headers(
        original, kind="handler", exc=ValueError("bad amount"), topic="orders", partition=2,
        offset=41, timestamp_ms=1000, app="fulfilment", attempts=1, now_ms=5000, delay_s=1.5,
    )  # fmt: skip
    text = {k: v.decode() for k, v in headers}
    assert headers[:2] == original
    assert text["streamplane-error-class"] == "ValueError"
    assert text["streamplane-error-message"] == "bad amount"
    assert text["streamplane-error-kind"] == "handler"
    assert (text["streamplane-origin-topic"], text["streamplane-origin-partition"]) == (
        "orders",
        "2",
    )
    assert text["streamplane-origin-offset"] == "41"
    assert (
        text["streamplane-failed-app"] == "fulfilment" and text["streamplane-failed-at"] == "5000"
    )
    assert text["streamplane-retry-due"] == "6500" and text["streamplane-retry-delay-ms"] == "1500"


def test_a_second_failure_keeps_the_first_origin_and_replaces_the_failure() -> None:
    first = failure_headers(
        [], kind="handler", exc=KeyError("a"), topic="orders", partition=0, offset=7,
        timestamp_ms=1, app="f", attempts=1, now_ms=10, delay_s=1,
    )  # fmt: skip
    second = failure_headers(
        first, kind="handler", exc=RuntimeError("b"), topic="orders.retry.1", partition=3,
        offset=99, timestamp_ms=2, app="f", attempts=2, now_ms=20,
    )  # fmt: skip
    assert header_text(second, "streamplane-origin-topic") == "orders"
    assert header_text(second, "streamplane-origin-offset") == "7"
    assert [k for k, _ in second].count("streamplane-error-class") == 1
    assert header_text(second, "streamplane-error-class") == "RuntimeError"
    assert header_text(second, "streamplane-retry-due") is None
    assert header_text(second, "streamplane-attempts") == "2"


def test_replay_headers_drop_the_failure_and_say_where_from() -> None:
    parked = failure_headers(
        [("streamplane-app", b"checkout")], kind="handler", exc=ValueError("x"), topic="o",
        partition=0, offset=1, timestamp_ms=1, app="f", attempts=1, now_ms=2,
    )  # fmt: skip
    assert replay_headers(parked, source="o.dlq/0/5") == [
        ("streamplane-app", b"checkout"),
        ("streamplane-replayed-from", b"o.dlq/0/5"),
    ]


def test_error_class_is_qualified_outside_builtins() -> None:
    from confluent_kafka.serialization import SerializationError

    assert error_class(ValueError()) == "ValueError"
    assert (
        error_class(SerializationError("x")) == "confluent_kafka.serialization.SerializationError"
    )


def test_retry_pauses_release_partitions_when_due() -> None:
    pauses = RetryPauses()
    assert not pauses and pauses.seconds_to_next(0) is None
    pauses.pause("o.retry.1", 0, due_ms=1500)
    pauses.pause("o.retry.1", 1, due_ms=3000)
    assert ("o.retry.1", 0) in pauses and pauses.seconds_to_next(1000) == 0.5
    assert pauses.take_due(1000) == []
    assert pauses.take_due(2000) == [("o.retry.1", 0)]
    assert ("o.retry.1", 0) not in pauses
    pauses.forget([("o.retry.1", 1)])
    assert not pauses
