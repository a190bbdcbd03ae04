"""Client quotas written and read back through a real broker (and its controller)."""

from __future__ import annotations

import time
import uuid

import pytest

from streamplane.errors import ClusterError
from streamplane.kafka import (
    ConnectionSettings,
    QuotaEntity,
    alter_client_quotas,
    describe_client_quotas,
)
from streamplane.local import LocalCluster


def _settle(
    settings: ConnectionSettings,
    mine: set[QuotaEntity],
    expected: dict[QuotaEntity, dict[str, float]],
    *,
    timeout_s: float = 15.0,
) -> None:
    """Wait until describing shows exactly ``expected`` for this test's entities.

    The broker answers from its replica of the metadata log, which can trail the
    controller's commit by a moment; the shared cluster may also hold other tests' quotas.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        seen = {e: v for e, v in describe_client_quotas(settings).items() if e in mine}
        if seen == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen == expected


def test_set_change_remove_quotas_for_user_client_and_user_client(cluster1: LocalCluster) -> None:
    settings = cluster1.admin_settings()
    tag = uuid.uuid4().hex[:8]
    user = QuotaEntity(user=f"quota-user-{tag}")
    client = QuotaEntity(client_id=f"quota-app-{tag}")
    both = QuotaEntity(user=f"quota-user-{tag}", client_id=f"quota-app-{tag}")
    mine = {user, client, both}

    alter_client_quotas(
        settings,
        {
            user: {"producer_byte_rate": 1048576, "consumer_byte_rate": 2097152},
            client: {"request_percentage": 50.5},
            both: {"producer_byte_rate": 4096, "controller_mutation_rate": 10.0},
        },
    )
    _settle(
        settings,
        mine,
        {
            user: {"producer_byte_rate": 1048576.0, "consumer_byte_rate": 2097152.0},
            client: {"request_percentage": 50.5},
            both: {"producer_byte_rate": 4096.0, "controller_mutation_rate": 10.0},
        },
    )

    # Change one key and remove another of the same entity; keys not named stay as they are.
    alter_client_quotas(
        settings, {user: {"producer_byte_rate": 3000000, "consumer_byte_rate": None}}
    )
    _settle(
        settings,
        mine,
        {
            user: {"producer_byte_rate": 3000000.0},
            client: {"request_percentage": 50.5},
            both: {"producer_byte_rate": 4096.0, "controller_mutation_rate": 10.0},
        },
    )

    # Removing every key removes the entity from the listing.
    alter_client_quotas(
        settings,
        {
            user: {"producer_byte_rate": None},
            client: {"request_percentage": None},
            both: {"producer_byte_rate": None, "controller_mutation_rate": None},
        },
    )
    _settle(settings, mine, {})


def test_an_invalid_key_is_a_cluster_error_naming_entity_key_and_kafkas_reason(
    cluster1: LocalCluster,
) -> None:
    settings = cluster1.admin_settings()
    tag = uuid.uuid4().hex[:8]
    bad = QuotaEntity(user=f"quota-bad-{tag}", client_id=f"quota-app-{tag}")
    good = QuotaEntity(user=f"quota-good-{tag}")

    with pytest.raises(ClusterError) as info:
        alter_client_quotas(
            settings,
            {bad: {"nonsense_rate": 5.0}, good: {"consumer_byte_rate": 1024}},
        )
    message = str(info.value)
    assert f"user=quota-bad-{tag},client-id=quota-app-{tag}: " in message
    assert "nonsense_rate" in message
    assert "InvalidRequestError" in message
    assert "1 of 2 entities (the others were applied)" in message
    assert good.describe() not in message

    # Kafka applies entries one by one: the valid one went through, the invalid one did not.
    _settle(settings, {bad, good}, {good: {"consumer_byte_rate": 1024.0}})
    alter_client_quotas(settings, {good: {"consumer_byte_rate": None}})
    _settle(settings, {bad, good}, {})
