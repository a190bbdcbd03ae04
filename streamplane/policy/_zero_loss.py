"""The zero-loss audit: can the live cluster keep the promise its zero_loss applications make?

An application with the ``zero_loss`` profile is configured never to lose an
acknowledged record (acks=all, idempotence, commits after processing). That holds only
if the cluster holds up its end: every topic those applications write or read keeps
three replicas, refuses acks=all writes held by fewer than two (``min.insync.replicas``),
and never elects an out-of-sync leader. This audit checks all of it on the live cluster
*and* in the spec (a fixed cluster is undone by the next apply of a wrong spec), plus
the applications around them:

- brokers: ``min.insync.replicas`` ≥ 2, ``unclean.leader.election.enable`` false,
  ``default.replication.factor`` ≥ 3 (what new topics get), at least three brokers;
- Kafka's own ``__consumer_offsets`` and ``__transaction_state``, which hold the
  committed offsets and transactions of those applications;
- each topic a zero_loss application produces or consumes: replication factor ≥ 3,
  ``min.insync.replicas`` ≥ 2, unclean election off, whether set on the topic, inherited
  from the brokers, or asked for by the spec;
- applications: a transactional one must declare ``zero_loss``; a zero_loss profile's
  overrides must not break it (``streamplane.kafka.violations``) nor read uncommitted
  records; a producer feeding a zero_loss consumer must guarantee acks=all and
  idempotence too, or the records are lost before the consumer sees them.

Each violation says what is wrong, with the value found, and the fix: the exact config
to set, or the spec line to change (file:line:column from the spec's source map).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from streamplane.kafka import PROFILES, violations
from streamplane.kafka._durability import ClusterDurability, TopicDurability
from streamplane.model import ApplicationEntry, Spec, TopicEntry
from streamplane.policy._context import SpecPath, config_path, topic_config
from streamplane.policy._rules import MIN_PROD_INSYNC, MIN_PROD_REPLICATION

ZERO_LOSS = "zero_loss"
CONSUMER_OFFSETS = "__consumer_offsets"
TRANSACTION_STATE = "__transaction_state"


@dataclass(frozen=True, kw_only=True)
class ZeroLossViolation:
    """One setting that lets an acknowledged record be lost, with the change that fixes it.

    ``file``/``line``/``column`` locate the spec entry to change when the spec is (part
    of) the problem; they are None for a problem of the cluster alone (a broker setting).
    """

    resource: str
    setting: str
    actual: str
    required: str
    message: str
    fix: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def location(self) -> str | None:
        if self.file is None:
            return None
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        head = f"{self.location}: " if self.location else ""
        return f"{head}{self.resource}: {self.message}\n    fix: {self.fix}"


def audited_topics(spec: Spec, cluster: str) -> list[str]:
    """The topics the audit reads from the cluster: zero_loss topics and Kafka's internal ones."""
    return sorted({*_zero_loss_topics(spec, cluster), CONSUMER_OFFSETS, TRANSACTION_STATE})


def audit_zero_loss(
    spec: Spec, *, cluster: str, live: ClusterDurability
) -> list[ZeroLossViolation]:
    """Every violation of the zero-loss guarantee on ``cluster``; spec problems first, by line."""
    audit = _Audit(spec, cluster, live)
    found = [
        *audit.brokers(),
        *audit.internal_topics(),
        *audit.topics(),
        *audit.applications(),
    ]
    return sorted(
        found,
        key=lambda v: (v.file is None, v.file or "", v.line or 0, v.column or 0, v.resource),
    )


def _zero_loss_topics(spec: Spec, cluster: str) -> dict[str, list[str]]:
    """Topic -> the zero_loss applications that produce or consume it, on ``cluster``."""
    used: dict[str, list[str]] = {}
    for app in spec.applications_on(cluster):
        if not _declares_zero_loss(app):
            continue
        for name in (*app.app.produces, *app.app.consumes):
            entry = spec.topics.get(name)
            if entry is not None and cluster in entry.tenant.clusters:
                used.setdefault(name, [])
                if app.app.name not in used[name]:
                    used[name].append(app.app.name)
    return used


