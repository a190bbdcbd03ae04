"""Batched admin calls through confluent-kafka's AdminClient.

Every read is one request per batch of resources, not one per resource: a plan
over 10,000 topics and 50,000 ACLs makes a handful of round trips. This is the
only module (with ``_quotas``) that talks the admin protocol.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from streamplane.errors import ClusterError
from streamplane.kafka._connection import ConnectionSettings
from streamplane.kafka._failover import (
    SETTLE_S,
    ControllerWatch,
    admin_config,
    settle,
)

T = TypeVar("T")
BATCH = 1000
SCRAM_MIN_ITERATIONS = 8192


def scram_iterations(user: str, password: str) -> int:
    """The iteration count a credential is stored with: 8192 + a digest of the secret.

    Kafka never returns a credential's salt or hash, only its iteration count. Folding
    a digest of the secret into that count lets a plan tell whether the secret in the
    spec's source is the one on the cluster without logging in as every principal
    (thousands of logins would dominate a plan). A rotated secret maps to the same
    count with probability 1/8192; Kafka allows up to 16384 iterations.
    """
    digest = hashlib.sha256(f"{user}\0{password}".encode()).digest()
    return SCRAM_MIN_ITERATIONS + int.from_bytes(digest[:4], "big") % 8192


@dataclass(frozen=True)
class TopicDescription:
    name: str
    partitions: int
    replication_factor: int
    overrides: dict[str, str]


@dataclass(frozen=True)
class AclTuple:
    """An ACL as plain strings, independent of the client library's enums."""

    principal: str
    resource_type: str
    resource_name: str
    pattern_type: str
    operation: str
    permission: str
    host: str


