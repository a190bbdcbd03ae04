"""Client quotas (KIP-546): read and write user / client-id byte-rate and request quotas.

confluent-kafka's AdminClient has no client-quota API, so, as for the KRaft quorum, we use
kafka-python. Its KafkaAdminClient has no quota methods either, but it ships the generated
DescribeClientQuotas / AlterClientQuotas protocol messages; we send those through the admin
client's own connection manager (as its mixins do) rather than writing any wire code.

Kafka's "default" entities (a type present with a null name, e.g. ``user=<default>``) and
``ip`` entities are outside this model: describing skips them, and they cannot be expressed
as a :class:`QuotaEntity`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streamplane.errors import ClusterError
from streamplane.kafka._connection import ConnectionSettings

#: The client quota keys Kafka knows (``QuotaConfig`` in the broker); anything else is refused
#: by the broker, which is the authority, so we do not filter on this list ourselves.
QUOTA_KEYS: tuple[str, ...] = (
    "producer_byte_rate",
    "consumer_byte_rate",
    "request_percentage",
    "controller_mutation_rate",
)

_USER = "user"
_CLIENT_ID = "client-id"


def _none_first(name: str | None) -> tuple[bool, str]:
    return (name is not None, name or "")


@dataclass(frozen=True, order=True)
class QuotaEntity:
    """Who a quota applies to: a user, a client id, or a client id of one user.

    ``None`` means the component is not part of the entity. Ordering puts an absent
    component before any name, so sorting groups ``user=alice`` directly before
    ``user=alice,client-id=…``, which is what listings should show (for ordinary names it is
    also the order of the :meth:`describe` strings).
    """

    # Compared first and alone decides the order (it is injective, so equality and hashing
    # agree with the fields): the generated comparison would otherwise compare None with str.
    _sort_key: tuple[tuple[bool, str], tuple[bool, str]] = field(init=False, repr=False)
    user: str | None = field(default=None, compare=False)
    client_id: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.user is None and self.client_id is None:
            raise ValueError("a QuotaEntity needs a user, a client_id or both")
        object.__setattr__(self, "_sort_key", (_none_first(self.user), _none_first(self.client_id)))

    def describe(self) -> str:
        """The entity as Kafka's tools name it, e.g. ``user=alice,client-id=app1``."""
        return ",".join(f"{kind}={name}" for kind, name in _components(self))


def _components(entity: QuotaEntity) -> list[tuple[str, str]]:
    """(entity type, name) pairs in Kafka's protocol terms, user first."""
    pairs = []
    if entity.user is not None:
        pairs.append((_USER, entity.user))
    if entity.client_id is not None:
        pairs.append((_CLIENT_ID, entity.client_id))
    return pairs


def _entity_from_components(pairs: Iterable[tuple[str, str | None]]) -> QuotaEntity | None:
    """The entity Kafka described, or None if it is one this model leaves out.

    Left out: default entities (a null name) and any other entity type (``ip``), so that
    a caller reconciling user / client-id quotas never sees, or overwrites, those.
    """
    names: dict[str, str] = {}
    for kind, name in pairs:
        if kind not in (_USER, _CLIENT_ID) or name is None or kind in names:
            return None
        names[kind] = name
    if not names:
        return None
    return QuotaEntity(user=names.get(_USER), client_id=names.get(_CLIENT_ID))


def _admin_client(settings: ConnectionSettings, timeout_s: float) -> Any:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    timeout_ms = int(timeout_s * 1000)
    try:
        return KafkaAdminClient(
            **settings.kafka_python(),
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            client_id="streamplane",
        )
    except KafkaError as exc:
        raise ClusterError(
            f"cannot reach Kafka at {settings.bootstrap_servers} within {timeout_s:g} s: {exc}; "
            "check that the cluster is up and the credentials are right"
        ) from exc


