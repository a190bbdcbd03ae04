"""The zero-loss audit and lint judge by one policy: environments, exemptions, severities.

And every fix the audit prints is a command for the cluster it audited.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from streamplane.kafka._durability import ClusterDurability, TopicDurability, TopicSetting
from streamplane.model import Spec, load_spec
from streamplane.policy import (
    FixCommands,
    Severity,
    lint,
    zero_loss_report,
)
from streamplane.policy._fixes import raised_replication

WEAK_BROKER = {
    "min.insync.replicas": "1",
    "unclean.leader.election.enable": "true",
    "default.replication.factor": "1",
    "offsets.topic.replication.factor": "1",
}

SPEC = """\
clusters:
  - name: local
    local: true
    environment: {environment}
    brokers: 1
{policy}
tenants:
  - name: pay
    owners: [pay@example.com]
    clusters: [local]
    domains:
      - name: card
        owner: card@example.com
        topics:
          - {{name: thin, replication_factor: 1, classification: internal, value_schema: v.avsc}}
          - {{name: plain, classification: internal, value_schema: v.avsc}}
        applications:
          - name: writer
            profile: zero_loss
            produces: [pay.card.thin, pay.card.plain]
          - name: mover
            transactional: true
            profile: low_latency
            produces: [pay.card.plain]