def _declares_zero_loss(app: ApplicationEntry) -> bool:
    return app.app.profile is not None and app.app.profile.name == ZERO_LOSS


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Audit:
    def __init__(self, spec: Spec, cluster: str, live: ClusterDurability) -> None:
        self.spec = spec
        self.cluster = cluster
        self.live = live
        self.used = _zero_loss_topics(spec, cluster)
        self.zero_loss_apps = [a for a in spec.applications_on(cluster) if _declares_zero_loss(a)]

    # -------------------------------------------------------------- helpers
    def _broker_minimum(self, key: str) -> int | None:
        """The smallest value of an integer broker setting over all brokers."""
        values = [_as_int(b.get(key)) for b in self.live.brokers.values()]
        known = [v for v in values if v is not None]
        return min(known) if known else None

    def _violation(
        self,
        *,
        resource: str,
        setting: str,
        actual: str,
        required: str,
        message: str,
        fix: str,
        path: SpecPath | None = None,
    ) -> ZeroLossViolation:
        if path is None:
            return ZeroLossViolation(
                resource=resource,
                setting=setting,
                actual=actual,
                required=required,
                message=message,
                fix=fix,
            )
        pos = self.spec.source.locate(path)
        return ZeroLossViolation(
            resource=resource,
            setting=setting,
            actual=actual,
            required=required,
            message=message,
            fix=f"{fix} ({pos.file}:{pos.line})",
            file=pos.file,
            line=pos.line,
            column=pos.column,
        )

    def _kafka_configs(self, entity: str, assignment: str) -> str:
        return (
            f"kafka-configs.sh --bootstrap-server {self.live.bootstrap_servers} "
            f"--command-config admin.properties --alter {entity} --add-config {assignment}"
        )

    # -------------------------------------------------------------- brokers
    def brokers(self) -> Iterator[ZeroLossViolation]:
        count = len(self.live.brokers)
        if count < MIN_PROD_REPLICATION:
            yield self._violation(
                resource=f"cluster {self.cluster}",
                setting="brokers",
                actual=str(count),
                required=f">= {MIN_PROD_REPLICATION}",
                message=f"the cluster has {count} broker(s): no topic can keep "
                f"{MIN_PROD_REPLICATION} replicas, so losing one disk or node can lose "
                "acknowledged records",
                fix=f"run at least {MIN_PROD_REPLICATION} brokers (locally: "
                "`streamplane up --nodes 3`)",
            )
        everyone = "--entity-type brokers --entity-default"
        for broker_id, configs in sorted(self.live.brokers.items()):
            resource = f"broker {broker_id}"
            min_isr = _as_int(configs.get("min.insync.replicas"))
            if min_isr is not None and min_isr < MIN_PROD_INSYNC:
                yield self._violation(
                    resource=resource,
                    setting="min.insync.replicas",
                    actual=str(min_isr),
                    required=f">= {MIN_PROD_INSYNC}",
                    message=f"min.insync.replicas={min_isr}: a topic without its own setting "
                    "acknowledges acks=all writes held by a single replica",
                    fix=f"set min.insync.replicas={MIN_PROD_INSYNC} on every broker: "
                    + self._kafka_configs(everyone, f"min.insync.replicas={MIN_PROD_INSYNC}"),
                )
            if configs.get("unclean.leader.election.enable", "false").lower() == "true":
                yield self._violation(
                    resource=resource,
                    setting="unclean.leader.election.enable",
                    actual="true",
                    required="false",
                    message="unclean.leader.election.enable=true: an out-of-sync replica may "
                    "become leader and truncate acknowledged records",
                    fix="set unclean.leader.election.enable=false on every broker: "
                    + self._kafka_configs(everyone, "unclean.leader.election.enable=false"),
                )
            rf = _as_int(configs.get("default.replication.factor"))
            if rf is not None and rf < MIN_PROD_REPLICATION:
                yield self._violation(
                    resource=resource,
                    setting="default.replication.factor",
                    actual=str(rf),
                    required=f">= {MIN_PROD_REPLICATION}",
                    message=f"default.replication.factor={rf}: a topic created without an "
                    f"explicit replication factor gets {rf} replica(s)",
                    fix=f"set default.replication.factor={MIN_PROD_REPLICATION} in broker "
                    f"{broker_id}'s server.properties (a static setting) and restart it",
                )

    # ------------------------------------------------------- internal topics
    def internal_topics(self) -> Iterator[ZeroLossViolation]:
        transactional = any(a.app.transactional for a in self.zero_loss_apps)
        checks = [(CONSUMER_OFFSETS, "offsets.topic", "the group's committed offsets")]
        if transactional:
            checks.append(
                (TRANSACTION_STATE, "transaction.state.log", "the state of every transaction")
            )
        if not self.zero_loss_apps:
            return
        for name, prefix, holds in checks:
            topic = self.live.topics.get(name)
            if topic is None:
                # Created on first use with the brokers' settings: those must be right.
                yield from self._internal_defaults(name, prefix, holds)
                continue
            if topic.replication_factor < MIN_PROD_REPLICATION:
                yield self._violation(
                    resource=f"topic {name}",
                    setting="replication factor",
                    actual=str(topic.replication_factor),
                    required=f">= {MIN_PROD_REPLICATION}",
                    message=f"{name} holds {holds} with {topic.replication_factor} replica(s)",
                    fix=f"reassign {name}'s partitions to {MIN_PROD_REPLICATION} replicas "
                    "with kafka-reassign-partitions.sh",
                )
            min_isr = _as_int(_value(topic, "min.insync.replicas"))
            if min_isr is not None and min_isr < MIN_PROD_INSYNC:
                yield self._violation(
                    resource=f"topic {name}",
                    setting="min.insync.replicas",
                    actual=str(min_isr),
                    required=f">= {MIN_PROD_INSYNC}",
                    message=f"{name} holds {holds} and accepts writes held by {min_isr} replica",
                    fix=f"set min.insync.replicas={MIN_PROD_INSYNC} on {name}: "
                    + self._kafka_configs(
                        f"--entity-type topics --entity-name {name}",
                        f"min.insync.replicas={MIN_PROD_INSYNC}",
                    ),
                )

    def _internal_defaults(self, name: str, prefix: str, holds: str) -> Iterator[ZeroLossViolation]:
        rf_key = f"{prefix}.replication.factor"
        rf = self._broker_minimum(rf_key)
        if rf is not None and rf < MIN_PROD_REPLICATION:
            yield self._violation(
                resource="brokers",
                setting=rf_key,
                actual=str(rf),
                required=f">= {MIN_PROD_REPLICATION}",
                message=f"{name} (not created yet) will hold {holds} with {rf} replica(s)",
                fix=f"set {rf_key}={MIN_PROD_REPLICATION} in every broker's server.properties "
                "before the first client uses it",
            )
        if prefix == "transaction.state.log":
            isr = self._broker_minimum("transaction.state.log.min.isr")
            if isr is not None and isr < MIN_PROD_INSYNC:
                yield self._violation(
                    resource="brokers",
                    setting="transaction.state.log.min.isr",
                    actual=str(isr),
                    required=f">= {MIN_PROD_INSYNC}",
                    message=f"{name} (not created yet) will accept writes held by {isr} replica",
                    fix=f"set transaction.state.log.min.isr={MIN_PROD_INSYNC} in every "
                    "broker's server.properties",
                )

    # ---------------------------------------------------------------- topics
    def topics(self) -> Iterator[ZeroLossViolation]:
        for name, apps in sorted(self.used.items()):
            entry = self.spec.topics[name]
            live = self.live.topics.get(name)
            users = ", ".join(apps)
            if live is None:
                yield self._violation(
                    resource=f"topic {name}",
                    setting="existence",
                    actual="missing",
                    required="exists",
                    message=f"zero_loss application(s) {users} use it, but it does not exist "
                    f"on cluster {self.cluster}",
                    fix=f"create it from the spec: `streamplane apply {self.spec.root}`",
                    path=entry.path,
                )
            yield from self._replication(entry, live, users)
            yield from self._min_insync(entry, live, users)
            yield from self._unclean(entry, live)

    def _replication(
        self, entry: TopicEntry, live: TopicDurability | None, users: str
    ) -> Iterator[ZeroLossViolation]:
        name = entry.full_name
        wanted = entry.topic.replication_factor
        default = self._broker_minimum("default.replication.factor")
        reassign = (
            f"then reassign its partitions to {MIN_PROD_REPLICATION} replicas with "
            "kafka-reassign-partitions.sh (apply never changes a replication factor)"
        )
        if wanted is not None and wanted < MIN_PROD_REPLICATION:
            on_cluster = f", {live.replication_factor} on the cluster" if live else ""
            yield self._violation(
                resource=f"topic {name}",
                setting="replication factor",
                actual=f"{wanted} in the spec{on_cluster}",
                required=f">= {MIN_PROD_REPLICATION}",
                message=f"replication factor {wanted} (set in the spec) for a topic zero_loss "
                f"application(s) {users} use: one lost replica can lose acknowledged records",
                fix=f"set replication_factor: {MIN_PROD_REPLICATION}"
                + (f", {reassign}" if live and live.replication_factor < 3 else ""),
                path=(*entry.path, "replication_factor"),
            )
        elif live is not None and live.replication_factor < MIN_PROD_REPLICATION:
            spec_fix = (
                f"set replication_factor: {MIN_PROD_REPLICATION} on the topic, "
                if wanted is None
                else ""
            )
            yield self._violation(
                resource=f"topic {name}",
                setting="replication factor",
                actual=f"{live.replication_factor} on the cluster",
                required=f">= {MIN_PROD_REPLICATION}",
                message=f"the topic has {live.replication_factor} replica(s) on cluster "
                f"{self.cluster}; zero_loss application(s) {users} use it",
                fix=f"{spec_fix}{reassign}",
                path=entry.path,
            )
        elif live is None and wanted is None and default is not None and default < 3:
            yield self._violation(
                resource=f"topic {name}",
                setting="replication factor",
                actual=f"{default} (brokers' default.replication.factor)",
                required=f">= {MIN_PROD_REPLICATION}",
                message=f"the topic would be created with {default} replica(s)",
                fix=f"set replication_factor: {MIN_PROD_REPLICATION}",
                path=entry.path,
            )

    def _min_insync(
        self, entry: TopicEntry, live: TopicDurability | None, users: str
    ) -> Iterator[ZeroLossViolation]:
        key = "min.insync.replicas"
        name = entry.full_name
        wanted = _as_int(topic_config(entry, key))
        set_it = (
            f"set configs: {{{key}: {MIN_PROD_INSYNC}}} on the topic and run `streamplane apply`"
        )
        if wanted is not None and wanted < MIN_PROD_INSYNC:
            yield self._violation(
                resource=f"topic {name}",
                setting=key,
                actual=f"{wanted} in the spec",
                required=f">= {MIN_PROD_INSYNC}",
                message=f"{key}={wanted} (set in the spec): acks=all writes of {users} are "
                "acknowledged when a single replica holds them",
                fix=f"set {key}: {MIN_PROD_INSYNC} and run `streamplane apply`",
                path=config_path(entry, key),
            )
            return
        current = live.settings.get(key) if live else None
        value = _as_int(current.value) if current else self._broker_minimum(key)
        if value is None or value >= MIN_PROD_INSYNC:
            return
        if current is not None and current.overridden:
            origin = "overridden on the cluster, not in the spec"
        elif current is not None:
            origin = "inherited from the brokers"
        else:
            origin = "the brokers' default, which the topic would inherit"
        yield self._violation(
            resource=f"topic {name}",
            setting=key,
            actual=f"{value} ({origin})",
            required=f">= {MIN_PROD_INSYNC}",
            message=f"{key}={value} ({origin}): acks=all writes of {users} are acknowledged "
            "when a single replica holds them",
            fix=set_it,
            path=entry.path,
        )

    def _unclean(
        self, entry: TopicEntry, live: TopicDurability | None
    ) -> Iterator[ZeroLossViolation]:
        key = "unclean.leader.election.enable"
        name = entry.full_name
        why = "an out-of-sync replica may become leader and truncate acknowledged records"
        if topic_config(entry, key) == "true":
            yield self._violation(
                resource=f"topic {name}",
                setting=key,
                actual="true in the spec",
                required="false",
                message=f"{key}=true (set in the spec): {why}",
                fix=f"remove {key} from the topic's configs (Kafka's default is false) and "
                "run `streamplane apply`",
                path=config_path(entry, key),
            )
            return
        current = live.settings.get(key) if live else None
        if current is None or current.value.lower() != "true":
            return
        origin = "overridden on the cluster" if current.overridden else "inherited from the brokers"
        yield self._violation(
            resource=f"topic {name}",
            setting=key,
            actual=f"true ({origin})",
            required="false",
            message=f"{key}=true ({origin}): {why}",
            fix=f"set configs: {{{key}: false}} on the topic and run `streamplane apply`",
            path=entry.path,
        )

    # ---------------------------------------------------------- applications
    def applications(self) -> Iterator[ZeroLossViolation]:
        consumed_by_zero_loss: dict[str, list[str]] = {}
        for app in self.zero_loss_apps:
            for name in app.app.consumes:
                consumed_by_zero_loss.setdefault(name, []).append(app.app.name)
        for app in self.spec.applications_on(self.cluster):
            yield from self._transactional(app)
            yield from self._profile_overrides(app)
            yield from self._feeds_zero_loss(app, consumed_by_zero_loss)

    def _transactional(self, app: ApplicationEntry) -> Iterator[ZeroLossViolation]:
        profile = app.app.profile
        if not app.app.transactional or (profile is not None and profile.name == ZERO_LOSS):
            return
        yield self._violation(
            resource=f"application {app.app.name}",
            setting="profile",
            actual=profile.name if profile is not None else "none",
            required=ZERO_LOSS,
            message="a transactional application promises exactly-once, which needs the "
            "zero_loss guarantees (acks=all, idempotence, offsets committed after processing)",
            fix=f"set profile: {ZERO_LOSS}",
            path=(*app.path, "profile") if profile is not None else (*app.path, "transactional"),
        )

    def _profile_overrides(self, app: ApplicationEntry) -> Iterator[ZeroLossViolation]:
        profile = app.app.profile
        if profile is None or profile.name != ZERO_LOSS:
            return
        for role in ("producer", "consumer"):
            overrides = getattr(profile, role)
            for problem in violations(ZERO_LOSS, role, overrides):
                key = problem.split("=", 1)[0]
                what, _, advice = problem.partition(": ")
                why, _, need = advice.rpartition("; use ")
                yield self._violation(
                    resource=f"application {app.app.name}",
                    setting=f"{role}.{key}",
                    actual=str(overrides[key]),
                    required=need.removesuffix(" or remove the override"),
                    message=f"{what}: {why}",
                    fix=f"use {need}",
                    path=(*app.path, "profile", role, key),
                )
        level = profile.consumer.get("isolation.level")
        if level is not None and str(level) != "read_committed" and app.app.consumes:
            yield self._violation(
                resource=f"application {app.app.name}",
                setting="consumer.isolation.level",
                actual=str(level),
                required="read_committed",
                message=f"isolation.level={level} reads records of aborted transactions, "
                "which were never acknowledged to their producer",
                fix="remove the isolation.level override (zero_loss reads read_committed)",
                path=(*app.path, "profile", "consumer", "isolation.level"),
            )

    def _feeds_zero_loss(
        self, app: ApplicationEntry, consumed_by_zero_loss: dict[str, list[str]]
    ) -> Iterator[ZeroLossViolation]:
        if _declares_zero_loss(app):
            return
        fed = [t for t in app.app.produces if t in consumed_by_zero_loss]
        if not fed:
            return
        readers = sorted({r for t in fed for r in consumed_by_zero_loss[t]})
        profile = app.app.profile
        if profile is None:
            problems = ["it declares no client profile, so nothing guarantees acks=all and "
                        "idempotence"]  # fmt: skip
        else:
            effective = {**PROFILES[profile.name].producer, **profile.producer}
            problems = violations(ZERO_LOSS, "producer", effective)
        if not problems:
            return
        yield self._violation(
            resource=f"application {app.app.name}",
            setting="profile",
            actual=profile.name if profile is not None else "none",
            required=f"{ZERO_LOSS} (or producer settings that keep its guarantee)",
            message=f"writes {', '.join(fed)}, which zero_loss application(s) "
            f"{', '.join(readers)} read, but {'; '.join(problems)}: records can be lost "
            "before they are read",
            fix=f"set profile: {ZERO_LOSS}",
            path=(*app.path, "profile") if profile is not None else app.path,
        )


def _value(topic: TopicDurability, key: str) -> str | None:
    setting = topic.settings.get(key)
    return setting.value if setting is not None else None
