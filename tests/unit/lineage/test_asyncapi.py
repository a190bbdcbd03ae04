"""AsyncAPI documents from the example spec: one per domain, true to the spec."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamplane.lineage import asyncapi_documents
from streamplane.model import load_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"


def test_each_domain_gets_a_document_with_its_topics_and_applications() -> None:
    spec = load_spec(EXAMPLE)
    documents = {(d.tenant, d.domain): d.document for d in asyncapi_documents(spec)}

    domains = {(t.name, d.name) for t in spec.platform.tenants for d in t.domains}
    assert set(documents) == domains
    card = documents[("payments", "card")]
    assert card["asyncapi"] == "3.0.0"
    assert set(card["channels"]) == {
        "payments.card.authorizations", "payments.card.authorized.v1", "payments.card.holders",
        "payments.card.holders-masked.v1", "payments.card.holders-vault",
    }  # fmt: skip
    assert card["info"]["contact"]["email"] == "card-team@example.com"
    # Every operation is one of the spec's produces/consumes, and every one of those is there.
    declared = {
        (entry.app.name, action, topic)
        for entry in spec.applications.values()
        if (entry.tenant.name, entry.domain.name) == ("payments", "card")
        for action, topics in (("send", entry.app.produces), ("receive", entry.app.consumes))
        for topic in topics
    }
    documented = {
        (op["x-streamplane-application"], op["action"], op["channel"]["$ref"].split("/")[-1])
        for op in card["operations"].values()
    }
    assert documented == declared and declared


def test_channels_carry_visibility_classification_owner_and_the_kafka_binding() -> None:
    documents = {(d.tenant, d.domain): d.document for d in asyncapi_documents(load_spec(EXAMPLE))}
    card = documents[("payments", "card")]["channels"]
    public, private = card["payments.card.authorized.v1"], card["payments.card.authorizations"]

    assert public["x-streamplane-visibility"] == "public" and {"name": "public"} in public["tags"]
    assert private["x-streamplane-visibility"] == "private"
    assert private["x-streamplane-classification"] == "confidential"
    assert private["bindings"]["kafka"]["partitions"] == 6
    assert private["bindings"]["kafka"]["topicConfiguration"] == {"retention.ms": 3 * 86_400_000}
    assert private["x-streamplane-owner"] == "card-team@example.com"


def test_pii_fields_are_listed_and_channels_of_other_domains_are_marked_external() -> None:
    documents = {(d.tenant, d.domain): d.document for d in asyncapi_documents(load_spec(EXAMPLE))}
    customers = documents[("risk", "customers")]
    identities = customers["components"]["messages"]["risk.customers.identities"]

    assert identities["x-streamplane-pii-fields"] == [
        "io.streamplane.example.CustomerIdentity.email"
    ]
    assert identities["payload"]["schemaFormat"].startswith("application/vnd.apache.avro+json")
    assert identities["payload"]["schema"]["name"] == "CustomerIdentity"
    external = customers["channels"]["risk.fraud.decision.v1"]
    assert {"name": "external"} in external["tags"]
    assert external["x-streamplane-owned-by"] == "risk.fraud"


def test_the_version_changes_with_a_schema_and_only_then(tmp_path: Path) -> None:
    copy = tmp_path / "platform"
    shutil.copytree(EXAMPLE, copy)

    def versions() -> dict[tuple[str, str], str]:
        return {
            (d.tenant, d.domain): d.document["info"]["version"]
            for d in asyncapi_documents(load_spec(copy))
        }

    before = versions()
    assert versions() == before
    schema = copy / "schemas" / "card-authorized-v1.avsc"
    schema.write_text(schema.read_text().replace('"fields": [', '"doc": "changed", "fields": ['))
    after = versions()
    changed = {key for key in before if before[key] != after[key]}
    # The card domain owns the topic; the domains whose applications use it list it too.
    spec = load_spec(copy)
    topic = "payments.card.authorized.v1"
    users = {
        (e.tenant.name, e.domain.name)
        for e in spec.applications.values()
        if topic in e.app.consumes or topic in e.app.produces
    }
    assert changed == {("payments", "card")} | users
    assert len(changed) < len(before)