def _chunks(items: Sequence[T], size: int = BATCH) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ClusterAdmin:
    """The admin operations reconciliation needs, batched, riding out controller elections.

    Every call is bounded: metadata reads by ``timeout_s``; the other requests by
    :func:`~streamplane.kafka._failover.settle`, which retries retriable failures (a
    controller being elected, a leader moving) for up to ``settle_s`` and keeps the
    controller librdkafka sends them to on a live broker (the module explains why).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        timeout_s: float = SETTLE_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.settle_s = settle_s
        self.client = AdminClient(admin_config(settings))
        self._watch = ControllerWatch(self.client)

    def _settle(
        self,
        submit: Callable[[list[T], float], dict[Any, concurrent.futures.Future[Any]]],
        items: Sequence[T],
        *,
        what: Callable[[Any], str],
        key: Callable[[T], Hashable] = lambda item: item,
        ignore: tuple[int, ...] = (),
    ) -> dict[Any, Any]:
        return settle(
            submit,
            items,
            what=what,
            watch=self._watch,
            key=key,
            ignore=ignore,
            settle_s=self.settle_s,
            after_each=self._drain_logs,
        )

    def _drain_logs(self) -> None:
        """Hand librdkafka's queued log lines to the routed logger (served on poll)."""
        self.client.poll(0)

    # ------------------------------------------------------------------ reads
    def topic_names(self) -> set[str]:
        """Names only: one metadata request, no config reads."""
        return set(self._metadata().topics)

    def _metadata(self) -> Any:
        try:
            metadata = self.client.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise ClusterError(
                f"cannot read topics from {self.settings.bootstrap_servers}: {exc.args[0].str()}"
            ) from exc
        finally:
            self._drain_logs()
        self._watch.observe(metadata)
        return metadata

    def describe_topics(self) -> tuple[list[TopicDescription], dict[str, str]]:
        """Every topic with its overrides, plus the defaults a topic without overrides gets."""
        metadata = self._metadata()
        names = sorted(metadata.topics)
        shapes = {}
        for name in names:
            parts = metadata.topics[name].partitions
            rf = max((len(p.replicas) for p in parts.values()), default=0)
            shapes[name] = (len(parts), rf)
        overrides: dict[str, dict[str, str]] = {}
        defaults: dict[str, str] = {}
        for chunk in _chunks(names):
            results = self._settle(
                lambda resources, t: self.client.describe_configs(resources, request_timeout=t),
                [ConfigResource(ResourceType.TOPIC, n) for n in chunk],
                what=lambda r: f"describe configs of topic {r.name}",
            )
            for resource, entries in results.items():
                own = {}
                for key, entry in entries.items():
                    if (
                        entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
                        or entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG
                    ):
                        own[key] = entry.value
                    elif key not in defaults and entry.value is not None:
                        defaults[key] = entry.value
                overrides[resource.name] = own
        topics = [
            TopicDescription(n, shapes[n][0], shapes[n][1], overrides.get(n, {})) for n in names
        ]
        return topics, defaults

    def describe_acls(self) -> list[AclTuple]:
        # None means "any" to librdkafka; the stubs do not say so.
        anything: Any = None
        match_all = AclBindingFilter(
            ResourceType.ANY,
            anything,
            ResourcePatternType.ANY,
            anything,
            anything,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        results = self._settle(
            lambda _, t: {"acls": self.client.describe_acls(match_all, request_timeout=t)},
            ["acls"],
            what=lambda _: "read ACLs",
        )
        return [_to_tuple(b) for b in results["acls"]]

    def scram_users(self) -> dict[str, int]:
        """SCRAM-SHA-512 users and the iteration count each credential was stored with."""

        def submit(_: list[str], timeout_s: float) -> dict[str, concurrent.futures.Future[Any]]:
            future = self.client.describe_user_scram_credentials(request_timeout=timeout_s)
            assert isinstance(future, concurrent.futures.Future)  # users=None: a single future
            return {"users": future}

        described = self._settle(submit, ["users"], what=lambda _: "read SCRAM users")["users"]
        users = {}
        for user, description in described.items():
            for info in description.scram_credential_infos:
                if info.mechanism == ScramMechanism.SCRAM_SHA_512:
                    users[user] = int(info.iterations)
        return users

    # ----------------------------------------------------------------- writes
    def create_topics(self, topics: Sequence[tuple[str, int, int | None, dict[str, str]]]) -> None:
        for chunk in _chunks(topics, 500):
            self._settle(
                lambda new, t: self.client.create_topics(
                    new, operation_timeout=t, request_timeout=t
                ),
                [
                    NewTopic(n, p, rf if rf is not None else -1, config=dict(c))
                    for n, p, rf, c in chunk
                ],
                what=lambda n: f"create topic {n}",
                key=lambda t: t.topic,
                # A retry after a timed-out attempt finds the topic created: converged.
                ignore=(KafkaError.TOPIC_ALREADY_EXISTS,),
            )

    def alter_topic_configs(self, changes: dict[str, dict[str, str | None]]) -> None:
        """Per topic: key -> value to SET, or None to DELETE the override (back to default)."""
        self._alter_configs(ResourceType.TOPIC, "topic", changes)

    def alter_broker_configs(self, changes: dict[int, dict[str, str | None]]) -> None:
        """Per broker id: dynamic key -> value to SET, or None to DELETE (as for topics)."""
        self._alter_configs(
            ResourceType.BROKER, "broker", {str(b): keys for b, keys in changes.items()}
        )

    def _alter_configs(
        self, kind: ResourceType, label: str, changes: dict[str, dict[str, str | None]]
    ) -> None:
        resources = [
            ConfigResource(
                kind,
                name,
                incremental_configs=[
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                    if v is not None
                    else ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                    for k, v in sorted(keys.items())
                ],
            )
            for name, keys in sorted(changes.items())
        ]
        # librdkafka sends a broker's configs to that broker: one broker per request.
        for chunk in _chunks(resources, 1 if kind == ResourceType.BROKER else BATCH):
            self._settle(
                lambda rs, t: self.client.incremental_alter_configs(rs, request_timeout=t),
                chunk,
                what=lambda r: f"alter configs of {label} {r.name}",
            )

    def add_partitions(self, totals: dict[str, int]) -> None:
        items = [NewPartitions(t, n) for t, n in sorted(totals.items())]
        for chunk in _chunks(items):
            self._settle(
                lambda ps, t: self.client.create_partitions(ps, request_timeout=t),
                chunk,
                what=lambda t: f"add partitions to {t}",
                key=lambda p: p.topic,
            )

    def delete_topics(self, names: Sequence[str]) -> None:
        for chunk in _chunks(list(names)):
            self._settle(
                lambda ns, t: self.client.delete_topics(ns, operation_timeout=t, request_timeout=t),
                chunk,
                what=lambda n: f"delete topic {n}",
                ignore=(KafkaError.UNKNOWN_TOPIC_OR_PART,),
            )

    def alter_group_offsets(self, offsets: dict[str, list[tuple[str, int, int]]]) -> None:
        """Commit ``group -> [(topic, partition, offset)]`` for groups with no members (a
        live group's offsets are its own: Kafka refuses). One request per group, all in
        flight together."""

        def submit(groups: list[str], timeout_s: float) -> dict[str, Any]:
            futures: dict[str, concurrent.futures.Future[Any]] = {}
            for group in groups:
                tps = [TopicPartition(t, p, o) for t, p, o in offsets[group]]
                (future,) = self.client.alter_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group, tps)], request_timeout=timeout_s
                ).values()
                futures[group] = future
            return futures

        self._settle(submit, list(offsets), what=lambda g: f"commit the offsets of group {g}")

    def create_acls(self, acls: Sequence[AclTuple]) -> None:
        for chunk in _chunks(list(acls)):
            self._settle(
                lambda bindings, t: self.client.create_acls(bindings, request_timeout=t),
                [_to_binding(a) for a in chunk],
                what=lambda b: f"create ACL {b}",
            )

    def delete_acls(self, acls: Sequence[AclTuple]) -> None:
        for chunk in _chunks(list(acls)):
            self._settle(
                lambda filters, t: self.client.delete_acls(filters, request_timeout=t),
                [_to_filter(a) for a in chunk],
                what=lambda b: f"delete ACL {b}",
            )

    def upsert_scram(self, credentials: dict[str, str]) -> None:
        """Create or replace SCRAM-SHA-512 credentials (user -> password)."""
        items: list[UserScramCredentialAlteration] = [
            UserScramCredentialUpsertion(
                user,
                ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, scram_iterations(user, pw)),
                pw.encode(),
            )
            for user, pw in sorted(credentials.items())
        ]
        for chunk in _chunks(items):
            self._settle(
                lambda changes, t: self.client.alter_user_scram_credentials(
                    changes, request_timeout=t
                ),
                chunk,
                what=lambda u: f"set SCRAM credential of {u}",
                key=lambda c: c.user,
            )

    def delete_scram(self, users: Sequence[str]) -> None:
        items: list[UserScramCredentialAlteration] = [
            UserScramCredentialDeletion(u, ScramMechanism.SCRAM_SHA_512) for u in sorted(users)
        ]
        for chunk in _chunks(items):
            self._settle(
                lambda changes, t: self.client.alter_user_scram_credentials(
                    changes, request_timeout=t
                ),
                chunk,
                what=lambda u: f"delete SCRAM credential of {u}",
                key=lambda c: c.user,
            )


