"""The tenants a cluster has held, so a removed tenant's topics and subjects are found again.

Kafka keeps no owner on a topic: a topic belongs to a tenant because its name starts with
the tenant's namespace. Once a tenant leaves the spec nothing says whose its topics were,
and a plan could only call them unmanaged, forever. So ``apply`` records the namespace of
every tenant it applies in the compacted platform topic ``_streamplane_tenants`` (key: the
namespace; value: ``{"tenant": name}``), Kafka being the platform's system of record.

A recorded namespace that no tenant of the spec has on the cluster belongs to a *former*
tenant (removed, moved to another cluster, or given another prefix). Its topics are
planned like any topic the spec dropped: kept, or deleted under ``--allow-delete`` with
the usual evidence (grace period, active consumers, protection); its registry subjects
are listed beside them and deleted with their topic. Once nothing of a former tenant is
left, apply removes its record (a tombstone), so the record set stays the live one.

Estates applied before this record existed are recorded by their next ``apply``; a tenant
removed before that is found only as unmanaged topics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from streamplane.kafka import ConnectionSettings
from streamplane.model import Spec
from streamplane.reconcile._plan import Action, Kept, Plan
from streamplane.reconcile._platform_topic import read_compacted, write_compacted

TENANTS_TOPIC = "_streamplane_tenants"
#: Subjects of Confluent's TopicNameStrategy: "<topic>-key" and "<topic>-value".
_ROLES = ("-key", "-value")


@dataclass(frozen=True)
class FormerTenant:
    """A tenant recorded on the cluster that the spec no longer has there."""

    name: str
    namespace: str


def read_tenant_records(settings: ConnectionSettings, *, timeout_s: float = 30.0) -> dict[str, str]:
    """Namespace -> tenant, as recorded on the cluster ({} before the first record)."""
    found = read_compacted(settings, TENANTS_TOPIC, timeout_s=timeout_s) or {}
    return {namespace: str(json.loads(value)["tenant"]) for namespace, value in found.items()}


def write_tenant_records(settings: ConnectionSettings, changes: dict[str, str | None]) -> None:
    """Record (tenant name) or forget (None) namespaces; acknowledged by all in-sync replicas."""
    records = {
        namespace: None if tenant is None else json.dumps({"tenant": tenant}).encode()
        for namespace, tenant in changes.items()
    }
    write_compacted(settings, TENANTS_TOPIC, records, failure="could not record tenants")


def current_namespaces(spec: Spec, cluster: str) -> dict[str, str]:
    """Namespace -> tenant of the spec's tenants on ``cluster``."""
    return {t.namespace: t.name for t in spec.platform.tenants if cluster in t.clusters}


def former_tenants(spec: Spec, cluster: str, records: dict[str, str]) -> list[FormerTenant]:
    """Recorded tenants whose namespace no tenant of the spec has on ``cluster``."""
    current = current_namespaces(spec, cluster)
    return [FormerTenant(name, ns) for ns, name in sorted(records.items()) if ns not in current]


def former_tenant_of(name: str, former: Iterable[FormerTenant]) -> FormerTenant | None:
    """The former tenant whose namespace ``name`` falls in (the longest namespace wins)."""
    owners = [f for f in former if name.startswith(f.namespace)]
    return max(owners, key=lambda f: len(f.namespace)) if owners else None


def owned_subjects(spec: Spec) -> set[str]:
    """The subjects the spec's topics declare, on any cluster (a registry may serve several)."""
    return {
        f"{entry.full_name}-{role}"
        for entry in spec.topics.values()
        for role in ("key", "value")
        if getattr(entry.topic, f"{role}_schema") is not None
    }


def subject_topic(subject: str) -> str | None:
    """The topic a TopicNameStrategy subject belongs to; None for another naming."""
    for role in _ROLES:
        if subject.endswith(role):
            return subject.removesuffix(role)
    return None


def plan_former_tenants(
    plan: Plan,
    former: list[FormerTenant],
    *,
    subjects: list[str] | None,
    owned_subjects: set[str],
    topics_on_cluster: set[str],
    allow_delete: bool,
    tenant_of: Callable[[str], str | None] = lambda _: None,
) -> None:
    """Say which kept topics are a former tenant's, and plan the registry's subjects.

    ``subjects`` are the registry's (None: not read); ``tenant_of`` names the spec's tenant
    whose namespace an unowned subject falls in, for grouping.

    A former tenant's subject is deleted under ``--allow-delete`` when its topic goes in the
    same plan or is already gone (a consumer of the topic still needs it otherwise); any
    other subject no topic of the spec owns is listed as kept: drift shows it.
    """
    by_name = {f.name: f for f in former}
    for index, kept in enumerate(plan.kept):
        tenant = by_name.get(kept.tenant or "")
        if kept.kind == "topic" and tenant is not None and kept.why.startswith("not in the spec"):
            plan.kept[index] = Kept(
                kept.kind,
                kept.resource,
                kept.tenant,
                f"tenant {tenant.name} was removed from the spec; pass --allow-delete to delete",
            )
    if subjects is None:
        return
    deleted = {a.resource for a in plan.actions if a.kind == "topic" and a.op == "delete"}
    for subject in sorted(set(subjects) - owned_subjects):
        owner = former_tenant_of(subject, former)
        if owner is None:
            plan.kept.append(
                Kept(
                    "subject", subject, tenant_of(subject), "no topic of the spec has this subject"
                )
            )
            continue
        topic = subject_topic(subject)
        gone = topic is None or topic in deleted or topic not in topics_on_cluster
        if allow_delete and gone:
            what = "is deleted by this plan" if topic in deleted else "is gone"
            plan.actions.append(
                Action(
                    "delete",
                    "subject",
                    subject,
                    owner.name,
                    reason=f"tenant {owner.name} was removed; "
                    + (f"topic {topic} {what}" if topic else "no topic of the spec uses it"),
                )
            )
        elif allow_delete:
            plan.kept.append(
                Kept("subject", subject, owner.name, f"its topic {topic} is kept: deleted with it")
            )
        else:
            plan.kept.append(
                Kept(
                    "subject",
                    subject,
                    owner.name,
                    f"tenant {owner.name} was removed from the spec; --allow-delete deletes it "
                    "with its topic",
                )
            )
    plan.actions.sort(key=Action.sort_key)


def record_tenants(
    spec: Spec,
    cluster: str,
    settings: ConnectionSettings,
    *,
    topics: set[str],
    subjects: list[str] | None,
) -> None:
    """Bring the records up to date after an apply: the spec's tenants recorded, former
    tenants with nothing left on the cluster (no topic, no subject) forgotten."""
    records = read_tenant_records(settings) if TENANTS_TOPIC in topics else {}
    changes: dict[str, str | None] = {
        ns: name
        for ns, name in current_namespaces(spec, cluster).items()
        if records.get(ns) != name
    }
    for tenant in former_tenants(spec, cluster, records):
        left = [t for t in topics if former_tenant_of(t, [tenant]) is not None]
        left += [s for s in subjects or [] if s.startswith(tenant.namespace)]
        if not left and subjects is not None:
            changes[tenant.namespace] = None
    write_tenant_records(settings, changes)
