"""What a rule sees (``RuleContext``), what it returns (``RuleViolation``), and ``Rule`` itself.

Built-in and custom rules share these types, so a team's own rule has the same helpers
(effective replication, a topic's effective configs, where a value was written) and
its findings are located, filtered and exempted exactly like the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from streamplane.model import Cluster, Spec, TopicEntry
from streamplane.model._topic_configs import TOPIC_CONFIGS
from streamplane.model._types import PolicySettings
from streamplane.policy._findings import Severity

#: A path into the spec document, e.g. ("tenants", 0, "domains", 1, "topics", 2).
SpecPath = tuple[str | int, ...]

#: Topic fields that are shortcuts for a Kafka config; the shortcut wins over ``configs``.
_SHORTCUTS = {
    "retention.ms": "retention",
    "cleanup.policy": "cleanup_policy",
    "compression.type": "compression",
    "remote.storage.enable": "tiered",
    "local.retention.ms": "local_retention",
}


@dataclass(frozen=True, kw_only=True)
class RuleViolation:
    """One resource breaking a rule: ``lint`` adds the rule id, severity and location.

    ``resource`` is what exemptions match (a full topic name, or "cluster <name>");
    ``path`` is where in the spec the problem is best fixed.
    """

    resource: str
    path: SpecPath
    message: str
    hint: str


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A named check: its id is what ``policy.rules`` configures and exempts."""

    id: str
    default_severity: Severity
    summary: str
    check: Callable[[RuleContext], Iterable[RuleViolation]]


@dataclass(frozen=True)
class RuleContext:
    """The spec and the policy settings, with the lookups most rules need."""

    spec: Spec
    settings: PolicySettings

    def topic_cluster_entries(self) -> Iterator[tuple[TopicEntry, Cluster]]:
        """Each topic once per cluster it lives on (its tenant's clusters), in spec order.

        Per-cluster rules (replication, placement) must judge a topic on every cluster,
        since one tenant may span a dev and a prod cluster with different guarantees.
        """
        clusters = {c.name: c for c in self.spec.platform.clusters}
        for entry in self.spec.topics.values():
            for name in entry.tenant.clusters:
                if name in clusters:  # an unknown cluster is refused when the spec loads
                    yield entry, clusters[name]

    def cluster_path(self, cluster: Cluster) -> SpecPath:
        """Where ``cluster`` is defined in the spec."""
        for index, candidate in enumerate(self.spec.platform.clusters):
            if candidate.name == cluster.name:
                return ("clusters", index)
        return ("clusters",)


def topic_config(entry: TopicEntry, key: str) -> str | None:
    """The value a topic asks for ``key`` as a broker reports it ("7d" -> "604800000").

    None when the topic leaves the key to the cluster. Shortcut fields (``retention``,
    ``compression``, ``cleanup_policy``) are folded in, so rules need not know both spellings.
    """
    value = entry.topic.kafka_configs().get(key)
    if value is None:
        return None
    known = TOPIC_CONFIGS.get(key)
    if known is None:
        return str(value)
    try:
        return known.normalise(value)
    except ValueError:  # refused when the spec loads; judge the raw text meanwhile
        return str(value)


def config_path(entry: TopicEntry, key: str) -> SpecPath:
    """Where a topic sets ``key``: the shortcut field, the ``configs`` entry, or the topic."""
    shortcut = _SHORTCUTS.get(key)
    if shortcut is not None and getattr(entry.topic, shortcut) is not None:
        return (*entry.path, shortcut)
    if key in entry.topic.configs:
        return (*entry.path, "configs", key)
    return entry.path


def cluster_replication_defaults(cluster: Cluster) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) a topic gets when it sets neither.

    The same defaults the local runtime writes into server.properties: RF 3 / min ISR 2
    from three brokers up, otherwise one replica per broker and min ISR 1.
    """
    if cluster.brokers >= 3:
        return 3, 2
    return cluster.brokers, 1


def effective_replication_factor(entry: TopicEntry, cluster: Cluster) -> int:
    """The replication factor a topic gets on ``cluster``: its own, else the cluster's."""
    if entry.topic.replication_factor is not None:
        return entry.topic.replication_factor
    return cluster_replication_defaults(cluster)[0]


def effective_min_insync_replicas(entry: TopicEntry, cluster: Cluster) -> int:
    """The min.insync.replicas a topic gets on ``cluster``: its config, else the cluster's."""
    value = topic_config(entry, "min.insync.replicas")
    if value is not None and value.lstrip("-").isdigit():
        return int(value)
    return cluster_replication_defaults(cluster)[1]
