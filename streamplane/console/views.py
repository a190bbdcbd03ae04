"""What each page shows, as plain data: the HTML pages render it and ``/api/v1`` returns it.

Every function takes the viewer and filters before it counts, so a total, a page count or
an empty table never reveals what another tenant has (a private topic of another tenant is
neither listed nor counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamplane.console.access import AccessRules, Viewer
from streamplane.console.estate import Snapshot
from streamplane.kafka import TopicLayout
from streamplane.model import Spec
from streamplane.model._spec import TopicEntry

PAGE_SIZE = 100


@dataclass(frozen=True)
class Estate:
    """What a request sees: the spec, the newest snapshot, the rules built from both."""

    spec: Spec
    cluster: str
    snapshot: Snapshot
    rules: AccessRules


def _health(layout: TopicLayout | None) -> str:
    if layout is None:
        return "missing"
    if layout.offline:
        return "offline"
    return "under-replicated" if layout.under_replicated else "ok"


def topic_row(estate: Estate, name: str) -> dict[str, Any]:
    """One line of the topics table: the spec's view and the cluster's, side by side."""
    entry = estate.spec.topics.get(name)
    layout = estate.snapshot.layouts.get(name)
    return {
        "name": name,
        "tenant": _tenant_of_row(estate, name),
        "domain": entry.domain.name if entry else None,
        "classification": str(entry.topic.classification)
        if entry and entry.topic.classification
        else None,
        "visibility": str(entry.topic.visibility) if entry else None,
        "managed": entry is not None,
        "partitions": len(layout.partitions) if layout else None,
        "replication_factor": layout.replication_factor if layout else None,
        "health": _health(layout),
    }


def _tenant_of(spec: Spec, name: str) -> str | None:
    tenant = spec.tenant_of_topic(name)
    return tenant.name if tenant else None


def topics(
    estate: Estate,
    viewer: Viewer,
    *,
    query: str = "",
    tenant: str | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
) -> dict[str, Any]:
    """One page of the topics the viewer may see, filtered by a name substring and tenant.

    The cluster's topics and the spec's (declared but missing ones too), sorted by name.
    Only the page's rows are built, so 10,000 topics cost a filter and a slice.
    """
    names = set(estate.snapshot.layouts) | {
        n for n, e in estate.spec.topics.items() if estate.cluster in e.tenant.clusters
    }
    needle = query.strip().lower()
    visible = sorted(
        n
        for n in names
        if (not needle or needle in n.lower()) and estate.rules.may_see_topic(viewer, n)
    )
    if tenant:
        visible = [n for n in visible if _tenant_of_row(estate, n) == tenant]
    size = max(1, min(size, 1000))
    pages = max(1, -(-len(visible) // size))
    page = max(1, min(page, pages))
    chosen = visible[(page - 1) * size : page * size]
    return {
        "total": len(visible),
        "page": page,
        "pages": pages,
        "size": size,
        "topics": [topic_row(estate, n) for n in chosen],
    }


def _tenant_of_row(estate: Estate, name: str) -> str | None:
    entry = estate.spec.topics.get(name)
    return entry.tenant.name if entry else _tenant_of(estate.spec, name)


def owners(entry: TopicEntry | None) -> list[str]:
    """Who answers for the topic: its own owner, its domain's, its tenant's owners."""
    if entry is None:
        return []
    found = [entry.topic.owner, entry.domain.owner, *entry.tenant.owners]
    return list(dict.fromkeys(o for o in found if o))


def topic_flows(estate: Estate, name: str) -> dict[str, list[str]]:
    """The spec's applications that produce and consume the topic."""
    produce = sorted(a for a, e in estate.spec.applications.items() if name in e.app.produces)
    consume = sorted(a for a, e in estate.spec.applications.items() if name in e.app.consumes)
    return {"producers": produce, "consumers": consume}


def topic_groups(estate: Estate, viewer: Viewer, name: str) -> list[dict[str, Any]]:
    """The consumer groups reading the topic that the viewer may see, with their lag on it."""
    found = []
    for group, detail in sorted(estate.snapshot.groups.items()):
        on_topic = [p for p in detail.lags if p.topic == name]
        if not on_topic or not estate.rules.may_see_group(viewer, group):
            continue
        known = [p.lag for p in on_topic if p.lag is not None]
        found.append({
            "group": group, "state": detail.state, "members": len(detail.members),
            "lag": sum(known) if known else None,
        })  # fmt: skip
    return found


