"""The platform spec: one declarative model of the estate, from YAML with file:line errors."""

from __future__ import annotations

from streamplane.model._load import json_schema, load_spec
from streamplane.model._spec import ApplicationEntry, Spec, TopicEntry, full_topic_name
from streamplane.model._types import (
    AclException,
    Application,
    Classification,
    Cluster,
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
    "Domain",
    "Platform",
    "Quota",
    "QuotaEntry",
    "Secret",
    "Spec",
    "Tenant",
    "Topic",
    "TopicEntry",
    "Visibility",
    "full_topic_name",
    "json_schema",
    "load_spec",
]
