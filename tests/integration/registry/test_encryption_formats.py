"""Client-side field encryption with confluent-kafka's JSON Schema and Protobuf serdes.

The same proof as for Avro (test_encryption.py), for the two other formats: a field
tagged PII and an ENCRYPT rule in the version's rule set; the official serializer with a
``FieldEncryptionExecutor`` encrypts the field with a DEK from our DEK registry, the
record crosses the cluster, and only a deserializer with the executor reads it back in
plain text. The tag is given both ways confluent-kafka honours: in the schema itself
(``confluent:tags`` on a JSON property, ``(confluent.field_meta).tags`` on a Protobuf
field) and in the version's ``metadata.tags``, keyed by the field's path.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from confluent_kafka.schema_registry import (
    Metadata,
    MetadataTags,
    Rule,
    RuleSet,
    Schema,
    SchemaRegistryClient,
)
from confluent_kafka.schema_registry.confluent import meta_pb2
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.schema_registry.rule_registry import RuleRegistry
from confluent_kafka.schema_registry.rules.encryption.dek_registry.dek_registry_client import (
    DekRegistryClient,
)
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic
from tests.integration.registry import test_encryption as avro_case
from tests.integration.registry.test_encryption import (
    SECRET,
    Setup,
    encrypt_rule,
    executors,
    through_kafka,
)

# The registry (local KMS and moto's AWS KMS) of the Avro tests: one per module.
moto_url = avro_case.moto_url
setup = avro_case.setup

SSN = "078-05-1120"
LATEST = {"auto.register.schemas": False, "use.latest.version": True}
NO_EXECUTOR = "Could not find rule executor of type ENCRYPT"


def customer(n: int) -> dict[str, Any]:
    return {"id": f"c{n}", "name": f"Ada {n}", "ssn": f"{SSN}-{n}"}


def json_schema(inline_tag: bool) -> str:
    ssn: dict[str, Any] = {"type": "string"}
    if inline_tag:
        ssn["confluent:tags"] = ["PII"]
    return json.dumps({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Customer", "type": "object",
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "ssn": ssn},
        "required": ["id", "name", "ssn"], "additionalProperties": False,
    })  # fmt: skip


def tagged(path: str | None) -> Metadata | None:
    """Version metadata tagging the field at ``path`` PII (None: the schema tags it)."""
    return None if path is None else Metadata(MetadataTags({path: ["PII"]}), None, None)


def register(setup: Setup, subject: str, schema: Schema) -> str:
    """Register ``schema``; the text the registry serves for it.

    A client of its own: confluent-kafka caches a subject's latest version whatever the
    format asked for, and the serdes ask for Protobuf's serialized form.
    """
    sr = SchemaRegistryClient({"url": setup.url})
    sr.register_schema(subject, schema)
    # The registry keeps the rule set (and the metadata) with the version: the data contract.
    latest = sr.get_latest_version(subject).schema
    assert latest.rule_set is not None and latest.rule_set.domain_rules
    assert (latest.metadata is None) == (schema.metadata is None)
    assert latest.schema_str is not None
    return latest.schema_str


def dek_is_client_wrapped(setup: Setup, kek: str, subject: str) -> None:
    """The client made the KEK (not shared) and wrapped the DEK; the registry holds both."""
    keys = DekRegistryClient({"url": setup.url})
    assert keys.get_kek(kek).shared is False
    dek = keys.get_dek(kek, subject)
    assert dek.key_material is None and dek.encrypted_key_material


def ciphertext(value: str) -> None:
    """What the executor writes for a string: base64 of a Tink AES-GCM ciphertext."""
    assert SSN not in value
    assert len(base64.b64decode(value, validate=True)) >= 12 + 16  # nonce and tag at least


@pytest.mark.parametrize("tag", ["inline", "metadata"])
def test_json_schema_pii_field_is_ciphertext_in_the_log_and_plain_only_with_the_executor(
    setup: Setup, cluster1: LocalCluster, topic_name: str, tag: str
) -> None:
    create_topic(cluster1.admin_settings(), topic_name)
    sr, kek = SchemaRegistryClient({"url": setup.url}), f"json_{uuid.uuid4().hex[:8]}"
    subject = f"{topic_name}-value"
    text = json_schema(inline_tag=tag == "inline")
    rule: Rule = encrypt_rule(kek, "local-kms", "pii-json")
    # A JSON Schema field's path is "$." and its property names.
    metadata = tagged(None if tag == "inline" else "$.ssn")
    served = register(setup, subject, Schema(text, "JSON", [], metadata, RuleSet(None, [rule])))
    assert json.loads(served)["properties"]["ssn"].get("confluent:tags") == (
        ["PII"] if tag == "inline" else None
    )  # the inline tag kept

    ctx = SerializationContext(topic_name, MessageField.VALUE)
    write = JSONSerializer(text, sr, None, LATEST, {"secret": SECRET}, executors())
    values = [customer(n) for n in range(3)]
    # The serializer encrypts the dict it is given in place: hand it copies.
    raw = through_kafka(cluster1, topic_name, [write(dict(v), ctx) for v in values])
    for value, record in zip(values, raw, strict=True):
        assert SSN.encode() not in record  # not on the wire, not in the log
        assert value["name"].encode() in record  # the other fields stay readable
        assert record[0] == 0
        as_written = json.loads(record[5:])
        assert as_written["id"] == value["id"]
        ciphertext(as_written["ssn"])

    read = JSONDeserializer(None, None, sr, None, {"secret": SECRET}, executors())
    assert [read(record, ctx) for record in raw] == values
    with pytest.raises(SerializationError) as refused:
        JSONDeserializer(None, None, sr, None, None, RuleRegistry())(raw[0], ctx)
    assert NO_EXECUTOR in str(refused.value.__cause__)
    # A reader that does not consult the registry (nor run rules) gets the ciphertext.
    unruled = JSONDeserializer(text)(raw[0], ctx)
    assert unruled == {**values[0], "ssn": json.loads(raw[0][5:])["ssn"]}
    ciphertext(unruled["ssn"])
    dek_is_client_wrapped(setup, kek, subject)


def customer_class(inline_tag: bool) -> Any:
    """A generated-style ``shop.Customer`` class, its ``ssn`` field tagged PII if asked.

    Built from a descriptor as protoc would write it for::

        import "confluent/meta.proto";
        message Customer {
          string id = 1;
          string name = 2;
          string ssn = 3 [(confluent.field_meta).tags = "PII"];
        }
    """
    file = descriptor_pb2.FileDescriptorProto(
        name="shop/customer.proto", package="shop", syntax="proto3"
    )
    message = file.message_type.add(name="Customer")
    t = descriptor_pb2.FieldDescriptorProto
    for number, name in enumerate(("id", "name", "ssn"), start=1):
        message.field.add(name=name, number=number, type=t.TYPE_STRING, label=t.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    if inline_tag:
        file.dependency.append("confluent/meta.proto")
        message.field[2].options.Extensions[meta_pb2.field_meta].tags.append("PII")
        pool.AddSerializedFile(descriptor_pb2.DESCRIPTOR.serialized_pb)
        pool.AddSerializedFile(meta_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Customer"))


@pytest.mark.parametrize("tag", ["inline", "metadata"])
def test_protobuf_pii_field_is_ciphertext_in_the_log_and_plain_only_with_the_executor(
    setup: Setup, cluster1: LocalCluster, topic_name: str, tag: str
) -> None:
    create_topic(cluster1.admin_settings(), topic_name)
    sr, kek = SchemaRegistryClient({"url": setup.url}), f"proto_{uuid.uuid4().hex[:8]}"
    subject = f"{topic_name}-value"
    cls = customer_class(inline_tag=tag == "inline")
    # What ProtobufSerializer itself registers: the serialized FileDescriptorProto, with no
    # reference for confluent/meta.proto (a well-known import the registry provides).
    text = base64.b64encode(cls.DESCRIPTOR.file.serialized_pb).decode()
    rule: Rule = encrypt_rule(kek, "local-kms", "pii-proto")
    # A Protobuf field's path is its full name.
    metadata = tagged(None if tag == "inline" else "shop.Customer.ssn")
    served = register(setup, subject, Schema(text, "PROTOBUF", [], metadata, RuleSet(None, [rule])))
    assert ("confluent.field_meta" in served and "PII" in served) == (tag == "inline"), served

    ctx = SerializationContext(topic_name, MessageField.VALUE)
    write = ProtobufSerializer(cls, sr, LATEST, {"secret": SECRET}, executors())
    values = [cls(**customer(n)) for n in range(3)]
    # The serializer encrypts the message it is given in place: hand it copies.
    raw = through_kafka(cluster1, topic_name, [write(cls.FromString(v.SerializeToString()),
                                                     ctx) for v in values])  # fmt: skip
    # A reader that does not consult the registry (nor run rules) gets the ciphertext.
    unruled = ProtobufDeserializer(cls, {"use.deprecated.format": False})
    for value, record in zip(values, raw, strict=True):
        assert SSN.encode() not in record  # not on the wire, not in the log
        assert value.name.encode() in record  # the other fields stay readable
        as_written = unruled(record, ctx)
        assert as_written.id == value.id and as_written.ssn != value.ssn
        ciphertext(as_written.ssn)

    read = ProtobufDeserializer(cls, {"use.deprecated.format": False}, sr, {"secret": SECRET},
                                executors())  # fmt: skip
    assert [read(record, ctx) for record in raw] == values
    with pytest.raises(SerializationError) as refused:
        ProtobufDeserializer(cls, {"use.deprecated.format": False}, sr, None, RuleRegistry())(
            raw[0], ctx
        )
    assert NO_EXECUTOR in str(refused.value.__cause__)
    dek_is_client_wrapped(setup, kek, subject)
