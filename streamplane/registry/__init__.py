"""Confluent-compatible schema registry, stored in Kafka's ``_schemas`` topic."""

from __future__ import annotations

from streamplane.registry._api import create_app
from streamplane.registry._log import SCHEMAS_TOPIC
from streamplane.registry._service import Registry
from streamplane.registry.compat._levels import LEVELS

__all__ = ["LEVELS", "SCHEMAS_TOPIC", "Registry", "create_app"]
