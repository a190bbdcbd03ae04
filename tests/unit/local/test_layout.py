from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from streamplane.errors import DataDirError
from streamplane.local import ClusterState, Credentials, DataDir, node_address
from streamplane.local._layout import new_cluster_id


def test_node_ports_follow_the_documented_scheme() -> None:
    assert [(a.client_port, a.controller_port) for a in map(node_address, (1, 2, 3))] == [
        (9092, 9093),
        (9094, 9095),
        (9096, 9097),
    ]
    assert node_address(2, port_offset=10000).bootstrap == "127.0.0.1:19094"


def test_cluster_id_is_a_kafka_uuid() -> None:
    for _ in range(200):
        cid = new_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_generated_passwords_avoid_characters_kafka_cannot_parse() -> None:
    for _ in range(200):
        creds = Credentials.generate()
        for secret in (creds.admin_password, creds.controller_password):
            assert len(secret) >= 32 and not set(secret) & set(',"=; ')


def test_state_and_credentials_round_trip_and_secrets_are_private(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "d")
    state = ClusterState(
        cluster_id=new_cluster_id(), nodes=3, port_offset=100, kafka_version="4.4.0"
    )
    creds = Credentials.generate()
    data.write_state(state)
    data.write_credentials(creds)
    assert data.read_state() == state
    assert data.read_credentials() == creds
    assert stat.S_IMODE(data.credentials_file.stat().st_mode) == 0o600
    assert state.bootstrap_servers == "127.0.0.1:9192,127.0.0.1:9194,127.0.0.1:9196"


def test_corrupt_state_file_is_reported_with_its_path(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    data.state_file.write_text("{not json")
    with pytest.raises(
        DataDirError, match=r"cluster\.json is not a Streamplane cluster state file"
    ):
        data.read_state()
