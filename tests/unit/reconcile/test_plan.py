"""Plans from desired and actual state: only real differences, refusals, deletion rules."""

from __future__ import annotations

from pathlib import Path

from streamplane.kafka import QuotaEntity
from streamplane.model import load_spec
from streamplane.reconcile import AclEntry, ActualState, application_acls, desired_state
from streamplane.reconcile._plan import DeletionPolicy, Plan, TopicActivity, make_plan
from streamplane.reconcile._resources import TopicState

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
DAY = 86_400_000


def example_desired():  # type: ignore[no-untyped-def]
    return desired_state(load_spec(EXAMPLE), "local")


def applied(desired) -> ActualState:  # type: ignore[no-untyped-def]
    """The actual state of a cluster on which ``desired`` was applied."""
    return ActualState(
        topics={
            n: TopicState(n, t.partitions, 1, dict(t.configs)) for n, t in desired.topics.items()
        },
        acls=set(desired.acls),
        scram_users=set(desired.principals),
        quotas=dict(desired.quotas),
        topic_defaults={"retention.ms": str(7 * DAY), "compression.type": "producer"},
    )


def test_derived_acls_are_least_privilege_with_reasons() -> None:
    spec = load_spec(EXAMPLE)
    grants = dict(application_acls(spec.applications["card-authorizer"]))
    ops = {(a.resource_type, a.resource_name, a.operation, a.pattern_type) for a in grants}
    assert ops == {
        ("TOPIC", "payments.card.authorizations", "READ", "LITERAL"),
        ("TOPIC", "payments.card.authorizations", "DESCRIBE", "LITERAL"),
        ("TOPIC", "payments.card.authorized.v1", "WRITE", "LITERAL"),
        ("TOPIC", "payments.card.authorized.v1", "DESCRIBE", "LITERAL"),
        ("GROUP", "payments.card-authorizer", "READ", "LITERAL"),
        ("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE", "LITERAL"),
        ("TRANSACTIONAL_ID", "payments.card-authorizer", "WRITE", "PREFIXED"),
        ("TRANSACTIONAL_ID", "payments.card-authorizer", "DESCRIBE", "PREFIXED"),
    }
    assert all(why.startswith("application card-authorizer") for why in grants.values())
    assert not any(a.operation in {"ALL", "ALTER", "CREATE", "DELETE"} for a in grants)


def test_plan_of_an_applied_spec_is_empty() -> None:
    desired = example_desired()
    plan = make_plan(desired, applied(desired), credentials=dict.fromkeys(desired.principals, "ok"))
    assert plan.actions == [] and plan.refusals == [] and plan.kept == []


def test_spec_value_equal_to_default_is_no_change_and_extra_override_returns_to_default() -> None:
    desired = example_desired()
    actual = applied(desired)
    name = "payments.card.authorizations"
    want = desired.topics[name]
    desired.topics[name] = type(want)(
        **{**vars(want), "configs": {**want.configs, "retention.ms": str(7 * DAY)}}
    )
    actual.topics[name] = TopicState(
        name, 6, 1, {"compression.type": "zstd", "max.message.bytes": "2000000"}
    )
    plan = make_plan(desired, actual, credentials=dict.fromkeys(desired.principals, "ok"))
    changes = {(c.key, c.before, c.after) for a in plan.actions for c in a.changes}
    assert changes == {("max.message.bytes", "2000000", None)}


def test_partition_decrease_and_rf_change_are_refused_increase_is_planned() -> None:
    desired = example_desired()
    actual = applied(desired)
    actual.topics["payments.card.authorizations"] = TopicState(
        "payments.card.authorizations",
        12,
        1,
        {"compression.type": "zstd", "retention.ms": str(3 * DAY)},
    )
    actual.topics["risk.fraud.features"] = TopicState(
        "risk.fraud.features", 2, 1, {"compression.type": "zstd"}
    )
    want = desired.topics["payments.ledger.entries"]
    desired.topics["payments.ledger.entries"] = type(want)(
        **{**vars(want), "replication_factor": 3}
    )
    plan = make_plan(desired, actual, credentials=dict.fromkeys(desired.principals, "ok"))
    refused = {r.resource: r for r in plan.refusals}
    assert "cannot remove partitions" in refused["payments.card.authorizations"].problem
    assert "new versioned topic" in refused["payments.card.authorizations"].alternative
    assert "payments.ledger.entries" not in refused
    [rf] = [a for a in plan.actions if a.kind == "replication"]
    assert (rf.resource, rf.payload) == ("payments.ledger.entries", {"replication_factor": 3})
    assert rf.changes[0].before == "1" and rf.changes[0].after == "3"
    grow = [a for a in plan.actions if a.kind == "partitions"]
    assert [(a.resource, a.payload["total"]) for a in grow] == [("risk.fraud.features", 6)]


