"""A cluster with the example estate applied, and helpers to act as its applications.

The example spec has schemas, so every cluster a spec is applied to runs its schema
registry too, the way `streamplane up` does: RegistryProcess on the cluster's data
directory, on 8081 + the cluster's port offset.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster, RegistryProcess, open_cluster
from streamplane.model import Spec, load_spec
from streamplane.reconcile import Target, apply_plan, client_config_path, compute_plan, connect
from tests.conftest import TEST_ROOT
from tests.integration.conftest import PORT_SHIFT

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
ESTATE_OFFSET = 20150 + PORT_SHIFT
#: The cluster (and registry) of test_schemas.py, which registers new versions.
SCHEMAS_OFFSET = 20170 + PORT_SHIFT


@dataclass
class Estate:
    cluster: LocalCluster
    spec: Spec
    target: Target

    def as_app(self, name: str) -> ConnectionSettings:
        """The application's own connection: the client config apply wrote for it (SCRAM,
        certificate or OAuth client, as its ``auth`` says)."""
        entry = self.spec.applications[name]
        return ConnectionSettings.from_properties_file(
            client_config_path(self.cluster.dir.root, entry.principal)
        )


def apply_spec(spec: Spec, target: Target, *, allow_delete: bool = False) -> None:
    planned = compute_plan(spec, target, allow_delete=allow_delete)
    assert not planned.plan.refusals, planned.plan.refusals
    apply_plan(planned.plan, spec, target)


@contextlib.contextmanager
def unguarded(cluster: LocalCluster) -> Iterator[None]:
    """Meanwhile, the cluster is as one without guardrails (topics made by hand before the
    spec enabled them): the rules file is set aside and put back, the brokers re-read it."""
    rules = cluster.dir.guardrails_rules
    aside = rules.with_name(rules.name + ".aside")
    moved = rules.exists()
    if moved:
        rules.rename(aside)
    try:
        yield
    finally:
        if moved:
            aside.rename(rules)


@contextlib.contextmanager
def platform(name: str, *, port_offset: int) -> Iterator[tuple[LocalCluster, RegistryProcess]]:
    """A 1-node cluster and its schema registry; both stopped afterwards whatever happened."""
    cluster = open_cluster(TEST_ROOT / name)
    registry = RegistryProcess(cluster.dir, port_offset=port_offset)
    try:
        cluster.up(nodes=1, port_offset=port_offset)
        registry.start()
        yield cluster, registry
    finally:
        registry.stop()
        cluster.down(timeout_s=20)


@pytest.fixture(scope="session")
def estate() -> Iterator[Estate]:
    """The example spec applied to a 1-node cluster of its own (no other test writes to it)."""
    with platform("estate", port_offset=ESTATE_OFFSET) as (cluster, _):
        spec = load_spec(EXAMPLE)
        target = connect(spec, data_dir=cluster.dir.root)
        apply_spec(spec, target)
        yield Estate(cluster, spec, target)


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    """A writable copy of the example spec."""
    dest = tmp_path / "platform"
    shutil.copytree(EXAMPLE, dest)
    return dest
