"""A removed tenant's topics and subjects: found by the recorded namespace, planned, listed."""

from __future__ import annotations

from pathlib import Path

from streamplane.model import load_spec
from streamplane.reconcile import Action, Kept, Plan
from streamplane.reconcile._tenants import (
    FormerTenant,
    former_tenant_of,
    former_tenants,
    owned_subjects,
    plan_former_tenants,
    subject_topic,
)

SPEC = """\
clusters:
  - {name: local, local: true}
  - {name: other, bootstrap_servers: "k:9092", auth: {username: a, password: {env: P}}}
tenants:
  - name: pay
    owners: [pay@example.com]
    clusters: [local]
    domains:
      - name: card
        topics: [{name: auth, value_schema: v.avsc}, {name: raw}]
  - name: moved
    prefix: "moved."
    owners: [m@example.com]
    clusters: [other]
"""

FORMER = [FormerTenant("shop", "shop."), FormerTenant("shop-eu", "shop.eu.")]


def test_a_recorded_namespace_no_tenant_has_here_is_a_former_tenant(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(SPEC)
    (tmp_path / "v.avsc").write_text('{"type": "string"}')
    spec = load_spec(tmp_path)
    records = {"pay.": "pay", "shop.": "shop", "moved.": "moved"}
    # "moved" is still in the spec, but no longer on this cluster: its topics here are orphans.
    assert former_tenants(spec, "local", records) == [
        FormerTenant("moved", "moved."),
        FormerTenant("shop", "shop."),
    ]
    assert owned_subjects(spec) == {"pay.card.auth-value"}


def test_the_longest_recorded_namespace_owns_a_topic() -> None:
    assert former_tenant_of("shop.eu.orders", FORMER) == FORMER[1]
    assert former_tenant_of("shop.us.orders", FORMER) == FORMER[0]
    assert former_tenant_of("pay.card.auth", FORMER) is None
    assert subject_topic("shop.a-value") == "shop.a" and subject_topic("shop.a-key") == "shop.a"
    assert subject_topic("com.example.Order") is None


def _plan() -> Plan:
    return Plan(
        cluster="local",
        actions=[Action("delete", "topic", "shop.orders", "shop", reason="never written")],
        kept=[
            Kept("topic", "shop.busy", "shop", "still consumed: last write 1.0m ago"),
            Kept("topic", "shop.idle", "shop", "not in the spec; pass --allow-delete to delete"),
        ],
    )


SUBJECTS = [
    "shop.orders-value",  # its topic is deleted by this plan
    "shop.busy-value",  # its topic stays
    "shop.gone-key",  # its topic no longer exists
    "pay.card.auth-value",  # the spec's
    "pay.card.raw-value",  # registered by hand: no spec entry owns it
]


def test_with_allow_delete_subjects_go_with_their_topics() -> None:
    plan = _plan()
    plan_former_tenants(
        plan, FORMER, subjects=SUBJECTS, owned_subjects={"pay.card.auth-value"},
        topics_on_cluster={"shop.orders", "shop.busy", "shop.idle", "pay.card.raw"},
        allow_delete=True, tenant_of=lambda s: "pay" if s.startswith("pay.") else None,
    )  # fmt: skip
    deleted = {a.resource: a.reason for a in plan.actions if a.kind == "subject"}
    assert deleted == {
        "shop.orders-value": "tenant shop was removed; topic shop.orders is deleted by this plan",
        "shop.gone-key": "tenant shop was removed; topic shop.gone is gone",
    }
    kept = {(k.kind, k.resource): (k.tenant, k.why) for k in plan.kept}
    assert kept[("subject", "shop.busy-value")] == (
        "shop",
        "its topic shop.busy is kept: deleted with it",
    )
    assert kept[("subject", "pay.card.raw-value")] == (
        "pay",
        "no topic of the spec has this subject",
    )
    assert ("subject", "pay.card.auth-value") not in kept
    # The evidence that keeps a topic is left as it was.
    assert kept[("topic", "shop.busy")][1] == "still consumed: last write 1.0m ago"


def test_without_the_flag_everything_of_the_former_tenant_is_listed_with_why() -> None:
    plan = _plan()
    plan.actions.clear()
    plan_former_tenants(
        plan, FORMER, subjects=SUBJECTS, owned_subjects={"pay.card.auth-value"},
        topics_on_cluster={"shop.orders", "shop.busy", "shop.idle"}, allow_delete=False,
    )  # fmt: skip
    assert plan.actions == []
    whys = {k.resource: k.why for k in plan.kept}
    assert whys["shop.idle"] == (
        "tenant shop was removed from the spec; pass --allow-delete to delete"
    )
    assert whys["shop.orders-value"] == (
        "tenant shop was removed from the spec; --allow-delete deletes it with its topic"
    )


def test_without_a_registry_reading_only_topics_are_planned() -> None:
    plan = _plan()
    plan_former_tenants(
        plan, FORMER, subjects=None, owned_subjects=set(), topics_on_cluster=set(),
        allow_delete=True,
    )  # fmt: skip
    assert [a.kind for a in plan.actions] == ["topic"]
    assert all(k.kind == "topic" for k in plan.kept)
