"""Applications connect as themselves, and the SDK holds them to the topics the spec lists.

No broker: the connection is resolved from a spec and a data directory laid out as
``streamplane up`` and ``apply`` leave it, and every refusal happens before any broker
call (the clients point at a port nobody listens on).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streamplane.client import (
    ApplicationScope,
    ClientError,
    ClientMetrics,
    Consumer,
    Producer,
    Telemetry,
)
from streamplane.client._identity import application_connection
from streamplane.kafka import ConnectionSettings
from streamplane.local import ClusterState, DataDir
from streamplane.model import Spec, load_spec

#: A port nobody listens on: any client call that reached for the broker would fail or hang.
NOWHERE = "127.0.0.1:1"

SPEC = """\
clusters:
  - name: local
    local: true
  - name: remote
    bootstrap_servers: kafka-1.example.com:9093
    schema_registry: https://registry.example.com
    auth:
      security_protocol: SASL_SSL
      mechanism: SCRAM-SHA-256
      username: platform
      password: {env: REMOTE_ADMIN_PASSWORD}
tenants:
  - name: shop
    owners: [shop@example.com]
    clusters: [local]
    domains:
      - name: orders
        topics:
          - name: placed
          - name: shipped
        applications:
          - name: checkout
            principal: shop-checkout
            produces: [shop.orders.placed]
          - name: shipper
            password: {file: secrets/shipper.txt}
            consumes: [shop.orders.placed]
            produces: [shop.orders.shipped]
          - name: tracker
            password: {env: TRACKER_PASSWORD}
            consumes: [shop.orders.placed]
  - name: risk
    owners: [risk@example.com]
    clusters: [remote]
    domains:
      - name: fraud
        topics:
          - name: scores
        applications:
          - name: scorer
            password: {env: SCORER_PASSWORD}
            produces: [risk.fraud.scores]
          - name: auditor
            consumes: [risk.fraud.scores]
acl_exceptions:
  - principal: "User:shop-checkout"
    resource_type: topic
    resource_name: shop.legacy.
    pattern: prefixed
    operation: write
    reason: the legacy order export still writes its own topics
  - principal: "User:shop-checkout"
    resource_type: topic
    resource_name: shop.legacy.frozen
    operation: all
    permission: deny
    reason: the frozen export is read-only since the migration
