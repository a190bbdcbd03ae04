"""Read-only views of a live cluster for operators: topics, partitions, consumer groups, lag.

Every view is a handful of batched requests whatever the number of partitions: one
Metadata request for the partition layout, one ListOffsets per offset kind for all
partitions at once, one DescribeConfigs for a topic's configs, and per group one
OffsetFetch. Sizes come from DescribeLogDirs, which confluent-kafka lacks, through
kafka-python (as the quorum and quota reads do).

Lag is Kafka's own definition (``kafka-consumer-groups --describe``): a partition's
high-water mark minus the group's committed offset; a partition the group has never
committed has no lag (shown as unknown), not a lag of the whole partition.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, ConfigSource, OffsetSpec, ResourceType

from streamplane.errors import ClusterError
from streamplane.kafka._admin import AclTuple, ClusterAdmin
from streamplane.kafka._connection import ConnectionSettings

#: Where a config value comes from, in the words an operator reads (Kafka's ConfigSource).
_SOURCES = {
    ConfigSource.DYNAMIC_TOPIC_CONFIG: "topic",
    ConfigSource.DYNAMIC_BROKER_CONFIG: "broker (dynamic)",
    ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG: "cluster default (dynamic)",
    ConfigSource.STATIC_BROKER_CONFIG: "broker (server.properties)",
    ConfigSource.DEFAULT_CONFIG: "Kafka default",
}

# The stubs leave these factories untyped; called once here.
_EARLIEST: Any = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
_LATEST: Any = OffsetSpec.latest()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class PartitionState:
    """One partition's replicas as the cluster's metadata has them right now."""

    topic: str
    partition: int
    #: Node id of the leader; None when the partition has none (offline: no reads or writes).
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def offline(self) -> bool:
        return self.leader is None

    @property
    def under_replicated(self) -> bool:
        """Led, but with fewer in-sync replicas than replicas: one more failure may stop
        writes or lose data. An offline partition is the worse state and is not counted here."""
        return not self.offline and len(self.isr) < len(self.replicas)

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "leader": self.leader,
            "replicas": list(self.replicas),
            "isr": list(self.isr),
            "offline": self.offline,
            "under_replicated": self.under_replicated,
        }


@dataclass(frozen=True)
class TopicLayout:
    """A topic's partitions and what their replicas say about its health."""

    name: str
    partitions: tuple[PartitionState, ...]

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def under_replicated(self) -> int:
        return sum(1 for p in self.partitions if p.under_replicated)

    @property
    def offline(self) -> int:
        return sum(1 for p in self.partitions if p.offline)

    @property
    def internal(self) -> bool:
        """Kafka's own topics (``__consumer_offsets``, ``__transaction_state``...)."""
        return self.name.startswith("__")


@dataclass(frozen=True)
class TopicConfig:
    name: str
    value: str | None
    #: Where the value is set: "topic", "broker (server.properties)", ...
    source: str


@dataclass(frozen=True)
class PartitionDetail:
    state: PartitionState
    #: Log start offset and high-water mark; None when the partition has no leader to ask.
    start_offset: int | None
    end_offset: int | None
    #: Bytes on disk of one replica (the largest), from DescribeLogDirs; None if not read.
    size_bytes: int | None

    @property
    def records(self) -> int | None:
        """Offsets between start and end: records plus transaction markers, an upper bound."""
        if self.start_offset is None or self.end_offset is None:
            return None
        return self.end_offset - self.start_offset


@dataclass(frozen=True)
class TopicDetail:
    layout: TopicLayout
    partitions: tuple[PartitionDetail, ...]
    #: Configs whose value is not Kafka's built-in default, whoever set them.
    configs: tuple[TopicConfig, ...]
    #: Bytes of every replica on every broker; None when DescribeLogDirs was not answered.
    size_on_disk_bytes: int | None


@dataclass(frozen=True)
class GroupListing:
    group: str
    state: str
    #: CLASSIC (the JoinGroup protocol) or CONSUMER (KIP-848).
    kind: str
    members: int
    #: Sum of the lag of every committed partition; None when the group committed nothing.
    total_lag: int | None


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end_offset: int | None
    #: end offset - committed offset; None when either is unknown.
    lag: int | None
    #: The member the partition is assigned to (its member id), if any.
    member: str | None = None


