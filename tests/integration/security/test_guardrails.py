"""The brokers' guardrails: the spec's topic rules hold even for an admin with Kafka's own CLI.

A spec with ``policy.guardrails: true`` is applied to the shared cluster; then the admin
runs ``kafka-topics`` and ``kafka-configs`` (Kafka's own classes, through ``streamplane
kafka``) and the brokers' plugin refuses what breaks a rule, naming it. Applying a spec
with a new tenant allows its namespace without restarting anything. The rules file is
removed afterwards, so the other tests on this cluster are not held to this spec.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streamplane.local import LocalCluster
from streamplane.model import load_spec
from streamplane.reconcile import connect
from tests.integration.reconcile.conftest import apply_spec
from tests.integration.security._isolation import tenant_yaml


def _spec(root: Path, tenants: list[str]) -> Path:
    (root / "tenants").mkdir(parents=True, exist_ok=True)
    (root / "platform.yaml").write_text(
        "clusters:\n"
        "  - {name: local, local: true, environment: dev, brokers: 1}\n"
        "policy:\n"
        "  guardrails: true\n"
        "  max_retention_without_tiered: 7d\n"
        "  rules:\n"
        "    replication:\n"
        "      exemptions: [{resource: '*', reason: 'one-node test cluster'}]\n"
    )
    for tenant in tenants:
        (root / "tenants" / f"{tenant}.yaml").write_text(tenant_yaml(tenant))
    return root


@pytest.fixture(scope="module")
def guarded(cluster1: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tenant the applied spec declares (a fresh name, so its topics are new)."""
    tenant = f"guarded{uuid.uuid4().hex[:6]}"
    spec = load_spec(_spec(tmp_path_factory.mktemp("guardrails"), [tenant]))
    apply_spec(spec, connect(spec, data_dir=cluster1.dir.root))
    try:
        yield tenant
    finally:
        cluster1.dir.guardrails_rules.unlink(missing_ok=True)


def _kafka(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """Kafka's own tool, run as the admin (super user) of the cluster."""
    cmd = [sys.executable, "-m", "streamplane", "kafka", "--data-dir", str(cluster.dir.root)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)


def _topics(cluster: LocalCluster) -> set[str]:
    admin = AdminClient(cluster.admin_settings().librdkafka(log_level=0))
    return set(admin.list_topics(timeout=15).topics)


def test_the_admins_cli_cannot_create_a_topic_outside_every_namespace(
    cluster1: LocalCluster, guarded: str
) -> None:
    name = f"scratch-{uuid.uuid4().hex[:6]}"
    done = _kafka(cluster1, "kafka-topics", "--create", "--topic", name, "--partitions", "1")
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "streamplane guardrail 'naming'" in out and f"{guarded}." in out, out
    assert name not in _topics(cluster1)


def test_retention_beyond_the_local_disk_limit_is_refused_naming_the_rule(
    cluster1: LocalCluster, guarded: str
) -> None:
    name = f"{guarded}.orders.archive"
    done = _kafka(
        cluster1, "kafka-topics", "--create", "--topic", name, "--partitions", "1",
        "--config", "retention.ms=2592000000",
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "streamplane guardrail 'tiered-retention'" in out, out
    assert name not in _topics(cluster1)
    # Within the limit and the namespace, the same command works.
    ok = _kafka(
        cluster1, "kafka-topics", "--create", "--topic", name, "--partitions", "1",
        "--config", "retention.ms=86400000",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert name in _topics(cluster1)


def test_altering_a_topic_to_unclean_election_is_refused(
    cluster1: LocalCluster, guarded: str
) -> None:
    topic = f"{guarded}.orders.events"
    done = _kafka(
        cluster1, "kafka-configs", "--alter", "--entity-type", "topics", "--entity-name", topic,
        "--add-config", "unclean.leader.election.enable=true",
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "streamplane guardrail 'unclean-leader-election'" in out, out
    described = _kafka(
        cluster1, "kafka-configs", "--describe", "--entity-type", "topics", "--entity-name", topic
    )
    assert "unclean.leader.election.enable=true" not in described.stdout


def test_a_new_tenant_in_the_spec_is_allowed_once_applied_without_a_restart(
    cluster1: LocalCluster, guarded: str, tmp_path: Path
) -> None:
    newcomer = f"newcomer{uuid.uuid4().hex[:6]}"
    name = f"{newcomer}.orders.scratch"
    refused = _kafka(cluster1, "kafka-topics", "--create", "--topic", name, "--partitions", "1")
    assert refused.returncode != 0 and "'naming'" in refused.stdout + refused.stderr
    pids = {n: p.pid for n, p in cluster1.running_nodes().items()}
    spec = load_spec(_spec(tmp_path / "spec", [guarded, newcomer]))
    apply_spec(spec, connect(spec, data_dir=cluster1.dir.root))
    assert f"{newcomer}." in cluster1.dir.guardrails_rules.read_text()
    allowed = _kafka(cluster1, "kafka-topics", "--create", "--topic", name, "--partitions", "1")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert {n: p.pid for n, p in cluster1.running_nodes().items()} == pids
