"""The reachability probe on sockets of its own: nothing of Kafka needs to run."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from streamplane.errors import ClusterUnreachableError
from streamplane.kafka import ConnectionSettings, require_reachable
from streamplane.kafka._reach import bootstrap_addresses, probe


def _admin(bootstrap: str) -> ConnectionSettings:
    return ConnectionSettings(bootstrap, username="admin", password="secret")


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port that accepts connections (in the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def test_bootstrap_addresses_read_every_form_a_bootstrap_list_takes() -> None:
    assert bootstrap_addresses("a:9093, SASL_SSL://b:9094,c,[::1]:9095,") == [
        ("a", 9093),
        ("b", 9094),
        ("c", 9092),
        ("::1", 9095),
    ]


def test_a_closed_port_is_reported_at_once_without_any_client(closed_port: int) -> None:
    started = time.monotonic()
    found = probe(ConnectionSettings(f"127.0.0.1:{closed_port}"), timeout_s=4)
    assert found is not None and not found.credentials_refused
    assert found.reason == "refuses connections: no broker is listening there"
    assert time.monotonic() - started < 1.0


def test_the_message_names_the_cluster_its_servers_and_the_fix(closed_port: int) -> None:
    settings = ConnectionSettings(f"127.0.0.1:{closed_port}", username="admin", password="x")
    with pytest.raises(ClusterUnreachableError) as raised:
        require_reachable(settings, cluster="cluster prod", fix="check bootstrap_servers")
    assert str(raised.value) == (
        f"cluster prod (127.0.0.1:{closed_port}) refuses connections: no broker is listening "
        "there; check bootstrap_servers"
    )
    assert raised.value.cluster == "cluster prod"
    assert "\n" not in str(raised.value)


def test_an_unknown_host_is_named(closed_port: int) -> None:
    found = probe(ConnectionSettings(f"no-such-host.invalid:9092,127.0.0.1:{closed_port}"))
    assert found is not None
    assert "cannot resolve host no-such-host.invalid" in found.reason
    assert f"127.0.0.1:{closed_port} refused the connection" in found.reason


def test_a_port_that_accepts_but_never_answers_costs_the_budget_and_no_more(
    hung_port: int,
) -> None:
    started = time.monotonic()
    found = probe(_admin(f"127.0.0.1:{hung_port}"), timeout_s=1.5)
    took = time.monotonic() - started
    assert found is not None
    assert found.reason.startswith("accepts connections but answered no metadata request")
    assert 1.4 < took < 4.0


def test_one_dead_address_does_not_hide_a_live_one(closed_port: int, hung_port: int) -> None:
    # The live-looking address is found and asked; the closed one is not the verdict.
    found = probe(_admin(f"127.0.0.1:{closed_port},127.0.0.1:{hung_port}"), timeout_s=1.5)
    assert found is not None and found.reason.startswith("accepts connections")


def test_settings_librdkafka_refuses_are_a_credentials_problem_not_a_stopped_cluster(
    hung_port: int,
) -> None:
    no_user = ConnectionSettings(f"127.0.0.1:{hung_port}")  # SASL, but no username
    with pytest.raises(ClusterUnreachableError) as raised:
        require_reachable(no_user, cluster="c", fix="start it", credentials="x.properties")
    assert "sasl.username and sasl.password must be set" in str(raised.value)
    assert str(raised.value).endswith("; check the credentials (x.properties)")
