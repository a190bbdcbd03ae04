"""Who sees what in the console, decided from the spec and ACL tuples (no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamplane.console.access import AccessRules, Viewer, viewer_for
from streamplane.console.capabilities import graph_layout
from streamplane.console.estate import Snapshot
from streamplane.console.views import Estate, topics
from streamplane.kafka import PartitionState, TopicLayout
from streamplane.kafka._admin import AclTuple
from streamplane.model import Spec, load_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(EXAMPLE)


def acl(principal: str, name: str, *, pattern: str = "LITERAL", kind: str = "TOPIC",
        operation: str = "READ", permission: str = "ALLOW") -> AclTuple:  # fmt: skip
    return AclTuple(f"User:{principal}", kind, name, pattern, operation, permission, "*")


def test_a_principal_is_its_applications_tenant_and_admin_a_super_user(spec: Spec) -> None:
    assert viewer_for(spec, "kyc-service", {"admin"}) == Viewer(
        "kyc-service", tenant="risk", namespace="risk."
    )
    assert viewer_for(spec, "admin", {"admin"}).super_user
    stranger = viewer_for(spec, "someone", {"admin"})
    assert (stranger.tenant, stranger.super_user) == (None, False)


def test_topics_follow_the_tenant_public_topics_and_the_clusters_acls(spec: Spec) -> None:
    kyc = viewer_for(spec, "kyc-service", {"admin"})
    rules = AccessRules(spec, [
        acl("kyc-service", "payments.ledger.entries"),
        acl("kyc-service", "analytics.reporting.", pattern="PREFIXED", operation="DESCRIBE"),
        acl("*", "shared.", pattern="PREFIXED"),
        acl("kyc-service", "shared.secret", operation="ALL", permission="DENY"),
    ])  # fmt: skip
    assert rules.may_see_topic(kyc, "risk.anything")  # its tenant's namespace
    assert rules.may_see_topic(kyc, "payments.card.authorized.v1")  # public in the spec
    assert rules.may_see_topic(kyc, "payments.ledger.entries")  # a literal ACL
    assert rules.may_see_topic(kyc, "analytics.reporting.daily-volumes")  # a prefixed one
    assert rules.may_see_topic(kyc, "shared.anything")  # User:*
    assert not rules.may_see_topic(kyc, "shared.secret")  # DENY wins
    assert not rules.may_see_topic(kyc, "payments.card.holders")
    assert not rules.may_see_topic(kyc, "_schemas")
    admin = viewer_for(spec, "admin", {"admin"})
    assert rules.may_see_topic(admin, "_schemas") and rules.may_see_topic(
        admin, "payments.card.holders"
    )


def test_groups_follow_the_namespace_and_group_acls(spec: Spec) -> None:
    kyc = viewer_for(spec, "kyc-service", {"admin"})
    rules = AccessRules(spec, [acl("kyc-service", "shared-group", kind="GROUP")])
    assert rules.may_see_group(kyc, "risk.kyc-service")
    assert rules.may_see_group(kyc, "shared-group")
    assert not rules.may_see_group(kyc, "payments.card-authorizer")


def _estate(spec: Spec, names: list[str]) -> Estate:
    layouts = {n: TopicLayout(n, (PartitionState(n, 0, 1, (1,), (1,)),)) for n in names}
    snap = Snapshot(taken_at=1.0, layouts=layouts)
    return Estate(spec, "local", snap, AccessRules(spec, []))


def test_the_topics_page_counts_and_pages_only_what_the_viewer_may_see(spec: Spec) -> None:
    names = [f"payments.bulk-{i:05d}" for i in range(2500)] + [
        f"risk.bulk-{i:05d}" for i in range(250)
    ]
    estate = _estate(spec, names)
    kyc = viewer_for(spec, "kyc-service", {"admin"})
    first = topics(estate, kyc, page=1, size=100)
    # risk's 250, its declared topics (in the spec, not on this fake cluster) and the
    # spec's public ones: none of payments' 2,500 private ones, not even in the count.
    assert all(not t["name"].startswith("payments.bulk") for t in first["topics"])
    assert first["total"] == 250 + 3 + 3  # risk's bulk, its 3 topics, 3 public ones
    assert first["pages"] == -(-first["total"] // 100)
    last = topics(estate, kyc, page=99, size=100)
    assert last["page"] == first["pages"] and len(last["topics"]) <= 100
    filtered = topics(estate, kyc, query="BULK-0001", size=1000)
    assert [t["name"] for t in filtered["topics"]] == [f"risk.bulk-0001{i}" for i in range(10)]
    admin = viewer_for(spec, "admin", {"admin"})
    assert topics(estate, admin, tenant="payments", size=10)["total"] >= 2500


def test_the_lineage_graph_runs_left_to_right_and_leaves_out_parking_topics() -> None:
    rows = [
        {"application": "gw", "direction": "produces", "topic": "t.raw", "status": "declared"},
        {"application": "auth", "direction": "consumes", "topic": "t.raw", "status": "declared"},
        {"application": "auth", "direction": "produces", "topic": "t.ok", "status": "declared"},
        {"application": "sink", "direction": "consumes", "topic": "t.ok", "status": "declared"},
        {"application": "auth", "direction": "produces", "topic": "t.auth.t.raw.dlq",
         "status": "declared"},
        # A cycle: the layering cuts it instead of recursing forever.
        {"application": "sink", "direction": "produces", "topic": "t.raw", "status": "observed"},
    ]  # fmt: skip
    graph = graph_layout(rows)
    column = {n["id"]: n["column"] for n in graph["nodes"]}
    assert column["app:gw"] < column["topic:t.raw"] < column["app:auth"]
    assert column["app:auth"] < column["topic:t.ok"] < column["app:sink"]
    assert "topic:t.auth.t.raw.dlq" not in column
    assert len(graph["edges"]) == 5
