"""Client profiles: what each gives, and refusing overrides that break a guarantee."""

from __future__ import annotations

import pytest

from streamplane.kafka import PROFILES, ProfileError, client_config, violations


def test_zero_loss_producer_is_idempotent_acks_all_with_bounded_in_flight() -> None:
    config = client_config("zero_loss", "producer")
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["max.in.flight.requests.per.connection"] == 5
    assert config["retries"] == 2**31 - 1


def test_every_consumer_profile_commits_only_after_processing() -> None:
    for name in PROFILES:
        config = client_config(name, "consumer")
        assert config["enable.auto.commit"] is False, name
        assert config["enable.auto.offset.store"] is False, name
        assert config["partition.assignment.strategy"] == "cooperative-sticky", name


def test_throughput_batches_and_compresses_with_zstd() -> None:
    config = client_config("throughput", "producer")
    assert config["compression.type"] == "zstd" and config["linger.ms"] >= 20


def test_overrides_win_and_connection_settings_come_first() -> None:
    config = client_config(
        "zero_loss", "producer",
        overrides={"linger.ms": 20}, connection={"bootstrap.servers": "b:9092", "linger.ms": 1},
    )  # fmt: skip
    assert config["linger.ms"] == 20 and config["bootstrap.servers"] == "b:9092"


def test_tightening_a_zero_loss_profile_is_allowed() -> None:
    assert violations("zero_loss", "producer", {"max.in.flight.requests.per.connection": 1}) == []
    assert violations("zero_loss", "producer", {"acks": -1, "delivery.timeout.ms": 300000}) == []


@pytest.mark.parametrize(
    ("key", "value", "needs"),
    [
        ("acks", 1, "acks=all"),
        ("acks", "0", "acks=all"),
        ("enable.idempotence", False, "enable.idempotence=true"),
        ("max.in.flight.requests.per.connection", 6, "between 1 and 5"),
        ("retries", 0, "retries > 0"),
    ],
)
def test_zero_loss_producer_refuses_an_override_that_breaks_it(
    key: str, value: object, needs: str
) -> None:
    with pytest.raises(ProfileError) as info:
        client_config(
            "zero_loss", "producer", overrides={key: value}, owner="application payments-api"
        )
    message = str(info.value)
    assert (
        "application payments-api" in message and f"{key}={value}" in message and needs in message
    )


def test_every_violation_is_reported_at_once() -> None:
    problems = violations("zero_loss", "producer", {"acks": 1, "enable.idempotence": "false"})
    assert len(problems) == 2


def test_auto_commit_is_refused_on_every_consumer_profile() -> None:
    for name in PROFILES:
        with pytest.raises(ProfileError, match=r"enable\.auto\.commit=false"):
            client_config(name, "consumer", overrides={"enable.auto.commit": True})


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="zero_loss, low_latency, throughput"):
        client_config("fast", "producer")
