"""Who may read each topic, by the cluster's own ACLs rather than by the spec.

The spec's consumers are what apply grants, but the cluster is what decides: ACL
exceptions, prefixed and wildcard grants, and drift all change who can read. Kafka's
authorizer allows an operation when an ALLOW binding matches and no DENY binding does;
READ is also implied by ALL. Hosts are not considered (the report is per principal), and
super users (the local cluster's ``admin``) read everything without any ACL.
"""

from __future__ import annotations

from collections.abc import Iterable

from streamplane.kafka._admin import AclTuple
from streamplane.model import Spec

#: The operations that allow reading a topic.
READING = {"READ", "ALL"}


def _matches(acl: AclTuple, topic: str) -> bool:
    if acl.resource_type != "TOPIC":
        return False
    if acl.pattern_type == "PREFIXED":
        return topic.startswith(acl.resource_name)
    return acl.resource_name in (topic, "*")


def readers_by_acl(
    spec: Spec, acls: Iterable[AclTuple], topics: Iterable[str]
) -> dict[str, list[str]]:
    """topic -> who the ACLs let read it: application names where the principal is one
    application's, else the principal (``User:x``)."""
    apps_of: dict[str, list[str]] = {}
    for entry in spec.applications.values():
        apps_of.setdefault(f"User:{entry.principal}", []).append(entry.app.name)
    reading = [a for a in acls if a.operation in READING and a.resource_type == "TOPIC"]
    out: dict[str, list[str]] = {}
    for topic in topics:
        allowed = {a.principal for a in reading if a.permission == "ALLOW" and _matches(a, topic)}
        denied = {a.principal for a in reading if a.permission == "DENY" and _matches(a, topic)}
        names: set[str] = set()
        for principal in allowed - denied:
            names.update(apps_of.get(principal, [principal]))
        out[topic] = sorted(names)
    return out
