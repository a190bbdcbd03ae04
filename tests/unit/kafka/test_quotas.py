from __future__ import annotations

import dataclasses
import time

import pytest

from streamplane.errors import ClusterError
from streamplane.kafka import (
    QUOTA_KEYS,
    ConnectionSettings,
    QuotaEntity,
    alter_client_quotas,
    describe_client_quotas,
)
from streamplane.kafka._quotas import _components, _entity_from_components

#: Nothing listens on port 1: any attempt to connect fails at once.
UNREACHABLE = ConnectionSettings("127.0.0.1:1", username="u", password="p")


def test_describe_names_the_entity_as_kafka_tools_do() -> None:
    assert QuotaEntity(user="alice").describe() == "user=alice"
    assert QuotaEntity(client_id="app1").describe() == "client-id=app1"
    assert QuotaEntity(user="alice", client_id="app1").describe() == "user=alice,client-id=app1"
    assert QuotaEntity("alice", "app1") == QuotaEntity(user="alice", client_id="app1")


def test_an_entity_needs_at_least_one_component() -> None:
    with pytest.raises(ValueError, match="user, a client_id or both"):
        QuotaEntity()


def test_ordering_puts_an_absent_component_first_and_mixes_none_with_names() -> None:
    entities = [
        QuotaEntity(user="bob"),
        QuotaEntity(user="alice", client_id="app2"),
        QuotaEntity(client_id="zeta"),
        QuotaEntity(user="alice"),
        QuotaEntity(user="alice", client_id="app1"),
        QuotaEntity(client_id="app1"),
    ]
    expected = [
        QuotaEntity(client_id="app1"),
        QuotaEntity(client_id="zeta"),
        QuotaEntity(user="alice"),
        QuotaEntity(user="alice", client_id="app1"),
        QuotaEntity(user="alice", client_id="app2"),
        QuotaEntity(user="bob"),
    ]
    assert sorted(entities) == expected
    assert [e.describe() for e in expected] == sorted(e.describe() for e in entities)
    assert QuotaEntity(client_id="x") < QuotaEntity(user="a")
    assert QuotaEntity(user="a") < QuotaEntity(user="a", client_id="")


def test_equality_and_hash_follow_the_fields() -> None:
    quotas = {QuotaEntity(user="alice"): 1, QuotaEntity(user="alice", client_id="app1"): 2}
    assert quotas[QuotaEntity(user="alice")] == 1
    # An empty name is a name, not an absent component.
    assert QuotaEntity(user="", client_id="c") != QuotaEntity(client_id="c")
    assert QuotaEntity(user="a") != QuotaEntity(client_id="a")
    assert hash(QuotaEntity("a", "b")) == hash(QuotaEntity("a", "b"))


def test_entity_is_frozen_and_replace_keeps_the_order_consistent() -> None:
    entity = QuotaEntity(user="alice")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entity.user = "bob"  # type: ignore[misc]
    moved = dataclasses.replace(entity, user="bob")
    assert moved == QuotaEntity(user="bob")
    assert entity < moved
    assert repr(moved) == "QuotaEntity(user='bob', client_id=None)"


def test_components_round_trip_through_kafka_protocol_terms() -> None:
    for entity in (QuotaEntity(user="u"), QuotaEntity(client_id="c"), QuotaEntity("u", "c")):
        assert _entity_from_components(_components(entity)) == entity
    assert _components(QuotaEntity("u", "c")) == [("user", "u"), ("client-id", "c")]
    # Kafka may list client-id before user; the entity is the same.
    assert _entity_from_components([("client-id", "c"), ("user", "u")]) == QuotaEntity("u", "c")


@pytest.mark.parametrize(
    "pairs",
    [
        [("user", None)],  # the default user
        [("user", "u"), ("client-id", None)],  # the default client id of user u
        [("ip", "10.0.0.1")],
        [("user", "u"), ("ip", "10.0.0.1")],
        [("user", "u"), ("user", "v")],
        [],
    ],
)
def test_entities_outside_the_model_are_left_out(pairs: list[tuple[str, str | None]]) -> None:
    assert _entity_from_components(pairs) is None


def test_quota_keys_are_kafkas_client_quota_keys() -> None:
    assert QUOTA_KEYS == (
        "producer_byte_rate",
        "consumer_byte_rate",
        "request_percentage",
        "controller_mutation_rate",
    )


def test_no_changes_does_not_contact_the_cluster() -> None:
    started = time.monotonic()
    alter_client_quotas(UNREACHABLE, {}, timeout_s=5)
    assert time.monotonic() - started < 1


def test_an_unreachable_cluster_is_a_cluster_error_naming_it() -> None:
    with pytest.raises(ClusterError, match=r"cannot reach Kafka at 127\.0\.0\.1:1 within 1 s"):
        describe_client_quotas(UNREACHABLE, timeout_s=1)
    with pytest.raises(ClusterError, match=r"127\.0\.0\.1:1"):
        alter_client_quotas(
            UNREACHABLE, {QuotaEntity(user="u"): {"producer_byte_rate": 1}}, timeout_s=1
        )