"""


def make_spec(root: Path) -> Spec:
    root.mkdir(parents=True, exist_ok=True)
    (root / "platform.yaml").write_text(SPEC)
    (root / "secrets").mkdir()
    (root / "secrets" / "shipper.txt").write_text("from-the-spec-file\n")
    return load_spec(root)


def local_data_dir(root: Path, *, port_offset: int = 300, secrets: dict[str, str]) -> Path:
    """A data directory as `streamplane up` and `apply` leave it (no broker needed)."""
    DataDir(root).write_state(
        ClusterState(cluster_id="c", nodes=1, port_offset=port_offset, kafka_version="4.4.0")
    )
    (root / "secrets").mkdir(parents=True, exist_ok=True)
    for principal, password in secrets.items():
        (root / "secrets" / principal).write_text(password + "\n")
    return root


# ------------------------------------------------------------------ resolving credentials
def test_local_application_connects_with_the_secret_apply_wrote(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "spec")
    data = local_data_dir(tmp_path / "data", secrets={"shop-checkout": "generated"})
    resolved = application_connection(spec, "checkout", data_dir=data)
    conn = resolved.connection
    # Its own principal (`principal:` in the spec), not admin, and the local cluster's ports.
    assert (conn.username, conn.password) == ("shop-checkout", "generated")
    assert conn.bootstrap_servers == "127.0.0.1:9392"  # 9092 + the port offset 300
    assert (conn.security_protocol, conn.sasl_mechanism) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert resolved.cluster == "local"
    assert resolved.credentials_from == str(data / "secrets" / "shop-checkout")
    # The registry `up` runs beside it (8081 + offset), reached as the application too.
    assert resolved.registry is not None
    assert resolved.registry.url == "http://127.0.0.1:8381"
    assert (resolved.registry.username, resolved.registry.password) == (
        "shop-checkout",
        "generated",
    )


def test_the_spec_password_wins_over_the_generated_one_as_in_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec(tmp_path / "spec")
    data = local_data_dir(tmp_path / "data", secrets={"shipper": "stale", "tracker": "stale"})
    shipper = application_connection(spec, "shipper", data_dir=data).connection
    assert shipper.password == "from-the-spec-file"  # {file: ...}, relative to the spec root
    monkeypatch.setenv("TRACKER_PASSWORD", "from-the-env")
    tracker = application_connection(spec, "tracker", data_dir=data)
    assert tracker.connection.password == "from-the-env"
    assert tracker.credentials_from == "$TRACKER_PASSWORD"


def test_an_unset_password_variable_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec(tmp_path / "spec")
    monkeypatch.delenv("TRACKER_PASSWORD", raising=False)
    with pytest.raises(ClientError, match=r"environment variable TRACKER_PASSWORD, which is not"):
        application_connection(spec, "tracker", data_dir=local_data_dir(tmp_path, secrets={}))


def test_an_application_not_applied_yet_is_told_to_run_apply(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "spec")
    data = local_data_dir(tmp_path / "data", secrets={})
    with pytest.raises(ClientError) as info:
        application_connection(spec, "checkout", data_dir=data)
    message = str(info.value)
    assert f"{data / 'secrets' / 'shop-checkout'} does not exist" in message
    assert f"streamplane apply {spec.root} --data-dir {data}" in message
    assert "platform.yaml:" in message  # where to add a password: instead


def test_a_local_cluster_that_was_never_started_says_how_to_start_it(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "spec")
    (tmp_path / "empty" / "secrets").mkdir(parents=True)
    (tmp_path / "empty" / "secrets" / "shop-checkout").write_text("x")
    with pytest.raises(ClientError, match=r"holds none .*start it with `streamplane up --data-dir"):
        application_connection(spec, "checkout", data_dir=tmp_path / "empty")


def test_remote_application_takes_address_and_sasl_from_the_cluster_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec(tmp_path / "spec")
    monkeypatch.setenv("SCORER_PASSWORD", "scorer-secret")
    resolved = application_connection(spec, "scorer", data_dir=tmp_path / "unused")
    conn = resolved.connection
    assert conn.bootstrap_servers == "kafka-1.example.com:9093"
    assert (conn.security_protocol, conn.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")
    assert (conn.username, conn.password) == ("scorer", "scorer-secret")
    assert resolved.registry is not None
    assert resolved.registry.url == "https://registry.example.com"
    assert resolved.registry.username == "scorer"


def test_remote_application_without_a_password_source_is_told_what_to_add(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "spec")
    with pytest.raises(ClientError, match=r"auditor \(.*platform.yaml:\d+\) has no `password:`"):
        application_connection(spec, "auditor")


def test_given_credentials_are_used_as_given(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "spec")
    admin = ConnectionSettings("10.0.0.1:9092", username="admin", password="a")
    resolved = application_connection(spec, "checkout", connection=admin, data_dir=tmp_path)
    assert resolved.connection == admin
    assert resolved.registry is None  # the local cluster names no schema_registry


def test_a_connection_without_a_user_gives_the_address_and_the_app_its_identity(
    tmp_path: Path,
) -> None:
    spec = make_spec(tmp_path / "spec")
    data = local_data_dir(tmp_path / "data", secrets={"shop-checkout": "generated"})
    address = ConnectionSettings("broker.internal:9092", security_protocol="SASL_SSL")
    conn = application_connection(spec, "checkout", connection=address, data_dir=data).connection
    assert (conn.bootstrap_servers, conn.security_protocol) == ("broker.internal:9092", "SASL_SSL")
    assert (conn.username, conn.password) == ("shop-checkout", "generated")


def test_a_cluster_the_tenant_is_not_on_is_refused(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "spec")
    with pytest.raises(ClientError, match=r"tenant shop is not on cluster remote"):
        application_connection(spec, "checkout", cluster="remote")


# ------------------------------------------------------------------ topics the spec lists
def test_scope_is_the_spec_lists_widened_and_narrowed_by_acl_exceptions(tmp_path: Path) -> None:
    scope = ApplicationScope.of(make_spec(tmp_path / "spec"), "checkout")
    assert scope.may_produce("shop.orders.placed")
    assert not scope.may_produce("shop.orders.shipped")
    assert scope.may_produce("shop.legacy.export")  # a prefixed WRITE exception
    assert not scope.may_produce("shop.legacy.frozen")  # a DENY wins, as in Kafka
    assert not scope.may_consume("shop.orders.placed")  # produces it, does not consume it


def test_producing_to_an_unlisted_topic_names_the_spec_entry(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "spec")
    scope = ApplicationScope.of(spec, "checkout")
    with pytest.raises(ClientError) as info:
        scope.require_produce("shop.orders.shipped")
    message = str(info.value)
    assert message.startswith("application checkout may not produce to shop.orders.shipped")
    assert "tenant shop, domain orders, " in message
    line = spec.source.locate(spec.applications["checkout"].path).line
    assert f"platform.yaml:{line})" in message
    assert "produces only shop.orders.placed. Nothing was sent." in message
    assert "Add shop.orders.shipped to the application's `produces`" in message


def test_another_tenants_topic_is_refused_with_who_owns_it(tmp_path: Path) -> None:
    scope = ApplicationScope.of(make_spec(tmp_path / "spec"), "checkout")
    with pytest.raises(ClientError, match=r"risk.fraud.scores belongs to risk.fraud, and only"):
        scope.require_produce("risk.fraud.scores")
    with pytest.raises(ClientError, match=r"The spec declares no topic shop.nowhere"):
        scope.require_produce("shop.nowhere")


def test_the_producer_refuses_before_any_broker_call(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "spec")
    data = local_data_dir(tmp_path / "data", port_offset=-9091, secrets={"shop-checkout": "g"})
    registry = CollectorRegistry()
    telemetry = Telemetry(metrics=ClientMetrics.shared(registry))
    with Producer.for_application(spec, "checkout", data_dir=data, telemetry=telemetry) as producer:
        assert producer.config["bootstrap.servers"] == NOWHERE  # nobody listens there
        assert producer.config["sasl.username"] == "shop-checkout"
        handed: list[object] = []
        producer._produce = lambda *args, **kwargs: handed.append(args)  # librdkafka's entry
        for _ in range(2):  # a refused topic gets no encoder: refused every time
            with pytest.raises(ClientError, match=r"may not produce to risk.fraud.scores"):
                producer.produce("risk.fraud.scores", b"x")
        assert handed == []  # nothing reached librdkafka
        producer.produce("shop.orders.placed", b"listed")
        assert handed == [("shop.orders.placed", b"listed", None)]
    labels = {"app": "checkout", "client_id": "checkout", "role": "producer"}
    assert (
        registry.get_sample_value(
            "streamplane_client_errors_total", {**labels, "kind": "unlisted_topic"}
        )
        == 2
    )


def test_the_consumer_refuses_topics_it_does_not_consume_before_subscribing(
    tmp_path: Path,
) -> None:
    spec = make_spec(tmp_path / "spec")
    data = local_data_dir(tmp_path / "data", port_offset=-9091, secrets={"shipper": "x"})
    with pytest.raises(ClientError) as info:
        Consumer.for_application(
            spec, "shipper", topics=["shop.orders.placed", "shop.orders.shipped"], data_dir=data
        )
    message = str(info.value)
    assert message.startswith("application shipper may not consume shop.orders.shipped: its spec")
    assert "consumes only shop.orders.placed. Nothing was subscribed." in message
    # Whatever the credentials: the spec, not the password, says what the application reads.
    admin = ConnectionSettings(NOWHERE, username="admin", password="a")
    with pytest.raises(ClientError, match=r"may not consume shop.orders.shipped"):
        Consumer.for_application(spec, "shipper", connection=admin, topics=["shop.orders.shipped"])


def test_spec_example_in_a_readme_layout_resolves_without_admin(tmp_path: Path) -> None:
    """The README's layout: the spec in examples/platform, the cluster in .streamplane."""
    example = Path(__file__).resolve().parents[3] / "examples" / "platform"
    spec = load_spec(example)
    data = local_data_dir(tmp_path / ".streamplane", port_offset=0, secrets={"card-gateway": "g"})
    (data / "admin.properties").write_text(
        textwrap.dedent("""\
            bootstrap.servers=127.0.0.1:9092
            sasl.username=admin
            sasl.password=never-read
        """)
    )
    conn = application_connection(spec, "card-gateway", data_dir=data).connection
    assert (conn.username, conn.password) == ("card-gateway", "g")
