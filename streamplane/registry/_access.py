"""Who may read and write which subjects, derived from the platform spec.

Tenants own a namespace (their ``prefix``); their applications' principals may write
subjects in it, which for TopicNameStrategy subjects (``<topic>-key``,
``<topic>-value``) means subjects of their own topics. Reads follow the topics'
``visibility``: a public topic's subjects are readable by every authenticated
principal, a private topic's only by its tenant's principals. Super users (the
cluster's ``admin``) may do everything.

Decisions depend on the subject *name* only, never on whether it exists, so a 403
reveals nothing about another tenant's subjects. That is also why refusals are 403
with error code 40301, as Confluent's authorizers answer, rather than a 404.

The policy is data (:class:`AccessPolicy`): built from a loaded spec by
:func:`policy_from_spec`, stored as a ``STREAMPLANE_ACCESS`` record in ``_schemas``
(``PUT /streamplane/access``) so every instance and every restart enforce the same
one. With no policy stored, authenticated principals may read everything and only
super users may write.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from streamplane.errors import RegistryError
from streamplane.model import Spec, Visibility

#: Key of the record holding the access policy in ``_schemas``.
ACCESS_KEY = {"keytype": "STREAMPLANE_ACCESS", "magic": 0}


class AccessPolicy(BaseModel):
    """The JSON body of ``PUT /streamplane/access`` and of the stored record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    principals: dict[str, str] = Field(
        default_factory=dict, description="Principal -> the tenant prefix it may write under."
    )
    public_prefixes: list[str] = Field(
        default_factory=list,
        description="Subject prefixes every authenticated principal may read "
        "(``<topic>-`` for each public topic).",
    )


def policy_from_spec(spec: Spec, *, cluster: str | None = None) -> AccessPolicy:
    """The policy a spec implies (for one cluster's tenants when ``cluster`` is given)."""
    principals = {
        entry.principal: entry.tenant.namespace
        for entry in spec.applications.values()
        if cluster is None or cluster in entry.tenant.clusters
    }
    public = sorted(
        f"{entry.full_name}-"
        for entry in spec.topics.values()
        if entry.topic.visibility == Visibility.PUBLIC
        and (cluster is None or cluster in entry.tenant.clusters)
    )
    return AccessPolicy(principals=dict(sorted(principals.items())), public_prefixes=public)


@dataclass(frozen=True)
class Caller:
    """An authenticated principal, or the anonymous caller when auth is off."""

    principal: str
    super_user: bool = False

    @classmethod
    def anonymous(cls) -> Caller:
        """No authentication configured: the registry is open, as Confluent's is by default."""
        return cls("ANONYMOUS", super_user=True)


class AccessRules:
    """An :class:`AccessPolicy` indexed for per-request decisions."""

    def __init__(self, policy: AccessPolicy | None) -> None:
        self.policy = policy
        self._public = frozenset(policy.public_prefixes) if policy else frozenset()
        self._lengths = sorted({len(p) for p in self._public})

    def tenant_prefix(self, caller: Caller) -> str | None:
        return self.policy.principals.get(caller.principal) if self.policy else None

    def _public_subject(self, subject: str) -> bool:
        # One set lookup per distinct prefix length: thousands of public topics stay cheap.
        return any(subject[:n] in self._public for n in self._lengths if n <= len(subject))

    def may_read(self, caller: Caller, subject: str) -> bool:
        if caller.super_user or self.policy is None:
            return True
        prefix = self.tenant_prefix(caller)
        return (prefix is not None and subject.startswith(prefix)) or self._public_subject(subject)

    def may_write(self, caller: Caller, subject: str) -> bool:
        if caller.super_user:
            return True
        prefix = self.tenant_prefix(caller)
        return prefix is not None and subject.startswith(prefix)

    # ----------------------------------------------------------- refusals
    def require_read(self, caller: Caller, subject: str) -> None:
        if not self.may_read(caller, subject):
            raise RegistryError(
                403,
                40301,
                f"User {caller.principal} is denied operation Read on Subject: {subject}; "
                "subjects of another tenant's private topics are readable by that tenant only",
            )

    def require_write(self, caller: Caller, subject: str) -> None:
        if self.may_write(caller, subject):
            return
        prefix = self.tenant_prefix(caller)
        if self.policy is None:
            why = "no access policy is loaded, so only super users may write"
        elif prefix is None:
            why = f"{caller.principal} belongs to no tenant of the access policy"
        else:
            why = f"{caller.principal} may write subjects starting with '{prefix}' only"
        raise RegistryError(
            403,
            40301,
            f"User {caller.principal} is denied operation Write on Subject: {subject}; {why}",
        )

    @staticmethod
    def require_super_user(caller: Caller, what: str) -> None:
        if not caller.super_user:
            raise RegistryError(
                403,
                40301,
                f"User {caller.principal} is denied operation {what}; only super users may",
            )
