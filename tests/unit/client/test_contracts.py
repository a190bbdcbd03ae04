"""The SDK runs data-contract rules through confluent-kafka, and its Avro fast path knows when not to.

The registry is confluent-kafka's own in-memory client (``mock://``), which also gives the
encryption executor an in-memory DEK registry: the rules, executors and serdes under test
are the real ones.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.schema_registry_client import RuleSet, SchemaReference

from streamplane.client import (
    ClientError,
    SchemaViolation,
    TopicSchema,
    TopicSchemas,
    schemas_from_spec,
)
from streamplane.client._contracts import DataContracts, fast_path_allowed, rule_registry
from streamplane.client._serdes import RecordDeserializer, RecordSerializer
from streamplane.model import Encryption, load_spec
from streamplane.model._schema_contract import default_encrypt_rule
from tests.unit.model.test_contracts import EXAMPLE, write

CUSTOMER = {
    "type": "record",
    "name": "Customer",
    "namespace": "kyc",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "email", "type": ["null", "string"], "default": None, "confluent:tags": ["PII"]},
    ],
}
ID_PRESENT = {
    "name": "id-present",
    "kind": "CONDITION",
    "mode": "WRITE",
    "type": "CEL",
    "expr": "message.id != ''",
}
ENCRYPT = default_encrypt_rule(Encryption(kek="unit-kek", kms_type="local-kms", kms_key_id="k"))
SECRET = {"secret": "unit-test-local-kms-secret"}


def registry(name: str) -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": f"mock://{name}"})


def schema(*rules: dict[str, Any], metadata: dict[str, Any] | None = None) -> TopicSchema:
    return TopicSchema(
        "AVRO",
        text=json.dumps(CUSTOMER),
        source="schemas/customer.avsc",
        rule_set={"domainRules": list(rules)} if rules else None,
        metadata=metadata,
    )


def clients(
    client: SchemaRegistryClient, declared: TopicSchema
) -> tuple[RecordSerializer, RecordDeserializer]:
    """A producer's and a consumer's serdes sharing one set of executors (one DEK cache)."""
    contracts = DataContracts(SECRET, rules=rule_registry())
    schemas = {"t": TopicSchemas(value=declared)}
    return (
        RecordSerializer(schemas, client, schema_header="h", contracts=contracts),
        RecordDeserializer(schemas, client, contracts=contracts),
    )


# ------------------------------------------------------------------ the fast-path choice
def test_only_a_self_contained_avro_schema_without_a_rule_set_takes_the_fast_path() -> None:
    text = json.dumps(CUSTOMER)
    assert fast_path_allowed(Schema(text, "AVRO"))
    tags = {"tags": {"**.email": ["PII"]}}
    from confluent_kafka.schema_registry.schema_registry_client import Metadata

    assert fast_path_allowed(Schema(text, "AVRO", [], Metadata.from_dict(tags), None)), (
        "tags without rules change nothing the serde does"
    )
    assert not fast_path_allowed(
        Schema(text, "AVRO", [], None, RuleSet.from_dict({"domainRules": [ID_PRESENT]}))
    )
    assert not fast_path_allowed(Schema(text, "AVRO", [], None, RuleSet([], [])))
    assert not fast_path_allowed(Schema(text, "AVRO", [SchemaReference("a", "b", 1)]))
    assert not fast_path_allowed(Schema("{}", "JSON"))
    assert not fast_path_allowed(None)


def test_a_cel_condition_is_enforced_on_every_record_not_only_the_first() -> None:
    producer, _ = clients(registry("cel"), schema(ID_PRESENT))
    encoder = producer.value_encoder("t")
    for n in range(3):
        assert encoder.encode({"id": f"c{n}", "email": None}) is not None
    assert encoder._write is None, "rules on the writer schema: never the fast path"  # type: ignore[attr-defined]
    with pytest.raises(SchemaViolation) as refused:
        encoder.encode({"id": "", "email": None})
    assert "the data contract refused it: Rule expr failed: message.id != ''" in str(refused.value)


def test_a_pii_field_is_encrypted_even_after_a_first_record_where_it_was_null() -> None:
    producer, consumer = clients(registry("enc"), schema(ENCRYPT))
    encoder = producer.value_encoder("t")
    first = encoder.encode({"id": "a", "email": None})  # identical bytes with or without rules
    second = encoder.encode({"id": "b", "email": "alice@example.com"})
    assert first is not None and second is not None
    assert b"alice" not in second, "the second record went around the rule engine"
    decoder = consumer.value_decoder("t")
    assert decoder.decode(second) == {"id": "b", "email": "alice@example.com"}
    assert decoder.decode(second) == {"id": "b", "email": "alice@example.com"}
    assert list(decoder._writers.values()) == [None]  # type: ignore[attr-defined]
    producer.close()
    consumer.close()


def test_a_contract_without_rules_keeps_the_fast_path_with_the_registered_schema() -> None:
    client = registry("meta")
    producer, consumer = clients(client, schema(metadata={"properties": {"owner": "kyc"}}))
    encoder = producer.value_encoder("t")
    record = {"id": "a", "email": "a@example.com"}
    data = encoder.encode(record)
    assert encoder._write is not None  # type: ignore[attr-defined]
    assert encoder.encode(record) == data
    registered = client.get_latest_version("t-value")
    assert registered.schema.metadata is not None, "registered with its contract"
    decoder = consumer.value_decoder("t")
    assert decoder.decode(data) == record and decoder.decode(data) == record
    assert all(read is not None for read in decoder._writers.values())  # type: ignore[attr-defined]


def test_records_of_an_older_version_are_read_through_the_deserializer() -> None:
    client = registry("older")
    old = client.register_schema("t-value", Schema(json.dumps(CUSTOMER), "AVRO"))
    producer, consumer = clients(client, schema(metadata={"properties": {"owner": "kyc"}}))
    data = producer.value_encoder("t").encode({"id": "new", "email": None})
    assert data is not None and int.from_bytes(data[1:5], "big") != old
    written_before = b"\x00" + old.to_bytes(4, "big") + b"\x06old\x00"
    decoder = consumer.value_decoder("t")
    assert decoder.decode(written_before) == {"id": "old", "email": None}
    assert decoder._writers[written_before[:5]] is None  # type: ignore[attr-defined]


# ------------------------------------------------------------------- settings from the spec
def test_schemas_from_spec_carry_the_contract_and_how_to_resolve_the_registered_version(
    tmp_path: Path,
) -> None:
    spec = load_spec(EXAMPLE)
    identities = schemas_from_spec(spec)["risk.customers.identities"].value
    assert identities is not None and identities.has_contract
    assert [r["name"] for r in identities.rule_set["domainRules"]] == ["encrypt-pii"]  # type: ignore[index]
    assert identities.latest_conf() == {"use.latest.version": True}
    entries = schemas_from_spec(spec)["payments.ledger.entries"].value
    assert entries is not None and not entries.has_contract
    root = write(
        tmp_path, 'file: schemas/customer.avsc\nproperties: {application.major.version: "2"}\n'
    )
    pinned = schemas_from_spec(load_spec(root))["kyc.customers.identities"].value
    assert pinned is not None
    assert pinned.latest_conf() == {"use.latest.with.metadata": {"application.major.version": "2"}}


def test_the_local_kms_secret_comes_from_the_environment_or_the_local_data_dir(
    tmp_path: Path,
) -> None:
    spec = load_spec(EXAMPLE)
    assert DataContracts.from_spec(spec, environ={"LOCAL_SECRET": "s"}).rule_config == {}, (
        "confluent-kafka's driver reads LOCAL_SECRET itself"
    )
    data_dir = tmp_path / ".streamplane"
    assert DataContracts.from_spec(spec, data_dir=data_dir, environ={}).rule_config == {}, (
        "no local cluster started here: nothing is created"
    )
    data_dir.mkdir()
    made = DataContracts.from_spec(spec, data_dir=data_dir, environ={}).rule_config["secret"]
    path = data_dir / "secrets" / "local-kms"
    assert path.read_text().strip() == made and len(made) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = DataContracts.from_spec(spec, data_dir=data_dir, environ={})
    assert again.rule_config["secret"] == made, "every client of the estate shares it"
    given = DataContracts.from_spec(spec, rule_config={"secret": "x"}, environ={})
    assert given.rule_config == {"secret": "x"}


def test_a_secret_the_spec_names_is_read_from_there(tmp_path: Path) -> None:
    top = (
        "encryption: {kek: k, kms_type: local-kms, kms_key_id: k, secret: {env: KYC_KMS_SECRET}}\n"
    )
    spec = load_spec(write(tmp_path, "file: schemas/customer.avsc\n", top=top))
    contracts = DataContracts.from_spec(spec, environ={"KYC_KMS_SECRET": "from-env"})
    assert contracts.rule_config == {"secret": "from-env"}
    with pytest.raises(ClientError, match="environment variable KYC_KMS_SECRET, which is not set"):
        DataContracts.from_spec(spec, environ={})


def test_the_applications_record_is_not_changed_by_the_encrypt_rule() -> None:
    producer, _ = clients(registry("copy"), schema(ENCRYPT))
    record = {"id": "a", "email": "alice@example.com"}
    data = producer.value_encoder("t").encode(record)
    assert data is not None and b"alice" not in data
    assert record == {"id": "a", "email": "alice@example.com"}
