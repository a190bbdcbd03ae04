"""Delivery failures reach the application: through its callback, or from flush()."""

from __future__ import annotations

import pytest

from streamplane.client import DeliveryError, DeliveryFailure, Producer
from tests.integration.client.conftest import Estate

#: Auto-creation is off on the local cluster: records to a missing topic fail after this.
SHORT = {"delivery.timeout.ms": 2000}


def test_flush_raises_with_the_records_that_were_not_delivered(estate: Estate) -> None:
    missing = f"{estate.prefix}never-created"
    producer = Producer(
        connection=estate.connection, app_id="checkout", config=SHORT,
        telemetry=estate.telemetry(),
    )  # fmt: skip
    producer.produce(missing, b"lost?", key=b"k1", headers={"h": "v"})
    with pytest.raises(DeliveryError) as info:
        producer.flush(30)
    (failure,) = info.value.failures
    assert (failure.topic, failure.key, failure.value) == (missing, b"k1", b"lost?")
    assert failure.error.name() == "_MSG_TIMED_OUT"
    assert "1 records were not delivered" in str(info.value) and missing in str(info.value)
    labels = {"app": "checkout", "client_id": "checkout", "role": "producer"}
    assert estate.metric("streamplane_client_errors_total", **labels, kind="delivery") == 1
    assert producer.flush(5) == []  # reported once
    producer.close()


def test_a_delivery_error_callback_receives_each_failure_instead(estate: Estate) -> None:
    missing = f"{estate.prefix}never-created"
    told: list[DeliveryFailure] = []
    with Producer(
        connection=estate.connection, app_id="checkout", config=SHORT,
        telemetry=estate.telemetry(), on_delivery_error=told.append,
    ) as producer:  # fmt: skip
        producer.produce(missing, b"a")
        producer.produce(missing, b"b")
        assert producer.flush(30) == []
    assert sorted(f.value for f in told) == [b"a", b"b"]
    assert all(f.error.name() for f in told)
