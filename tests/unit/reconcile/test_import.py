"""Import a cluster as a spec: conventional names, legacy topics, applications, exceptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streamplane.errors import SpecError
from streamplane.kafka import ConnectionSettings, QuotaEntity
from streamplane.model import load_spec
from streamplane.reconcile import (
    AclEntry,
    ActualState,
    Target,
    desired_state,
    import_estate,
    import_spec,
    write_spec,
)
from streamplane.reconcile._engine import _credential_status
from streamplane.reconcile._import import EXCEPTION_REASON
from streamplane.reconcile._plan import Plan, make_plan
from streamplane.reconcile._resources import TopicState
from streamplane.reconcile._secrets import SecretStore

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
MIB = 1024 * 1024


def acl(principal: str, rtype: str, name: str, op: str, pattern: str = "LITERAL") -> AclEntry:
    return AclEntry(f"User:{principal}", rtype, name, pattern, op)


def producer(principal: str, topic: str) -> set[AclEntry]:
    return {
        acl(principal, "TOPIC", topic, "WRITE"),
        acl(principal, "TOPIC", topic, "DESCRIBE"),
        acl(principal, "CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE"),
    }


def consumer(principal: str, group: str, *topics: str) -> set[AclEntry]:
    grants = {acl(principal, "GROUP", group, "READ")}
    for topic in topics:
        grants |= {
            acl(principal, "TOPIC", topic, "READ"),
            acl(principal, "TOPIC", topic, "DESCRIBE"),
        }
    return grants


def topic(name: str, partitions: int = 3, **configs: str) -> tuple[str, TopicState]:
    return name, TopicState(name, partitions, 1, dict(configs))


AUTHZ, AUTHORIZED, ENTRIES = (
    "payments.card.authorizations",
    "payments.card.authorized.v1",
    "payments.ledger.entries",
)


@pytest.fixture
def actual() -> ActualState:
    """A cluster some teams run by convention and others by hand."""
    topics = dict(
        [
            topic(AUTHZ, 6, **{"retention.ms": "259200000", "compression.type": "zstd"}),
            topic(AUTHORIZED, 6),
            topic(ENTRIES, **{"cleanup.policy": "compact"}),
            topic("Legacy_Orders", 12),
            topic("legacy-orders"),  # slugs to the same local name as Legacy_Orders
            topic("a.b.c.d"),  # three dots: not <tenant>.<domain>.<name>
            topic("__consumer_offsets", 50),
            topic("_schemas", 1),
        ]
    )
    acls = (
        # card-authorizer: exactly a transactional application of payments.card
        consumer("card-authorizer", "payments.card-authorizer", AUTHZ)
        | producer("card-authorizer", AUTHORIZED)
        | {
            acl("card-authorizer", "TRANSACTIONAL_ID", "payments.card-authorizer", op, "PREFIXED")
            for op in ("WRITE", "DESCRIBE")
        }
        # a principal whose name is not a valid application name
        | producer("CardGateway", AUTHZ)
        # reads a public event only, under the analytics namespace (a tenant with no topics)
        | consumer("explorer", "analytics.adhoc", AUTHORIZED)
        # a ledger app in its own group name
        | consumer("ledger-writer", "payments.ledger-consumers", AUTHORIZED)
        | producer("ledger-writer", ENTRIES)
        # does not fit: reads a private topic of another domain
        | consumer("auditor", "payments.auditor", ENTRIES, AUTHZ)
        # does not fit: a group outside every namespace, on a legacy topic
        | consumer("legacy-reporter", "reporting", "Legacy_Orders")
        # does not fit: more than least privilege
        | producer("greedy", AUTHZ)
        | {acl("greedy", "TOPIC", AUTHZ, "ALL")}
        # never imported: the platform's own principals
        | {acl("admin", "CLUSTER", "kafka-cluster", "ALL")}
        # cannot be expressed: not a User principal
        | {AclEntry("Group:ops", "TOPIC", AUTHZ, "LITERAL", "READ")}
    )
    quotas = {
        QuotaEntity(user="card-authorizer"): {"producer_byte_rate": 20.0 * MIB},
        QuotaEntity(user="batch-job"): {"consumer_byte_rate": 1.0 * MIB},
        QuotaEntity(user="legacy-reporter", client_id="dash"): {"request_percentage": 12.5},
        QuotaEntity(client_id="analytics.adhoc"): {"consumer_byte_rate": 5.0 * MIB},
        QuotaEntity(user="admin"): {"request_percentage": 200.0},
    }
    return ActualState(
        topics=topics,
        acls=acls,
        scram_users={"admin", "card-authorizer", "CardGateway", "batch-job", "ledger-writer"},
        quotas=quotas,
        topic_defaults={"retention.ms": "604800000", "compression.type": "producer"},
    )


def tenants(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in doc["tenants"]}


def domain(doc: dict[str, Any], tenant: str, name: str) -> dict[str, Any]:
    return next(d for d in tenants(doc)[tenant]["domains"] if d["name"] == name)


def apps(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        a["name"]: a
        for t in doc["tenants"]
        for d in t["domains"]
        for a in d.get("applications", [])
    }


def test_topics_follow_the_convention_or_keep_their_legacy_name(actual: ActualState) -> None:
    doc = import_spec(actual)
    assert set(tenants(doc)) == {"payments", "analytics", "legacy"}
    card = {t["name"]: t for t in domain(doc, "payments", "card")["topics"]}
    # Durations in units, through the spec's shortcuts.
    assert card["authorizations"] == {
        "name": "authorizations",
        "partitions": 6,
        "replication_factor": 1,
        "retention": "3d",
        "compression": "zstd",
    }
    assert card["authorized.v1"]["visibility"] == "public"
    legacy = {t["full_name"]: t["name"] for t in domain(doc, "legacy", "imported")["topics"]}
    assert legacy == {
        "Legacy_Orders": "legacy-orders",
        "a.b.c.d": "a-b-c-d",
        "legacy-orders": "legacy-orders-2",
    }
    names = [t.get("full_name") or t["name"] for d in tenants(doc).values() for t in d["domains"]]
    assert not any(str(n).startswith("_") for n in names), "platform topics are not imported"
    assert doc["clusters"] == [
        {"name": "local", "local": True, "data_classes": ["public", "internal", "confidential"]}
    ]


def test_principals_that_fit_an_application_become_one_with_external_credentials(
    actual: ActualState,
) -> None:
    found = apps(import_spec(actual))
    assert found["card-authorizer"] == {
        "name": "card-authorizer",
        "credentials": "external",
        "consumes": [AUTHZ],
        "produces": [AUTHORIZED],
        "transactional": True,
        "profile": "zero_loss",  # exactly-once needs it (lint says so)
        "quotas": {"producer_byte_rate": "20MiB"},
    }
    assert found["cardgateway"] == {
        "name": "cardgateway",
        "principal": "CardGateway",
        "credentials": "external",
        "produces": [AUTHZ],
    }
    assert found["ledger-writer"]["consumer_group"] == "payments.ledger-consumers"
    assert found["explorer"]["consumer_group"] == "analytics.adhoc"
    assert domain(import_spec(actual), "analytics", "imported")["applications"][0]["name"] == (
        "explorer"
    )
    assert all(a["credentials"] == "external" for a in found.values())


def test_everything_else_becomes_reviewable_exceptions_or_is_listed_as_left_out(
    actual: ActualState,
) -> None:
    imported = import_estate(actual)
    doc = imported.document
    by_principal: dict[str, int] = {}
    for exc in doc["acl_exceptions"]:
        assert exc["reason"] == EXCEPTION_REASON
        by_principal[exc["principal"]] = by_principal.get(exc["principal"], 0) + 1
    assert by_principal == {"User:auditor": 5, "User:greedy": 4, "User:legacy-reporter": 3}
    assert {
        "principal": "User:greedy",
        "resource_type": "topic",
        "resource_name": AUTHZ,
        "operation": "all",
        "reason": EXCEPTION_REASON,
    } in doc["acl_exceptions"]
    assert not any("admin" in e["principal"] for e in doc["acl_exceptions"])
    # Credentials and quotas of principals without an application are claimed by
    # access-only applications, so a plan neither reports nor deletes them.
    access = domain(doc, "legacy", "imported")["applications"]
    assert access == [
        {
            "name": "batch-job",
            "credentials": "external",
            "quotas": {"consumer_byte_rate": "1MiB"},
        },
        {"name": "legacy-reporter", "credentials": "external"},
    ]
    assert doc["quotas"] == [
        {"client_id": "analytics.adhoc", "consumer_byte_rate": "5MiB"},
        {"user": "legacy-reporter", "client_id": "dash", "request_percentage": 12.5},
    ]
    assert [line.split(" (")[0] for line in imported.left_out] == [
        "ACL Group:ops ALLOW READ on TOPIC:payments.card.authorizations",
        "quota user=admin",
    ]
    assert imported.summary() == {
        "tenants": 3,
        "topics": 6,
        "applications": 6,
        "exceptions": 12,
        "quotas": 4,
    }


def test_written_spec_loads_and_plans_no_change(actual: ActualState, tmp_path: Path) -> None:
    out = tmp_path / "imported"
    (out / "tenants").mkdir(parents=True)
    (out / "tenants" / "stale.yaml").write_text("tenants: [{name: stale}]\n")
    imported = import_estate(actual)
    files = write_spec(imported.document, out)
    assert sorted(p.relative_to(out).as_posix() for p in files) == [
        "platform.yaml",
        "tenants/analytics.yaml",
        "tenants/legacy.yaml",
        "tenants/payments.yaml",
    ]
    assert not (out / "tenants" / "stale.yaml").exists()
    text = (out / "tenants" / "payments.yaml").read_text()
    assert text.startswith("# Imported from cluster local")
    assert yaml.safe_load(text)["tenants"][0]["name"] == "payments", "keys keep their order"
    spec = load_spec(out)
    assert spec.topics["Legacy_Orders"].topic.full_name == "Legacy_Orders"
    plan = make_plan(desired_state(spec, "local"), actual)
    assert plan.actions == [] and plan.refusals == []
    # Only what the spec cannot hold stays: the platform's quota and a non-User ACL.
    assert sorted((k.kind, k.resource) for k in plan.kept) == [
        ("acl", "Group:ops ALLOW READ on TOPIC:payments.card.authorizations"),
        ("quota", "user=admin"),
    ]


def applied_example(**topics: TopicState) -> ActualState:
    """A cluster the example spec was applied to (with ``topics`` changed)."""
    desired = desired_state(load_spec(EXAMPLE), "local")
    actual = ActualState(
        topics={
            n: TopicState(n, t.partitions, 1, dict(t.configs)) for n, t in desired.topics.items()
        }
        | topics,
        acls=set(desired.acls),
        scram_users={"admin", *desired.principals},
        quotas=dict(desired.quotas),
    )
    return actual


def test_applied_example_estate_imports_to_an_empty_plan(tmp_path: Path) -> None:
    actual = applied_example()
    imported = import_estate(actual)
    assert imported.document["acl_exceptions"] == [] and imported.left_out == ()
    write_spec(imported.document, tmp_path)
    spec = load_spec(tmp_path)
    assert set(spec.applications) == set(load_spec(EXAMPLE).applications)
    plan: Plan = make_plan(desired_state(spec, "local"), actual)
    assert plan.actions == [] and plan.refusals == [] and plan.kept == []


def test_external_credentials_are_neither_created_nor_rotated(
    actual: ActualState, tmp_path: Path
) -> None:
    write_spec(import_spec(actual), tmp_path / "spec")
    spec = load_spec(tmp_path / "spec")
    target = Target(
        "local",
        ConnectionSettings("localhost:1"),
        SecretStore(spec, local_secrets_dir=tmp_path / "secrets"),
    )
    assert _credential_status(spec, target, ActualState()) == {}
    managed = spec.applications["cardgateway"].app.model_copy(update={"credentials": "managed"})
    entry = spec.applications["cardgateway"]
    spec.applications["cardgateway"] = type(entry)(entry.tenant, entry.domain, managed, entry.path)
    assert _credential_status(spec, target, ActualState()) == {"CardGateway": "create"}


LEGACY_SPEC = """\
clusters: [{name: local, local: true}]
tenants:
  - name: legacy
    owners: [team@example.com]
    clusters: [local]
    domains:
      - name: imported
        topics:
          - {name: orders, full_name: %s}