"""


def _spec(tmp_path: Path, *, environment: str = "dev", policy: str = "") -> Spec:
    root = tmp_path / "spec"
    root.mkdir()
    (root / "platform.yaml").write_text(SPEC.format(environment=environment, policy=policy))
    (root / "v.avsc").write_text('{"type": "record", "name": "V", "fields": []}')
    return load_spec(root)


def _one_weak_broker(sources: dict[str, str] | None = None) -> ClusterDurability:
    topics = {
        name: TopicDurability(
            name=name,
            partitions=1,
            replication_factor=1,
            settings={"min.insync.replicas": TopicSetting("1", False)},
            assignment={0: (1,)},
        )
        for name in ("pay.card.thin", "pay.card.plain", "__consumer_offsets")
    }
    return ClusterDurability(
        "127.0.0.1:9092",
        brokers={1: dict(WEAK_BROKER)},
        topics=topics,
        broker_sources={1: sources or {}},
    )


def test_on_a_dev_cluster_the_audit_exempts_replication_as_lint_does(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    report = zero_loss_report(spec, cluster="local", live=_one_weak_broker())
    assert {v.rule for v in report.violations} == {"unclean-leader-election", "zero-loss"}
    assert {(v.resource, v.setting) for v in report.violations} == {
        ("broker 1", "unclean.leader.election.enable"),
        ("application mover", "profile"),
    }
    assert report.exempted and {e.violation.rule for e in report.exempted} == {"replication"}
    assert {e.because for e in report.exempted} == {
        "cluster local is a dev environment; rule replication judges prod clusters only"
    }
    # lint passes the same replication problems, and finds the same application problem.
    findings = lint(spec)
    assert not [f for f in findings if f.rule == "replication"]
    assert [(f.rule, f.resource) for f in findings if f.rule == "zero-loss"] == [
        ("zero-loss", "mover")
    ]


def test_on_prod_both_report_replication(tmp_path: Path) -> None:
    spec = _spec(tmp_path, environment="prod")
    report = zero_loss_report(spec, cluster="local", live=_one_weak_broker())
    assert report.exempted == [] and report.failed
    audited = {v.rule_resource for v in report.violations if v.rule == "replication"}
    linted = {f.resource for f in lint(spec) if f.rule == "replication"}
    assert linted == {"pay.card.thin", "pay.card.plain"}
    assert linted <= audited  # the audit adds the cluster and Kafka's own topics
    assert {"cluster local", "__consumer_offsets"} <= audited


def test_exemptions_and_severities_hold_for_the_audit_as_for_lint(tmp_path: Path) -> None:
    policy = textwrap.dedent(
        """\
        policy:
          rules:
            replication:
              exemptions:
                - {resource: "pay.card.thin", reason: "migrating to a new topic in Q3"}
            unclean-leader-election: {severity: warning}
            zero-loss: {severity: "off"}
        """
    )
    spec = _spec(tmp_path, environment="prod", policy=policy)
    report = zero_loss_report(spec, cluster="local", live=_one_weak_broker())
    reported = {(v.rule_resource, v.rule): v for v in report.violations}
    assert ("pay.card.thin", "replication") not in reported
    assert ("pay.card.plain", "replication") in reported
    thin = [e for e in report.exempted if e.violation.rule_resource == "pay.card.thin"]
    assert thin and all("migrating to a new topic in Q3" in e.because for e in thin)
    unclean = reported[("cluster local", "unclean-leader-election")]
    assert unclean.severity is Severity.WARNING
    assert not [v for v in report.violations if v.rule == "zero-loss"]
    assert any("rule zero-loss is off" in e.because for e in report.exempted)

    findings = lint(spec)
    assert {f.resource for f in findings if f.rule == "replication"} == {"pay.card.plain"}
    assert not [f for f in findings if f.rule == "zero-loss"]


def test_a_warning_only_audit_does_not_fail(tmp_path: Path) -> None:
    policy = "policy:\n  rules:\n    unclean-leader-election: {severity: warning}\n"
    policy += "    zero-loss: {severity: info}\n"
    spec = _spec(tmp_path, policy=policy)
    report = zero_loss_report(spec, cluster="local", live=_one_weak_broker())
    assert report.violations and not report.failed


def test_a_per_broker_override_is_removed_by_the_fix_too(tmp_path: Path) -> None:
    spec = _spec(tmp_path, environment="prod")
    live = _one_weak_broker({"min.insync.replicas": "DYNAMIC_BROKER_CONFIG"})
    [isr] = [
        v
        for v in zero_loss_report(spec, cluster="local", live=live).violations
        if (v.resource, v.setting) == ("broker 1", "min.insync.replicas")
    ]
    assert isr.fix == (
        "set min.insync.replicas=2 on every broker: `streamplane kafka kafka-configs --alter "
        "--entity-type brokers --entity-default --add-config min.insync.replicas=2`, and remove "
        "broker 1's own override, which wins over it: `streamplane kafka kafka-configs --alter "
        "--entity-type brokers --entity-name 1 --delete-config min.insync.replicas`"
    )


def test_fixes_reach_the_audited_cluster_as_the_cli_did(tmp_path: Path) -> None:
    spec = _spec(tmp_path, environment="prod")
    commands = FixCommands.for_cluster(
        spec, "local", spec_arg=Path("my spec"), data_dir=Path("/tmp/x")
    )
    report = zero_loss_report(spec, cluster="local", live=_one_weak_broker(), commands=commands)
    fixes = {(v.resource, v.setting): v.fix for v in report.violations}
    assert (
        "`streamplane kafka --data-dir /tmp/x kafka-configs --alter"
        in fixes[("broker 1", "min.insync.replicas")]
    )
    assert (
        "then `streamplane apply 'my spec' --data-dir /tmp/x`"
        in fixes[("topic pay.card.plain", "min.insync.replicas")]
    )
    # A local cluster cannot grow: the fix starts a 3-node one beside it and applies there.
    assert (
        "`streamplane down --data-dir /tmp/x && streamplane up --nodes 3 --data-dir /tmp/x-3`, "
        "then `streamplane apply 'my spec' --data-dir /tmp/x-3`"
    ) in fixes[("cluster local", "brokers")]


def test_a_remote_cluster_is_reached_through_the_spec(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    (root / "platform.yaml").write_text(
        textwrap.dedent(
            """\
            clusters:
              - name: prod-eu
                environment: prod
                brokers: 3
                bootstrap_servers: kafka-1.example.com:9092
                auth: {username: admin, password: {env: KAFKA_ADMIN_PASSWORD}}
            """
        )
    )
    spec = load_spec(root)
    commands = FixCommands.for_cluster(
        spec, "prod-eu", spec_arg=Path("specs"), cluster_arg="prod-eu"
    )
    assert commands.kafka_configs("--entity-type brokers --entity-default", add="a=1") == (
        "streamplane kafka --spec specs --cluster prod-eu kafka-configs --alter --entity-type "
        "brokers --entity-default --add-config a=1"
    )
    assert commands.apply() == "streamplane apply specs --cluster prod-eu"


def test_raised_replication_keeps_each_leader_and_spreads_the_new_replicas() -> None:
    plan = raised_replication("t", {0: (1,), 1: (2,), 2: (3, 1)}, [1, 2, 3, 4], 3)
    assert plan == {
        "version": 1,
        "partitions": [
            {"topic": "t", "partition": 0, "replicas": [1, 2, 3]},
            {"topic": "t", "partition": 1, "replicas": [2, 3, 4]},
            {"topic": "t", "partition": 2, "replicas": [3, 1, 4]},
        ],
    }
