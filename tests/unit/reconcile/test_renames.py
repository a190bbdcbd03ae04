"""Old-style parking topics in a plan: what replaces them, and when they may go."""

from __future__ import annotations

from pathlib import Path

from streamplane.model import load_spec
from streamplane.reconcile import AclEntry, ActualState, Plan, desired_state
from streamplane.reconcile._plan import DeletionPolicy, TopicActivity, make_plan
from streamplane.reconcile._renames import DrainEvidence, Move, find_moves, plan_renames
from streamplane.reconcile._resources import TopicState

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
NOW = 1_800_000_000_000
DAY = 86_400_000
FEATURES = "risk.fraud.features"
SCORER = f"risk.fraud.fraud-scorer.{FEATURES}"
EVENT = "payments.card.authorized.v1"
OLD = (f"{FEATURES}.retry.1", f"{FEATURES}.retry.2", f"{FEATURES}.dlq", f"{EVENT}.dlq")


def old_estate() -> tuple[ActualState, list[Move], Plan]:
    """The example applied before parking topics moved: old-style topics and their ACLs,
    none of the new ones; and the generic plan the spec makes against it."""
    spec = load_spec(EXAMPLE)
    desired = desired_state(spec, "local")
    new = {n for n in desired.topics if n.endswith((".dlq", ".retry.1", ".retry.2"))}
    topics = {n: TopicState(n, t.partitions, 1, dict(t.configs)) for n, t in desired.topics.items()}
    for name in new:
        del topics[name]
    for name in OLD:
        topics[name] = TopicState(name, 6, 1, {"retention.ms": str(14 * DAY)})
    acls = {a for a in desired.acls if a.resource_name not in new}
    acls |= {
        AclEntry("User:fraud-scorer", "TOPIC", name, "LITERAL", op)
        for name in OLD[:3]
        for op in ("WRITE", "DESCRIBE")
    }
    actual = ActualState(
        topics=topics, acls=acls, scram_users=set(desired.principals), quotas=dict(desired.quotas)
    )
    policy = DeletionPolicy(allow=True, grace_period_ms=7 * DAY)
    tenant_of = {n: n.split(".", 1)[0] for n in OLD}
    plan = make_plan(desired, actual, deletion=policy, activity={}, tenant_of=tenant_of)
    return actual, find_moves(spec, desired, actual), plan


def evidence(
    *,
    retained: int = 0,
    unconsumed: int = 0,
    age_ms: int | None = None,
    groups: tuple[str, ...] = (),
) -> DrainEvidence:
    activity = TopicActivity(
        last_write_ms=None if age_ms is None else NOW - age_ms,
        empty=retained == 0,
        active_groups=groups,
        now_ms=NOW,
    )
    readers = ("streamplane-dlq-replay.x",) if retained else ()
    return DrainEvidence(activity, retained, unconsumed, readers)


def test_each_old_topic_maps_to_the_new_topics_of_every_application_parking_its_records() -> None:
    _, moves, _ = old_estate()
    by_old = {m.old.name: (m.new, m.applications, m.tenant) for m in moves}
    assert by_old == {
        f"{FEATURES}.dlq": ((f"{SCORER}.dlq",), ("fraud-scorer",), "risk"),
        f"{FEATURES}.retry.1": ((f"{SCORER}.retry.1",), ("fraud-scorer",), "risk"),
        f"{FEATURES}.retry.2": ((f"{SCORER}.retry.2",), ("fraud-scorer",), "risk"),
        # The old DLQ of a public event was shared; each consumer now has its own.
        f"{EVENT}.dlq": (
            (
                f"risk.fraud.fraud-feature-builder.{EVENT}.dlq",
                f"analytics.reporting.volume-aggregator.{EVENT}.dlq",
            ),
            ("fraud-feature-builder", "volume-aggregator"),
            "payments",
        ),
    }