def test_deletion_rules() -> None:
    desired = example_desired()
    actual = applied(desired)
    now = 100 * DAY
    for name in (
        "payments.card.stale",
        "payments.card.fresh",
        "payments.ledger.old",
        "payments.card.read",
        "loose",
    ):
        actual.topics[name] = TopicState(name, 1, 1)
    activity = {
        "payments.card.stale": TopicActivity(now - 30 * DAY, False, (), now),
        "payments.card.fresh": TopicActivity(now - DAY, False, (), now),
        "payments.ledger.old": TopicActivity(now - 30 * DAY, False, (), now),
        "payments.card.read": TopicActivity(now - 30 * DAY, False, ("payments.reader",), now),
    }
    tenant_of = dict.fromkeys(activity, "payments")
    policy = DeletionPolicy(allow=True, grace_period_ms=7 * DAY, protected=("payments.ledger.*",))
    plan = make_plan(desired, actual, deletion=policy, activity=activity, tenant_of=tenant_of,
                     credentials=dict.fromkeys(desired.principals, "ok"))  # fmt: skip
    assert [a.resource for a in plan.actions if a.op == "delete"] == ["payments.card.stale"]
    kept = {k.resource: k.why for k in plan.kept}
    assert "grace period" in kept["payments.card.fresh"]
    assert "protected" in kept["payments.ledger.old"]
    assert (
        "still consumed" in kept["payments.card.read"]
        and "payments.reader" in kept["payments.card.read"]
    )
    assert "outside every tenant namespace" in kept["loose"]
    no_flag = make_plan(desired, actual, activity=activity, tenant_of=tenant_of,
                        credentials=dict.fromkeys(desired.principals, "ok"))  # fmt: skip
    assert not [a for a in no_flag.actions if a.op == "delete"]


def test_acls_and_quotas_outside_the_spec_are_kept_unless_deletion_is_allowed() -> None:
    desired = example_desired()
    actual = applied(desired)
    rogue = AclEntry("User:intruder", "TOPIC", "payments.card.authorizations", "LITERAL", "READ")
    actual.acls |= {rogue, AclEntry("User:admin", "TOPIC", "*", "LITERAL", "ALL")}
    actual.quotas[QuotaEntity(user="intruder")] = {"producer_byte_rate": 1.0}
    creds = dict.fromkeys(desired.principals, "ok")
    kept = make_plan(desired, actual, credentials=creds)
    assert {k.resource for k in kept.kept} == {rogue.describe(), "user=intruder"}
    deleting = make_plan(desired, actual, deletion=DeletionPolicy(allow=True), credentials=creds)
    assert {(a.kind, a.resource) for a in deleting.actions} == {
        ("acl", rogue.describe()),
        ("quota", "user=intruder"),
    }


def test_plan_round_trips_through_json() -> None:
    desired = example_desired()
    plan = make_plan(
        desired, ActualState(), credentials=dict.fromkeys(desired.principals, "create")
    )
    again = Plan.from_json(plan.to_json())
    assert again.actions == plan.actions and again.cluster == "local"
    assert {a.kind for a in plan.actions} == {"topic", "credential", "acl", "quota"}


def test_application_quotas_override_tenant_defaults_key_by_key() -> None:
    desired = example_desired()
    assert desired.quotas[QuotaEntity(user="fraud-scorer")] == {
        "producer_byte_rate": 5 * 2**20,  # its own
        "consumer_byte_rate": 20 * 2**20,  # the risk tenant's default
    }
    assert desired.quotas[QuotaEntity(client_id="analytics.adhoc")] == {
        "consumer_byte_rate": 5 * 2**20
    }


def test_dead_letters_become_topics_of_the_consumer_with_least_privilege_acls() -> None:
    desired = example_desired()
    features = desired.topics["risk.fraud.features"]
    mine = "risk.fraud.fraud-scorer.risk.fraud.features."
    parked = {n: t for n, t in desired.topics.items() if n.startswith(mine)}
    assert sorted(parked) == [f"{mine}dlq", f"{mine}retry.1", f"{mine}retry.2"]
    for topic in parked.values():
        assert topic.partitions == features.partitions and topic.tenant == "risk"
        assert topic.configs == {"retention.ms": str(14 * DAY)}
    scorer = {
        (a.resource_name.removeprefix(mine), a.operation)
        for a in desired.acls
        if a.principal == "User:fraud-scorer" and a.resource_name.startswith(mine)
    }
    assert scorer == {
        ("dlq", "WRITE"), ("dlq", "DESCRIBE"),
        ("retry.1", "WRITE"), ("retry.1", "DESCRIBE"), ("retry.1", "READ"),
        ("retry.2", "WRITE"), ("retry.2", "DESCRIBE"), ("retry.2", "READ"),
    }  # fmt: skip
    # Nobody else may touch them.
    assert not any(
        a.resource_name.startswith(mine) and a.principal != "User:fraud-scorer"
        for a in desired.acls
    )


def test_consumers_of_a_public_event_each_retry_in_their_own_tenant() -> None:
    desired = example_desired()
    event = "payments.card.authorized.v1"
    retries = {
        name: (topic.tenant, topic.partitions)
        for name, topic in desired.topics.items()
        if name.endswith(f".{event}.retry.1")
    }
    assert retries == {
        f"risk.fraud.fraud-feature-builder.{event}.retry.1": ("risk", 6),
        f"analytics.reporting.volume-aggregator.{event}.retry.1": ("analytics", 6),
    }
    # The event's owner (payments) is granted nothing on its consumers' parking topics.
    readers = {
        a.principal
        for a in desired.acls
        if a.resource_type == "TOPIC" and a.resource_name in retries
    }
    assert readers == {"User:fraud-feature-builder", "User:volume-aggregator"}
