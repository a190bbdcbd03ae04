"""What a console user may see: the same rules their Kafka clients and the registry obey.

A user is a principal of the platform (an application's SCRAM user, an OIDC client, or the
cluster's super user). The console shows them a topic when their Kafka client could see
it, and a schema when the registry would serve it to them:

* the cluster's own ACLs (read from the cluster, not the spec: an ACL added by hand counts,
  one that apply has not created yet does not) allow the principal, or ``User:*``, any
  operation on the topic (Kafka lets any allowed operation imply DESCRIBE) and no DENY
  for the principal names it;
* the topic is in the principal's tenant's namespace (the registry lets a tenant read its
  own subjects, and its owners administer those topics);
* the spec declares the topic ``visibility: public`` (its schema is every principal's to
  read, as in the registry, and its metadata with it).

Consumer groups follow the same rules on GROUP ACLs and the tenant's namespace. Kafka's
and the platform's internal topics (a leading ``_``) are for super users only. Data is a
stricter matter, decided by the broker itself: the message browser reads with the user's
own credentials (``browser``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streamplane.kafka._admin import AclTuple
from streamplane.model import Spec, Visibility

#: Operations that deny every other one when DENY names them (Kafka's ALL).
_DENY_ALL = {"ALL", "DESCRIBE"}


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a principal (without ``User:``) and what the spec says of it."""

    principal: str
    super_user: bool = False
    tenant: str | None = None
    #: The tenant's namespace (its topic and group prefix); None: no tenant.
    namespace: str | None = None

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.principal}"


def viewer_for(spec: Spec, principal: str, super_users: Iterable[str]) -> Viewer:
    """The viewer a verified principal is: its tenant from the spec's applications."""
    if principal in set(super_users):
        return Viewer(principal, super_user=True)
    for entry in spec.applications.values():
        if entry.principal == principal:
            return Viewer(principal, tenant=entry.tenant.name, namespace=entry.tenant.namespace)
    return Viewer(principal)


def _matches(acl: AclTuple, name: str) -> bool:
    pattern = acl.pattern_type.upper()
    if pattern == "PREFIXED":
        return name.startswith(acl.resource_name)
    return acl.resource_name in (name, "*")


class AccessRules:
    """The cluster's ACLs and the spec's public topics, indexed for per-page decisions."""

    def __init__(self, spec: Spec, acls: Sequence[AclTuple]) -> None:
        self.spec = spec
        self.public = frozenset(
            name for name, e in spec.topics.items() if e.topic.visibility == Visibility.PUBLIC
        )
        self._allow: dict[tuple[str, str], list[AclTuple]] = {}
        self._deny: dict[tuple[str, str], list[AclTuple]] = {}
        for acl in acls:
            kind = self._allow if acl.permission.upper() == "ALLOW" else self._deny
            kind.setdefault((acl.principal, acl.resource_type.upper()), []).append(acl)

    def _granted(self, viewer: Viewer, resource_type: str, name: str) -> bool:
        principals = (viewer.kafka_principal, "User:*")
        for principal in principals:
            for acl in self._deny.get((principal, resource_type), ()):
                if acl.operation.upper() in _DENY_ALL and _matches(acl, name):
                    return False
        return any(
            _matches(acl, name)
            for principal in principals
            for acl in self._allow.get((principal, resource_type), ())
        )

    def may_see_topic(self, viewer: Viewer, name: str) -> bool:
        if viewer.super_user:
            return True
        if name.startswith("_"):
            return False
        if viewer.namespace is not None and name.startswith(viewer.namespace):
            return True
        return name in self.public or self._granted(viewer, "TOPIC", name)

    def may_see_group(self, viewer: Viewer, group: str) -> bool:
        if viewer.super_user:
            return True
        if viewer.namespace is not None and group.startswith(viewer.namespace):
            return True
        return self._granted(viewer, "GROUP", group)

    def may_see_tenant(self, viewer: Viewer, tenant: str) -> bool:
        return viewer.super_user or viewer.tenant == tenant

    def visible_topics(self, viewer: Viewer, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.may_see_topic(viewer, name)]