"""


def test_full_name_skips_the_naming_convention_but_not_kafkas_rules(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "spec.yaml").write_text(LEGACY_SPEC % "Legacy_Orders.V2")
    assert set(load_spec(tmp_path / "ok").topics) == {"Legacy_Orders.V2"}
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "spec.yaml").write_text(LEGACY_SPEC % '"orders/eu"')
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "bad")
    [issue] = info.value.issues
    assert issue.message == '"orders/eu" is not a legal Kafka topic name'
    assert issue.line == 9


def test_dead_letter_topics_import_as_the_application_dead_letters(tmp_path: Path) -> None:
    # Someone compressed the DLQ by hand: it no longer has the derived shape.
    mine = "risk.fraud.fraud-scorer.risk.fraud.features"
    dlq = f"{mine}.dlq"
    changed = {"retention.ms": str(14 * 86_400_000), "compression.type": "zstd"}
    actual = applied_example(**{dlq: TopicState(dlq, 6, 1, changed)})
    imported = import_estate(actual)
    assert imported.document["acl_exceptions"] == [] and imported.left_out == ()
    write_spec(imported.document, tmp_path)
    spec = load_spec(tmp_path)
    scorer = spec.applications["fraud-scorer"].app
    assert scorer.dead_letters is not None
    # The cluster does not know the consumers' delays: two retries, written as 1m each.
    assert scorer.dead_letters.retries == [60_000, 60_000]
    assert scorer.dead_letters.retention == 14 * 86_400_000
    # The retry topics are derived again; the hand-compressed DLQ stays declared as it is.
    assert dlq in spec.topics and f"{mine}.retry.1" not in spec.topics
    plan: Plan = make_plan(desired_state(spec, "local"), actual)
    assert plan.actions == [] and plan.refusals == [] and plan.kept == []
