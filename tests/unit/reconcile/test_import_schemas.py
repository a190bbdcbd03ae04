"""Import reads the registry's subjects back as schema files and the spec's notes back as
the facts Kafka cannot hold; the example, applied, imports to the example's meaning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from streamplane.model import Contract, load_spec
from streamplane.model._topic_configs import (
    format_bytes,
    format_duration_ms,
    parse_bytes,
    parse_duration_ms,
)
from streamplane.reconcile import (
    ActualState,
    RegisteredVersion,
    desired_keks,
    desired_schemas,
    desired_state,
    import_estate,
    read_subjects,
    schema_changes,
    write_spec,
)
from streamplane.reconcile._import_enrich import ImportSources
from streamplane.reconcile._import_schemas import RegistryContents, import_schemas
from streamplane.reconcile._keks import RegisteredKek
from streamplane.reconcile._plan import make_plan
from streamplane.reconcile._resources import TopicState
from streamplane.reconcile._spec_notes import spec_notes
from tests.unit.reconcile.fake_registry import EXAMPLE, FakeRegistry
from tests.unit.reconcile.spec_meaning import meaning

IDENTITIES = "risk.customers.identities"


def applied() -> tuple[ActualState, FakeRegistry, RegistryContents]:
    """The example applied: Kafka's side, and its registry (fake and as import reads it)."""
    spec = load_spec(EXAMPLE)
    desired = desired_state(spec, "local")
    actual = ActualState(
        topics={
            n: TopicState(n, t.partitions, 1, dict(t.configs)) for n, t in desired.topics.items()
        },
        acls=set(desired.acls),
        scram_users={"admin", *desired.principals},
        quotas=dict(desired.quotas),
    )
    fake = FakeRegistry()
    for schema in desired_schemas(spec, "local"):
        fake.register(schema.subject, schema.schema_type, schema.text, contract=schema.contract)
        if schema.compatibility is not None:
            fake.levels[schema.subject] = schema.compatibility
    fake.writes.clear()
    contents = RegistryContents(fake.url)
    for subject in fake.versions:
        latest = fake.version(subject, "latest")
        assert latest is not None
        contents.latest[subject] = latest
        if subject in fake.levels:
            contents.levels[subject] = fake.levels[subject]
    for kek in desired_keks(spec, "local"):
        contents.keks[kek.name] = RegisteredKek(kek.name, kek.kms_type, kek.kms_key_id, doc=kek.doc)
    return actual, fake, contents


def notes_of_example() -> dict[str, Any]:
    """The notes as apply records them (JSON on the wire)."""
    return dict(json.loads(json.dumps(spec_notes(load_spec(EXAMPLE), "local"))))


def test_applied_example_imports_to_the_example_and_plans_no_change(tmp_path: Path) -> None:
    actual, fake, contents = applied()
    sources = ImportSources(
        registry=contents, notes=notes_of_example(), brokers=1, default_replication_factor=1
    )
    imported = import_estate(actual, sources=sources)
    assert imported.left_out == ()
    write_spec(imported.document, tmp_path, files=imported.files)
    example, spec = load_spec(EXAMPLE), load_spec(tmp_path)
    want, got = meaning(example), meaning(spec)
    for part in want:
        if part != "applications":
            assert got[part] == want[part], part
    for name, app in want["applications"].items():
        assert got["applications"][name] == app, name
    plan = make_plan(desired_state(spec, "local"), actual)
    assert plan.actions == [] and plan.refusals == [] and plan.kept == []
    actions, refusals = schema_changes(read_subjects(fake, desired_schemas(spec, "local")))
    assert actions == [] and refusals == [], "every subject holds the imported schema as is"
    assert fake.writes == []


def test_the_default_encrypt_rule_makes_a_pii_topic_and_kek_params_are_named_once() -> None:
    actual, _, contents = applied()
    doc = import_estate(actual, sources=ImportSources(registry=contents)).document
    assert doc["encryption"] == {
        "kek": "estate-pii",
        "kms_type": "local-kms",
        "kms_key_id": "estate-pii",
    }
    assert "pii" in doc["clusters"][0]["data_classes"]
    risk = next(t for t in doc["tenants"] if t["name"] == "risk")
    identities = next(
        t for d in risk["domains"] for t in d.get("topics", []) if t["name"] == "identities"
    )
    # The rule the spec adds by itself is not written out: classification pii brings it.
    assert identities["classification"] == "pii"
    assert identities["value_schema"] == {
        "file": f"schemas/{IDENTITIES}-value.avsc",
        "properties": {"owner": "kyc-team@example.com"},
    }
    authorized = next(
        t
        for t in next(t for t in doc["tenants"] if t["name"] == "payments")["domains"][0]["topics"]
        if t["name"] == "authorized.v1"
    )
    assert authorized["value_schema"]["compatibility"] == "FULL_TRANSITIVE"
    assert "classification" not in authorized, "nothing on the cluster says what it is"


