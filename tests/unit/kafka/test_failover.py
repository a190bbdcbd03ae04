"""settle(): what is retried, what converges, what is reported, and the client log routing.

The futures are real ``concurrent.futures`` completed by the test as librdkafka would;
the metadata the controller watch reads comes from a stand-in that names no controller
(librdkafka then looks one up itself), so no broker is needed.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamplane.errors import ClusterError
from streamplane.kafka import ConnectionSettings, _client_log, admin_config, route_client_logs
from streamplane.kafka._failover import ControllerWatch, settle


@dataclass
class _Metadata:
    controller_id: int = -1
    brokers: dict[int, Any] = field(default_factory=dict)


class _NoController:
    def list_topics(self, timeout: float) -> _Metadata:
        return _Metadata()


def _watch() -> Any:
    return ControllerWatch(_NoController())  # type: ignore[arg-type]


def _done(value: Any = None, error: int | None = None) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(KafkaException(KafkaError(error, "as the broker said")))
    return future


class _Cluster:
    """Answers each attempt from a script: item -> the error codes of its first attempts."""

    def __init__(self, script: dict[str, list[int]]) -> None:
        self.script = script
        self.attempts: list[tuple[list[str], float]] = []

    def submit(self, items: list[str], timeout_s: float) -> dict[str, Any]:
        self.attempts.append((list(items), timeout_s))
        out = {}
        for item in items:
            errors = self.script.get(item, [])
            out[item] = _done(error=errors.pop(0)) if errors else _done(value=f"{item} done")
        return out


def test_a_retriable_failure_is_retried_alone_until_it_succeeds() -> None:
    cluster = _Cluster({"b": [KafkaError._TIMED_OUT, KafkaError.NOT_CONTROLLER]})
    results = settle(cluster.submit, ["a", "b"], what=str, watch=_watch())
    assert results == {"a": "a done", "b": "b done"}
    assert [items for items, _ in cluster.attempts] == [["a", "b"], ["b"], ["b"]]
    # The first attempt is short (it may be waiting for a dead controller), later ones longer.
    assert [t for _, t in cluster.attempts] == [4.0, 8.0, 8.0]


def test_an_ignored_code_is_success_and_a_hard_error_is_not_retried() -> None:
    cluster = _Cluster(
        {"exists": [KafkaError.TOPIC_ALREADY_EXISTS], "bad": [KafkaError.INVALID_CONFIG]}
    )
    with pytest.raises(ClusterError) as raised:
        settle(
            cluster.submit,
            ["exists", "bad", "fine"],
            what=lambda name: f"create topic {name}",
            watch=_watch(),
            ignore=(KafkaError.TOPIC_ALREADY_EXISTS,),
        )
    assert len(cluster.attempts) == 1
    assert str(raised.value) == (
        "1 admin operation(s) failed:\n  create topic bad: as the broker said"
    )


def test_a_cluster_that_never_settles_fails_after_the_window_saying_so() -> None:
    cluster = _Cluster({"a": [KafkaError.REQUEST_TIMED_OUT] * 100})
    with pytest.raises(ClusterError, match=r"retried for 1s; the cluster did not settle"):
        settle(cluster.submit, ["a"], what=str, watch=_watch(), settle_s=1.0)
    assert 2 <= len(cluster.attempts) <= 4


@pytest.fixture
def routed() -> Iterator[logging.Logger]:
    handler = logging.NullHandler()
    yield route_client_logs(handler)
    _client_log._routed = None
    for name in (_client_log.CLIENT_LOGGER, _client_log.KAFKA_PYTHON_LOGGER):
        logging.getLogger(name).removeHandler(handler)
        logging.getLogger(name).propagate = True


def test_routed_client_logs_reach_every_client_config_but_never_a_properties_file(
    routed: logging.Logger,
) -> None:
    settings = ConnectionSettings("h:9092", username="u", password="p")
    assert settings.librdkafka()["logger"] is routed
    assert admin_config(settings)["logger"] is routed
    assert "log_level" not in admin_config(settings)  # the routed logger gets everything
    assert "logger" not in settings.properties_text()
    assert not logging.getLogger("kafka").propagate  # kafka-python's lines go there too


def test_without_routing_clients_keep_librdkafka_defaults_and_admin_logs_only_errors() -> None:
    settings = ConnectionSettings("h:9092")
    assert "logger" not in settings.librdkafka()
    conf = admin_config(settings)
    assert conf["log_level"] == 3
    assert conf["enable.sparse.connections"] is False
