"""Operator commands as a user runs them: the CLI against real clusters.

``platform`` is a 1-node cluster with its schema registry, run the way `streamplane up`
runs them (RegistryProcess on 8081 + the cluster's port offset), for the tests that need
"the local registry"; the session's ``cluster1`` and ``cluster3`` serve the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster, RegistryProcess
from tests.integration.conftest import PORT_SHIFT
from tests.integration.reconcile.conftest import platform as run_platform

#: The port offset of this directory's own cluster (and registry): no other cluster uses it.
CLI_OFFSET = 20110 + PORT_SHIFT

runner = CliRunner()


@dataclass
class Local:
    """A local cluster with its registry, as `streamplane up` leaves them."""

    cluster: LocalCluster
    registry: RegistryProcess

    @property
    def admin(self) -> ConnectionSettings:
        return self.cluster.admin_settings()


@pytest.fixture(scope="module")
def local_platform() -> Iterator[Local]:
    with run_platform("cli-platform", port_offset=CLI_OFFSET) as (cluster, registry):
        yield Local(cluster, registry)


def cli(cluster: LocalCluster, *args: str, exit_code: int = 0) -> str:
    """Run ``streamplane ARGS --data-dir <cluster>`` in-process; its standard output."""
    result = runner.invoke(app, [*args, "--data-dir", str(cluster.dir.root)])
    assert result.exit_code == exit_code, result.output + repr(result.exception)
    return result.stdout


def cli_json(cluster: LocalCluster, *args: str, exit_code: int = 0) -> Any:
    return json.loads(cli(cluster, *args, "--json", exit_code=exit_code))