def test_an_encrypt_rule_keeps_params_of_a_kek_no_encryption_block_names() -> None:
    rule = {
        "name": "secret-fields",
        "kind": "TRANSFORM",
        "mode": "WRITEREAD",
        "type": "ENCRYPT",
        "tags": ["SECRET"],
        "params": {"encrypt.kek.name": "own-kek", "encrypt.kms.type": "local-kms"},
    }
    contents = RegistryContents(
        "http://registry.test",
        latest={"a.b.c-value": version("a.b.c-value", rule_set={"domainRules": [rule]})},
    )
    schemas = import_schemas(contents, {"a.b.c": "a"})
    assert schemas.refs[("a.b.c", "value")]["rules"] == {"domain": [rule]}
    assert schemas.encryption is None and schemas.pii == set()


def test_schema_files_take_their_type_and_pii_tags_make_a_pii_topic() -> None:
    proto = 'syntax = "proto3";\nmessage Order { string id = 1; }\n'
    json_schema = '{"type":"object","properties":{"email":{"type":"string"}}}'
    tagged = json.dumps(
        {
            "type": "record",
            "name": "Person",
            "fields": [{"name": "email", "type": "string", "confluent:tags": ["PII"]}],
        }
    )
    contents = RegistryContents(
        "http://registry.test",
        latest={
            "t.d.orders-value": version("t.d.orders-value", "PROTOBUF", proto),
            "t.d.forms-value": version("t.d.forms-value", "JSON", json_schema),
            "t.d.people-key": version("t.d.people-key", "AVRO", tagged),
        },
    )
    topics = {"t.d.orders": "t", "t.d.forms": "t", "t.d.people": "t"}
    schemas = import_schemas(contents, topics)
    assert schemas.files["schemas/t.d.orders-value.proto"] == proto
    assert json.loads(schemas.files["schemas/t.d.forms-value.json"]) == json.loads(json_schema)
    assert schemas.refs[("t.d.people", "key")] == "schemas/t.d.people-key.avsc"
    assert schemas.pii_tagged == {"t.d.people"}
    actual = ActualState(topics={n: TopicState(n, 3, 1, {}) for n in topics})
    doc = import_estate(actual, sources=ImportSources(registry=contents)).document
    people = next(t for t in doc["tenants"][0]["domains"][0]["topics"] if t["name"] == "people")
    assert people["classification"] == "pii"
    assert "pii" in doc["clusters"][0]["data_classes"]


def test_what_the_spec_cannot_hold_is_left_out_and_said() -> None:
    contents = RegistryContents(
        "http://registry.test",
        latest={
            "t.d.refs-value": version(
                "t.d.refs-value", references=({"name": "x", "subject": "common", "version": 1},)
            ),
            "t.d.enc-value": version(
                "t.d.enc-value",
                rule_set={"encodingRules": [{"name": "e", "kind": "TRANSFORM", "mode": "WRITE"}]},
            ),
            "t.d.odd-value": version(
                "t.d.odd-value",
                rule_set={
                    "domainRules": [
                        {
                            "name": "r",
                            "kind": "CONDITION",
                            "mode": "WRITE",
                            "type": "CEL",
                            "expr": "true",
                            "extra": 1,
                        }
                    ]
                },
            ),
            "orders-by-record": version("orders-by-record"),
        },
    )
    schemas = import_schemas(contents, {"t.d.refs": "t", "t.d.enc": "t", "t.d.odd": "t"})
    assert schemas.refs == {} and schemas.files == {}
    said = "\n".join(schemas.left_out)
    assert "t.d.refs-value version 1: it references common" in said
    assert "t.d.enc-value version 1: encoding rules" in said
    assert "rule r has extra" in said
    assert "subject orders-by-record (http://registry.test): no topic of the cluster" in said


def test_durations_and_sizes_are_written_in_units_that_parse_back() -> None:
    for ms, shown in ((14 * 86_400_000, "14d"), (5000, "5s"), (60_000, "1m"), (250, "250ms")):
        assert format_duration_ms(ms) == shown and parse_duration_ms(shown) == ms
    assert format_duration_ms(-1) == -1
    for size, shown in ((5 * 1024**2, "5MiB"), (1024**3, "1GiB"), (1000, 1000)):
        assert format_bytes(size) == shown and parse_bytes(shown) == size


def test_retry_delays_come_back_from_the_notes_and_are_written_in_units(tmp_path: Path) -> None:
    actual, _, _ = applied()
    imported = import_estate(actual, sources=ImportSources(notes=notes_of_example()))
    write_spec(imported.document, tmp_path, files=imported.files)
    risk = yaml.safe_load((tmp_path / "tenants" / "risk.yaml").read_text())["tenants"][0]
    scorer = next(
        a for d in risk["domains"] for a in d.get("applications", []) if a["name"] == "fraud-scorer"
    )
    assert scorer["dead_letters"] == {"retries": ["5s", "1m"], "retention": "14d"}
    assert risk["quotas"] == {"consumer_byte_rate": "20MiB", "producer_byte_rate": "10MiB"}
    assert scorer["quotas"] == {"producer_byte_rate": "5MiB"}, "the tenant's default is folded"


def version(
    subject: str,
    schema_type: str = "AVRO",
    text: str = '{"type": "string"}',
    *,
    references: tuple[dict[str, Any], ...] = (),
    rule_set: dict[str, Any] | None = None,
) -> RegisteredVersion:
    contract = Contract(None, rule_set)
    return RegisteredVersion(
        subject, 1, 1, schema_type, text, references, contract.metadata, contract.rule_set
    )
