"""The governance rules on small specs written to disk and loaded as users load them."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamplane.errors import SpecError
from streamplane.model import Spec, load_spec
from streamplane.policy import (
    BUILTIN_RULES,
    POLICY_RULE,
    Finding,
    Severity,
    has_errors,
    lint,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
TOPIC = "shop.sales.orders"

LOCAL: dict[str, Any] = {"name": "local", "local": True}
PROD: dict[str, Any] = {
    "name": "prod-eu",
    "environment": "prod",
    "brokers": 3,
    "bootstrap_servers": "kafka-1.prod:9092",
    "auth": {"username": "streamplane", "password": {"env": "SP_PASSWORD"}},
}


def make_spec(
    tmp_path: Path,
    *,
    topic: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
    policy: dict[str, Any] | None = None,
    domain_owner: str | None = "sales-team@example.com",
) -> Spec:
    """A one-topic spec (tenant shop, domain sales, topic orders) with ``topic`` keys merged in."""
    clus = cluster if cluster is not None else LOCAL
    domain: dict[str, Any] = {
        "name": "sales",
        "topics": [
            {
                "name": "orders",
                "classification": "internal",
                "owner": "sales-team@example.com",
                "compression": "zstd",
                "value_schema": "schemas/order.avsc",
                **(topic or {}),
            }
        ],
    }
    if domain_owner is not None:
        domain["owner"] = domain_owner
    doc: dict[str, Any] = {
        "clusters": [clus],
        "tenants": [
            {
                "name": "shop",
                "owners": ["shop@example.com"],
                "clusters": [clus["name"]],
                "domains": [domain],
            }
        ],
    }
    if policy is not None:
        doc["policy"] = policy
    root = tmp_path / "spec"
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    (root / "schemas" / "order.avsc").write_text('{"type": "string"}\n')
    for tenant in doc.get("tenants", []):  # every referenced schema file must exist
        for domain in tenant.get("domains", []):
            for topic in domain.get("topics", []):
                for field in ("key_schema", "value_schema"):
                    ref = topic.get(field)
                    ref = ref.get("file") if isinstance(ref, dict) else ref
                    if isinstance(ref, str):
                        (root / ref).parent.mkdir(parents=True, exist_ok=True)
                        (root / ref).touch()
    (root / "platform.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_spec(root)


def only(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def line_of(spec: Spec, needle: str) -> int:
    """1-based line of the first line of platform.yaml containing ``needle``."""
    lines = (spec.root / "platform.yaml").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if needle in text)


# ------------------------------------------------------------------------- the rules


def test_the_builtin_rules_are_the_documented_thirteen() -> None:
    assert [r.id for r in BUILTIN_RULES] == [
        "replication",
        "unclean-leader-election",
        "core-compression",
        "ownership",
        "core-schema-format",
        "public-event-versioned",
        "pii-placement",
        "pii-encryption",
        "tiered-retention",
        "tiered-topics",
        "partition-limits",
        "zero-loss",
        "secret-files",
    ]
    assert all(r.default_severity is Severity.ERROR and r.summary for r in BUILTIN_RULES)


def test_replication_refuses_a_low_replication_factor_on_prod(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, cluster=PROD, topic={"replication_factor": 2})
    [finding] = only(lint(spec), "replication")
    assert finding.severity is Severity.ERROR
    assert finding.resource == TOPIC
    assert finding.message == (
        'replication factor 2 (set on the topic) on prod cluster "prod-eu" is below 3'
    )
    assert finding.line == line_of(spec, "replication_factor: 2")


def test_replication_counts_the_cluster_default_and_min_insync(tmp_path: Path) -> None:
    small = {**PROD, "brokers": 2}
    spec = make_spec(tmp_path, cluster=small)
    rf, isr = only(lint(spec), "replication")
    assert "replication factor 2 (default of a 2-broker cluster)" in rf.message
    assert "at least 3 brokers" in rf.hint
    assert isr.message.startswith('min.insync.replicas 1 (cluster "prod-eu" default)')


def test_replication_refuses_a_topic_lowering_min_insync(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, cluster=PROD, topic={"configs": {"min.insync.replicas": 1}})
    [finding] = only(lint(spec), "replication")
    assert finding.message.startswith("min.insync.replicas 1 (set on the topic)")
    assert finding.line == line_of(spec, "min.insync.replicas")


def test_replication_passes_on_prod_with_three_brokers_and_ignores_dev(tmp_path: Path) -> None:
    assert only(lint(make_spec(tmp_path / "a", cluster=PROD)), "replication") == []
    dev = make_spec(tmp_path / "b", topic={"replication_factor": 1})
    assert only(lint(dev), "replication") == []


def test_unclean_leader_election_is_an_error(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, topic={"configs": {"unclean.leader.election.enable": "TRUE"}})
    [finding] = only(lint(spec), "unclean-leader-election")
    assert (finding.severity, finding.resource) == (Severity.ERROR, TOPIC)
    assert "unclean.leader.election.enable is true" in finding.message
    assert finding.line == line_of(spec, "unclean.leader.election.enable")


def test_unclean_leader_election_false_passes(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, topic={"configs": {"unclean.leader.election.enable": False}})
    assert only(lint(spec), "unclean-leader-election") == []


def test_core_compression_names_the_codec_used_and_required(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, topic={"core": True, "compression": "lz4"})
    [finding] = only(lint(spec), "core-compression")
    assert (finding.severity, finding.resource) == (Severity.ERROR, TOPIC)
    assert finding.message == 'core topic uses compression "lz4"; policy requires "zstd"'
    assert finding.line == line_of(spec, "compression: lz4")


def test_core_compression_counts_the_kafka_default_and_the_configs_spelling(
    tmp_path: Path,
) -> None:
    unset = make_spec(tmp_path / "a", topic={"core": True, "compression": None})
    [finding] = only(lint(unset), "core-compression")
    assert '"producer" (the Kafka default)' in finding.message
    via_configs = make_spec(
        tmp_path / "b",
        topic={"core": True, "compression": None, "configs": {"compression.type": "lz4"}},
        policy={"core_compression": "lz4"},
    )
    assert only(lint(via_configs), "core-compression") == []


def test_core_compression_passes_for_zstd_and_for_non_core_topics(tmp_path: Path) -> None:
    assert only(lint(make_spec(tmp_path / "a", topic={"core": True})), "core-compression") == []
    other = make_spec(tmp_path / "b", topic={"compression": "gzip"})
    assert only(lint(other), "core-compression") == []


def test_ownership_needs_an_owner_a_classification_and_a_value_schema(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        topic={"owner": None, "classification": None, "value_schema": None},
        domain_owner=None,
    )
    findings = only(lint(spec), "ownership")
    assert [f.message for f in findings] == [
        'topic has no owner, and neither has its domain "sales"',
        "topic has no classification",
        "topic has no value_schema",
    ]
    assert {(f.severity, f.resource) for f in findings} == {(Severity.ERROR, TOPIC)}


def test_ownership_accepts_the_domain_owner(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, topic={"owner": None})
    assert only(lint(spec), "ownership") == []


def test_core_schema_format_refuses_json_schemas(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, topic={"core": True, "key_schema": "schemas/order-key.json"})
    [finding] = only(lint(spec), "core-schema-format")
    assert (finding.severity, finding.resource) == (Severity.ERROR, TOPIC)
    assert finding.message.startswith('core topic has a JSON key_schema "schemas/order-key.json"')


def test_core_schema_format_accepts_avro_and_protobuf_and_json_off_core(tmp_path: Path) -> None:
    core = make_spec(tmp_path / "a", topic={"core": True, "key_schema": "schemas/order-key.proto"})
    assert only(lint(core), "core-schema-format") == []
    plain = make_spec(tmp_path / "b", topic={"value_schema": "schemas/order.json"})
    assert only(lint(plain), "core-schema-format") == []


def test_public_event_needs_a_value_schema(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path, topic={"name": "placed.v1", "visibility": "public", "value_schema": None}
    )
    [finding] = only(lint(spec), "public-event-versioned")
    assert (finding.severity, finding.resource) == (Severity.ERROR, "shop.sales.placed.v1")
    assert finding.message.startswith("public event has no value_schema")


def test_public_event_with_a_schema_passes(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, topic={"name": "placed.v1", "visibility": "public"})
    assert only(lint(spec), "public-event-versioned") == []


def test_pii_placement_names_the_cluster_and_its_classes(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, topic={"classification": "pii"})
    [finding] = only(lint(spec), "pii-placement")
    assert (finding.severity, finding.resource) == (Severity.ERROR, TOPIC)
    assert finding.message == (
        'pii topic lives on cluster "local" (tenant "shop"), which may hold only: '
        "public, internal, confidential"
    )
    assert finding.line == line_of(spec, "classification: pii")


def test_pii_placement_passes_on_a_pii_cluster(tmp_path: Path) -> None:
    cluster = {**LOCAL, "data_classes": ["internal", "pii"]}
    spec = make_spec(tmp_path, cluster=cluster, topic={"classification": "pii"})
    assert only(lint(spec), "pii-placement") == []


def test_tiered_retention_refuses_long_retention_on_plain_disks(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, topic={"retention": "90d"})
    [finding] = only(lint(spec), "tiered-retention")
    assert (finding.severity, finding.resource) == (Severity.ERROR, TOPIC)
    assert finding.message == (
        'retention 90d exceeds 30d without tiered storage: cluster "local" has no '
        "tiered_storage and the topic does not set remote.storage.enable: true"
    )
    assert finding.line == line_of(spec, "retention: 90d")


def test_tiered_retention_counts_infinite_and_needs_the_topic_config(tmp_path: Path) -> None:
    tiered = {**LOCAL, "tiered_storage": True}
    spec = make_spec(tmp_path, cluster=tiered, topic={"configs": {"retention.ms": -1}})
    [finding] = only(lint(spec), "tiered-retention")
    assert finding.message == (
        "retention infinite (-1) exceeds 30d without tiered storage: the topic does not set "
        "remote.storage.enable: true"
    )


def test_tiered_retention_passes_with_tiering_short_retention_or_compaction(
    tmp_path: Path,
) -> None:
    tiered = {**LOCAL, "tiered_storage": True}
    remote = {"retention": "365d", "configs": {"remote.storage.enable": True}}
    assert (
        only(lint(make_spec(tmp_path / "a", cluster=tiered, topic=remote)), "tiered-retention")
        == []
    )
    assert (
        only(lint(make_spec(tmp_path / "b", topic={"retention": "30d"})), "tiered-retention") == []
    )
    compact = {"retention": -1, "cleanup_policy": "compact"}
    assert only(lint(make_spec(tmp_path / "c", topic=compact)), "tiered-retention") == []


def test_tiered_passes_on_a_tiered_cluster_and_sets_the_topic_configs(tmp_path: Path) -> None:
    tiered = {**LOCAL, "tiered_storage": True}
    topic = {"retention": "365d", "tiered": True, "local_retention": "1d"}
    spec = make_spec(tmp_path, cluster=tiered, topic=topic)
    assert only(lint(spec), "tiered-topics") == [] and only(lint(spec), "tiered-retention") == []
    [entry] = [e for e in spec.topics_on("local") if e.full_name == TOPIC]
    assert entry.topic.kafka_configs()["remote.storage.enable"] == "true"
    assert entry.topic.kafka_configs()["local.retention.ms"] == 86_400_000


def test_tiered_needs_a_tiered_cluster_and_less_local_than_total_retention(
    tmp_path: Path,
) -> None:
    plain = make_spec(tmp_path / "a", topic={"tiered": True})
    [finding] = only(lint(plain), "tiered-topics")
    assert "has no tiered storage" in finding.message and "tiered_storage: true" in finding.hint
    assert finding.line == line_of(plain, "tiered: true")
    tiered = {**LOCAL, "tiered_storage": True}
    longer = {"tiered": True, "retention": "7d", "local_retention": "30d"}
    with pytest.raises(SpecError, match=r"local.retention.ms \(2592000000\) must not exceed"):
        make_spec(tmp_path / "c", cluster=tiered, topic=longer)


def test_partition_limits_gives_the_per_broker_numbers(tmp_path: Path) -> None:
    cluster = {**LOCAL, "max_partitions_per_broker": 10}
    spec = make_spec(tmp_path, cluster=cluster, topic={"partitions": 12})
    [finding] = only(lint(spec), "partition-limits")
    assert (finding.severity, finding.resource) == (Severity.ERROR, "cluster local")
    assert finding.message == (
        "12 partition replicas over 1 broker(s) is 12 per broker, above "
        "max_partitions_per_broker 10"
    )
    assert f"{TOPIC} (12)" in finding.hint
    assert finding.line == line_of(spec, "name: local")


def test_partition_limits_spreads_replicas_over_brokers(tmp_path: Path) -> None:
    # 30 partitions x RF 3 = 90 replicas over 3 brokers = 30 per broker: exactly the budget.
    cluster = {**PROD, "max_partitions_per_broker": 30}
    spec = make_spec(tmp_path, cluster=cluster, topic={"partitions": 30})
    assert only(lint(spec), "partition-limits") == []


# ------------------------------------------------------------------------ configuring


def test_a_severity_override_changes_the_findings_severity(tmp_path: Path) -> None:
    # pii-encryption (no KEK, no PII field in this spec) is judged in test_contract_policy.py.
    policy = {
        "rules": {"pii-placement": {"severity": "warning"}, "pii-encryption": {"severity": "off"}}
    }
    spec = make_spec(tmp_path, topic={"classification": "pii"}, policy=policy)
    findings = lint(spec)
    assert [(f.rule, f.severity) for f in findings] == [("pii-placement", Severity.WARNING)]
    assert not has_errors(findings)


def test_severity_off_disables_the_rule(tmp_path: Path) -> None:
    policy = {
        "rules": {"pii-placement": {"severity": "off"}, "pii-encryption": {"severity": "off"}}
    }
    spec = make_spec(tmp_path, topic={"classification": "pii"}, policy=policy)
    assert lint(spec) == []


def test_an_exemption_skips_matching_resources_only(tmp_path: Path) -> None:
    def exempt(glob: str) -> dict[str, Any]:
        exemption = {"resource": glob, "reason": "legacy topic, migrating in Q3"}
        return {"rules": {"tiered-retention": {"exemptions": [exemption]}}}

    spec = make_spec(tmp_path / "a", topic={"retention": "90d"}, policy=exempt("shop.sales.*"))
    assert lint(spec) == []
    spec = make_spec(tmp_path / "b", topic={"retention": "90d"}, policy=exempt("shop.billing.*"))
    assert [f.rule for f in lint(spec)] == ["tiered-retention"]


def test_an_unknown_rule_id_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, policy={"rules": {"replicaton": {"severity": "off"}}})
    [finding] = lint(spec)
    assert (finding.rule, finding.severity) == (POLICY_RULE, Severity.ERROR)
    assert finding.resource == "policy.rules.replicaton"
    assert finding.message == 'unknown rule "replicaton"'
    assert finding.hint == 'did you mean "replication"?'
    assert (finding.line, finding.column) == (line_of(spec, "replicaton:"), 5)


CUSTOM_RULES = textwrap.dedent(
    '''
    from streamplane.policy import RuleViolation


    def no_test_topics(ctx):
        """Test topics do not belong in the platform spec."""
        for entry in ctx.spec.topics.values():
            if "test" in entry.topic.name:
                yield RuleViolation(
                    resource=entry.full_name,
                    path=(*entry.path, "name"),
                    message=f"topic {entry.topic.name} looks like a test topic",
                    hint="keep test topics out of the spec",
                )


    def broken(ctx):
        raise RuntimeError("boom")
    '''
)


@pytest.fixture
def rules_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """An importable module of custom rules, under a name unique to the test."""
    name = "custom_rules_" + str(request.node.name).replace("[", "_").replace("]", "")
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / f"{name}.py").write_text(CUSTOM_RULES)
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    return name


def test_a_custom_rule_is_loaded_and_reported_under_its_name(
    tmp_path: Path, rules_module: str
) -> None:
    policy = {"custom": [f"{rules_module}:no_test_topics"]}
    spec = make_spec(tmp_path, topic={"name": "test-orders"}, policy=policy)
    [finding] = lint(spec)
    assert (finding.rule, finding.severity) == ("no_test_topics", Severity.ERROR)
    assert finding.resource == "shop.sales.test-orders"
    assert finding.message == "topic test-orders looks like a test topic"
    assert finding.line == line_of(spec, "name: test-orders")
    assert lint(make_spec(tmp_path / "clean", policy=policy)) == []


def test_a_custom_rule_takes_severity_and_exemptions_from_the_policy(
    tmp_path: Path, rules_module: str
) -> None:
    policy = {
        "custom": [f"{rules_module}:no_test_topics"],
        "rules": {"no_test_topics": {"severity": "info"}},
    }
    spec = make_spec(tmp_path, topic={"name": "test-orders"}, policy=policy)
    assert [(f.rule, f.severity) for f in lint(spec)] == [("no_test_topics", Severity.INFO)]


def test_a_custom_rule_that_cannot_be_imported_is_an_error(tmp_path: Path) -> None:
    entry = "streamplane_no_such_module:rule"
    spec = make_spec(tmp_path, policy={"custom": [entry]})
    [finding] = lint(spec)
    assert (finding.rule, finding.severity, finding.resource) == (
        POLICY_RULE,
        Severity.ERROR,
        entry,
    )
    assert finding.message.startswith(f'cannot import custom rule "{entry}": ModuleNotFoundError')
    assert finding.line == line_of(spec, entry)


def test_a_custom_rule_that_raises_is_an_error_not_a_crash(
    tmp_path: Path, rules_module: str
) -> None:
    policy = {"custom": [f"{rules_module}:broken", f"{rules_module}:missing"]}
    spec = make_spec(tmp_path, policy=policy)
    raised, missing = lint(spec)
    assert (raised.rule, raised.resource) == (POLICY_RULE, "broken")
    assert raised.message == "custom rule raised RuntimeError: boom"
    assert missing.message == (
        f'custom rule "{rules_module}:missing": module {rules_module} has nothing named "missing"'
    )


# --------------------------------------------------------------------- the findings


def test_a_finding_prints_as_an_editor_location_with_its_hint() -> None:
    finding = Finding(
        rule="pii-placement",
        severity=Severity.ERROR,
        resource=TOPIC,
        message="pii topic on a shared cluster",
        hint="move the tenant",
        file="spec/platform.yaml",
        line=12,
        column=9,
    )
    assert str(finding) == (
        f"spec/platform.yaml:12:9: error [pii-placement] {TOPIC}: pii topic on a shared cluster"
        "\n    hint: move the tenant"
    )


def test_findings_are_sorted_by_file_and_line(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path,
        topic={"classification": "pii", "retention": "90d"},
        policy={"rules": {"replicaton": {}, "pii-encryption": {"severity": "off"}}},
    )
    findings = lint(spec)
    assert [f.rule for f in findings] == ["pii-placement", "tiered-retention", POLICY_RULE]
    assert findings == sorted(findings, key=lambda f: (f.file, f.line, f.column))
    assert has_errors(findings)


# ------------------------------------------------------------------- the example estate


def test_the_example_spec_lints_clean() -> None:
    findings = lint(load_spec(EXAMPLE))
    assert not has_errors(findings)
    assert findings == []


def test_the_example_pii_tenant_on_a_shared_cluster_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "platform"
    shutil.copytree(EXAMPLE, root)
    platform = root / "platform.yaml"
    platform.write_text(
        platform.read_text().replace(
            "\npolicy:",
            textwrap.dedent(
                """\
                  - name: shared
                    environment: dev
                    bootstrap_servers: kafka.shared:9092
                    auth:
                      username: streamplane
                      password: {env: SHARED_PASSWORD}
                    data_classes: [public, internal, confidential]

                policy:"""
            ),
            1,
        )
    )
    risk = root / "tenants" / "risk.yaml"
    risk.write_text(risk.read_text().replace("clusters: [local]", "clusters: [shared]"))
    findings = lint(load_spec(root))
    assert has_errors(findings)
    [finding] = findings
    assert (finding.rule, finding.severity) == ("pii-placement", Severity.ERROR)
    assert finding.resource == "risk.customers.identities"
    assert finding.message == (
        'pii topic lives on cluster "shared" (tenant "risk"), which may hold only: '
        "public, internal, confidential"
    )
    assert "clusters allowed pii: local" in finding.hint
    assert finding.file == str(risk)
