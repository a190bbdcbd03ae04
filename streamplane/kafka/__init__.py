"""Connections to Kafka: typed connection settings at the edge of the librdkafka dicts, and
the client configuration profiles every application builds its clients from."""

from __future__ import annotations

from streamplane.kafka._connection import ConnectionSettings, read_properties
from streamplane.kafka._profiles import (
    PROFILES,
    Profile,
    ProfileError,
    client_config,
    profile,
    violations,
)
from streamplane.kafka._quorum import QuorumInfo, describe_quorum
from streamplane.kafka._quotas import (
    QUOTA_KEYS,
    QuotaEntity,
    alter_client_quotas,
    describe_client_quotas,
)

__all__ = [
    "PROFILES",
    "QUOTA_KEYS",
    "ConnectionSettings",
    "Profile",
    "ProfileError",
    "QuorumInfo",
    "QuotaEntity",
    "alter_client_quotas",
    "client_config",
    "describe_client_quotas",
    "describe_quorum",
    "profile",
    "read_properties",
    "violations",
]
