"""Desired vs actual -> Plan: a list of typed, printable, JSON-serialisable actions.

A plan never guesses: changes Kafka cannot make safely (fewer partitions) are *refused*
with the safe alternative, a new replication factor becomes a throttled partition
reassignment, and deletions are opt-in, protected and backed by traffic evidence.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from streamplane.kafka import QuotaEntity
from streamplane.reconcile._resources import AclEntry, ActualState, DesiredState

#: Never reported as drift nor deleted: Kafka's internal topics, the platform's own
#: topics (leading underscore), and the platform's own principals.
PLATFORM_PRINCIPALS = frozenset({"User:admin", "User:controller"})
PLATFORM_USERS = frozenset({"admin"})

Op = Literal["create", "update", "delete"]
Kind = Literal[
    "topic",
    "config",
    "partitions",
    "replication",
    "acl",
    "credential",
    "quota",
    "compatibility",
    "schema",
    "registry-access",
    "kek",
    "subject",  # a whole registry subject: deleted with its former tenant's topic
]


@dataclass(frozen=True)
class Change:
    key: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Action:
    op: Op
    kind: Kind
    resource: str
    tenant: str | None = None
    changes: tuple[Change, ...] = ()
    reason: str = ""
    payload: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple[str, int, str, str]:
        order = (
            "topic", "partitions", "replication", "config", "credential", "acl", "quota", "kek",
            "compatibility", "schema", "registry-access", "subject",
        )  # fmt: skip
        return (self.tenant or "~", order.index(self.kind), self.resource, self.op)


@dataclass(frozen=True)
class Refusal:
    resource: str
    tenant: str | None
    problem: str
    alternative: str
    #: What is refused: a topic change, a new version of a registry subject ("schema"), or
    #: a KEK the DEK registry cannot change ("kek").
    kind: str = "topic"
    #: The evidence, one line each (for a schema: the registry's verbose messages).
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kept:
    """Something on the cluster the spec does not have, and why it stays."""

    kind: str
    resource: str
    tenant: str | None
    why: str


@dataclass(frozen=True)
class Rename:
    """An old-style retry or dead-letter topic and the topics of the consumers that replace it.

    Kafka cannot rename a topic: the new topics are created (create actions), and the old
    one stays until every record it holds has been read or replayed ("kept"), then goes
    under --allow-delete ("delete", with the evidence in ``why``).
    """

    old: str
    new: tuple[str, ...]
    tenant: str | None
    state: Literal["kept", "delete"]
    why: str


@dataclass
class Plan:
    cluster: str
    actions: list[Action] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    #: Old-style parking topics migrating to their consumers' namespaces.
    renames: list[Rename] = field(default_factory=list)
    #: resource key -> digest of the actual state the plan was computed from
    observed: dict[str, str] = field(default_factory=dict)
    #: the spec the plan was made from (a saved plan is applied with it)
    spec_root: str = ""

    @property
    def empty(self) -> bool:
        return not self.actions

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "actions": [asdict(a) for a in self.actions],
            "refusals": [asdict(r) for r in self.refusals],
            "kept": [asdict(k) for k in self.kept],
            "renames": [asdict(r) for r in self.renames],
            "observed": self.observed,
            "spec_root": self.spec_root,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        actions = [
            Action(**{**a, "changes": tuple(Change(**c) for c in a["changes"])})
            for a in data["actions"]
        ]
        return cls(
            cluster=data["cluster"],
            actions=actions,
            refusals=[
                Refusal(**{**r, "details": tuple(r.get("details", ()))}) for r in data["refusals"]
            ],
            kept=[Kept(**k) for k in data["kept"]],
            renames=[Rename(**{**r, "new": tuple(r["new"])}) for r in data.get("renames", [])],
            observed=data["observed"],
            spec_root=data.get("spec_root", ""),
        )


@dataclass(frozen=True)
class DeletionPolicy:
    allow: bool = False
    grace_period_ms: int = 7 * 86400 * 1000
    protected: tuple[str, ...] = ()
    #: Principals cut off (revoked certificate, disabled OAuth client, removed application),
    #: each with the reason: their ACLs and SCRAM credential go without ``allow``, since
    #: keeping a grant is not keeping data.
    cut_off: tuple[tuple[str, str], ...] = ()

    def cut_off_reason(self, principal: str) -> str | None:
        return dict(self.cut_off).get(principal.removeprefix("User:"))


@dataclass(frozen=True)
class TopicActivity:
    """Traffic evidence for a deletion candidate."""

    last_write_ms: int | None  # newest record timestamp; None if the topic is empty or unreadable
    empty: bool
    active_groups: tuple[str, ...]
    now_ms: int

    def idle_for_ms(self) -> int | None:
        if self.empty:
            return None
        return None if self.last_write_ms is None else self.now_ms - self.last_write_ms

    def describe(self) -> str:
        groups = ", ".join(self.active_groups) or "none"
        if self.empty:
            write = "never written"
        elif self.last_write_ms is None:
            write = "last write unknown"
        else:
            write = f"last write {_age(self.now_ms - self.last_write_ms)} ago"
        return f"{write}; active consumer groups: {groups}"


def observed_digests(actual: ActualState) -> dict[str, str]:
    """A digest per resource, so a saved plan can tell exactly what moved since."""
    out: dict[str, str] = {}
    for name, topic in actual.topics.items():
        out[f"topic:{name}"] = _digest(
            [topic.partitions, topic.replication_factor, sorted(topic.configs.items())]
        )
    for acl in actual.acls:
        out[f"acl:{acl.describe()}"] = "1"
    for user in actual.scram_users:
        out[f"credential:{user}"] = "1"
    for entity, values in actual.quotas.items():
        out[f"quota:{entity.describe()}"] = _digest(sorted(values.items()))
    return out


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_platform_topic(name: str) -> bool:
    return name.startswith("_")


def make_plan(
    desired: DesiredState,
    actual: ActualState,
    *,
    deletion: DeletionPolicy = DeletionPolicy(),
    activity: dict[str, TopicActivity] | None = None,
    credentials: dict[str, str] | None = None,
    tenant_of: dict[str, str] | None = None,
) -> Plan:
    """Compute the plan. ``credentials`` maps principal -> "create" | "rotate" | "ok"."""
    plan = Plan(cluster=desired.cluster, observed=observed_digests(actual))
    _plan_topics(plan, desired, actual)
    _plan_deletions(plan, desired, actual, deletion, activity or {}, tenant_of or {})
    _plan_credentials(plan, desired, actual, credentials or {}, deletion)
    _plan_acls(plan, desired, actual, deletion)
    _plan_quotas(plan, desired, actual, deletion)
    plan.actions.sort(key=Action.sort_key)
    return plan


def _plan_topics(plan: Plan, desired: DesiredState, actual: ActualState) -> None:
    for name, want in sorted(desired.topics.items()):
        have = actual.topics.get(name)
        if have is None:
            plan.actions.append(
                Action(
                    "create",
                    "topic",
                    name,
                    want.tenant,
                    changes=(
                        Change("partitions", None, str(want.partitions)),
                        *(
                            Change("replication.factor", None, str(want.replication_factor))
                            for _ in [0]
                            if want.replication_factor is not None
                        ),
                        *(Change(k, None, v) for k, v in sorted(want.configs.items())),
                    ),
                    payload={
                        "partitions": want.partitions,
                        "replication_factor": want.replication_factor,
                        "configs": want.configs,
                    },
                )
            )
            continue
        if want.partitions < have.partitions:
            plan.refusals.append(
                Refusal(
                    name,
                    want.tenant,
                    f"the spec asks for {want.partitions} partitions but the topic has "
                    f"{have.partitions}; Kafka cannot remove partitions, and re-partitioning "
                    "would move keys",
                    f"keep partitions: {have.partitions} in the spec, or create a new versioned "
                    "topic with fewer partitions and migrate producers and consumers to it",
                )
            )
        elif want.partitions > have.partitions:
            plan.actions.append(
                Action(
                    "update",
                    "partitions",
                    name,
                    want.tenant,
                    changes=(Change("partitions", str(have.partitions), str(want.partitions)),),
                    reason="new partitions receive new keys only; existing keys keep their "
                    "partition "
                    "unless the producer's partitioner changes its mapping",
                    payload={"total": want.partitions},
                )
            )
        if (
            want.replication_factor is not None
            and want.replication_factor != have.replication_factor
        ):
            plan.actions.append(
                Action(
                    "update",
                    "replication",
                    name,
                    want.tenant,
                    changes=(
                        Change(
                            "replication.factor",
                            str(have.replication_factor),
                            str(want.replication_factor),
                        ),
                    ),
                    reason="a partition reassignment, throttled and resumable (the rebalance "
                    "executor): new replicas copy the partition, dropped ones are deleted; "
                    "leaders stay",
                    payload={"replication_factor": want.replication_factor},
                )
            )
        changes = _config_changes(want.configs, have.configs, actual.topic_defaults)
        if changes:
            plan.actions.append(
                Action(
                    "update",
                    "config",
                    name,
                    want.tenant,
                    changes=tuple(changes),
                    payload={
                        "set": {c.key: c.after for c in changes if c.after is not None},
                        "delete": [c.key for c in changes if c.after is None],
                    },
                )
            )


def _config_changes(
    want: dict[str, str], have: dict[str, str], defaults: dict[str, str]
) -> list[Change]:
    """Only real differences: a spec value equal to the default needs no override."""
    changes = []
    for key in sorted(set(want) | set(have)):
        target, current = want.get(key), have.get(key)
        if target is not None and current is None and target == defaults.get(key):
            continue
        if target is None and current is not None:
            # An override the spec does not ask for: back to the default.
            changes.append(Change(key, current, None))
        elif target is not None and target != current:
            changes.append(
                Change(key, current if current is not None else defaults.get(key), target)
            )
    return changes


def _plan_deletions(
    plan: Plan,
    desired: DesiredState,
    actual: ActualState,
    policy: DeletionPolicy,
    activity: dict[str, TopicActivity],
    tenant_of: dict[str, str],
) -> None:
    for name in sorted(set(actual.topics) - set(desired.topics)):
        if is_platform_topic(name):
            continue
        tenant = tenant_of.get(name)
        if tenant is None:
            plan.kept.append(
                Kept("topic", name, None, "outside every tenant namespace (unmanaged)")
            )
            continue
        protected = next((p for p in policy.protected if fnmatch.fnmatchcase(name, p)), None)
        evidence = activity.get(name)
        if not policy.allow:
            plan.kept.append(
                Kept("topic", name, tenant, "not in the spec; pass --allow-delete to delete")
            )
        elif protected:
            plan.kept.append(
                Kept("topic", name, tenant, f"protected by deletion.protected {protected!r}")
            )
        elif evidence is None:
            plan.kept.append(Kept("topic", name, tenant, "no traffic evidence could be read"))
        elif evidence.active_groups:
            plan.kept.append(Kept("topic", name, tenant, f"still consumed: {evidence.describe()}"))
        elif (idle := evidence.idle_for_ms()) is not None and idle < policy.grace_period_ms:
            plan.kept.append(
                Kept(
                    "topic",
                    name,
                    tenant,
                    f"{evidence.describe()}; grace period {_age(policy.grace_period_ms)}",
                )
            )
        elif not evidence.empty and evidence.last_write_ms is None:
            plan.kept.append(Kept("topic", name, tenant, evidence.describe()))
        else:
            plan.actions.append(Action("delete", "topic", name, tenant, reason=evidence.describe()))


def _plan_credentials(
    plan: Plan,
    desired: DesiredState,
    actual: ActualState,
    status: dict[str, str],
    policy: DeletionPolicy,
) -> None:
    # A principal without a status has no password source here (or is `external`):
    # its credential is managed elsewhere and never touched.
    for principal, tenant in sorted(desired.principals.items()):
        state = status.get(principal)
        if state == "create":
            plan.actions.append(
                Action(
                    "create",
                    "credential",
                    principal,
                    tenant,
                    reason="SCRAM-SHA-512; secret never shown",
                )
            )
        elif state == "rotate":
            plan.actions.append(
                Action(
                    "update",
                    "credential",
                    principal,
                    tenant,
                    reason="the secret source holds a new password",
                )
            )
        elif state == "drop":
            plan.actions.append(
                Action(
                    "delete",
                    "credential",
                    principal,
                    tenant,
                    reason="its auth is not scram: the password must not open a session",
                )
            )
    for user in sorted(actual.scram_users - set(desired.principals) - PLATFORM_USERS):
        cut = policy.cut_off_reason(user)
        if policy.allow or cut:
            plan.actions.append(
                Action("delete", "credential", user, None, reason=cut or "not in the spec")
            )
        else:
            plan.kept.append(
                Kept("credential", user, None, "not in the spec; --allow-delete removes it")
            )


def _plan_acls(
    plan: Plan, desired: DesiredState, actual: ActualState, policy: DeletionPolicy
) -> None:
    for acl, why in sorted(desired.acls.items()):
        if acl not in actual.acls:
            plan.actions.append(
                Action(
                    "create",
                    "acl",
                    acl.describe(),
                    desired.principals.get(acl.principal.removeprefix("User:")),
                    reason=why,
                    payload=asdict(acl),
                )
            )
    for acl in sorted(actual.acls - set(desired.acls)):
        if acl.principal in PLATFORM_PRINCIPALS:
            continue
        tenant = desired.principals.get(acl.principal.removeprefix("User:"))
        cut = policy.cut_off_reason(acl.principal)
        if policy.allow or cut:
            plan.actions.append(
                Action(
                    "delete",
                    "acl",
                    acl.describe(),
                    tenant,
                    reason=f"cut off: {cut}" if cut else "not derived from the spec",
                    payload=asdict(acl),
                )
            )
        else:
            plan.kept.append(
                Kept("acl", acl.describe(), tenant, "not in the spec; --allow-delete removes it")
            )


def _plan_quotas(
    plan: Plan, desired: DesiredState, actual: ActualState, policy: DeletionPolicy
) -> None:
    for entity in sorted(set(desired.quotas) | set(actual.quotas)):
        want, have = desired.quotas.get(entity), actual.quotas.get(entity)
        tenant = desired.principals.get(entity.user or "")
        payload = {"user": entity.user, "client_id": entity.client_id}
        if want is None:
            if policy.allow and have:
                plan.actions.append(
                    Action(
                        "delete",
                        "quota",
                        entity.describe(),
                        tenant,
                        changes=tuple(Change(k, _num(v), None) for k, v in sorted(have.items())),
                        payload={**payload, "values": {k: None for k in have}},
                    )
                )
            elif have:
                plan.kept.append(
                    Kept(
                        "quota",
                        entity.describe(),
                        tenant,
                        "not in the spec; --allow-delete removes it",
                    )
                )
            continue
        have = have or {}
        changes = [
            Change(k, _num(have.get(k)), _num(want.get(k)))
            for k in sorted(set(want) | set(have))
            if want.get(k) != have.get(k)
        ]
        if changes:
            op: Op = "create" if not have else "update"
            values = {c.key: want.get(c.key) for c in changes}
            plan.actions.append(
                Action(
                    op,
                    "quota",
                    entity.describe(),
                    tenant,
                    changes=tuple(changes),
                    payload={**payload, "values": values},
                )
            )


def _num(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


def _age(ms: int) -> str:
    seconds = ms / 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def quota_entity(payload: dict[str, Any]) -> QuotaEntity:
    return QuotaEntity(user=payload.get("user"), client_id=payload.get("client_id"))


def acl_from_payload(payload: dict[str, Any]) -> AclEntry:
    return AclEntry(**payload)