def test_old_topics_holding_records_are_kept_with_the_command_that_moves_them() -> None:
    _, moves, plan = old_estate()
    found = {name: evidence() for name in OLD}
    found[f"{FEATURES}.retry.1"] = evidence(retained=5, unconsumed=2, age_ms=DAY)
    found[f"{FEATURES}.dlq"] = evidence(retained=3, unconsumed=3, age_ms=30 * DAY)
    policy = DeletionPolicy(allow=True, grace_period_ms=7 * DAY)
    plan_renames(plan, moves, found, policy, spec_root="specs/platform")
    renames = {r.old: r for r in plan.renames}
    retry = renames[f"{FEATURES}.retry.1"]
    assert retry.state == "kept" and retry.new == (f"{SCORER}.retry.1",)
    assert "2 record(s) no consumer group has read past" in retry.why
    # The commands run as printed: the spec is named.
    assert (
        f"`streamplane dlq replay {FEATURES}.retry.1 --spec specs/platform --app fraud-scorer`"
        in retry.why
    )
    dlq = renames[f"{FEATURES}.dlq"]
    assert dlq.state == "kept"
    assert f"`streamplane dlq replay {FEATURES}.dlq --spec specs/platform` (as before)" in dlq.why
    assert "or add --app (fraud-scorer) to send them to its retry topic" in dlq.why
    # Empty ones go under --allow-delete; the generic idle-topic rule decides nothing here.
    deleted = {a.resource for a in plan.actions if a.op == "delete" and a.kind == "topic"}
    assert deleted == {f"{FEATURES}.retry.2", f"{EVENT}.dlq"}
    assert renames[f"{EVENT}.dlq"].state == "delete"
    assert renames[f"{EVENT}.dlq"].why.startswith("drained (holds no record")
    # The ACLs of kept topics stay (the application's earlier version still uses them);
    # those of deleted topics go with them.
    gone = {a.resource for a in plan.actions if a.op == "delete" and a.kind == "acl"}
    assert any(f"TOPIC:{FEATURES}.retry.2" in g for g in gone)
    assert not any(f"TOPIC:{FEATURES}.retry.1" in g or f"TOPIC:{FEATURES}.dlq" in g for g in gone)
    assert any(
        k.kind == "acl" and f"{FEATURES}.retry.1" in k.resource and "drains" in k.why
        for k in plan.kept
    )
    # Kept old topics still count as drift.
    assert {k.resource for k in plan.kept if k.kind == "topic"} == {
        f"{FEATURES}.retry.1",
        f"{FEATURES}.dlq",
    }


def test_new_topics_say_which_old_one_they_replace() -> None:
    _, moves, plan = old_estate()
    plan_renames(plan, moves, {}, DeletionPolicy())
    creates = {a.resource: a.reason for a in plan.actions if a.op == "create" and a.kind == "topic"}
    assert creates[f"{SCORER}.retry.1"] == (
        f"replaces {FEATURES}.retry.1 (Kafka cannot rename topics)"
    )
    assert creates[f"analytics.reporting.volume-aggregator.{EVENT}.dlq"].startswith(
        f"replaces {EVENT}.dlq"
    )
    # Without evidence nothing is deleted, even idle.
    assert all(r.state == "kept" for r in plan.renames)
    assert not any(a.op == "delete" and a.kind == "topic" for a in plan.actions)


def test_a_drained_topic_waits_for_allow_delete_readers_and_the_grace_period() -> None:
    _, moves, _ = old_estate()
    name = f"{FEATURES}.retry.2"
    only = [m for m in moves if m.old.name == name]
    cases = {
        "no flag": (DeletionPolicy(allow=False), evidence()),
        "read": (DeletionPolicy(allow=True), evidence(groups=("risk.fraud-scorer",))),
        "recent": (
            DeletionPolicy(allow=True, grace_period_ms=7 * DAY),
            evidence(retained=1, age_ms=DAY),
        ),
        "protected": (DeletionPolicy(allow=True, protected=("risk.*",)), evidence()),
    }
    whys = {}
    for case, (policy, found) in cases.items():
        fresh = Plan(cluster="local")
        plan_renames(fresh, only, {name: found}, policy)
        (rename,) = fresh.renames
        assert rename.state == "kept", case
        whys[case] = rename.why
    assert whys["no flag"].startswith("deleted under --allow-delete, as it is drained")
    assert whys["read"].startswith("still read by risk.fraud-scorer")
    assert "grace period (7.0d)" in whys["recent"]
    assert "deletion.protected 'risk.*'" in whys["protected"]
    old_enough = Plan(cluster="local")
    found = evidence(retained=4, age_ms=8 * DAY)
    plan_renames(
        old_enough, only, {name: found}, DeletionPolicy(allow=True, grace_period_ms=7 * DAY)
    )
    assert [(a.op, a.resource) for a in old_enough.actions] == [("delete", name)]
    assert "every one of its 4 record(s) read by" in old_enough.renames[0].why


def test_renames_survive_a_saved_plan() -> None:
    _, moves, plan = old_estate()
    plan_renames(plan, moves, {}, DeletionPolicy())
    assert Plan.from_json(plan.to_json()).renames == plan.renames
    assert Plan.from_json({**plan.to_json(), "renames": []}).renames == []