def _send(settings: ConnectionSettings, request: Any, *, timeout_s: float, action: str) -> Any:
    """Send one request to any broker and return its response.

    Both APIs are served by every broker (AlterClientQuotas is forwarded to the active
    controller), so no controller routing is needed. The broker picked may be one that
    just died (a node killed during a failover): a retriable error is retried, on the
    next broker kafka-python picks, until ``timeout_s`` has passed.
    """
    from kafka.errors import KafkaError

    admin = _admin_client(settings, timeout_s)
    deadline = time.monotonic() + timeout_s

    async def call() -> Any:
        return await admin._manager.send(request)

    try:
        while True:
            try:
                return admin._manager.run(call)
            except KafkaError as exc:
                if not getattr(exc, "retriable", False) or time.monotonic() + 0.25 > deadline:
                    raise
                time.sleep(0.25)
    except KafkaError as exc:
        raise ClusterError(f"{action} on {settings.bootstrap_servers} failed: {exc}") from exc
    finally:
        admin.close()


def _error_text(error_code: int, message: str | None) -> str:
    from kafka.errors import for_code

    name = for_code(error_code).__name__
    return f"{name}: {message}" if message else name


def describe_client_quotas(
    settings: ConnectionSettings, *, timeout_s: float = 30.0
) -> dict[QuotaEntity, dict[str, float]]:
    """All user / client-id / user+client-id quotas on the cluster.

    Entities without any quota set are not listed (Kafka keeps none for them). The broker
    answers from its replica of the metadata log, so a change made an instant ago through
    another broker (or just committed by the controller) may not be visible yet.
    """
    from kafka.protocol.admin.client_quotas import DescribeClientQuotasRequest

    # No components and not strict: Kafka's filter for "every entity".
    request = DescribeClientQuotasRequest(components=[], strict=False)
    response = _send(settings, request, timeout_s=timeout_s, action="describing client quotas")
    if response.error_code:
        raise ClusterError(
            f"describing client quotas on {settings.bootstrap_servers} failed: "
            f"{_error_text(response.error_code, response.error_message)}"
        )
    quotas: dict[QuotaEntity, dict[str, float]] = {}
    for entry in response.entries or []:
        entity = _entity_from_components((c.entity_type, c.entity_name) for c in entry.entity)
        if entity is None or not entry.values:
            continue
        quotas[entity] = {value.key: float(value.value) for value in entry.values}
    return quotas


def alter_client_quotas(
    settings: ConnectionSettings,
    changes: dict[QuotaEntity, dict[str, float | None]],
    *,
    timeout_s: float = 30.0,
) -> None:
    """Set (value) or remove (None) quota keys, in one batched request.

    Keys not named for an entity are left as they are. Kafka applies each entity's entry on
    its own: if some fail, the others are still applied, so the ClusterError raised names
    every entity that failed with Kafka's reason, and only those. An empty ``changes`` does
    not contact the cluster.
    """
    if not changes:
        return
    from kafka.protocol.admin.client_quotas import AlterClientQuotasRequest

    entry_type = AlterClientQuotasRequest.EntryData
    request = AlterClientQuotasRequest(
        entries=[
            entry_type(
                entity=[
                    entry_type.EntityData(entity_type=kind, entity_name=name)
                    for kind, name in _components(entity)
                ],
                ops=[
                    entry_type.OpData(
                        key=key, value=0.0 if value is None else float(value), remove=value is None
                    )
                    for key, value in ops.items()
                ],
            )
            for entity, ops in changes.items()
        ],
        validate_only=False,
    )
    response = _send(settings, request, timeout_s=timeout_s, action="altering client quotas")
    failures = []
    for entry in response.entries:
        if not entry.error_code:
            continue
        pairs = [(c.entity_type, c.entity_name) for c in entry.entity]
        entity = _entity_from_components(pairs)
        where = entity.describe() if entity else ",".join(f"{k}={n}" for k, n in pairs)
        failures.append(f"{where}: {_error_text(entry.error_code, entry.error_message)}")
    if failures:
        raise ClusterError(
            f"Kafka at {settings.bootstrap_servers} refused client quota changes for "
            f"{len(failures)} of {len(changes)} entities (the others were applied): "
            + "; ".join(failures)
        )
