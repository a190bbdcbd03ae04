"""Confluent-compatible schema registry, stored in Kafka's ``_schemas`` topic.

Several instances may serve one topic: one is the elected, fenced writer and the
others forward writes to it (``_writer``, ``_forward``). Optional HTTP basic auth
checks the platform's SCRAM principals and enforces tenant prefixes and topic
visibility (``_auth``, ``_access``); every write is audited (``_audit``).
"""

from __future__ import annotations

from streamplane.registry._access import AccessPolicy, policy_from_spec
from streamplane.registry._api import AppOptions, create_app
from streamplane.registry._audit import AUDIT_TOPIC
from streamplane.registry._auth import AuthSettings
from streamplane.registry._log import SCHEMAS_TOPIC
from streamplane.registry._service import Registry
from streamplane.registry._writer import ElectionTimeouts
from streamplane.registry.compat._levels import LEVELS

__all__ = [
    "AUDIT_TOPIC",
    "LEVELS",
    "SCHEMAS_TOPIC",
    "AccessPolicy",
    "AppOptions",
    "AuthSettings",
    "ElectionTimeouts",
    "Registry",
    "create_app",
    "policy_from_spec",
]
