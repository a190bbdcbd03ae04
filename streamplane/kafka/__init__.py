"""Connections to Kafka: typed connection settings at the edge of the librdkafka dicts, and
the client configuration profiles every application builds its clients from."""

from __future__ import annotations

from streamplane.kafka._client_log import route_client_logs
from streamplane.kafka._connection import ConnectionSettings, read_properties
from streamplane.kafka._failover import admin_config
from streamplane.kafka._inspect import (
    ClusterInspector,
    GroupDetail,
    GroupListing,
    GroupMember,
    PartitionDetail,
    PartitionLag,
    PartitionState,
    TopicConfig,
    TopicDetail,
    TopicLayout,
)
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
from streamplane.kafka._reach import PROBE_TIMEOUT_S, require_reachable

__all__ = [
    "PROBE_TIMEOUT_S",
    "PROFILES",
    "QUOTA_KEYS",
    "ClusterInspector",
    "ConnectionSettings",
    "GroupDetail",
    "GroupListing",
    "GroupMember",
    "PartitionDetail",
    "PartitionLag",
    "PartitionState",
    "Profile",
    "ProfileError",
    "QuorumInfo",
    "QuotaEntity",
    "TopicConfig",
    "TopicDetail",
    "TopicLayout",
    "admin_config",
    "alter_client_quotas",
    "client_config",
    "describe_client_quotas",
    "describe_quorum",
    "profile",
    "read_properties",
    "require_reachable",
    "route_client_logs",
    "violations",
]