def groups(estate: Estate, viewer: Viewer) -> list[dict[str, Any]]:
    """Every consumer group the viewer may see, with its lag and Burrow's health verdict."""
    rows = []
    application = _group_applications(estate.spec)
    for name, detail in sorted(estate.snapshot.groups.items()):
        if not estate.rules.may_see_group(viewer, name):
            continue
        health = estate.snapshot.health(name)
        rows.append({
            "group": name, "application": application.get(name), "state": detail.state,
            "members": len(detail.members), "lag": detail.total_lag,
            "health": health.status if health else "UNKNOWN",
            "topics": sorted({p.topic for p in detail.lags}),
        })  # fmt: skip
    return rows


def _group_applications(spec: Spec) -> dict[str, str]:
    return {e.consumer_group: name for name, e in spec.applications.items() if e.app.consumes}


def group(estate: Estate, name: str) -> dict[str, Any] | None:
    """One group in detail (the caller checked the viewer may see it)."""
    detail = estate.snapshot.groups.get(name)
    if detail is None:
        return None
    health = estate.snapshot.health(name)
    statuses = {(p.topic, p.partition): p.status for p in health.partitions} if health else {}
    return {
        "group": name,
        "application": _group_applications(estate.spec).get(name),
        "state": detail.state,
        "kind": detail.kind,
        "protocol": detail.protocol,
        "health": health.status if health else "UNKNOWN",
        "lag": detail.total_lag,
        "members": [
            {
                "client_id": m.client_id,
                "host": m.host,
                "member_id": m.member_id,
                "partitions": [f"{t}-{p}" for t, p in m.assignment],
            }
            for m in detail.members
        ],
        "partitions": [
            {
                "topic": p.topic,
                "partition": p.partition,
                "committed": p.committed,
                "end": p.end_offset,
                "lag": p.lag,
                "status": statuses.get((p.topic, p.partition), "UNKNOWN"),
            }
            for p in detail.lags
        ],
        "lag_history": [[round(t, 3), lag] for t, lag in estate.snapshot.lag_series(name)],
    }


def overview(estate: Estate, viewer: Viewer) -> dict[str, Any]:
    """The estate at a glance: the cluster's health and the tenants and domains in view."""
    snap = estate.snapshot
    visible = [n for n in snap.layouts if estate.rules.may_see_topic(viewer, n)]
    unhealthy = [n for n in visible if _health(snap.layouts[n]) != "ok"]
    tenants = []
    for tenant in estate.spec.platform.tenants:
        if not estate.rules.may_see_tenant(viewer, tenant.name):
            continue
        declared = [
            e for e in estate.spec.topics.values()
            if e.tenant.name == tenant.name and estate.cluster in tenant.clusters
        ]  # fmt: skip
        tenants.append({
            "name": tenant.name, "namespace": tenant.namespace, "owners": tenant.owners,
            "domains": [d.name for d in tenant.domains], "topics": len(declared),
            "missing": sorted(e.full_name for e in declared if e.full_name not in snap.layouts),
            "applications": sorted(
                a for a, e in estate.spec.applications.items() if e.tenant.name == tenant.name
            ),
        })  # fmt: skip
    groups_in_view = groups(estate, viewer)
    clusters = [
        {"name": c.name, "region": c.region, "environment": c.environment,
         "local": c.local, "brokers": c.brokers, "this": c.name == estate.cluster,
         "data_classes": [str(d) for d in c.data_classes],
         "tenants": sorted(t.name for t in estate.spec.platform.tenants
                           if c.name in t.clusters
                           and estate.rules.may_see_tenant(viewer, t.name))}
        for c in estate.spec.platform.clusters
    ]  # fmt: skip
    return {
        "cluster": estate.cluster,
        "clusters": clusters,
        "brokers": list(snap.brokers),
        "read_at": snap.taken_at or None,
        "error": snap.error,
        "topics": len(visible),
        "unhealthy_topics": sorted(unhealthy),
        "groups": len(groups_in_view),
        "groups_in_error": [g["group"] for g in groups_in_view if g["health"] == "ERR"],
        "tenants": tenants,
        "viewer": {
            "principal": viewer.principal,
            "tenant": viewer.tenant,
            "super_user": viewer.super_user,
        },
    }
