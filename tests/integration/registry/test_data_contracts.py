"""Data contracts over HTTP with confluent-kafka's own SchemaRegistryClient, on a real cluster.

Metadata and rule sets are stored with each version, returned wherever Confluent returns
them, merged with the config's defaults and overrides, and part of what a schema id names;
compatibility groups, ``validateFields``, ``normalize`` and the latest-with-metadata lookup
behave as Confluent's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import (
    ConfigCompatibilityLevel,
    Metadata,
    MetadataProperties,
    MetadataTags,
    Rule,
    RuleKind,
    RuleMode,
    RuleSet,
    Schema,
    SchemaRegistryClient,
    ServerConfig,
)
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamplane.local import LocalCluster
from tests.integration.conftest import next_http_port
from tests.integration.registry.serving import Served, serve

V1 = '{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"}]}'
V2 = '{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"},{"name":"note","type":"string","default":""}]}'
# amount renamed: data written with V1 cannot be read with it
BREAKING = '{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"total","type":"long"}]}'
GROUP = "application.major.version"


@pytest.fixture(scope="module")
def served(cluster1: LocalCluster) -> Iterator[Served]:
    running = serve(cluster1, f"_schemas-{uuid.uuid4().hex[:8]}", next_http_port())
    yield running
    running.stop()


@pytest.fixture
def client(served: Served) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": served.url})


@pytest.fixture
def http(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield client


@pytest.fixture
def subject() -> str:
    return f"orders-{uuid.uuid4().hex[:8]}-value"


def rule(name: str, expr: str, *, kind: str = "CONDITION", mode: str = "WRITE",
         rule_type: str = "CEL", tags: list[str] | None = None) -> Rule:  # fmt: skip
    return Rule(name, None, RuleKind(kind), RuleMode(mode), rule_type, tags, None, expr,
                None, None, False)  # fmt: skip


def metadata(properties: dict[str, str], tags: dict[str, list[str]] | None = None) -> Metadata:
    return Metadata(MetadataTags(tags or {}), MetadataProperties(properties), [])


def major(version: int, schema: str = V1, rules: list[Rule] | None = None) -> Schema:
    rule_set = RuleSet([], rules) if rules is not None else None
    return Schema(schema, "AVRO", [], metadata({GROUP: str(version)}), rule_set)


def test_metadata_and_rule_sets_are_stored_and_returned_wherever_confluent_returns_them(
    served: Served, cluster1: LocalCluster, client: SchemaRegistryClient, subject: str
) -> None:
    contract = Metadata(
        MetadataTags({"shop.Order.id": ["PII", "KEY"]}),
        MetadataProperties({"owner": "payments", "slo": "p99<50ms"}),
        ["id"],
    )
    rules = RuleSet([], [rule("positive", "message.amount > 0")])
    registered = client.register_schema_full_response(
        subject, Schema(V1, "AVRO", [], contract, rules)
    )
    assert registered.version == 1
    # Confluent's shapes: sorted tags and properties, a rule's defaults written out.
    stored = {
        "tags": {"shop.Order.id": ["KEY", "PII"]},
        "properties": {"owner": "payments", "slo": "p99<50ms"},
        "sensitive": ["id"],
    }
    assert registered.schema.metadata is not None and registered.schema.rule_set is not None
    assert registered.schema.rule_set.domain_rules == rules.domain_rules
    assert registered.schema.metadata.to_dict() == stored
    fresh = SchemaRegistryClient({"url": served.url})  # no cache between the calls below
    for found in (
        fresh.get_schema(registered.schema_id),
        fresh.get_version(subject, 1).schema,
        fresh.get_latest_version(subject).schema,
    ):
        assert found.metadata is not None and found.metadata.to_dict() == stored
        assert found.rule_set is not None and found.rule_set.domain_rules == rules.domain_rules
    assert fresh.lookup_schema(subject, Schema(V1, "AVRO", [], contract, rules)).version == 1
    with httpx.Client(base_url=served.url) as http:
        body = http.get(f"/subjects/{subject}/versions/1").json()
        looked_up = http.post(f"/subjects/{subject}", json={
            "schema": V1, "metadata": stored, "ruleSet": body["ruleSet"]
        }).json()  # fmt: skip
    assert body["metadata"] == looked_up["metadata"] == stored
    assert body["ruleSet"] == {"domainRules": [{
        "name": "positive", "kind": "CONDITION", "mode": "WRITE", "type": "CEL",
        "expr": "message.amount > 0", "disabled": False,
    }]}  # fmt: skip
    # A registry replaying the same topic knows the contract, through a soft delete too.
    client.register_schema(subject, Schema(V2, "AVRO"))  # inherits v1's contract
    assert client.delete_version(subject, 1) == 1
    again = serve(cluster1, served.topic, next_http_port())
    try:
        with httpx.Client(base_url=again.url) as http:
            replayed = http.get(f"/subjects/{subject}/versions/1", params={"deleted": "true"})
            assert replayed.json()["metadata"] == body["metadata"]
            latest = http.get(f"/subjects/{subject}/versions/latest").json()
            assert (latest["metadata"], latest["ruleSet"]) == (body["metadata"], body["ruleSet"])
    finally:
        again.stop()


def test_another_contract_is_another_id_and_version_the_same_one_is_idempotent(
    client: SchemaRegistryClient, http: httpx.Client, subject: str
) -> None:
    first = client.register_schema_full_response(
        subject, Schema(V1, "AVRO", [], metadata({"o": "a"}))
    )
    again = client.register_schema_full_response(
        subject, Schema(V1, "AVRO", [], metadata({"o": "a"}))
    )
    assert (again.schema_id, again.version) == (first.schema_id, 1)
    other = client.register_schema_full_response(
        subject, Schema(V1, "AVRO", [], metadata({"o": "b"}))
    )
    assert other.version == 2 and other.schema_id != first.schema_id
    ruled = client.register_schema_full_response(
        subject, Schema(V1, "AVRO", [], metadata({"o": "b"}), RuleSet([], [rule("r", "true")]))
    )
    assert ruled.version == 3 and ruled.schema_id not in (first.schema_id, other.schema_id)
    # Without a contract of its own, a registration takes the latest version's: v3 again.
    bare = http.post(f"/subjects/{subject}/versions", json={"schema": V1}).json()
    assert (bare["id"], bare["version"]) == (ruled.schema_id, 3)
    assert bare["metadata"] == {"properties": {"o": "b"}} and bare["ruleSet"]["domainRules"]
    # The same schema and contract under another subject is the same id.
    elsewhere = client.register_schema(f"x-{subject}", Schema(V1, "AVRO", [], metadata({"o": "a"})))
    assert elsewhere == first.schema_id

    # Lookups match schema and contract; without one, the latest version's completes it.
    def looked_up(body: dict[str, Any]) -> Any:
        return http.post(f"/subjects/{subject}", json={"schema": V1, **body}).json()

    assert looked_up({"metadata": {"properties": {"o": "a"}}})["version"] == 1
    assert looked_up({"metadata": {"properties": {"o": "b"}}})["version"] == 2
    assert looked_up({})["version"] == 3
    missing = looked_up({"metadata": {"properties": {"o": "c"}}})
    assert missing == {"error_code": 40403, "message": "Schema not found"}


def test_config_defaults_and_overrides_complete_a_registration_as_confluent_merges_them(
    client: SchemaRegistryClient, http: httpx.Client, subject: str
) -> None:
    client.set_config(subject, ServerConfig(
        default_metadata=metadata({"owner": "team-a", "tier": "gold"}, {"shop.Order.id": ["PII"]}),
        override_metadata=metadata({"tier": "platinum"}),
        default_rule_set=RuleSet([], [rule("checkId", "size(message.id) > 0"),
                                      rule("keep", "true")]),
        override_rule_set=RuleSet([], [rule("checkAmount", "message.amount > 0")]),
    ))  # fmt: skip
    given = Schema(V1, "AVRO", [], metadata({"owner": "team-b", "team": "7"}),
                   RuleSet([], [rule("checkId", "message.id != ''")]))  # fmt: skip
    stored = client.register_schema_full_response(subject, given).schema
    assert stored.metadata is not None and stored.metadata.properties is not None
    # default < given < override, key by key
    assert stored.metadata.properties.properties == {
        "owner": "team-b", "team": "7", "tier": "platinum"
    }  # fmt: skip
    assert stored.metadata.tags is not None
    assert stored.metadata.tags.tags == {"shop.Order.id": ["PII"]}
    assert stored.rule_set is not None and stored.rule_set.domain_rules is not None
    # rules by name: the default "checkId" replaced by the given one, the override appended
    assert [(r.name, r.expr) for r in stored.rule_set.domain_rules] == [
        ("keep", "true"), ("checkId", "message.id != ''"), ("checkAmount", "message.amount > 0")
    ]  # fmt: skip
    # GET returns what is set; a partial PUT changes only what it names; null removes.
    assert http.put(f"/config/{subject}", json={"compatibilityGroup": GROUP}).status_code == 200
    config = http.get(f"/config/{subject}").json()
    assert config["compatibilityGroup"] == GROUP and config["compatibilityLevel"] == "BACKWARD"
    assert config["overrideMetadata"] == {"properties": {"tier": "platinum"}}
    answer = http.put(
        f"/config/{subject}", json={"overrideMetadata": None, "compatibility": "FULL"}
    )
    assert answer.json()["compatibility"] == "FULL" and "overrideMetadata" not in answer.json()
    server_config = client.get_config(subject)
    assert server_config.compatibility_group == GROUP and server_config.override_metadata is None
    assert server_config.default_rule_set is not None
    # Invalid rule sets are refused with Confluent's 42210.
    twice = {"domainRules": [{"name": "a", "type": "CEL", "mode": "WRITE", "expr": "true"}] * 2}
    refused = http.put(f"/config/{subject}", json={"defaultRuleSet": twice})
    assert refused.status_code == 422 and refused.json()["error_code"] == 42210
    upgrade_as_domain = {"domainRules": [{"name": "a", "type": "CEL", "mode": "UPGRADE"}]}
    refused = http.post(f"/subjects/{subject}/versions",
                        json={"schema": V2, "ruleSet": upgrade_as_domain})  # fmt: skip
    assert refused.json()["error_code"] == 42210
    bad_shape = http.post(f"/subjects/{subject}/versions",
                          json={"schema": V2, "metadata": {"properties": ["x"]}})  # fmt: skip
    assert bad_shape.status_code == 422 and bad_shape.json()["error_code"] == 422
    assert client.delete_config(subject).compatibility_level == "FULL"
    assert http.get(f"/config/{subject}").json()["error_code"] == 40408


def test_global_config_applies_to_subjects_without_their_own(
    served: Served, client: SchemaRegistryClient, http: httpx.Client, subject: str
) -> None:
    try:
        client.set_config(config=ServerConfig(default_metadata=metadata({"region": "eu"})))
        assert http.get("/config").json() == {
            "compatibilityLevel": "BACKWARD", "defaultMetadata": {"properties": {"region": "eu"}}
        }  # fmt: skip
        plain = client.register_schema_full_response(subject, Schema(V1, "AVRO"))
        assert plain.schema.metadata is not None and plain.schema.metadata.properties is not None
        assert plain.schema.metadata.properties.properties == {"region": "eu"}
        # A subject config of its own replaces the global defaults (Confluent never mixes them).
        other = f"own-{subject}"
        client.set_config(other, ServerConfig(compatibility_level=ConfigCompatibilityLevel.NONE))
        assert (
            client.register_schema_full_response(other, Schema(V1, "AVRO")).schema.metadata is None
        )
        in_scope = http.get(f"/config/{other}", params={"defaultToGlobal": "true"}).json()
        assert in_scope == {"compatibilityLevel": "NONE"}
    finally:
        deleted = http.delete("/config")
    assert deleted.json()["defaultMetadata"] == {"properties": {"region": "eu"}}
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}


def test_a_compatibility_group_lets_a_new_major_version_break_compatibility(
    client: SchemaRegistryClient, http: httpx.Client, subject: str
) -> None:
    client.set_config(subject, ServerConfig(compatibility_group=GROUP))
    assert client.register_schema_full_response(subject, major(1)).version == 1
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, major(1, BREAKING))
    assert refused.value.http_status_code == 409
    assert client.test_compatibility(subject, major(1, BREAKING)) is False
    assert client.test_compatibility(subject, major(2, BREAKING)) is True
    assert client.register_schema_full_response(subject, major(2, BREAKING)).version == 2
    # Within major 2 compatibility holds again: back to V1's amount breaks it.
    with pytest.raises(SchemaRegistryError):
        client.register_schema(subject, major(2, V1))
    assert client.register_schema_full_response(subject, major(1, V2)).version == 3
    # Without the group, the same break is refused.
    ungrouped = f"plain-{subject}"
    client.register_schema(ungrouped, major(1))
    with pytest.raises(SchemaRegistryError):
        client.register_schema(ungrouped, major(2, BREAKING))


def test_latest_with_metadata_picks_the_latest_version_holding_every_property(
    client: SchemaRegistryClient, http: httpx.Client, subject: str
) -> None:
    client.set_config(subject, ServerConfig(compatibility_group=GROUP))
    for schema in (major(1), major(2, BREAKING), major(1, V2)):
        client.register_schema(subject, schema)
    one = client.get_latest_with_metadata(subject, {GROUP: "1"})
    assert (one.version, one.schema.schema_str) == (3, V2)
    two = client.get_latest_with_metadata(subject, {GROUP: "2"})
    assert (two.version, two.schema.schema_str) == (2, BREAKING)
    assert client.get_latest_with_metadata(subject, {}).version == 3
    params: list[tuple[str, str]] = [("key", GROUP), ("value", "2"), ("key", "x"), ("value", "y")]
    assert http.get(f"/subjects/{subject}/metadata", params=params).json()["error_code"] == 40403
    none = http.get(f"/subjects/{subject}/metadata", params={"key": GROUP, "value": "3"})
    assert none.status_code == 404 and none.json()["error_code"] == 40403
    unknown = http.get(f"/subjects/no-{subject}/metadata", params={"key": GROUP, "value": "1"})
    assert unknown.json()["error_code"] == 40401
    # Soft-deleted versions count only with deleted=true.
    assert client.delete_version(subject, 2) == 2
    with pytest.raises(SchemaRegistryError) as gone:
        SchemaRegistryClient({"url": str(http.base_url)}).get_latest_with_metadata(
            subject, {GROUP: "2"}
        )
    assert gone.value.error_code == 40403
    assert client.get_latest_with_metadata(subject, {GROUP: "2"}, deleted=True).version == 2


def test_validate_fields_refuses_reserved_and_dollar_prefixed_fields(
    http: httpx.Client, subject: str
) -> None:
    assert http.put(f"/config/{subject}", json={"validateFields": True}).status_code == 200
    assert http.get(f"/config/{subject}").json()["validateFields"] is True
    reserved = {"properties": {"confluent:reserved": "ssn"}}
    ok = http.post(f"/subjects/{subject}/versions", json={"schema": V1, "metadata": reserved})
    assert ok.status_code == 200, ok.text
    with_ssn = V2.replace('"note"', '"ssn"')
    clash = http.post(f"/subjects/{subject}/versions", json={"schema": with_ssn})
    assert clash.status_code == 409 and "conflicts with the reserved field ssn" in clash.text
    dropped = http.post(f"/subjects/{subject}/versions", json={"schema": V2, "metadata": {}})
    assert dropped.status_code == 409 and "reserved field ssn removed" in dropped.text
    json_subject = f"json-{subject}"
    http.put(f"/config/{json_subject}", json={"validateFields": True})
    dollars = '{"type":"object","properties":{"$$id":{"type":"string"}}}'
    refused = http.post(
        f"/subjects/{json_subject}/versions", json={"schema": dollars, "schemaType": "JSON"}
    )
    assert refused.status_code == 422 and refused.json()["error_code"] == 42201
    http.put(f"/config/{json_subject}", json={"validateFields": False})
    accepted = http.post(
        f"/subjects/{json_subject}/versions", json={"schema": dollars, "schemaType": "JSON"}
    )
    assert accepted.status_code == 200, accepted.text


def test_normalize_stores_the_normal_form_so_layouts_share_an_id(
    http: httpx.Client, subject: str
) -> None:
    spread = """{
      "type": "record", "namespace": "shop", "name": "Order",
      "fields": [{"type": {"type": "string"}, "name": "id"}, {"name": "amount", "type": "long"}]
    }"""
    normal = http.post(f"/subjects/{subject}/versions", params={"normalize": "true"},
                       json={"schema": spread}).json()  # fmt: skip
    assert normal["schema"] == (
        '{"name":"shop.Order","type":"record","fields":[{"name":"id","type":"string"},'
        '{"name":"amount","type":"long"}]}'
    )
    # V1 spells the same schema another way: normalised, it is the same id and version.
    again = http.post(f"/subjects/{subject}/versions?normalize=true", json={"schema": V1}).json()
    assert (again["id"], again["version"]) == (normal["id"], 1)
    assert (
        http.post(f"/subjects/{subject}?normalize=true", json={"schema": spread}).json()["version"]
        == 1
    )
    assert http.post(f"/subjects/{subject}", json={"schema": spread}).json()["error_code"] == 40403
    # The config's normalize does the same without the parameter, for JSON Schema too.
    json_subject = f"json-{subject}"
    http.put(f"/config/{json_subject}", json={"normalize": True})
    first = http.post(f"/subjects/{json_subject}/versions", json={
        "schemaType": "JSON", "schema": '{"type": "object", "properties": {"b": {}, "a": {}}}'
    }).json()  # fmt: skip
    assert first["schema"] == '{"properties":{"a":{},"b":{}},"type":"object"}'
    second = http.post(f"/subjects/{json_subject}/versions", json={
        "schemaType": "JSON", "schema": '{"properties":{"a":{},"b":{}},"type":"object"}'
    }).json()  # fmt: skip
    assert (second["id"], second["version"]) == (first["id"], 1)
