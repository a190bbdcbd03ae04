"""A cluster with the example estate applied, and helpers to act as its applications."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster, open_cluster
from streamplane.model import Spec, load_spec
from streamplane.reconcile import Target, apply_plan, compute_plan, connect
from tests.conftest import TEST_ROOT
from tests.integration.conftest import PORT_SHIFT

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
ESTATE_OFFSET = 20150 + PORT_SHIFT


@dataclass
class Estate:
    cluster: LocalCluster
    spec: Spec
    target: Target

    def as_app(self, name: str) -> ConnectionSettings:
        """Connection settings of an application's principal, with its generated secret."""
        entry = self.spec.applications[name]
        password = (self.cluster.dir.root / "secrets" / entry.principal).read_text().strip()
        return self.cluster.admin_settings().with_credentials(entry.principal, password)


def apply_spec(spec: Spec, target: Target, *, allow_delete: bool = False) -> None:
    planned = compute_plan(spec, target, allow_delete=allow_delete)
    assert not planned.plan.refusals, planned.plan.refusals
    apply_plan(planned.plan, spec, target)


@pytest.fixture(scope="session")
def estate() -> Iterator[Estate]:
    """The example spec applied to a 1-node cluster of its own (no other test writes to it)."""
    root = TEST_ROOT / "estate"
    cluster = open_cluster(root)
    cluster.up(nodes=1, port_offset=ESTATE_OFFSET)
    try:
        spec = load_spec(EXAMPLE)
        target = connect(spec, data_dir=root)
        apply_spec(spec, target)
        yield Estate(cluster, spec, target)
    finally:
        cluster.down(timeout_s=20)


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    """A writable copy of the example spec."""
    dest = tmp_path / "platform"
    shutil.copytree(EXAMPLE, dest)
    return dest
