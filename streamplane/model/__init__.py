"""The platform spec: one declarative model of the estate, from YAML with file:line errors."""

from __future__ import annotations

from streamplane.model._dead_letters import (
    ParkingTopic,
    dlq_topic,
    parking_topics,
    retry_topic,
)
from streamplane.model._load import json_schema, load_spec
from streamplane.model._spec import ApplicationEntry, Spec, TopicEntry, full_topic_name
from streamplane.model._types import (
    AclException,
    Application,
    Classification,
    Cluster,
    DeadLetters,
    Domain,
    Platform,
    Quota,
    QuotaEntry,
    Secret,
    Tenant,
    Topic,
    Visibility,
)

__all__ = [
    "AclException",
    "Application",
    "ApplicationEntry",
    "Classification",
    "Cluster",
    "DeadLetters",
    "Domain",
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
    "dlq_topic",
    "full_topic_name",
    "json_schema",
    "load_spec",
    "parking_topics",
    "retry_topic",
]
