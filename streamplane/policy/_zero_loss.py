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
- applications (``_zero_loss_apps``, which ``lint`` runs as rule ``zero-loss`` too).

Every violation belongs to a ``lint`` rule (``replication``, ``unclean-leader-election``,
``zero-loss``) and is judged by the same policy as lint judges the spec (``_scope``):
the rule's severity, its exemptions, and the environments it applies to. So on a dev
cluster, whose replication follows its node count, the replication checks are reported
as exempted, with the reason, exactly as lint passes them.

Each violation says what is wrong, with the value found, and the fix: the spec line to
change (file:line:column from the spec's source map) or a command that runs as printed
(``FixCommands``: ``streamplane kafka kafka-configs …``, ``streamplane apply SPEC``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from streamplane.kafka._durability import ClusterDurability, TopicDurability
from streamplane.model import Spec, TopicEntry
from streamplane.policy._context import SpecPath, config_path, topic_config
from streamplane.policy._findings import Severity
from streamplane.policy._fixes import FixCommands, raised_replication
from streamplane.policy._rules import MIN_PROD_INSYNC, MIN_PROD_REPLICATION
from streamplane.policy._scope import standing
from streamplane.policy._zero_loss_apps import (
    ZERO_LOSS_RULE,
    application_problems,
    declares_zero_loss,
)

CONSUMER_OFFSETS = "__consumer_offsets"
TRANSACTION_STATE = "__transaction_state"
REPLICATION_RULE = "replication"
UNCLEAN_RULE = "unclean-leader-election"


@dataclass(frozen=True, kw_only=True)
class ZeroLossViolation:
    """One setting that lets an acknowledged record be lost, with the change that fixes it.

    ``file``/``line``/``column`` locate the spec entry to change when the spec is (part
    of) the problem; they are None for a problem of the cluster alone (a broker setting).
    ``rule`` is the lint rule it belongs to and ``rule_resource`` the name that rule's
    exemptions match (a topic's full name, "cluster <name>", an application's name).
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
    rule: str = REPLICATION_RULE
    rule_resource: str = ""
    severity: Severity = Severity.ERROR

    @property
    def location(self) -> str | None:
        if self.file is None:
            return None
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        head = f"{self.location}: " if self.location else ""
        return f"{head}{self.resource}: {self.message}\n    fix: {self.fix}"


@dataclass(frozen=True)
class ExemptedViolation:
    """A violation the spec's policy does not enforce on this cluster, and why."""

    violation: ZeroLossViolation
    because: str


@dataclass(frozen=True)
class ZeroLossReport:
    """What the audit reports (``violations``) and what the policy exempts (``exempted``)."""

    violations: list[ZeroLossViolation]
    exempted: list[ExemptedViolation]

    @property
    def failed(self) -> bool:
        """Whether any violation is an error (a rule at severity warning or info never fails)."""
        return any(v.severity is Severity.ERROR for v in self.violations)


def audited_topics(spec: Spec, cluster: str) -> list[str]:
    """The topics the audit reads from the cluster: zero_loss topics and Kafka's internal ones."""
    return sorted({*_zero_loss_topics(spec, cluster), CONSUMER_OFFSETS, TRANSACTION_STATE})


def zero_loss_report(
    spec: Spec,
    *,
    cluster: str,
    live: ClusterDurability,
    commands: FixCommands | None = None,
) -> ZeroLossReport:
    """Every violation of the zero-loss guarantee on ``cluster``, judged by the spec's policy.

    ``commands`` says how the fixes reach this cluster again (as the CLI was called);
    by default, with the spec's root and the default data directory.
    """
    audit = _Audit(spec, cluster, live, commands or FixCommands.for_cluster(spec, cluster))
    found = [*audit.brokers(), *audit.internal_topics(), *audit.topics(), *audit.applications()]
    found.sort(key=lambda v: (v.file is None, v.file or "", v.line or 0, v.column or 0, v.resource))
    entry = spec.cluster(cluster)
    reported: list[ZeroLossViolation] = []
    exempted: list[ExemptedViolation] = []
    for violation in found:
        verdict = standing(
            spec.platform.policy, violation.rule, violation.rule_resource, cluster=entry
        )
        if verdict.severity is None:
            exempted.append(ExemptedViolation(violation, verdict.because or ""))
        else:
            reported.append(replace(violation, severity=verdict.severity))
    return ZeroLossReport(reported, exempted)


def audit_zero_loss(
    spec: Spec,
    *,
    cluster: str,
    live: ClusterDurability,
    commands: FixCommands | None = None,
) -> list[ZeroLossViolation]:
    """The violations the spec's policy enforces on ``cluster``; spec problems first, by line."""
    return zero_loss_report(spec, cluster=cluster, live=live, commands=commands).violations


def _zero_loss_topics(spec: Spec, cluster: str) -> dict[str, list[str]]:
    """Topic -> the zero_loss applications that produce or consume it, on ``cluster``."""
    used: dict[str, list[str]] = {}
    for app in spec.applications_on(cluster):
        if not declares_zero_loss(app):
            continue
        for name in (*app.app.produces, *app.app.consumes):
            entry = spec.topics.get(name)
            if entry is not None and cluster in entry.tenant.clusters:
                used.setdefault(name, [])
                if app.app.name not in used[name]:
                    used[name].append(app.app.name)
    return used


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Audit:
    def __init__(
        self, spec: Spec, cluster: str, live: ClusterDurability, commands: FixCommands
    ) -> None:
        self.spec = spec
        self.cluster = cluster
        self.live = live
        self.commands = commands
        self.local = spec.cluster(cluster).local
        self.used = _zero_loss_topics(spec, cluster)
        self.zero_loss_apps = [a for a in spec.applications_on(cluster) if declares_zero_loss(a)]

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
        rule: str,
        rule_resource: str,
        path: SpecPath | None = None,
    ) -> ZeroLossViolation:
        violation = ZeroLossViolation(
            resource=resource,
            setting=setting,
            actual=actual,
            required=required,
            message=message,
            fix=fix,
            rule=rule,
            rule_resource=rule_resource,
        )
        if path is None:
            return violation
        pos = self.spec.source.locate(path)
        return replace(
            violation,
            fix=f"{fix} ({pos.file}:{pos.line})",
            file=pos.file,
            line=pos.line,
            column=pos.column,
        )

    @property
    def _cluster_resource(self) -> str:
        return f"cluster {self.cluster}"

    def _more_brokers(self) -> str:
        """How to get three brokers: runnable for the local cluster, in words for another."""
        if self.local:
            start, apply = self.commands.fresh_local_cluster(MIN_PROD_REPLICATION)
            return (
                f"set brokers: {MIN_PROD_REPLICATION} on cluster {self.cluster} in the spec and "
                f"start a {MIN_PROD_REPLICATION}-node local cluster beside this one (a local "
                f"cluster cannot grow in place): `{start}`, then `{apply}`"
            )
        return (
            f"add brokers until cluster {self.cluster} has at least {MIN_PROD_REPLICATION}, "
            f"and set brokers: {MIN_PROD_REPLICATION} on it in the spec"
        )

    def _static(self, key: str, value: int, *, where: str) -> str:
        """The fix of a static broker setting: a local cluster derives it from its node count."""
        if self.local:
            return (
                f"a local cluster sets {key} from its node count ({MIN_PROD_REPLICATION} nodes "
                f"give {value}): {self._more_brokers()}"
            )
        return f"set {key}={value} in {where} server.properties (a static setting) and restart"

    def _reassign(self, topic: str, live: TopicDurability) -> str:
        """A runnable reassignment to three replicas, or what must come first."""
        brokers = sorted(self.live.brokers)
        if len(brokers) < MIN_PROD_REPLICATION:
            return (
                f"once the cluster has {MIN_PROD_REPLICATION} brokers, reassign its partitions "
                f"to {MIN_PROD_REPLICATION} replicas with kafka-reassign-partitions"
            )
        plan = raised_replication(topic, live.assignment, brokers, MIN_PROD_REPLICATION)
        execute, verify = self.commands.reassign(topic, plan)
        return (
            f"reassign its partitions to {MIN_PROD_REPLICATION} replicas: `{execute}` "
            f"(`{verify}` says when it is done; apply never changes a replication factor)"
        )

    # -------------------------------------------------------------- brokers
    def brokers(self) -> Iterator[ZeroLossViolation]:
        count = len(self.live.brokers)
        if count < MIN_PROD_REPLICATION:
            yield self._violation(
                resource=self._cluster_resource,
                setting="brokers",
                actual=str(count),
                required=f">= {MIN_PROD_REPLICATION}",
                message=f"the cluster has {count} broker(s): no topic can keep "
                f"{MIN_PROD_REPLICATION} replicas, so losing one disk or node can lose "
                "acknowledged records",
                fix=self._more_brokers(),
                rule=REPLICATION_RULE,
                rule_resource=self._cluster_resource,
            )
        everyone = "--entity-type brokers --entity-default"
        for broker_id, configs in sorted(self.live.brokers.items()):
            sources = self.live.broker_sources.get(broker_id, {})
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
                    fix=self._dynamic_fix(
                        broker_id, sources, "min.insync.replicas", str(MIN_PROD_INSYNC), everyone
                    ),
                    rule=REPLICATION_RULE,
                    rule_resource=self._cluster_resource,
                )
            if configs.get("unclean.leader.election.enable", "false").lower() == "true":
                yield self._violation(
                    resource=resource,
                    setting="unclean.leader.election.enable",
                    actual="true",
                    required="false",
                    message="unclean.leader.election.enable=true: an out-of-sync replica may "
                    "become leader and truncate acknowledged records",
                    fix=self._dynamic_fix(
                        broker_id, sources, "unclean.leader.election.enable", "false", everyone
                    ),
                    rule=UNCLEAN_RULE,
                    rule_resource=self._cluster_resource,
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
                    fix=self._static(
                        "default.replication.factor",
                        MIN_PROD_REPLICATION,
                        where=f"broker {broker_id}'s",
                    ),
                    rule=REPLICATION_RULE,
                    rule_resource=self._cluster_resource,
                )

    def _dynamic_fix(
        self, broker_id: int, sources: dict[str, str], key: str, value: str, everyone: str
    ) -> str:
        """Set the cluster-wide default; a per-broker override would hide it, so drop that."""
        default = self.commands.kafka_configs(everyone, add=f"{key}={value}")
        fix = f"set {key}={value} on every broker: `{default}`"
        if sources.get(key) == "DYNAMIC_BROKER_CONFIG":
            own = self.commands.kafka_configs(
                f"--entity-type brokers --entity-name {broker_id}", delete=key
            )
            fix += f", and remove broker {broker_id}'s own override, which wins over it: `{own}`"
        return fix

    # ------------------------------------------------------- internal topics
    def internal_topics(self) -> Iterator[ZeroLossViolation]:
        if not self.zero_loss_apps:
            return
        checks = [(CONSUMER_OFFSETS, "offsets.topic", "the group's committed offsets")]
        if any(a.app.transactional for a in self.zero_loss_apps):
            checks.append(
                (TRANSACTION_STATE, "transaction.state.log", "the state of every transaction")
            )
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
                    fix=self._reassign(name, topic),
                    rule=REPLICATION_RULE,
                    rule_resource=name,
                )
            min_isr = _as_int(_value(topic, "min.insync.replicas"))
            if min_isr is not None and min_isr < MIN_PROD_INSYNC:
                command = self.commands.kafka_configs(
                    f"--entity-type topics --entity-name {name}",
                    add=f"min.insync.replicas={MIN_PROD_INSYNC}",
                )
                yield self._violation(
                    resource=f"topic {name}",
                    setting="min.insync.replicas",
                    actual=str(min_isr),
                    required=f">= {MIN_PROD_INSYNC}",
                    message=f"{name} holds {holds} and accepts writes held by {min_isr} replica",
                    fix=f"set min.insync.replicas={MIN_PROD_INSYNC} on {name}: `{command}`",
                    rule=REPLICATION_RULE,
                    rule_resource=name,
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
                fix=self._static(rf_key, MIN_PROD_REPLICATION, where="every broker's")
                + ("" if self.local else ", before the first client uses it"),
                rule=REPLICATION_RULE,
                rule_resource=name,
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
                    fix=self._static(
                        "transaction.state.log.min.isr", MIN_PROD_INSYNC, where="every broker's"
                    ),
                    rule=REPLICATION_RULE,
                    rule_resource=name,
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
                    fix=f"create it from the spec: `{self.commands.apply()}`",
                    rule=ZERO_LOSS_RULE,
                    rule_resource=name,
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
        common = {"setting": "replication factor", "rule": REPLICATION_RULE, "rule_resource": name}
        required = f">= {MIN_PROD_REPLICATION}"
        if wanted is not None and wanted < MIN_PROD_REPLICATION:
            on_cluster = f", {live.replication_factor} on the cluster" if live else ""
            raise_live = (
                f", after raising it on the cluster ({self._reassign(name, live)})"
                if live and live.replication_factor < MIN_PROD_REPLICATION
                else ""
            )
            yield self._violation(
                resource=f"topic {name}",
                actual=f"{wanted} in the spec{on_cluster}",
                required=required,
                message=f"replication factor {wanted} (set in the spec) for a topic zero_loss "
                f"application(s) {users} use: one lost replica can lose acknowledged records",
                fix=f"set replication_factor: {MIN_PROD_REPLICATION}{raise_live}",
                path=(*entry.path, "replication_factor"),
                **common,
            )
        elif live is not None and live.replication_factor < MIN_PROD_REPLICATION:
            spec_fix = (
                f", then set replication_factor: {MIN_PROD_REPLICATION} on the topic"
                if wanted is None
                else ""
            )
            yield self._violation(
                resource=f"topic {name}",
                actual=f"{live.replication_factor} on the cluster",
                required=required,
                message=f"the topic has {live.replication_factor} replica(s) on cluster "
                f"{self.cluster}; zero_loss application(s) {users} use it",
                fix=f"{self._reassign(name, live)}{spec_fix}",
                path=entry.path,
                **common,
            )
        elif live is None and wanted is None and default is not None and default < 3:
            yield self._violation(
                resource=f"topic {name}",
                actual=f"{default} (brokers' default.replication.factor)",
                required=required,
                message=f"the topic would be created with {default} replica(s)",
                fix=f"set replication_factor: {MIN_PROD_REPLICATION} on the topic, then "
                f"`{self.commands.apply()}`",
                path=entry.path,
                **common,
            )

    def _min_insync(
        self, entry: TopicEntry, live: TopicDurability | None, users: str
    ) -> Iterator[ZeroLossViolation]:
        key = "min.insync.replicas"
        name = entry.full_name
        wanted = _as_int(topic_config(entry, key))
        apply = f"`{self.commands.apply()}`"
        common = {"setting": key, "rule": REPLICATION_RULE, "rule_resource": name}
        if wanted is not None and wanted < MIN_PROD_INSYNC:
            yield self._violation(
                resource=f"topic {name}",
                actual=f"{wanted} in the spec",
                required=f">= {MIN_PROD_INSYNC}",
                message=f"{key}={wanted} (set in the spec): acks=all writes of {users} are "
                "acknowledged when a single replica holds them",
                fix=f"set {key}: {MIN_PROD_INSYNC}, then {apply}",
                path=config_path(entry, key),
                **common,
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
            actual=f"{value} ({origin})",
            required=f">= {MIN_PROD_INSYNC}",
            message=f"{key}={value} ({origin}): acks=all writes of {users} are acknowledged "
            "when a single replica holds them",
            fix=f"set configs: {{{key}: {MIN_PROD_INSYNC}}} on the topic, then {apply}",
            path=entry.path,
            **common,
        )

    def _unclean(
        self, entry: TopicEntry, live: TopicDurability | None
    ) -> Iterator[ZeroLossViolation]:
        key = "unclean.leader.election.enable"
        name = entry.full_name
        why = "an out-of-sync replica may become leader and truncate acknowledged records"
        apply = f"`{self.commands.apply()}`"
        common = {"setting": key, "rule": UNCLEAN_RULE, "rule_resource": name}
        if topic_config(entry, key) == "true":
            yield self._violation(
                resource=f"topic {name}",
                actual="true in the spec",
                required="false",
                message=f"{key}=true (set in the spec): {why}",
                fix=f"remove {key} from the topic's configs (Kafka's default is false), "
                f"then {apply}",
                path=config_path(entry, key),
                **common,
            )
            return
        current = live.settings.get(key) if live else None
        if current is None or current.value.lower() != "true":
            return
        origin = "overridden on the cluster" if current.overridden else "inherited from the brokers"
        yield self._violation(
            resource=f"topic {name}",
            actual=f"true ({origin})",
            required="false",
            message=f"{key}=true ({origin}): {why}",
            fix=f"set configs: {{{key}: false}} on the topic, then {apply}",
            path=entry.path,
            **common,
        )

    # ---------------------------------------------------------- applications
    def applications(self) -> Iterator[ZeroLossViolation]:
        for problem in application_problems(self.spec, self.cluster):
            yield self._violation(
                resource=f"application {problem.application}",
                setting=problem.setting,
                actual=problem.actual,
                required=problem.required,
                message=problem.message,
                fix=problem.fix,
                rule=ZERO_LOSS_RULE,
                rule_resource=problem.application,
                path=problem.path,
            )


def _value(topic: TopicDurability, key: str) -> str | None:
    setting = topic.settings.get(key)
    return setting.value if setting is not None else None