#: librdkafka calls Kafka's CLUSTER resource type BROKER; we speak Kafka's vocabulary.
_TO_KAFKA = {"BROKER": "CLUSTER"}
_FROM_KAFKA = {"CLUSTER": "BROKER"}


def _to_tuple(binding: AclBinding) -> AclTuple:
    restype = _enum_name(binding.restype)
    return AclTuple(
        principal=binding.principal,
        resource_type=_TO_KAFKA.get(restype, restype),
        resource_name=binding.name,
        pattern_type=_enum_name(binding.resource_pattern_type),
        operation=_enum_name(binding.operation),
        permission=_enum_name(binding.permission_type),
        host=binding.host,
    )


def _enum_name(value: object) -> str:
    return str(getattr(value, "name", value))


def _binding_args(acl: AclTuple) -> tuple[Any, ...]:
    return (
        ResourceType[_FROM_KAFKA.get(acl.resource_type, acl.resource_type)],
        acl.resource_name,
        ResourcePatternType[acl.pattern_type],
        acl.principal,
        acl.host,
        AclOperation[acl.operation],
        AclPermissionType[acl.permission],
    )


def _to_binding(acl: AclTuple) -> AclBinding:
    return AclBinding(*_binding_args(acl))


def _to_filter(acl: AclTuple) -> AclBindingFilter:
    """An exact filter: deletes this one binding and nothing else."""
    return AclBindingFilter(*_binding_args(acl))
