"""The catalog and the personal-data map from the spec alone."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamplane.lineage.catalog import WHOLE_RECORD, catalog, personal_data
from streamplane.lineage.flows import Flow, LineageRow
from streamplane.model import load_spec
from tests.unit.lineage.test_asyncapi import EXAMPLE


def test_every_topic_is_catalogued_with_its_owner_schema_tags_and_flows() -> None:
    spec = load_spec(EXAMPLE)
    entries = {e.topic: e for e in catalog(spec)}

    assert set(entries) == set(spec.topics)
    identities = entries["risk.customers.identities"]
    assert (identities.owner, identities.classification) == ("kyc-team@example.com", "pii")
    assert identities.tagged_fields == {"io.streamplane.example.CustomerIdentity.email": ["PII"]}
    assert identities.value_schema == "schemas/customer-identity.avsc"
    assert identities.cleanup_policy == "compact" and identities.producers == ["kyc-service"]
    authorizations = entries["payments.card.authorizations"]
    assert authorizations.retention_ms == 3 * 86_400_000
    assert authorizations.consumers == ["card-authorizer"]
    assert authorizations.size_on_disk_bytes is None  # the cluster was not read


def test_observed_flows_and_sizes_join_the_catalog() -> None:
    spec = load_spec(EXAMPLE)
    topic = "payments.card.authorizations"
    rows = [
        LineageRow(Flow("card-authorizer", "consumes", topic), True, ("group committed",)),
        LineageRow(Flow("group x", "consumes", topic), False, ("group x committed",)),
        LineageRow(Flow("card-gateway", "produces", topic), True, ()),
    ]
    entry = {e.topic: e for e in catalog(spec, sizes={topic: 4096}, flows=rows)}[topic]

    assert entry.size_on_disk_bytes == 4096
    assert entry.observed_consumers == ["card-authorizer", "group x"]
    assert entry.observed_producers == []  # declared, but nothing showed it


def test_the_data_map_lists_each_pii_field_and_untagged_pii_topics_whole(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLE)
    fields = personal_data(catalog(spec))
    holder = "io.streamplane.example.CardHolder."
    assert [(f.topic, f.field) for f in fields] == [
        *((t, holder + n) for t in ("payments.card.holders", "payments.card.holders-masked.v1")
          for n in ("card_number", "email", "name")),
        # The vault of tokenized values, and the twin's masked (pseudonymised) fields, are
        # personal data still: on the map, with who may read them.
        ("payments.card.holders-vault", "io.streamplane.masking.VaultEntry.value"),
        ("risk.customers.identities", "io.streamplane.example.CustomerIdentity.email"),
    ]  # fmt: skip
    # The same topic with its tag removed is still on the map, as a whole.
    copy = tmp_path / "platform"
    shutil.copytree(EXAMPLE, copy)
    schema = copy / "schemas" / "customer-identity.avsc"
    schema.write_text(schema.read_text().replace(', "confluent:tags": ["PII"]', ""))
    untagged = personal_data(catalog(load_spec(copy)))
    assert [(f.topic, f.field) for f in untagged if f.topic.startswith("risk.")] == [
        ("risk.customers.identities", WHOLE_RECORD)
    ]
