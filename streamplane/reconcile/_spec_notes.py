"""What the spec says that Kafka and the registry cannot hold, recorded on the cluster.

Kafka keeps topics, configs, ACLs, credentials and quotas; the registry keeps schemas and
their contracts. Much of a spec has no home there: who owns a topic, its classification,
whether it is core or protected, its lake sink, a tenant's owners and default quotas, an
application's client profile, client ids, rack and retry delays, the cluster's environment
and racks, the deletion and policy settings. ``streamplane import`` reads a cluster back as
a spec, and without these it could only write placeholders: a spec that plans no change
but says less than the one applied (retry delays of 5s and 1m came back as 1m and 1m).

So ``apply`` records them, last, in the compacted platform topic ``_streamplane_spec_notes``
(key: the spec's cluster name; value: JSON, see :func:`spec_notes`), on every run, an
empty plan included, like the tenant records (``_tenants.py``). Kafka is the platform's
system of record. ``import`` lays them over what it reads from the cluster, for the
resources it finds there only: the cluster stays the authority on what exists.

Notes describe; nothing enforces them. Changing only a note (a retry delay, an owner) is
no change to plan: the next ``apply`` records it.
"""

from __future__ import annotations

import json
from typing import Any

from streamplane.kafka import ConnectionSettings
from streamplane.model import Spec
from streamplane.reconcile._platform_topic import read_compacted, write_compacted

NOTES_TOPIC = "_streamplane_spec_notes"
#: The notes' layout; a reader skips notes of a layout it does not know.
NOTES_VERSION = 1

Notes = dict[str, Any]
#: What a cluster entry says that Kafka does not (its name and connection are imported).
_CLUSTER_NOTES = {
    "environment",
    "racks",
    "data_classes",
    "tiered_storage",
    "max_partitions_per_broker",
}


def spec_notes(spec: Spec, cluster: str) -> Notes:
    """The spec's facts about ``cluster`` that Kafka and the registry cannot hold.

    ``{"version", "cluster", "deletion", "policy", "tenants": {name: ...},
    "domains": {"tenant/domain": ...}, "topics": {full name: ...},
    "applications": {principal: ...}}``; durations in milliseconds, as the model holds them.
    """
    entry = spec.cluster(cluster)
    tenants = [t for t in spec.platform.tenants if cluster in t.clusters]
    notes: Notes = {
        "version": NOTES_VERSION,
        "cluster": entry.model_dump(
            mode="json",
            include=_CLUSTER_NOTES,
        ),
        "deletion": spec.platform.deletion.model_dump(mode="json"),
        "policy": spec.platform.policy.model_dump(mode="json"),
        "tenants": {
            t.name: {
                "owners": list(t.owners),
                "quotas": t.quotas.model_dump(mode="json", exclude_none=True) if t.quotas else None,
            }
            for t in tenants
        },
        "domains": {f"{t.name}/{d.name}": {"owner": d.owner} for t in tenants for d in t.domains},
        "topics": {},
        "applications": {},
    }
    for topic in spec.topics_on(cluster):
        notes["topics"][topic.full_name] = {
            "owner": topic.topic.owner,
            "classification": topic.topic.classification,
            "core": topic.topic.core,
            "protected": topic.topic.protected,
            "lake": topic.topic.lake.model_dump(mode="json", exclude_defaults=True)
            if topic.topic.lake is not None
            else None,
        }
    for app in spec.applications_on(cluster):
        settings = app.app.dead_letters
        profile = app.app.profile
        notes["applications"][app.principal] = {
            "name": app.app.name,
            "auth": app.app.auth,
            "client_ids": list(app.app.client_ids),
            "rack": app.app.rack,
            "profile": profile.model_dump(mode="json") if profile is not None else None,
            "retries": list(settings.retries) if settings is not None else None,
        }
    return notes


def record_spec_notes(spec: Spec, cluster: str, settings: ConnectionSettings) -> None:
    """Record the spec's notes for ``cluster``; acknowledged by all in-sync replicas.

    Written on every apply rather than compared first: one small record on a compacted
    topic costs less than reading the topic back, and compaction keeps the newest.
    """
    value = json.dumps(spec_notes(spec, cluster), sort_keys=True).encode()
    write_compacted(
        settings,
        NOTES_TOPIC,
        {cluster: value},
        failure="applied, but could not record the spec's notes (`streamplane import` would "
        "read placeholders; apply again to record them)",
    )


def read_spec_notes(
    settings: ConnectionSettings, cluster: str | None = None, *, timeout_s: float = 30.0
) -> Notes | None:
    """The notes last recorded for ``cluster`` (any cluster name when None and only one is
    recorded); None when there are none, as on a cluster Streamplane never applied."""
    found: dict[str, Notes] = {}
    for key, value in (read_compacted(settings, NOTES_TOPIC, timeout_s=timeout_s) or {}).items():
        notes = json.loads(value)
        if isinstance(notes, dict) and notes.get("version") == NOTES_VERSION:
            found[key] = notes
    if cluster is not None and cluster in found:
        return found[cluster]
    return next(iter(found.values())) if len(found) == 1 else None
