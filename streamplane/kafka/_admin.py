"""Batched admin calls through confluent-kafka's AdminClient.

Every read is one request per batch of resources, not one per resource: a plan
over 10,000 topics and 50,000 ACLs makes a handful of round trips. This is the
only module (with ``_quotas``) that talks the admin protocol.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException
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
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from streamplane.errors import ClusterError
from streamplane.kafka._connection import ConnectionSettings

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


def _wait(
    futures: dict[Any, concurrent.futures.Future[Any]], what: Callable[[Any], str]
) -> dict[Any, Any]:
    """Resolve every future; collect all failures into one ClusterError."""
    results: dict[Any, Any] = {}
    failures: list[str] = []
    for key, future in futures.items():
        try:
            results[key] = future.result()
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            failures.append(f"{what(key)}: {error.str()}")
    if failures:
        shown = "\n  ".join(failures[:20])
        more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
        raise ClusterError(f"{len(failures)} admin operation(s) failed:\n  {shown}{more}")
    return results


class ClusterAdmin:
    """The admin operations reconciliation needs, batched."""

    def __init__(self, settings: ConnectionSettings, *, timeout_s: float = 60.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.client = AdminClient(settings.librdkafka(**{"log_level": 3}))

    # ------------------------------------------------------------------ reads
    def topic_names(self) -> set[str]:
        """Names only: one metadata request, no config reads."""
        return set(self._metadata().topics)

    def _metadata(self) -> Any:
        try:
            return self.client.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise ClusterError(
                f"cannot read topics from {self.settings.bootstrap_servers}: {exc}"
            ) from exc

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
            futures = self.client.describe_configs(
                [ConfigResource(ResourceType.TOPIC, n) for n in chunk],
                request_timeout=self.timeout_s,
            )
            results = _wait(futures, lambda r: f"describe configs of topic {r.name}")
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
        try:
            bindings = self.client.describe_acls(match_all, request_timeout=self.timeout_s).result()
        except KafkaException as exc:
            raise ClusterError(f"cannot read ACLs: {exc.args[0].str()}") from exc
        return [_to_tuple(b) for b in bindings]

    def scram_users(self) -> dict[str, int]:
        """SCRAM-SHA-512 users and the iteration count each credential was stored with."""
        try:
            future = self.client.describe_user_scram_credentials(request_timeout=self.timeout_s)
            assert isinstance(future, concurrent.futures.Future)  # users=None: a single future
            described = future.result()
        except KafkaException as exc:
            raise ClusterError(f"cannot read SCRAM users: {exc.args[0].str()}") from exc
        users = {}
        for user, description in described.items():
            for info in description.scram_credential_infos:
                if info.mechanism == ScramMechanism.SCRAM_SHA_512:
                    users[user] = int(info.iterations)
        return users

    # ----------------------------------------------------------------- writes
    def create_topics(self, topics: Sequence[tuple[str, int, int | None, dict[str, str]]]) -> None:
        for chunk in _chunks(topics, 500):
            futures = self.client.create_topics(
                [
                    NewTopic(n, p, rf if rf is not None else -1, config=dict(c))
                    for n, p, rf, c in chunk
                ],
                operation_timeout=self.timeout_s,
                request_timeout=self.timeout_s,
            )
            _wait(_ignore(futures, KafkaError.TOPIC_ALREADY_EXISTS), lambda n: f"create topic {n}")

    def alter_topic_configs(self, changes: dict[str, dict[str, str | None]]) -> None:
        """Per topic: key -> value to SET, or None to DELETE the override (back to default)."""
        resources = [
            ConfigResource(
                ResourceType.TOPIC,
                topic,
                incremental_configs=[
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                    if v is not None
                    else ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                    for k, v in sorted(keys.items())
                ],
            )
            for topic, keys in sorted(changes.items())
        ]
        for chunk in _chunks(resources):
            futures = self.client.incremental_alter_configs(
                list(chunk), request_timeout=self.timeout_s
            )
            _wait(futures, lambda r: f"alter configs of topic {r.name}")

    def add_partitions(self, totals: dict[str, int]) -> None:
        items = [NewPartitions(t, n) for t, n in sorted(totals.items())]
        for chunk in _chunks(items):
            futures = self.client.create_partitions(list(chunk), request_timeout=self.timeout_s)
            _wait(futures, lambda t: f"add partitions to {t}")

    def delete_topics(self, names: Sequence[str]) -> None:
        for chunk in _chunks(list(names)):
            futures = self.client.delete_topics(list(chunk), operation_timeout=self.timeout_s)
            _wait(_ignore(futures, KafkaError.UNKNOWN_TOPIC_OR_PART), lambda n: f"delete topic {n}")

    def create_acls(self, acls: Sequence[AclTuple]) -> None:
        for chunk in _chunks(list(acls)):
            futures = self.client.create_acls(
                [_to_binding(a) for a in chunk], request_timeout=self.timeout_s
            )
            _wait(futures, lambda b: f"create ACL {b}")

    def delete_acls(self, acls: Sequence[AclTuple]) -> None:
        for chunk in _chunks(list(acls)):
            filters = [_to_filter(a) for a in chunk]
            futures = self.client.delete_acls(filters, request_timeout=self.timeout_s)
            _wait(futures, lambda b: f"delete ACL {b}")

    def upsert_scram(self, credentials: dict[str, str]) -> None:
        """Create or replace SCRAM-SHA-512 credentials (user -> password)."""
        items = [
            UserScramCredentialUpsertion(
                user,
                ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, scram_iterations(user, pw)),
                pw.encode(),
            )
            for user, pw in sorted(credentials.items())
        ]
        for chunk in _chunks(items):
            futures = self.client.alter_user_scram_credentials(
                list(chunk), request_timeout=self.timeout_s
            )
            _wait(futures, lambda u: f"set SCRAM credential of {u}")

    def delete_scram(self, users: Sequence[str]) -> None:
        items = [
            UserScramCredentialDeletion(u, ScramMechanism.SCRAM_SHA_512) for u in sorted(users)
        ]
        for chunk in _chunks(items):
            futures = self.client.alter_user_scram_credentials(
                list(chunk), request_timeout=self.timeout_s
            )
            _wait(futures, lambda u: f"delete SCRAM credential of {u}")


def _ignore(
    futures: dict[Any, concurrent.futures.Future[Any]], code: int
) -> dict[Any, concurrent.futures.Future[Any]]:
    """Treat one error code as success: re-running an interrupted apply must converge."""
    wrapped: dict[Any, concurrent.futures.Future[Any]] = {}
    for key, future in futures.items():
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            done.set_result(future.result())
        except KafkaException as exc:
            if exc.args[0].code() == code:
                done.set_result(None)
            else:
                done.set_exception(exc)
        wrapped[key] = done
    return wrapped


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