@dataclass(frozen=True)
class GroupMember:
    member_id: str
    client_id: str
    host: str
    instance_id: str | None
    assignment: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class GroupDetail:
    group: str
    state: str
    kind: str
    #: The partition assignor (classic groups) the members agreed on; "" when none.
    protocol: str
    coordinator: int | None
    members: tuple[GroupMember, ...]
    lags: tuple[PartitionLag, ...] = field(default=())

    @property
    def total_lag(self) -> int | None:
        known = [p.lag for p in self.lags if p.lag is not None]
        return sum(known) if known else None


class ClusterInspector:
    """Operator reads over one admin connection (the one reconciliation uses)."""

    def __init__(self, settings: ConnectionSettings, *, timeout_s: float = 15.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        # The admin client reconciliation builds, so both connect, fail and retry alike.
        self._admin = ClusterAdmin(settings, timeout_s=timeout_s)
        self._client = self._admin.client

    # ----------------------------------------------------------------- topics
    def layouts(self, names: Iterable[str] | None = None) -> list[TopicLayout]:
        """Partition layout of every topic (or of ``names``), sorted by name: one request."""
        try:
            metadata = self._client.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise ClusterError(
                f"cannot read topics from {self.settings.bootstrap_servers}: {exc.args[0].str()}"
            ) from exc
        wanted = set(names) if names is not None else None
        layouts = []
        for name, topic in sorted(metadata.topics.items()):
            if wanted is not None and name not in wanted:
                continue
            partitions = tuple(
                PartitionState(
                    topic=name,
                    partition=p.id,
                    leader=p.leader if p.leader >= 0 else None,
                    replicas=tuple(p.replicas),
                    isr=tuple(p.isrs),
                )
                for _, p in sorted(topic.partitions.items())
            )
            layouts.append(TopicLayout(name, partitions))
        return layouts

    def brokers(self) -> list[int]:
        """The ids of the brokers the cluster reports now (DescribeCluster), sorted."""
        try:
            described = self._client.describe_cluster(request_timeout=self.timeout_s).result()
        except KafkaException as exc:
            raise ClusterError(
                f"cannot describe the cluster at {self.settings.bootstrap_servers}: "
                f"{exc.args[0].str()}"
            ) from exc
        return sorted(node.id for node in described.nodes)

    def unhealthy_partitions(self) -> list[PartitionState]:
        """Every under-replicated or offline partition of the cluster (``status``)."""
        return [
            p
            for layout in self.layouts()
            for p in layout.partitions
            if p.offline or p.under_replicated
        ]

    def topic(self, name: str, *, sizes: bool = True) -> TopicDetail:
        """One topic in depth: layout, offsets, non-default configs, and sizes when cheap."""
        found = self.layouts([name])
        if not found:
            raise ClusterError(
                f"no topic {name!r} on {self.settings.bootstrap_servers}; "
                "`streamplane topics list` shows the topics there are"
            )
        layout = found[0]
        live = [p for p in layout.partitions if not p.offline]
        starts = self._offsets([(name, p.partition) for p in live], _EARLIEST)
        ends = self._offsets([(name, p.partition) for p in live], _LATEST)
        per_replica = self._replica_sizes(name) if sizes else None
        details = tuple(
            PartitionDetail(
                state=p,
                start_offset=starts.get((name, p.partition)),
                end_offset=ends.get((name, p.partition)),
                size_bytes=max(per_replica.get(p.partition, [0]), default=0)
                if per_replica is not None
                else None,
            )
            for p in layout.partitions
        )
        on_disk = (
            sum(sum(sizes_) for sizes_ in per_replica.values()) if per_replica is not None else None
        )
        return TopicDetail(layout, details, self._configs(name), on_disk)

    def _configs(self, name: str) -> tuple[TopicConfig, ...]:
        futures = self._client.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name)], request_timeout=self.timeout_s
        )
        try:
            (entries,) = [f.result() for f in futures.values()]
        except KafkaException as exc:
            raise ClusterError(
                f"cannot read the configs of topic {name}: {exc.args[0].str()}"
            ) from exc
        shown = []
        for key, entry in sorted(entries.items()):
            source = ConfigSource(int(getattr(entry.source, "value", entry.source)))
            if entry.is_default or source == ConfigSource.DEFAULT_CONFIG:
                continue
            shown.append(TopicConfig(key, entry.value, _SOURCES.get(source, source.name.lower())))
        return tuple(shown)

    def _offsets(self, partitions: list[tuple[str, int]], spec: Any) -> dict[Any, int]:
        """One ListOffsets for all partitions; a partition that fails is left out (unknown)."""
        if not partitions:
            return {}
        futures = self._client.list_offsets(
            {TopicPartition(t, p): spec for t, p in partitions},
            request_timeout=self.timeout_s,
        )
        found: dict[Any, int] = {}
        for tp, future in futures.items():
            try:
                found[(tp.topic, tp.partition)] = int(future.result().offset)
            except KafkaException:
                continue  # leaderless right now: its offsets are unknown, which is shown
        return found

    def sizes_on_disk(self, names: Iterable[str]) -> dict[str, int] | None:
        """Bytes of every replica of each topic of ``names`` on every broker: one request.

        None when DescribeLogDirs is not answered; a topic no broker holds is left out.
        """
        per_topic = self._replica_sizes_of(list(names))
        if per_topic is None:
            return None
        return {
            topic: sum(sum(replicas) for replicas in partitions.values())
            for topic, partitions in per_topic.items()
        }

    def _replica_sizes(self, name: str) -> dict[int, list[int]] | None:
        """partition -> bytes of each replica; None when DescribeLogDirs fails (not fatal)."""
        per_topic = self._replica_sizes_of([name])
        return None if per_topic is None else per_topic.get(name, {})

    def _replica_sizes_of(self, names: list[str]) -> dict[str, dict[int, list[int]]] | None:
        """topic -> partition -> bytes of each replica, from one DescribeLogDirs."""
        from kafka.admin import KafkaAdminClient

        timeout_ms = int(min(self.timeout_s, 5.0) * 1000)
        try:
            admin = KafkaAdminClient(
                **self.settings.kafka_python(),
                request_timeout_ms=timeout_ms,
                bootstrap_timeout_ms=timeout_ms,
                client_id="streamplane",
            )
        except Exception:  # noqa: BLE001 - sizes are a nicety; the rest of the view stands
            return None
        try:
            answers: list[dict[str, Any]] = admin.describe_log_dirs(names)
        except Exception:  # noqa: BLE001 - as above
            return None
        finally:
            admin.close()
        wanted = set(names)
        sizes: dict[str, dict[int, list[int]]] = {}
        for broker in answers:
            for log_dir in broker.get("log_dirs", []):
                for topic in log_dir.get("topics", []):
                    name = topic.get("name")
                    if name not in wanted:
                        continue
                    for part in topic.get("partitions", []):
                        if part.get("is_future_key"):
                            continue  # a copy being moved between directories, not a replica
                        sizes.setdefault(name, {}).setdefault(
                            int(part["partition_index"]), []
                        ).append(int(part["partition_size"]))
        return sizes

    # ----------------------------------------------------------------- groups
    def groups(self) -> list[GroupListing]:
        """Every consumer group with its state, member count and total lag, sorted by name."""
        ids = self._group_ids()
        if not ids:
            return []
        described = self._describe_groups(ids)
        committed = self.committed_offsets(ids)
        ends = self._offsets(sorted({tp for tps in committed.values() for tp in tps}), _LATEST)
        listings = []
        for group in ids:
            description = described[group]
            lags = [_lag(ends.get(tp), offset) for tp, offset in committed[group].items()]
            known = [lag for lag in lags if lag is not None]
            listings.append(
                GroupListing(
                    group=group,
                    state=_enum_name(description.state),
                    kind=_enum_name(description.type),
                    members=len(description.members),
                    total_lag=sum(known) if known else None,
                )
            )
        return listings

    def _group_ids(self) -> list[str]:
        """The ids of every consumer group, sorted."""
        try:
            listed = self._client.list_consumer_groups(request_timeout=self.timeout_s).result()
        except KafkaException as exc:
            raise ClusterError(
                f"cannot list consumer groups on {self.settings.bootstrap_servers}: "
                f"{exc.args[0].str()}"
            ) from exc
        ids = sorted(g.group_id for g in listed.valid)
        return ids

    def group(self, group: str) -> GroupDetail:
        """One group: its members and assignments, and lag on every partition it reads."""
        detail = self._details([group])[group]
        if detail.state == "DEAD" and not detail.lags:
            raise ClusterError(
                f"no consumer group {group!r} on {self.settings.bootstrap_servers}; "
                "`streamplane groups list` shows the groups there are"
            )
        return detail

    def group_details(self) -> list[GroupDetail]:
        """Every consumer group in detail, sorted by name: one DescribeGroups, the groups'
        OffsetFetches in flight together, and one ListOffsets, however many groups."""
        ids = self._group_ids()
        details = self._details(ids) if ids else {}
        return [details[group] for group in ids]

    def _details(self, ids: list[str]) -> dict[str, GroupDetail]:
        """GroupDetail of each group of ``ids``, read in bulk."""
        described = self._describe_groups(ids)
        committed_by_group = self.committed_offsets(ids)
        members_by_group: dict[str, list[GroupMember]] = {}
        owner: dict[tuple[str, tuple[str, int]], str] = {}
        for group in ids:
            members = members_by_group[group] = []
            for member in described[group].members:
                assigned = tuple(
                    sorted(
                        (tp.topic, tp.partition)
                        for tp in (member.assignment.topic_partitions if member.assignment else [])
                    )
                )
                for tp in assigned:
                    owner[(group, tp)] = member.member_id
                members.append(
                    GroupMember(
                        member_id=member.member_id,
                        client_id=member.client_id,
                        host=member.host,
                        instance_id=member.group_instance_id,
                        assignment=assigned,
                    )
                )
        partitions_of = {
            group: sorted(set(committed_by_group[group]) | {tp for g, tp in owner if g == group})
            for group in ids
        }
        ends = self._offsets(sorted({tp for tps in partitions_of.values() for tp in tps}), _LATEST)
        details = {}
        for group in ids:
            description = described[group]
            committed = committed_by_group[group]
            lags = tuple(
                PartitionLag(
                    topic=t,
                    partition=p,
                    committed=committed.get((t, p)),
                    end_offset=ends.get((t, p)),
                    lag=_lag(ends.get((t, p)), committed.get((t, p))),
                    member=owner.get((group, (t, p))),
                )
                for t, p in partitions_of[group]
            )
            coordinator = description.coordinator
            details[group] = GroupDetail(
                group=group,
                state=_enum_name(description.state),
                kind=_enum_name(description.type),
                protocol=description.partition_assignor or "",
                coordinator=coordinator.id if coordinator is not None else None,
                members=tuple(
                    sorted(members_by_group[group], key=lambda m: (m.client_id, m.member_id))
                ),
                lags=lags,
            )
        return details

    def acls(self) -> list[AclTuple]:
        """Every ACL binding on the cluster."""
        return self._admin.describe_acls()

    def _describe_groups(self, ids: list[str]) -> dict[str, Any]:
        return self._admin._settle(
            lambda pending, t: self._client.describe_consumer_groups(pending, request_timeout=t),
            ids,
            what=lambda g: f"describe consumer group {g}",
        )

    def member_counts(self, ids: list[str]) -> dict[str, int]:
        """group -> how many members it has now (0: inactive, or no such group)."""
        return {group: len(d.members) for group, d in self._describe_groups(ids).items()}

    def committed_offsets(self, ids: list[str]) -> dict[str, dict[tuple[str, int], int]]:
        """group -> (topic, partition) -> committed offset, for what each group committed.

        librdkafka sends one OffsetFetch per group; they are in flight together.
        """

        def submit(groups: list[str], timeout_s: float) -> dict[str, Any]:
            futures: dict[str, concurrent.futures.Future[Any]] = {}
            for group in groups:
                (future,) = self._client.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group)], request_timeout=timeout_s
                ).values()
                futures[group] = future
            return futures

        answers = self._admin._settle(
            submit, ids, what=lambda g: f"read the committed offsets of group {g}"
        )
        return {
            group: {
                (tp.topic, tp.partition): int(tp.offset)
                for tp in answer.topic_partitions
                if tp.offset >= 0
            }
            for group, answer in answers.items()
        }


def _lag(end: int | None, committed: int | None) -> int | None:
    if end is None or committed is None:
        return None
    # A committed offset past the high-water mark happens after a truncation: no lag.
    return max(end - committed, 0)


def _enum_name(value: object) -> str:
    return str(getattr(value, "name", value))
