"""`streamplane audit zero-loss` against the live 3-node cluster, through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from typer.testing import CliRunner

from streamplane.cli._app import app
from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic

#: The prod cluster and the tenant every spec of this module audits.
HEADER = """\
clusters:
  - name: c3
    environment: prod
    brokers: 3
    bootstrap_servers: {bootstrap}
    auth:
      security_protocol: SASL_PLAINTEXT
      mechanism: SCRAM-SHA-512
      username: admin
      password: {{env: SP_AUDIT_PASSWORD}}
tenants:
  - name: audit
    prefix: "{prefix}"
    owners: [team@example.com]
    clusters: [c3]
"""

SPEC = (
    HEADER
    + """\
    domains:
      - name: pay
        topics:
          - name: good
          - name: thin
            replication_factor: 1
          - name: drifted
          - name: unclean
            configs:
              unclean.leader.election.enable: true
          - name: missing
          - name: fed
        applications:
          - name: writer
            profile: zero_loss
            produces: [{prefix}pay.good, {prefix}pay.thin, {prefix}pay.drifted, {prefix}pay.unclean, {prefix}pay.missing]
          - name: mover
            transactional: true
            profile: low_latency
            produces: [{prefix}pay.good]
          - name: feeder
            produces: [{prefix}pay.fed]
          - name: reader
            profile: zero_loss
            consumes: [{prefix}pay.fed]
"""
)

CLEAN = (
    HEADER
    + """\
    domains:
      - name: pay
        topics: [{{name: good}}]
        applications:
          - {{name: writer, profile: zero_loss, transactional: true, produces: [{prefix}pay.good]}}
"""
)


def _audit(spec: Path, password: str) -> tuple[int, dict[str, object], str]:
    runner = CliRunner()
    result = runner.invoke(
        app, ["audit", "zero-loss", str(spec), "--json"], env={"SP_AUDIT_PASSWORD": password}
    )
    return (
        result.exit_code,
        json.loads(result.stdout) if result.stdout.strip() else {},
        result.output,
    )


def test_audit_zero_loss_reports_each_violation_with_its_fix_and_exits_1(
    cluster3: LocalCluster, tmp_path: Path
) -> None:
    settings = cluster3.admin_settings()
    prefix = f"a{uuid.uuid4().hex[:6]}."
    for name, rf in (("good", 3), ("thin", 1), ("drifted", 3), ("fed", 3)):
        create_topic(settings, f"{prefix}pay.{name}", partitions=1, replication_factor=rf)
    create_topic(
        settings,
        f"{prefix}pay.unclean",
        replication_factor=3,
        config={"unclean.leader.election.enable": "true"},
    )
    # Someone lowered min.insync.replicas by hand: live drift the spec does not show.
    admin = AdminClient(settings.librdkafka())
    drifted = ConfigResource(
        ResourceType.TOPIC,
        f"{prefix}pay.drifted",
        incremental_configs=[
            ConfigEntry("min.insync.replicas", "1", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([drifted]).values():
        future.result(30)
    spec = tmp_path / "spec"
    spec.mkdir()
    text = SPEC.format(bootstrap=settings.bootstrap_servers, prefix=prefix)
    (spec / "platform.yaml").write_text(text)

    code, report, output = _audit(spec, settings.password or "")
    assert code == 1, output
    found = {(v["resource"], v["setting"]): v for v in report["violations"]}  # type: ignore[union-attr]
    assert set(found) == {
        (f"topic {prefix}pay.thin", "replication factor"),
        (f"topic {prefix}pay.drifted", "min.insync.replicas"),
        (f"topic {prefix}pay.unclean", "unclean.leader.election.enable"),
        (f"topic {prefix}pay.missing", "existence"),
        ("application mover", "profile"),
        ("application feeder", "profile"),
    }, output
    thin = found[(f"topic {prefix}pay.thin", "replication factor")]
    assert thin["line"] == text.splitlines().index("            replication_factor: 1") + 1
    assert thin["actual"] == "1 in the spec, 1 on the cluster"
    drift = found[(f"topic {prefix}pay.drifted", "min.insync.replicas")]
    assert drift["actual"] == "1 (overridden on the cluster, not in the spec)"
    assert report["brokers"] == [1, 2, 3]

    # The same audit for people: each violation, then its fix.
    human = CliRunner().invoke(
        app, ["audit", "zero-loss", str(spec)], env={"SP_AUDIT_PASSWORD": settings.password or ""}
    )
    assert human.exit_code == 1
    assert (
        "fix: set replication_factor: 3, after raising it on the cluster (reassign" in human.output
    )
    assert "6 violation(s) of zero_loss on cluster c3" in human.output


def test_audit_zero_loss_of_a_sound_estate_exits_0(cluster3: LocalCluster, tmp_path: Path) -> None:
    settings = cluster3.admin_settings()
    prefix = f"a{uuid.uuid4().hex[:6]}."
    create_topic(settings, f"{prefix}pay.good", partitions=1)
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "platform.yaml").write_text(
        CLEAN.format(bootstrap=settings.bootstrap_servers, prefix=prefix)
    )
    code, report, output = _audit(spec, settings.password or "")
    assert code == 0, output
    assert report["violations"] == []
    assert f"{prefix}pay.good" in report["topics_checked"]  # type: ignore[operator]


FIXABLE = (
    HEADER
    + """\
    domains:
      - name: pay
        topics: [{{name: good}}, {{name: thin}}]
        applications:
          - {{name: writer, profile: zero_loss, produces: [{prefix}pay.good, {prefix}pay.thin]}}
