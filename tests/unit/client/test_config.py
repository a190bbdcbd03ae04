"""Client settings from a profile and the spec; guarantees and SDK-owned settings defended."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamplane.client import ClientError, Consumer, Producer, ProfileError, application_clients
from streamplane.client._config import consumer_config, producer_config
from streamplane.kafka import ConnectionSettings
from tests.unit.client.specs import write_spec

CONN = ConnectionSettings("127.0.0.1:1", username="u", password="p")


def test_application_clients_take_profile_overrides_ids_and_topics(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    checkout = application_clients(spec, "checkout")
    assert checkout.profile == "zero_loss"
    assert checkout.producer_overrides == {"linger.ms": 10}
    assert checkout.client_id == "shop.checkout"
    assert "shop.orders.placed" in checkout.produces
    fulfilment = application_clients(spec, "fulfilment")
    assert (fulfilment.profile, fulfilment.group_id) == ("low_latency", "shop.fulfilment")
    assert fulfilment.consumer_overrides == {"fetch.wait.max.ms": 10}


def test_an_application_without_a_profile_gets_zero_loss(tmp_path: Path) -> None:
    assert application_clients(write_spec(tmp_path), "auditor").profile == "zero_loss"


def test_a_declared_rack_becomes_client_rack_and_the_instance_env_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(tmp_path)
    monkeypatch.delenv("STREAMPLANE_CLIENT_RACK", raising=False)
    assert application_clients(spec, "auditor").consumer_overrides == {"client.rack": "rack-2"}
    assert "client.rack" not in application_clients(spec, "fulfilment").consumer_overrides
    monkeypatch.setenv("STREAMPLANE_CLIENT_RACK", "rack-3")
    assert application_clients(spec, "auditor").consumer_overrides["client.rack"] == "rack-3"
    assert application_clients(spec, "fulfilment").consumer_overrides["client.rack"] == "rack-3"


def test_unknown_application_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match=r"no application .nope.*auditor, checkout, fulfilment"):
        application_clients(write_spec(tmp_path), "nope")


def test_producer_config_layers_connection_profile_overrides_and_client_id() -> None:
    config = producer_config(
        profile="zero_loss", connection=CONN, app_id="checkout", overrides={"linger.ms": 10}
    )
    assert config["bootstrap.servers"] == "127.0.0.1:1" and config["sasl.username"] == "u"
    assert config["acks"] == "all" and config["enable.idempotence"] is True
    assert config["linger.ms"] == 10
    assert config["client.id"] == "checkout"


def test_zero_loss_application_passing_acks_1_is_refused_with_the_reason(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    with pytest.raises(ProfileError) as info:
        Producer.for_application(spec, "checkout", connection=CONN, config={"acks": 1})
    message = str(info.value)
    assert "application checkout uses the zero_loss profile" in message
    assert "acks=1 breaks the zero_loss guarantee" in message and "use acks=all" in message


def test_a_consumer_that_would_commit_before_processing_is_refused(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    with pytest.raises(ProfileError, match=r"enable\.auto\.commit=true breaks the low_latency"):
        Consumer.for_application(
            spec, "fulfilment", connection=CONN, config={"enable.auto.commit": "true"}
        )


def test_consumer_config_is_cooperative_manual_commit_with_static_membership() -> None:
    config = consumer_config(
        profile="throughput", connection=CONN, app_id="a", group_id="shop.a", instance_id="a-0"
    )
    assert config["enable.auto.commit"] is False and config["enable.auto.offset.store"] is False
    assert config["partition.assignment.strategy"] == "cooperative-sticky"
    assert (config["group.id"], config["group.instance.id"]) == ("shop.a", "a-0")


def test_settings_the_sdk_controls_cannot_be_overridden() -> None:
    with pytest.raises(ClientError, match=r"sets error_cb, on_delivery, which the Streamplane"):
        producer_config(
            profile="low_latency", connection=CONN, app_id="a",
            overrides={"on_delivery": print, "error_cb": print},
        )  # fmt: skip
    with pytest.raises(ClientError, match=r"group\.id"):
        consumer_config(
            profile="zero_loss", connection=CONN, app_id="a", group_id="g",
            overrides={"group.id": "other"},
        )  # fmt: skip
