from __future__ import annotations

from pathlib import Path

from streamplane.local import ClusterState, Credentials, DataDir
from streamplane.local._config import TlsFiles, render_server_properties

RULES = "RULE:^CN=([^,]+),OU=streamplane,O=Streamplane$/$1/"


def _render(
    tmp_path: Path, nodes: int, node_id: int, *, tls: bool = False, offset: int = 0
) -> dict[str, str]:
    state = ClusterState(
        cluster_id="x" * 22, nodes=nodes, port_offset=offset, kafka_version="4.4.0", tls=tls
    )
    text = render_server_properties(
        node_id,
        state=state,
        creds=Credentials("adminpw", "ctrlpw"),
        data_dir=DataDir(tmp_path),
        tls=TlsFiles(broker_keystore=tmp_path / "broker.keystore.pem", ca=tmp_path / "ca.pem"),
        principal_mapping_rules=RULES,
    )
    props = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert key not in props, f"{key} set twice"
            props[key] = value
    return props


def test_three_node_config_is_durable_rack_aware_and_secure(tmp_path: Path) -> None:
    props = _render(tmp_path, 3, 2)
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert props["listeners"] == (
        "CLIENT://127.0.0.1:9094,MTLS://127.0.0.1:9194,CONTROLLER://127.0.0.1:9095"
    )
    assert props["broker.rack"] == "rack-2"
    assert props["replica.selector.class"].endswith("RackAwareReplicaSelector")
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512,OAUTHBEARER"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert "User:ANONYMOUS" not in props["super.users"]
    assert 'password="adminpw"' in props["listener.name.client.scram-sha-512.sasl.jaas.config"]
    assert props["log.dirs"] == str(tmp_path.resolve() / "node2" / "data")


def test_single_node_config_lowers_replication_to_what_exists(tmp_path: Path) -> None:
    props = _render(tmp_path, 1, 1)
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["default.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"


def test_three_ways_in_by_default_sasl_in_the_clear_and_mtls(tmp_path: Path) -> None:
    props = _render(tmp_path, 1, 1, offset=100)
    assert props["listener.security.protocol.map"] == (
        "CLIENT:SASL_PLAINTEXT,MTLS:SSL,CONTROLLER:SASL_PLAINTEXT"
    )
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:9192,MTLS://127.0.0.1:9292"
    assert props["listener.name.mtls.ssl.client.auth"] == "required"
    # No DEFAULT rule: a subject the rule does not match is refused, not mapped to its DN.
    assert props["ssl.principal.mapping.rules"] == RULES
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert props["ssl.truststore.location"] == str(tmp_path / "ca.pem")
    # Tokens are checked against the issuer's keys, issuer and audience; sessions re-auth.
    assert props["sasl.oauthbearer.jwks.endpoint.url"] == "http://127.0.0.1:8185/jwks"
    assert props["sasl.oauthbearer.expected.issuer"] == "http://127.0.0.1:8185"
    assert props["sasl.oauthbearer.expected.audience"] == "kafka"
    assert props["listener.name.client.oauthbearer.sasl.server.callback.handler.class"].endswith(
        "OAuthBearerValidatorCallbackHandler"
    )
    assert int(props["connections.max.reauth.ms"]) <= 300_000


def test_tls_puts_sasl_and_inter_node_traffic_on_tls(tmp_path: Path) -> None:
    props = _render(tmp_path, 3, 1, tls=True)
    assert props["listener.security.protocol.map"] == (
        "CLIENT:SASL_SSL,MTLS:SSL,CONTROLLER:SASL_SSL"
    )
    assert props["inter.broker.listener.name"] == "CLIENT"
