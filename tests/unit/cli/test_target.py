"""Where read-only commands connect, the broker-count warning, and dlq's registry choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamplane.cli._target import broker_count_warning, resolve_target
from streamplane.cli.dlq import _decoder
from streamplane.errors import ClusterError
from streamplane.kafka import ConnectionSettings
from streamplane.local import ClusterState, DataDir
from streamplane.model import load_spec
from tests.unit.client.specs import write_spec
from tests.unit.reconcile.fake_registry import EXAMPLE

ADMIN = ConnectionSettings("127.0.0.1:1", username="admin", password="secret")


def _cluster_of(data_dir: Path, nodes: int) -> None:
    DataDir(data_dir).write_state(ClusterState("id", nodes, 0, "4.4.0"))


def test_warns_when_the_local_cluster_has_another_node_count_than_the_spec(
    tmp_path: Path,
) -> None:
    spec = write_spec(tmp_path / "spec")  # `brokers:` not set: 1
    data = tmp_path / "data-3"
    _cluster_of(data, 3)
    warning = broker_count_warning(spec, "local", data)
    assert warning is not None
    # The cluster entry's line: it sets no `brokers:`, so that is where one goes.
    assert warning.startswith(f"{spec.root / 'spec.yaml'}:2: cluster local declares brokers: 1")
    assert "(the default: it sets none)" in warning and "has 3 node(s)" in warning
    assert "Set `brokers: 3`" in warning

    example = load_spec(EXAMPLE)  # `brokers: 1` on line 8
    warning = broker_count_warning(example, "local", data)
    assert warning is not None
    assert warning.startswith(f"{EXAMPLE / 'platform.yaml'}:8: cluster local declares brokers: 1,")


def test_no_warning_when_the_counts_agree_or_there_is_no_local_cluster(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec")
    _cluster_of(tmp_path / "one", 1)
    assert broker_count_warning(spec, "local", tmp_path / "one") is None
    assert broker_count_warning(spec, "local", tmp_path / "none") is None


def test_without_a_cluster_to_read_the_error_says_how_to_name_one(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"admin.properties does not exist.*--config"):
        resolve_target(spec=None, cluster=None, data_dir=tmp_path, config=None)
    with pytest.raises(ClusterError, match=r"--cluster prod names a cluster of a spec"):
        resolve_target(spec=None, cluster="prod", data_dir=tmp_path, config=None)


def test_spec_gives_owners_and_the_groups_of_its_applications(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec", prefix="shop.")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "admin.properties").write_text(ADMIN.properties_text())
    target = resolve_target(
        spec=spec.root, cluster=None, data_dir=tmp_path / "data", config=None, reach=False
    )
    owner = target.owner("shop.orders.placed")
    assert owner is not None and (owner.tenant, owner.domain, owner.managed) == (
        "shop", "orders", True,
    )  # fmt: skip
    stray = target.owner("shop.stray")
    assert stray is not None and (stray.tenant, stray.managed) == ("shop", False)
    assert target.group_apps["shop.fulfilment"] == "fulfilment"
    assert "shop.checkout" not in target.group_apps  # produces only: no group


def test_dlq_values_are_raw_with_a_note_when_no_registry_runs(tmp_path: Path) -> None:
    decoder, note = _decoder(None, ADMIN, data_dir=tmp_path, config=None)
    assert decoder is None and note is not None and "registry is not running" in note
    decoder, note = _decoder(None, ADMIN, data_dir=tmp_path, config=tmp_path / "x.properties")
    assert decoder is None and note is not None and "--registry URL" in note
    decoder, note = _decoder("http://127.0.0.1:1", ADMIN, data_dir=tmp_path, config=None)
    assert decoder is not None and note is None
