"""Derive one cluster's desired state from the spec: topics, least-privilege ACLs, quotas."""

from __future__ import annotations

from collections.abc import Iterable

from streamplane.kafka import QuotaEntity
from streamplane.model import ApplicationEntry, Spec, parking_topics
from streamplane.model._dead_letters import ParkingName
from streamplane.model._topic_configs import TOPIC_CONFIGS
from streamplane.reconcile._replication import (
    copy_read_acls,
    replication_acls,
    replication_principals,
)
from streamplane.reconcile._resources import AclEntry, DesiredState, DesiredTopic


def desired_state(spec: Spec, cluster: str) -> DesiredState:
    state = DesiredState(cluster=cluster)
    here = spec.topics_on(cluster)
    for entry in here:
        state.topics[entry.full_name] = DesiredTopic(
            name=entry.full_name,
            partitions=entry.topic.partitions,
            replication_factor=entry.topic.replication_factor,
            configs=_normalised(entry.topic.kafka_configs()),
            tenant=entry.tenant.name,
            protected=entry.topic.protected,
        )
    here_names = {entry.full_name for entry in here}
    parked_by_app: dict[str, list[ParkingName]] = {}
    for parked in parking_topics(spec).values():
        parked_by_app.setdefault(parked.application.app.name, []).append(
            (parked.name, parked.kind, parked.origin.full_name)
        )
        if (
            parked.declared
            or parked.origin.full_name not in here_names
            or cluster not in parked.application.tenant.clusters
        ):
            # Declared: created as declared. Otherwise where the consumer reads the topic:
            # on the clusters of both the topic and the consuming application.
            continue
        state.topics[parked.name] = DesiredTopic(
            name=parked.name,
            partitions=parked.origin.topic.partitions,
            replication_factor=parked.origin.topic.replication_factor,
            configs=_normalised(parked.configs()),
            # The consumer's: its failures live, are retained and are granted in its namespace.
            tenant=parked.application.tenant.name,
            protected=False,
        )
    for app in spec.applications_on(cluster):
        state.principals[app.principal] = app.tenant.name
        for acl, why in application_acls(app, parked_by_app.get(app.app.name, ())):
            state.acls.setdefault(acl, why)
        for acl, why in copy_read_acls(spec, app, cluster):
            state.acls.setdefault(acl, why)
        # The tenant's quotas are defaults; an application overrides them key by key.
        values = {
            **(app.tenant.quotas.values() if app.tenant.quotas else {}),
            **(app.app.quotas.values() if app.app.quotas else {}),
        }
        if values:
            state.quotas[QuotaEntity(user=app.principal)] = values
    for principal in replication_principals(spec, cluster):
        state.principals[principal] = None
    for acl, why in replication_acls(spec, cluster):
        state.acls.setdefault(acl, why)
    for i, exc in enumerate(spec.platform.acl_exceptions):
        if exc.cluster not in (None, cluster):
            continue
        acl = AclEntry(
            principal=exc.principal,
            resource_type=exc.resource_type.upper(),
            resource_name=exc.resource_name,
            pattern_type=exc.pattern.upper(),
            operation=exc.operation.upper(),
            permission=exc.permission.upper(),
            host=exc.host,
        )
        state.acls.setdefault(acl, f"acl_exceptions[{i}]: {exc.reason}")
    for quota_entry in spec.platform.quotas:
        values = quota_entry.values()
        if values:
            entity = QuotaEntity(user=quota_entry.user, client_id=quota_entry.client_id)
            state.quotas[entity] = values
    return state


def _normalised(configs: dict[str, object]) -> dict[str, str]:
    return {key: TOPIC_CONFIGS[key].normalise(value) for key, value in configs.items()}


def application_acls(
    entry: ApplicationEntry, parked: Iterable[ParkingName] = ()
) -> list[tuple[AclEntry, str]]:
    """Least privilege for one application, each ACL with the reason it exists.

    ``parked``: the retry and dead-letter topics its ``dead_letters`` imply
    (``parking_topics``), all in its own namespace; it writes each of them and reads back
    its retry topics. Nobody else is granted anything on them: not the consumed topic's
    owners, not other consumers of it (operators read and replay them as the platform).
    """
    principal = f"User:{entry.principal}"
    app = entry.app
    here = f"application {app.name}"
    acls: list[tuple[AclEntry, str]] = []

    def grant(rtype: str, name: str, op: str, why: str, pattern: str = "LITERAL") -> None:
        acls.append((AclEntry(principal, rtype, name, pattern, op), f"{here} {why}"))

    for topic in app.produces:
        grant("TOPIC", topic, "WRITE", f"produces {topic}")
        grant("TOPIC", topic, "DESCRIBE", f"produces {topic}")
    for topic in app.consumes:
        grant("TOPIC", topic, "READ", f"consumes {topic}")
        grant("TOPIC", topic, "DESCRIBE", f"consumes {topic}")
    if app.consumes:
        grant("GROUP", entry.consumer_group, "READ", "joins its consumer group")
    if app.produces:
        # Kafka >= 3.0 lets WRITE imply idempotent produce (KIP-679); older brokers and
        # clients still check IDEMPOTENT_WRITE on the cluster.
        grant("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE", "produces idempotently")
    parks = False
    for name, kind, origin in parked:
        parks = True
        grant("TOPIC", name, "WRITE", f"parks records of {origin} in {name}")
        grant("TOPIC", name, "DESCRIBE", f"parks records of {origin} in {name}")
        if kind == "retry":
            grant("TOPIC", name, "READ", f"retries records of {origin}")
    if parks and not app.produces:
        grant("CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE", "parks records idempotently")
    if app.transactional:
        txn = f"{entry.tenant.namespace}{app.name}"
        grant("TRANSACTIONAL_ID", txn, "WRITE", "uses transactions", "PREFIXED")
        grant("TRANSACTIONAL_ID", txn, "DESCRIBE", "uses transactions", "PREFIXED")
    return acls
