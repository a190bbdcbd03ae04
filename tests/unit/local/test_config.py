from __future__ import annotations

from pathlib import Path

from streamplane.local import ClusterState, Credentials, DataDir
from streamplane.local._config import render_server_properties


def _render(tmp_path: Path, nodes: int, node_id: int) -> dict[str, str]:
    state = ClusterState(cluster_id="x" * 22, nodes=nodes, port_offset=0, kafka_version="4.4.0")
    text = render_server_properties(
        node_id, state=state, creds=Credentials("adminpw", "ctrlpw"), data_dir=DataDir(tmp_path)
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
    assert props["listeners"] == "CLIENT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    assert props["broker.rack"] == "rack-2"
    assert props["replica.selector.class"].endswith("RackAwareReplicaSelector")
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
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
