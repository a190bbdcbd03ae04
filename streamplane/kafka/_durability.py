"""Read what a live cluster's durability depends on: broker defaults and topics' effective configs.

One metadata request, one config request per broker and one for all the topics; the
judging is done elsewhere (``streamplane.policy``) on the values read here, so it can be
tested without a broker.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType

from streamplane.errors import ClusterError
from streamplane.kafka._connection import ConnectionSettings
from streamplane.kafka._failover import admin_config

#: Broker settings a zero-loss audit looks at.
BROKER_KEYS = (
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "default.replication.factor",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
)
#: Topic settings a zero-loss audit looks at.
TOPIC_KEYS = ("min.insync.replicas", "unclean.leader.election.enable")


@dataclass(frozen=True)
class TopicSetting:
    """A topic config's effective value, and whether the topic itself overrides it."""

    value: str
    overridden: bool


@dataclass(frozen=True)
class TopicDurability:
    name: str
    partitions: int
    #: The smallest replica count of any partition (the weakest one decides).
    replication_factor: int
    settings: dict[str, TopicSetting] = field(default_factory=dict)
    #: Partition -> its replicas, preferred leader first (what a reassignment starts from).
    assignment: dict[int, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterDurability:
    """Broker settings by broker id, and the topics asked about that exist."""

    bootstrap_servers: str
    brokers: dict[int, dict[str, str]]
    topics: dict[str, TopicDurability]
    #: Broker id -> key -> where its value comes from ("DYNAMIC_BROKER_CONFIG" is a
    #: per-broker override, which the cluster-wide default cannot undo).
    broker_sources: dict[int, dict[str, str]] = field(default_factory=dict)


def read_durability(
    settings: ConnectionSettings, topics: Iterable[str], *, timeout_s: float = 30.0
) -> ClusterDurability:
    """Every broker's durability settings and the effective durability of ``topics``."""
    admin = AdminClient(admin_config(settings))
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise ClusterError(
            f"cannot read metadata from {settings.bootstrap_servers}: {exc}"
        ) from exc
    broker_ids = sorted(metadata.brokers)
    wanted = sorted(t for t in set(topics) if t in metadata.topics)
    # A broker's configs are answered by that broker: one request each (librdkafka
    # refuses two brokers in one call), all in flight together; topics in one request.
    futures: dict[Any, concurrent.futures.Future[Any]] = {}
    for broker_id in broker_ids:
        resource = ConfigResource(ResourceType.BROKER, str(broker_id))
        futures.update(admin.describe_configs([resource], request_timeout=timeout_s))
    if wanted:
        topic_resources = [ConfigResource(ResourceType.TOPIC, t) for t in wanted]
        futures.update(admin.describe_configs(topic_resources, request_timeout=timeout_s))
    described = _resolve(futures)
    brokers: dict[int, dict[str, str]] = {}
    sources: dict[int, dict[str, str]] = {}
    found: dict[str, TopicDurability] = {}
    for resource, entries in described.items():
        if resource.restype == ResourceType.BROKER:
            known = [k for k in BROKER_KEYS if k in entries and entries[k].value is not None]
            brokers[int(resource.name)] = {key: entries[key].value for key in known}
            sources[int(resource.name)] = {key: _source_name(entries[key].source) for key in known}
            continue
        partitions = metadata.topics[resource.name].partitions
        found[resource.name] = TopicDurability(
            name=resource.name,
            partitions=len(partitions),
            replication_factor=min((len(p.replicas) for p in partitions.values()), default=0),
            settings={
                key: TopicSetting(
                    value=str(entries[key].value),
                    overridden=_is_topic_override(entries[key].source),
                )
                for key in TOPIC_KEYS
                if key in entries
            },
            assignment={n: tuple(p.replicas) for n, p in sorted(partitions.items())},
        )
    return ClusterDurability(
        settings.bootstrap_servers, brokers=brokers, topics=found, broker_sources=sources
    )


def _source_name(source: Any) -> str:
    """A config source as Kafka names it (confluent-kafka gives an enum or its int value)."""
    try:
        return ConfigSource(source).name
    except ValueError:
        return str(source)


def _is_topic_override(source: Any) -> bool:
    return bool(
        source == ConfigSource.DYNAMIC_TOPIC_CONFIG
        or source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    )


def _resolve(futures: dict[Any, concurrent.futures.Future[Any]]) -> dict[Any, Any]:
    results: dict[Any, Any] = {}
    failures = []
    for resource, future in futures.items():
        try:
            results[resource] = future.result()
        except KafkaException as exc:
            failures.append(f"{resource}: {exc.args[0].str() if exc.args else exc}")
    if failures:
        raise ClusterError("cannot read configs:\n  " + "\n  ".join(failures[:20]))
    return results
