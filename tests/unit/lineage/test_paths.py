"""Following a field through the declared estate; orphan topics."""

from __future__ import annotations

from streamplane.lineage.flows import Flow, LineageRow
from streamplane.lineage.paths import orphans, where_flows
from streamplane.model import load_spec
from tests.unit.lineage.test_asyncapi import EXAMPLE


def test_a_field_is_followed_through_readers_to_the_topics_they_write() -> None:
    flow = where_flows(load_spec(EXAMPLE), "io.streamplane.example.CardAuthorization.amount_minor")

    # Held by name only in its own topic at first; then carried on by the authorizer.
    assert "payments.card.authorizations" in flow.held_in
    assert flow.read_by["payments.card.authorizations"] == ["card-authorizer"]
    first = [h for h in flow.hops if h.source == "payments.card.authorizations"]
    assert [(h.application, h.target) for h in first] == [
        ("card-authorizer", "payments.card.authorized.v1")
    ]
    assert first[0].carried_as == ["io.streamplane.example.CardAuthorized.amount_minor"]
    # ... and on from there, to every domain that reads the public event.
    assert "analytics.reporting.daily-volumes" in flow.held_in


def test_a_pii_field_nobody_reads_stays_in_its_topic_and_unknown_fields_are_nowhere() -> None:
    spec = load_spec(EXAMPLE)
    email = where_flows(spec, "email")
    assert email.read_by["risk.customers.identities"] == []
    assert [h for h in email.hops if h.source == "risk.customers.identities"] == []
    # The card holder's email goes on only through its masking job, into the twin.
    [hop] = [h for h in email.hops if h.target == "payments.card.holders-masked.v1"]
    assert (hop.source, hop.application, hop.masked) == (
        "payments.card.holders", "holders-masker", "tokenize",
    )  # fmt: skip
    [vault] = [h for h in email.hops if h.target == "payments.card.holders-vault"]
    assert vault.masked == "the value, in the vault"
    hops = where_flows(spec, "country").hops
    [country] = [h for h in hops if h.target == "payments.card.holders-masked.v1"]
    assert country.masked == "unmasked" and country.carried_as
    assert email.read_by["payments.card.holders-masked.v1"] == ["adhoc-explorer"]
    assert where_flows(spec, "no_such_field").held_in == {}


def test_orphans_are_topics_nothing_declares_and_no_group_reads_largest_first() -> None:
    spec = load_spec(EXAMPLE)
    declared = "payments.card.authorizations"
    rows = [
        LineageRow(Flow("card-gateway", "produces", declared), True, ()),
        LineageRow(Flow("group g", "consumes", "read.by.a.group"), False, ("g committed",)),
        LineageRow(Flow("(no header)", "produces", "written.once"), False, ("3 records",)),
    ]
    topics = [declared, "read.by.a.group", "written.once", "empty.scratch"]

    found = orphans(spec, topics, rows, {"written.once": 5000, "empty.scratch": 0})

    assert [(o.topic, o.in_spec, o.size_on_disk_bytes) for o in found] == [
        ("written.once", False, 5000), ("empty.scratch", False, 0)
    ]  # fmt: skip
