"""Connections to Kafka: typed connection settings at the edge of the librdkafka dicts."""

from __future__ import annotations

from streamplane.kafka._connection import ConnectionSettings, read_properties
from streamplane.kafka._quorum import QuorumInfo, describe_quorum
from streamplane.kafka._quotas import (
    QUOTA_KEYS,
    QuotaEntity,
    alter_client_quotas,
    describe_client_quotas,
)

__all__ = [
    "QUOTA_KEYS",
    "ConnectionSettings",
    "QuorumInfo",
    "QuotaEntity",
    "alter_client_quotas",
    "describe_client_quotas",
    "describe_quorum",
    "read_properties",
]
