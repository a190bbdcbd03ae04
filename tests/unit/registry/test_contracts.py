"""Data contracts without a broker: normalising, validating and merging metadata and rule
sets as Confluent does, the configs that shape them, compatibility groups in the state, and
normalised schema text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamplane.errors import RegistryError
from streamplane.registry import _config
from streamplane.registry._contracts import (
    Contract,
    ContractConfig,
    merge_metadata,
    merge_rule_sets,
    normalize_metadata,
    normalize_rule_set,
    reserved_field_problems,
    resolve,
    same_contract,
    validate_rule_set,
)
from streamplane.registry._normalize import (
    check_field_names,
    normalized_avro,
    normalized_references,
    top_level_fields,
)
from streamplane.registry._state import RegistryState, StoredSchema
from streamplane.registry.compat.avro import parse_avro
from streamplane.registry.compat.json_schema import parse_json_schema


def props(**values: str) -> dict[str, Any]:
    return {"properties": values}


def domain(*rules: dict[str, Any]) -> dict[str, Any]:
    return normalize_rule_set({"domainRules": list(rules)}) or {}


def cel(name: str, expr: str = "true", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "CEL", "mode": "WRITE", "expr": expr, **extra}


def code(call: Any) -> int:
    with pytest.raises(RegistryError) as error:
        call()
    return error.value.error_code


# ------------------------------------------------------------------ normalising
def test_metadata_is_normalised_as_confluent_writes_it() -> None:
    given = {
        "tags": {"b.f": ["PII", "KEY", "PII"], "a.f": []},
        "properties": {"z": "1", "major_version": 2, "flag": True, "ratio": 1.5},
        "sensitive": ["ssn", "card"],
        "unknownField": "ignored, as Confluent's reader ignores it",
    }
    normal = normalize_metadata(given)
    assert normal == {
        "tags": {"a.f": [], "b.f": ["KEY", "PII"]},
        "properties": {"flag": "true", "major_version": "2", "ratio": "1.5", "z": "1"},
        "sensitive": ["card", "ssn"],
    }
    assert list(normal["properties"]) == sorted(normal["properties"])  # type: ignore[index]
    assert normalize_metadata({"tags": {}, "properties": {}, "sensitive": []}) == {}
    assert normalize_metadata(None) is None


@pytest.mark.parametrize(
    "bad",
    [[], {"tags": ["PII"]}, {"tags": {"f": "PII"}}, {"properties": {"k": None}},
     {"properties": {"k": {"nested": 1}}}, {"sensitive": "ssn"}],
)  # fmt: skip
def test_metadata_of_the_wrong_shape_is_a_422(bad: Any) -> None:
    assert code(lambda: normalize_metadata(bad)) == 422


def test_rules_get_confluents_defaults_and_sorted_tags_and_params() -> None:
    normal = normalize_rule_set({
        "migrationRules": [],
        "domainRules": [{"name": "r", "type": "CEL_FIELD", "tags": ["PII", "BANK", "PII"],
                         "params": {"b": "2", "a": 1}, "expr": "value"}],
        "enableAt": "CLIENT",
    })  # fmt: skip
    assert normal == {
        "domainRules": [{
            "name": "r", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "CEL_FIELD",
            "tags": ["BANK", "PII"], "params": {"a": "1", "b": "2"}, "expr": "value",
            "disabled": False,
        }],
        "enableAt": "CLIENT",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("bad", "error_code"),
    [
        ({"domainRules": [{"name": "r", "kind": "CHECK"}]}, 42210),
        ({"domainRules": [{"name": "r", "mode": "SOMETIMES"}]}, 42210),
        ({"enableAt": "EVERYWHERE"}, 42210),
        ({"domainRules": {"name": "r"}}, 422),
        ({"domainRules": [{"name": 7}]}, 422),
        ({"domainRules": [{"name": "r", "disabled": "no"}]}, 422),
        ({"domainRules": [{"name": "r", "params": ["a"]}]}, 422),
    ],
)
def test_rule_sets_of_the_wrong_shape_or_values_are_refused(bad: Any, error_code: int) -> None:
    assert code(lambda: normalize_rule_set(bad)) == error_code


@pytest.mark.parametrize(
    ("rule_set", "words"),
    [
        ({"domainRules": [cel("a")], "migrationRules": [cel("a", mode="UPGRADE")]}, "duplicate"),
        ({"domainRules": [cel("1st")]}, "Illegal character"),
        ({"domainRules": [cel("has space")]}, "Illegal character"),
        ({"domainRules": [{"name": "r", "mode": "WRITE"}]}, "missing its type"),
        ({"domainRules": [cel("r", mode="UPGRADE")]}, "domain rules can only be"),
        ({"migrationRules": [cel("r", mode="READ")]}, "migration rules can only be"),
        ({"domainRules": [cel("r", onFailure="DLQ,ERROR")]}, "only valid with WRITEREAD"),
        ({"domainRules": [{"type": "CEL"}]}, "no name"),
    ],
)
def test_rule_sets_are_validated_with_confluents_rules(rule_set: Any, words: str) -> None:
    with pytest.raises(RegistryError) as error:
        validate_rule_set(normalize_rule_set(rule_set))
    assert error.value.error_code == 42210 and words in error.value.message


def test_valid_rule_sets_pass_validation() -> None:
    both_ways = cel("r", mode="WRITEREAD", onFailure="ERROR,NONE")
    validate_rule_set(normalize_rule_set({"domainRules": [both_ways, cel("_x-1")]}))
    validate_rule_set(None)


# ------------------------------------------------------------------ merging
def test_metadata_merges_key_by_key_and_sensitive_names_by_union() -> None:
    old = {"tags": {"a": ["X"], "b": ["Y"]}, "properties": {"p": "1", "q": "1"}, "sensitive": ["s"]}
    new = {"tags": {"b": ["Z"]}, "properties": {"q": "2"}, "sensitive": ["t"]}
    assert merge_metadata(old, new) == {
        "tags": {"a": ["X"], "b": ["Z"]},  # a key's tags are replaced, not united
        "properties": {"p": "1", "q": "2"},
        "sensitive": ["s", "t"],
    }
    assert merge_metadata(None, new) is new and merge_metadata(old, None) is old
    assert merge_metadata({}, {}) == {}


def test_rule_sets_merge_by_name_keeping_order_old_first() -> None:
    old = domain(cel("a", "1"), cel("b", "1"), cel("c", "1"))
    new = domain(cel("b", "2"), cel("d", "2"))
    merged = merge_rule_sets(old, new)
    assert merged is not None
    assert [(r["name"], r["expr"]) for r in merged["domainRules"]] == [
        ("a", "1"), ("c", "1"), ("b", "2"), ("d", "2")
    ]  # fmt: skip
    migration = normalize_rule_set({"migrationRules": [cel("m", mode="UPGRADE")]})
    both = merge_rule_sets(old, migration)
    assert both is not None and set(both) == {"domainRules", "migrationRules"}
    assert merge_rule_sets({"enableAt": "CLIENT"}, {"enableAt": "SERVER"}) == {"enableAt": "SERVER"}


def test_a_registration_takes_default_then_given_or_previous_then_override() -> None:
    config = ContractConfig(
        default_metadata=props(owner="platform", tier="bronze"),
        override_metadata=props(tier="gold"),
        default_rule_set=domain(cel("a", "default")),
        override_rule_set=domain(cel("z", "override")),
    )
    given = Contract(props(owner="payments"), domain(cel("a", "given")))
    contract = resolve(config, given, Contract(props(old="yes"), domain(cel("p"))))
    assert contract.metadata == props(owner="payments", tier="gold")  # previous not used
    assert contract.rule_set is not None
    assert [(r["name"], r["expr"]) for r in contract.rule_set["domainRules"]] == [
        ("a", "given"), ("z", "override")
    ]  # fmt: skip
    # Nothing given: the previous version's contract stands in for it.
    inherited = resolve(ContractConfig(), Contract(), Contract(props(old="yes"), None))
    assert inherited == Contract(props(old="yes"), None)
    # Given metadata but no rules: the previous rules are kept.
    mixed = resolve(ContractConfig(), Contract(props(n="1")), Contract(None, domain(cel("p"))))
    assert mixed == Contract(props(n="1"), domain(cel("p")))
    assert resolve(ContractConfig(), Contract(), None) == Contract()


def test_confluent_version_follows_the_new_version_only_where_it_is_present() -> None:
    versioned = Contract(props(**{"confluent:version": "1", "x": "y"}))
    assert resolve(ContractConfig(), Contract(), versioned, new_version=4).metadata == props(
        **{"confluent:version": "4", "x": "y"}
    )
    assert resolve(ContractConfig(), Contract(props(x="y")), None, new_version=4).metadata == props(
        x="y"
    )


def test_a_lookup_ignores_confluent_version_on_one_side_only() -> None:
    stored = Contract(props(**{"confluent:version": "3", "x": "y"}))
    assert same_contract(Contract(props(x="y")), stored, stored_version=3)
    assert not same_contract(Contract(props(x="z")), stored, stored_version=3)
    assert same_contract(
        Contract(), Contract(props(**{"confluent:version": "2"})), stored_version=2
    )
    given = Contract(props(**{"confluent:version": "3", "x": "y"}))
    assert same_contract(given, Contract(props(x="y")), stored_version=3)
    assert not same_contract(given, Contract(props(x="y")), stored_version=2)  # names another
    assert not same_contract(Contract(props(**{"confluent:version": "2", "x": "y"})), stored,
                             stored_version=3)  # fmt: skip


def test_the_contract_key_tells_absent_from_empty_and_equal_contracts_share_one() -> None:
    assert Contract().key == ""
    assert Contract({}).key != Contract().key != Contract(None, {}).key
    assert (
        Contract(normalize_metadata({"properties": {"b": "1", "a": "2"}})).key
        == Contract(normalize_metadata({"properties": {"a": "2", "b": 1}})).key
    )


def test_reserved_fields_may_not_be_dropped_or_reused() -> None:
    old, new = props(**{"confluent:reserved": "ssn, dob"}), props(**{"confluent:reserved": "dob"})
    problems = reserved_field_problems(new, old, {"id", "dob"})
    assert problems == [
        "The new schema has reserved field ssn removed from its metadata which is present in "
        "the old schema's metadata.",
        "The new schema has field that conflicts with the reserved field dob.",
    ]
    assert reserved_field_problems(old, old, {"id"}) == []


# ------------------------------------------------------------------ config
def test_a_config_put_changes_only_the_fields_it_names() -> None:
    stored = _config.updated(None, {"compatibilityLevel": "full", "defaultMetadata": props(a="1")})
    assert stored == {"compatibilityLevel": "FULL", "defaultMetadata": props(a="1")}
    grouped = _config.updated(stored, {"compatibilityGroup": "major"})
    assert grouped == {**stored, "compatibilityGroup": "major"}
    cleared = _config.updated(grouped, {"defaultMetadata": None, "normalize": True})
    assert cleared == {
        "compatibilityLevel": "FULL",
        "compatibilityGroup": "major",
        "normalize": True,
    }
    assert code(lambda: _config.updated(None, {"compatibilityLevel": "SIDEWAYS"})) == 42203
    twice = {"domainRules": [cel("a"), cel("a")]}
    assert code(lambda: _config.updated(None, {"overrideRuleSet": twice})) == 42210
    assert code(lambda: _config.updated(None, {"validateFields": "yes"})) == 422
    assert _config.as_update_answer(cleared)["compatibility"] == "FULL"


def test_legacy_config_records_read_as_before() -> None:
    assert _config.from_record({"compatibilityLevel": "NONE"}) == {"compatibilityLevel": "NONE"}
    assert _config.from_record(None) is None
    # A part that no longer reads is dropped, not fatal to the replay.
    odd = {"compatibilityLevel": "NONE", "defaultRuleSet": {"domainRules": "x"}, "alias": "a"}
    assert _config.from_record(odd) == {"compatibilityLevel": "NONE"}


def test_a_subject_config_replaces_the_global_defaults_but_inherits_flags_and_level() -> None:
    top = {"compatibilityLevel": "NONE", "compatibilityGroup": "major", "validateFields": True,
           "defaultMetadata": props(region="eu")}  # fmt: skip
    alone = _config.settings(top, None)
    assert alone.level == "NONE" and alone.contracts.default_metadata == props(region="eu")
    own = _config.settings(top, {"normalize": True})
    assert (own.level, own.group, own.validate_fields, own.normalize) == (
        "NONE",
        "major",
        True,
        True,
    )
    assert own.contracts == ContractConfig()  # Confluent never mixes the two configs' defaults
    assert _config.settings(None, None).level == "BACKWARD"
    assert _config.in_scope(top, {"normalize": True}) == {
        "compatibilityLevel": "NONE", "compatibilityGroup": "major", "normalize": True,
        "validateFields": True,
    }  # fmt: skip
    assert _config.in_scope(None, None) == {"compatibilityLevel": "BACKWARD"}


# ------------------------------------------------------------------ state
def schema_record(subject: str, version: int, schema_id: int, **contract: Any) -> Any:
    key = {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}
    value = {"subject": subject, "version": version, "id": schema_id, "schema": '"string"',
             "deleted": False, **contract}  # fmt: skip
    return key, value


def test_the_state_keys_ids_on_schema_and_contract_and_finds_versions_like_confluent() -> None:
    state = RegistryState()
    for record in (
        schema_record("s", 1, 1),
        schema_record("s", 2, 2, metadata=props(major="1")),
        schema_record("s", 3, 3, metadata=props(major="1"), ruleSet=domain(cel("r"))),
        schema_record("t", 1, 2, metadata={"properties": {"major": 1}}),  # normalised on replay
    ):
        state.apply(record, canonicalise=lambda stored: "S")
    assert state.schemas[2].contract == Contract(props(major="1"))
    assert state.usages[2] == {("s", 2), ("t", 1)}
    assert len({k for k in state.by_content if k[1] == "S"}) == 3  # one schema, three contracts
    versions = state.live_versions("s")
    assert state.find(versions, "S", Contract()).version == 1  # type: ignore[union-attr]
    assert state.find(versions, "S", Contract(props(major="1"))).version == 2  # type: ignore[union-attr]
    assert state.find(versions, "S", Contract(props(major="2"))) is None
    assert state.find(versions, "other", Contract()) is None
    # The record a soft delete writes keeps the contract and the references.
    stored = StoredSchema(9, "JSON", "{}", (("r", "u", 1),), Contract(props(a="b"), None))
    value = stored.record_value("s", 4, deleted=True)
    assert value["metadata"] == props(a="b") and value["references"][0]["subject"] == "u"
    assert value["schemaType"] == "JSON" and value["deleted"] is True and "ruleSet" not in value


def test_config_records_replay_the_whole_config() -> None:
    state = RegistryState()
    config = {"keytype": "CONFIG", "subject": "s", "magic": 0}
    state.apply(
        (config, {"compatibilityLevel": "FULL", "compatibilityGroup": "g"}), canonicalise=repr
    )
    state.apply(({**config, "subject": None}, {"compatibilityLevel": "NONE"}), canonicalise=repr)
    assert state.subject_config["s"] == {"compatibilityLevel": "FULL", "compatibilityGroup": "g"}
    assert state.global_config == {"compatibilityLevel": "NONE"}
    state.apply((config, None), canonicalise=repr)
    assert "s" not in state.subject_config


# ------------------------------------------------------------------ normalising schemas
def normal(schema: Any, references: dict[str, str] | None = None) -> Any:
    text = json.dumps(schema)
    parse_avro(text, references=references)  # the input is valid Avro
    result = normalized_avro(json.loads(text), references)
    parse_avro(result, references=references)  # and so is the output
    return json.loads(result)


def test_avro_normal_form_uses_full_names_fixed_key_order_and_bare_primitives() -> None:
    schema = {
        "doc": "an order", "type": "record", "namespace": "shop", "name": "Order",
        "aliases": ["Old", "legacy.Older"], "x-owner": "payments",
        "fields": [
            {"type": {"type": "string"}, "name": "id", "order": "ascending"},
            {"name": "lines", "type": {"type": "array", "items": {
                "type": "record", "name": "Line", "fields": [{"name": "sku", "type": "string"}]}}},
            {"name": "first", "type": ["null", "Line"], "default": None, "doc": "d"},
            {"name": "price", "order": "descending", "type": {
                "type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 0}},
        ],
    }  # fmt: skip
    result = normal(schema)
    assert list(result) == ["name", "type", "fields", "doc", "aliases", "x-owner"]
    assert result["name"] == "shop.Order" and "namespace" not in result
    assert result["aliases"] == ["legacy.Older", "shop.Old"]
    id_, lines, first, price = result["fields"]
    assert id_ == {"name": "id", "type": "string"}  # ascending is the default: not written
    assert lines["type"]["items"]["name"] == "shop.Line"  # inherits the namespace
    assert first == {"name": "first", "type": ["null", "shop.Line"], "doc": "d", "default": None}
    assert price == {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                                               "precision": 9}, "order": "descending"}  # fmt: skip
    # The same schema written another way has the same normal form.
    respelled = {**schema, "name": "shop.Order", "namespace": "ignored.when.name.is.full"}
    assert normal(respelled) == result


def test_avro_normal_form_names_referenced_types_by_full_name() -> None:
    references = {"shop.Money": json.dumps(
        {"type": "fixed", "name": "Money", "namespace": "shop", "size": 8})}  # fmt: skip
    schema = {"type": "record", "name": "Order", "namespace": "shop",
              "fields": [{"name": "amount", "type": "Money"}]}  # fmt: skip
    assert normal(schema, references)["fields"] == [{"name": "amount", "type": "shop.Money"}]
    enum = {"type": "enum", "name": "e.Suit", "symbols": ["H", "S"], "default": "H", "doc": ""}
    assert normal(enum) == {"name": "e.Suit", "type": "enum", "symbols": ["H", "S"], "default": "H"}


def test_normalised_references_are_sorted_and_distinct() -> None:
    refs = (("b", "z", 2), ("a", "y", 3), ("b", "z", 2), ("c", "y", 1))
    assert normalized_references(refs) == (("c", "y", 1), ("a", "y", 3), ("b", "z", 2))


def test_field_checks_find_top_level_fields_and_refuse_double_dollars() -> None:
    record = parse_avro('{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}')
    assert top_level_fields("AVRO", record) == {"a"}
    assert top_level_fields("AVRO", parse_avro('"int"')) == set()
    dollars = parse_json_schema('{"type":"object","properties":{"$$a":{},"b":{}}}')
    assert top_level_fields("JSON", dollars) == {"$$a", "b"}
    assert code(lambda: check_field_names("JSON", dollars)) == 42201
    check_field_names("AVRO", record)
