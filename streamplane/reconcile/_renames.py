"""Migrating old-style retry and dead-letter topics to their consumers' namespaces.

Parking topics used to be named after the consumed topic alone (``<topic>.retry.<n>``,
``<topic>.dlq``, in the namespace of the topic's owner); they now belong to the consuming
application (``streamplane.model._dead_letters``). Kafka cannot rename a topic, and the
records an old topic holds are failures someone still has to deal with, so a plan on an
estate that has old-style topics:

* creates the new topics and grants their applications access (ordinary actions; each
  create says which old topic it replaces), and moves nothing by itself;
* keeps every old topic, with the ACLs that read and write it, while it holds a record
  that no consumer group has read past: records of an old retry topic are consumed by the
  application's earlier version until it is replaced, and the rest are moved with
  ``streamplane dlq replay OLD --spec SPEC --app APP``; records of an old dead-letter topic
  are replayed with ``streamplane dlq replay OLD --spec SPEC`` as before;
* deletes an old topic only under ``--allow-delete``, and only with evidence that it is
  drained: no consumer group is assigned to it, every record it still holds has been
  committed past by some group (the application, or the replay), and its last record is
  older than the deletion grace period (an instance of the earlier version may still be
  parking records in it).

``Plan.renames`` lists each old topic with its replacements and why it is kept or deleted.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streamplane.kafka import ConnectionSettings, admin_config
from streamplane.model import LegacyParking, Spec, legacy_parking_of, parking_topics_of
from streamplane.reconcile._actual import read_activity
from streamplane.reconcile._plan import (
    Action,
    DeletionPolicy,
    Kept,
    Plan,
    Rename,
    TopicActivity,
    _age,
    acl_from_payload,
    is_platform_topic,
)
from streamplane.reconcile._resources import ActualState, DesiredState


@dataclass(frozen=True)
class Move:
    """One old-style parking topic on the cluster and what replaces it."""

    old: LegacyParking
    #: The topics of the applications that now park these records, on this cluster.
    new: tuple[str, ...]
    #: The applications that own them, by name (the --app of a replay).
    applications: tuple[str, ...]
    #: The old topic's tenant (the namespace it is in: the consumed topic's owner).
    tenant: str | None


@dataclass(frozen=True)
class DrainEvidence:
    """Whether an old parking topic still holds records nobody has dealt with."""

    activity: TopicActivity
    #: Records the topic still retains.
    retained: int
    #: Of those, records no consumer group has committed past.
    unconsumed: int
    #: Groups with committed offsets on it (the application, a replay).
    readers: tuple[str, ...]

    def describe(self) -> str:
        if self.retained == 0:
            held = "holds no record"
        elif self.unconsumed == 0:
            held = f"every one of its {self.retained} record(s) read by {', '.join(self.readers)}"
        else:
            held = f"{self.unconsumed} record(s) no consumer group has read past"
        return f"{held}; {self.activity.describe()}"


def find_moves(spec: Spec, desired: DesiredState, actual: ActualState) -> list[Move]:
    """Old-style parking topics on the cluster (of topics the spec has), with what replaces
    each: the new DLQ of every application parking records of the topic, or its new retry
    topic of the same number."""
    moves = []
    for name in sorted(set(actual.topics) - set(desired.topics)):
        if is_platform_topic(name):
            continue
        old = legacy_parking_of(name, spec.topics)
        if old is None:
            continue
        replacing = [
            p
            for p in parking_topics_of(spec, old.origin)
            if p.kind == old.kind and p.attempt == old.attempt and p.name in desired.topics
        ]
        if old.kind == "retry":
            # An old retry topic had one reader: its ACLs say which application it was.
            readers = {
                a.principal.removeprefix("User:")
                for a in actual.acls
                if a.resource_name == name and a.operation == "READ" and a.pattern_type == "LITERAL"
            }
            replacing = [p for p in replacing if p.application.principal in readers] or replacing
        tenant = spec.tenant_of_topic(name)
        moves.append(
            Move(
                old,
                tuple(p.name for p in replacing),
                tuple(p.application.app.name for p in replacing),
                tenant.name if tenant is not None else None,
            )
        )
    return moves


def read_drain_evidence(
    settings: ConnectionSettings, topics: Iterable[str]
) -> dict[str, DrainEvidence]:
    """Evidence per topic: retained and unconsumed records, readers, traffic."""
    names = sorted(topics)
    if not names:
        return {}
    activity = read_activity(settings, names)
    admin = AdminClient(admin_config(settings, log_level=0))
    probe = Consumer(
        settings.librdkafka(**{
            "group.id": f"_streamplane-evidence-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "log_level": 0,
        })
    )  # fmt: skip
    try:
        metadata = admin.list_topics(timeout=30)
        partitions = [
            TopicPartition(t, p)
            for t in names
            if t in metadata.topics
            for p in metadata.topics[t].partitions
        ]
        marks: dict[tuple[str, int], tuple[int, int]] = {}
        unknown: set[str] = set()
        for tp in partitions:
            try:
                marks[(tp.topic, tp.partition)] = probe.get_watermark_offsets(
                    tp, timeout=10, cached=False
                )
            except KafkaException:
                unknown.add(tp.topic)  # leaderless now: no evidence, so the topic stays
        committed = _committed(admin, partitions)
    finally:
        probe.close()
    evidence = {}
    for topic in names:
        if topic not in activity or topic in unknown:
            continue
        retained = unconsumed = 0
        readers: set[str] = set()
        for (t, p), (low, high) in marks.items():
            if t != topic:
                continue
            by_group = committed.get((t, p), {})
            readers |= set(by_group)
            furthest = max([low, *by_group.values()])
            retained += max(high - low, 0)
            unconsumed += max(high - furthest, 0)
        evidence[topic] = DrainEvidence(
            activity[topic], retained, unconsumed, tuple(sorted(readers))
        )
    return evidence


def _committed(
    admin: AdminClient, partitions: list[TopicPartition]
) -> dict[tuple[str, int], dict[str, int]]:
    """(topic, partition) -> group -> committed offset, over every group of the cluster.

    librdkafka sends one OffsetFetch per group (for these partitions only); they are in
    flight together.
    """
    if not partitions:
        return {}
    listing = admin.list_consumer_groups(request_timeout=30).result()
    futures = {
        group.group_id: next(
            iter(
                admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group.group_id, partitions)],
                    request_timeout=30,
                ).values()
            )
        )
        for group in listing.valid
    }
    found: dict[tuple[str, int], dict[str, int]] = {}
    for group, future in futures.items():
        try:
            answer = future.result()
        except KafkaException:
            continue  # a group that disappeared meanwhile commits nothing
        for tp in answer.topic_partitions:
            if tp.error is None and tp.offset >= 0:
                found.setdefault((tp.topic, tp.partition), {})[group] = tp.offset
    return found


def plan_renames(
    plan: Plan,
    moves: list[Move],
    evidence: dict[str, DrainEvidence],
    policy: DeletionPolicy,
    *,
    spec_root: str = "SPEC",
) -> None:
    """Replace what the generic plan says about each old parking topic with its migration
    (``spec_root``: the spec the commands it suggests should name).

    The generic plan would delete an idle topic on traffic evidence alone; an old parking
    topic holds failures, so it goes only once drained (see the module docstring).
    """
    if not moves:
        return
    olds = {m.old.name for m in moves}
    replaced = {new: m.old.name for m in moves for new in m.new}
    plan.kept = [k for k in plan.kept if not (k.kind == "topic" and k.resource in olds)]
    actions: list[Action] = []
    for action in plan.actions:
        if action.kind == "topic" and action.op == "delete" and action.resource in olds:
            continue
        if action.kind == "topic" and action.op == "create" and action.resource in replaced:
            action = dataclasses.replace(
                action,
                reason=f"replaces {replaced[action.resource]} (Kafka cannot rename topics)",
            )
        actions.append(action)
    plan.actions = actions
    deleted: set[str] = set()
    for move in moves:
        found = evidence.get(move.old.name)
        reason = _keep_reason(move, found, policy, spec_root)
        if reason is not None or found is None:
            why = reason or ""
            plan.renames.append(Rename(move.old.name, move.new, move.tenant, "kept", why))
            # Still on the cluster and not in the spec: drift, until it is drained and gone.
            to = ", ".join(move.new) or "no topic"
            plan.kept.append(Kept("topic", move.old.name, move.tenant, f"renamed to {to}; {why}"))
            continue
        why = f"drained ({found.describe()})"
        deleted.add(move.old.name)
        plan.actions.append(Action("delete", "topic", move.old.name, move.tenant, reason=why))
        plan.renames.append(Rename(move.old.name, move.new, move.tenant, "delete", why))
    _keep_acls_of_kept(plan, olds - deleted)
    plan.actions.sort(key=Action.sort_key)


def _keep_reason(
    move: Move, found: DrainEvidence | None, policy: DeletionPolicy, spec_root: str
) -> str | None:
    """Why the old topic stays, or None when the plan may delete it."""
    name, kind = move.old.name, move.old.kind
    if found is None:
        return "no evidence could be read of what it still holds"
    if found.unconsumed:
        replay = f"streamplane dlq replay {name} --spec {spec_root}"
        apps = move.applications
        if kind == "retry":
            pick = (
                f"`{replay} --app {apps[0]}`"
                if len(apps) == 1
                else (f"`{replay} --app APP` (APP: the one of {', '.join(apps)} it retried for)")
            )
            how = (
                "the application's earlier version retries them while it runs; after the "
                f"rollout, move the rest into its new retry topic with {pick}"
            )
        else:
            how = f"replay them to the topic with `{replay}` (as before)"
            if apps:
                how += f", or add --app ({', '.join(apps)}) to send them to its retry topic"
        return f"{found.unconsumed} record(s) no consumer group has read past; {how}"
    if found.activity.active_groups:
        return (
            f"still read by {', '.join(found.activity.active_groups)} (the application's "
            "earlier version runs)"
        )
    if not policy.allow:
        return f"deleted under --allow-delete, as it is drained ({found.describe()})"
    protected = next((p for p in policy.protected if fnmatch.fnmatchcase(name, p)), None)
    if protected is not None:
        return f"protected by deletion.protected {protected!r}"
    idle = found.activity.idle_for_ms()
    if found.retained and (idle is None or idle < policy.grace_period_ms):
        return (
            f"{found.describe()}; deleted once its last record is older than the grace "
            f"period ({_age(policy.grace_period_ms)}): an instance of the earlier version "
            "may still park records in it"
        )
    return None


def _keep_acls_of_kept(plan: Plan, kept: set[str]) -> None:
    """ACLs on an old topic that stays are still what its earlier readers and writers use."""
    if not kept:
        return
    actions = []
    for action in plan.actions:
        if action.kind == "acl" and action.op == "delete":
            acl = acl_from_payload(action.payload)
            on_kept = acl.resource_type == "TOPIC" and acl.pattern_type == "LITERAL"
            if on_kept and acl.resource_name in kept:
                plan.kept.append(
                    Kept(
                        "acl",
                        action.resource,
                        action.tenant,
                        f"kept while {acl.resource_name} drains",
                    )
                )
                continue
        actions.append(action)
    plan.actions = actions
