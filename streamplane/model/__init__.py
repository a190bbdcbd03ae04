"""The platform spec: one declarative model of the estate, from YAML with file:line errors."""

from __future__ import annotations

from streamplane.model._contracts import (
    DEFAULT_ENCRYPT_RULE,
    MAJOR_VERSION,
    PII_TAG,
    RULE_TYPES,
    ContractRule,
    ContractRules,
)
from streamplane.model._dead_letters import (
    ParkingTopic,
    dlq_topic,
    parking_topics,
    retry_topic,
)
from streamplane.model._load import json_schema, load_spec
from streamplane.model._schema_contract import (
    Contract,
    avro_fields,
    encryption_for,
    field_tags,
    has_tagged_field,
    needs_default_encryption,
    schema_contract,
)
from streamplane.model._spec import ApplicationEntry, Spec, TopicEntry, full_topic_name
from streamplane.model._types import (
    AclException,
    Application,
    Classification,
    Cluster,
    DeadLetters,
    Domain,
    Encryption,
    Platform,
    Quota,
    QuotaEntry,
    Secret,
    Tenant,
    Topic,
    Visibility,
)

__all__ = [
    "DEFAULT_ENCRYPT_RULE",
    "MAJOR_VERSION",
    "PII_TAG",
    "RULE_TYPES",
    "AclException",
    "Application",
    "ApplicationEntry",
    "Classification",
    "Cluster",
    "Contract",
    "ContractRule",
    "ContractRules",
    "DeadLetters",
    "Domain",
    "Encryption",
    "ParkingTopic",
    "Platform",
    "Quota",
    "QuotaEntry",
    "Secret",
    "Spec",
    "Tenant",
    "Topic",
    "TopicEntry",
    "Visibility",
    "avro_fields",
    "dlq_topic",
    "encryption_for",
    "field_tags",
    "full_topic_name",
    "has_tagged_field",
    "json_schema",
    "load_spec",
    "needs_default_encryption",
    "parking_topics",
    "retry_topic",
    "schema_contract",
]