"""
)


def _printed_command(fix: str) -> str:
    """The first command of a fix: what it shows between backticks."""
    return fix.split("`")[1]


def test_audit_zero_loss_fixes_run_as_printed_and_clear_their_violations(
    cluster3: LocalCluster, tmp_path: Path
) -> None:
    settings = cluster3.admin_settings()
    prefix = f"f{uuid.uuid4().hex[:6]}."
    create_topic(settings, f"{prefix}pay.good", partitions=1, replication_factor=3)
    create_topic(settings, f"{prefix}pay.thin", partitions=2, replication_factor=1)
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "platform.yaml").write_text(
        FIXABLE.format(bootstrap=settings.bootstrap_servers, prefix=prefix)
    )
    env = {
        **os.environ,
        "SP_AUDIT_PASSWORD": settings.password or "",
        # `streamplane` as a user has it on PATH: this run's own.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }

    def run(command: str) -> None:
        ran = subprocess.run(
            ["bash", "-c", command], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert ran.returncode == 0, f"{command}\n{ran.stdout}\n{ran.stderr}"

    # Someone lowered min.insync.replicas for every broker, dynamically (with Kafka's tool).
    brokers = (
        f"streamplane kafka --config {cluster3.dir.admin_properties} kafka-configs --alter "
        "--entity-type brokers --entity-default"
    )
    run(f"{brokers} --add-config min.insync.replicas=1")
    try:
        code, report, output = _audit(spec, settings.password or "")
        assert code == 1, output
        found = {(v["resource"], v["setting"]): v for v in report["violations"]}  # type: ignore[union-attr]
        assert set(found) == {
            ("broker 1", "min.insync.replicas"),
            ("broker 2", "min.insync.replicas"),
            ("broker 3", "min.insync.replicas"),
            (f"topic {prefix}pay.thin", "replication factor"),
            (f"topic {prefix}pay.thin", "min.insync.replicas"),
            (f"topic {prefix}pay.good", "min.insync.replicas"),
        }, output
        broker_fix = _printed_command(found[("broker 1", "min.insync.replicas")]["fix"])
        reassign_fix = _printed_command(
            found[(f"topic {prefix}pay.thin", "replication factor")]["fix"]
        )
        assert broker_fix.startswith(f"streamplane kafka --spec {spec} kafka-configs --alter")
        assert reassign_fix.startswith("echo '") and "kafka-reassign-partitions" in reassign_fix

        # Each fix exactly as printed, in a shell, as a user pastes it.
        run(broker_fix)
        run(reassign_fix)

        deadline = time.monotonic() + 60
        while True:  # the reassignment copies replicas in the background
            code, report, output = _audit(spec, settings.password or "")
            if code == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert code == 0, output
        assert report["violations"] == []
    finally:
        # Back to the value of the static configs (with ELR on, Kafka keeps a cluster-level
        # min.insync.replicas: it may be changed, not removed).
        run(f"{brokers} --add-config min.insync.replicas=2")
