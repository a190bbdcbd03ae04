"""Data contracts of a topic's schema, as the spec declares them: rules in Confluent's shape.

A schema's contract is registered with each version in the schema registry (``metadata``
and ``ruleSet``), and the serializers of the official clients enforce it: CEL conditions
refuse records, ENCRYPT rules encrypt every field carrying one of their tags. The spec
writes a rule exactly as Confluent's REST API and documentation do (``name``, ``kind``,
``mode``, ``type``, ``tags``, ``params``, ``expr``, ``onSuccess``, ``onFailure``,
``disabled``), so a rule can be copied from Confluent's docs into the spec unchanged::

    value_schema:
      file: schemas/customer-identity.avsc
      tags: {"**.email": [PII]}                  # besides "confluent:tags" in the schema
      properties: {owner: kyc-team, application.major.version: "1"}
      rules:
        domain:
          - {name: email-present, kind: CONDITION, mode: WRITE, type: CEL,
             expr: "message.email != ''"}

These models hold what was written; which rules a topic ends up with (the default ENCRYPT
rule of a ``pii`` topic, the KEK filled in) is ``_contract_check.schema_contract``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

#: Rule types the official clients (and the Streamplane SDK) have executors for.
RULE_TYPES: dict[str, str] = {
    "CEL": "a CEL expression over the whole record (CONDITION or TRANSFORM)",
    "CEL_FIELD": "a CEL expression applied to each field (guard ; expression)",
    "ENCRYPT": "envelope-encrypts every field carrying one of the rule's tags",
    "ENCRYPT_PAYLOAD": "envelope-encrypts the whole serialized payload",
    "ENCRYPT_PER_SUBJECT": "encrypts tagged fields with a key per data subject (named by "
    "param encrypt.subject.field), destroyed by `streamplane gdpr forget`",
    "JSONATA": "a JSONata transformation (migration rules between major versions)",
}
#: The modes each list of a rule set takes (Confluent's serializers ignore the others).
DOMAIN_MODES = ("WRITE", "READ", "WRITEREAD")
MIGRATION_MODES = ("UPGRADE", "DOWNGRADE", "UPDOWN")
RULE_KINDS = ("CONDITION", "TRANSFORM")
#: Actions the clients know without extra configuration.
RULE_ACTIONS = ("NONE", "ERROR", "DLQ")

#: Parameters an ENCRYPT rule reads (Confluent's names).
KEK_NAME = "encrypt.kek.name"
KMS_TYPE = "encrypt.kms.type"
KMS_KEY_ID = "encrypt.kms.key.id"
DEK_ALGORITHM = "encrypt.dek.algorithm"
DEK_EXPIRY_DAYS = "encrypt.dek.expiry.days"
#: The ENCRYPT_PER_SUBJECT parameter naming the field that holds the data subject's id.
SUBJECT_FIELD = "encrypt.subject.field"
#: Rule types that encrypt fields by tag, and every rule type that encrypts.
FIELD_ENCRYPTING = ("ENCRYPT", "ENCRYPT_PER_SUBJECT")
ENCRYPTING = (*FIELD_ENCRYPTING, "ENCRYPT_PAYLOAD")

#: The tag a ``classification: pii`` topic's PII fields carry, and its default rule's name.
PII_TAG = "PII"
DEFAULT_ENCRYPT_RULE = "encrypt-pii"
#: The metadata property Confluent's compatibility groups and latest-with-metadata use.
MAJOR_VERSION = "application.major.version"


def _text(value: object) -> object:
    """Confluent's params and properties are strings: 1 and true are written as "1", "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContractRule(_Model):
    """One rule of a schema's rule set, in Confluent's shape (keys as Confluent spells them)."""

    name: str = Field(min_length=1, description="Unique within the schema's rule set.")
    doc: str | None = Field(None, description="Said when a CONDITION rule refuses a record.")
    kind: str = Field(description="CONDITION (refuses records) or TRANSFORM (changes them).")
    mode: str = Field(
        description="Domain rules: WRITE, READ or WRITEREAD; migration rules: UPGRADE, "
        "DOWNGRADE or UPDOWN."
    )
    type: str = Field(description="One of RULE_TYPES, e.g. CEL, ENCRYPT or ENCRYPT_PER_SUBJECT.")
    tags: list[str] = Field([], description="Field tags the rule applies to (field rules).")
    params: dict[str, Text] = Field(
        {}, description="e.g. encrypt.kek.name; an ENCRYPT rule gets the spec's KEK by default."
    )
    expr: str | None = None
    onSuccess: str | None = Field(None, description="NONE, ERROR or DLQ (WRITEREAD: 'A,B').")
    onFailure: str | None = Field(None, description="NONE, ERROR or DLQ (WRITEREAD: 'A,B').")
    disabled: bool = False

    def to_confluent(self, *, params: dict[str, str] | None = None) -> dict[str, Any]:
        """The rule as Confluent's REST API writes it (absent values left out)."""
        body: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "mode": self.mode,
            "type": self.type,
        }
        if self.doc is not None:
            body["doc"] = self.doc
        if self.tags:
            body["tags"] = list(self.tags)
        merged = {**self.params, **(params or {})}
        if merged:
            body["params"] = dict(sorted(merged.items()))
        for key in ("expr", "onSuccess", "onFailure"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        if self.disabled:
            body["disabled"] = True
        return body


class ContractRules(_Model):
    """A schema's rules: ``domain`` rules run on every write/read, ``migration`` rules
    between versions of different ``application.major.version``."""

    domain: list[ContractRule] = []
    migration: list[ContractRule] = []
