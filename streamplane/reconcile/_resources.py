"""Plain values for what lives on a cluster: topics, ACL entries, credentials, quotas.

Desired state (from the spec) and actual state (from the cluster) use the same
types, so a plan is a diff of two values of one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamplane.kafka import QuotaEntity


@dataclass(frozen=True, order=True)
class AclEntry:
    """One ACL binding in Kafka's own vocabulary (upper-case enums, ``User:`` principals)."""

    principal: str
    resource_type: str  # TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID
    resource_name: str
    pattern_type: str  # LITERAL, PREFIXED
    operation: str  # READ, WRITE, DESCRIBE, IDEMPOTENT_WRITE, ...
    permission: str = "ALLOW"
    host: str = "*"

    def describe(self) -> str:
        pattern = "" if self.pattern_type == "LITERAL" else f" ({self.pattern_type.lower()})"
        return (
            f"{self.principal} {self.permission} {self.operation} on "
            f"{self.resource_type}:{self.resource_name}{pattern}"
            + ("" if self.host == "*" else f" from {self.host}")
        )


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    replication_factor: int | None
    #: Topic-level overrides only (values Kafka stores for this topic), as strings.
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DesiredTopic(TopicState):
    tenant: str | None = None
    protected: bool = False


@dataclass
class DesiredState:
    """What the spec asks of one cluster; every ACL carries the spec entry that grants it."""

    cluster: str
    topics: dict[str, DesiredTopic] = field(default_factory=dict)
    acls: dict[AclEntry, str] = field(default_factory=dict)
    #: principal -> tenant name (None for platform principals)
    principals: dict[str, str | None] = field(default_factory=dict)
    quotas: dict[QuotaEntity, dict[str, float]] = field(default_factory=dict)


@dataclass
class ActualState:
    """What the cluster holds, read in a handful of batched admin calls."""

    topics: dict[str, TopicState] = field(default_factory=dict)
    acls: set[AclEntry] = field(default_factory=set)
    scram_users: set[str] = field(default_factory=set)
    #: SCRAM-SHA-512 iteration count per user (it fingerprints the secret; see scram_iterations)
    scram_iterations: dict[str, int] = field(default_factory=dict)
    quotas: dict[QuotaEntity, dict[str, float]] = field(default_factory=dict)
    #: The value a topic gets when it has no override (broker or Kafka default).
    topic_defaults: dict[str, str] = field(default_factory=dict)
