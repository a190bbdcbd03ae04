"""The built-in governance rules: each a small function from a RuleContext to violations.

Every message names the values that break the rule (the topic's replication factor, the
cluster's allowed classes...), so a finding reads as a fact about the spec, not a lecture.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from streamplane.model import (
    DEFAULT_ENCRYPT_RULE,
    FIELD_ENCRYPTING,
    PII_TAG,
    Classification,
    Secret,
    TopicEntry,
    Visibility,
    encryption_for,
    has_tagged_field,
    schema_contract,
)
from streamplane.model._types import PUBLIC_EVENT_RE
from streamplane.policy._context import (
    Rule,
    RuleContext,
    RuleViolation,
    SpecPath,
    config_path,
    effective_min_insync_replicas,
    effective_replication_factor,
    topic_config,
)
from streamplane.policy._findings import Severity
from streamplane.policy._scope import judges
from streamplane.policy._zero_loss_apps import ZERO_LOSS_RULE, zero_loss_rule

#: Production needs RF 3 / min ISR 2: one broker may fail without losing acks=all writes.
MIN_PROD_REPLICATION = 3
MIN_PROD_INSYNC = 2

_KAFKA_DEFAULT_RETENTION_MS = 7 * 86_400_000
_UNITS_MS = (("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def _human_ms(ms: int) -> str:
    """A retention as a person would write it: "90d", "infinite (-1)"."""
    if ms < 0:
        return "infinite (-1)"
    for unit, size in _UNITS_MS:
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def replication(ctx: RuleContext) -> Iterator[RuleViolation]:
    """Topics on prod clusters survive a broker loss: RF >= 3 and min.insync.replicas >= 2."""
    for entry, cluster in ctx.topic_cluster_entries():
        if not judges("replication", cluster):
            continue  # the environments it judges are shared with the zero-loss audit
        rf = effective_replication_factor(entry, cluster)
        if rf < MIN_PROD_REPLICATION:
            own = entry.topic.replication_factor is not None
            origin = "set on the topic" if own else f"default of a {cluster.brokers}-broker cluster"
            yield RuleViolation(
                resource=entry.full_name,
                path=(*entry.path, "replication_factor") if own else entry.path,
                message=f"replication factor {rf} ({origin}) on prod cluster "
                f'"{cluster.name}" is below {MIN_PROD_REPLICATION}',
                hint=f"set replication_factor: {MIN_PROD_REPLICATION}"
                + (
                    f' and give cluster "{cluster.name}" at least {MIN_PROD_REPLICATION} brokers'
                    if cluster.brokers < MIN_PROD_REPLICATION
                    else ""
                ),
            )
        min_isr = effective_min_insync_replicas(entry, cluster)
        if min_isr < MIN_PROD_INSYNC:
            from_topic = topic_config(entry, "min.insync.replicas") is not None
            origin = "set on the topic" if from_topic else f'cluster "{cluster.name}" default'
            yield RuleViolation(
                resource=entry.full_name,
                path=config_path(entry, "min.insync.replicas"),
                message=f"min.insync.replicas {min_isr} ({origin}) on prod cluster "
                f'"{cluster.name}" is below {MIN_PROD_INSYNC}: one broker loss can lose '
                "acknowledged writes",
                hint=f"set configs: {{min.insync.replicas: {MIN_PROD_INSYNC}}} with a "
                f"replication factor of at least {MIN_PROD_INSYNC + 1}",
            )


def unclean_leader_election(ctx: RuleContext) -> Iterator[RuleViolation]:
    """Unclean leader election trades acknowledged data for availability: never allowed."""
    for entry in ctx.spec.topics.values():
        if topic_config(entry, "unclean.leader.election.enable") == "true":
            yield RuleViolation(
                resource=entry.full_name,
                path=config_path(entry, "unclean.leader.election.enable"),
                message="unclean.leader.election.enable is true: an out-of-sync replica may "
                "become leader and silently drop acknowledged records",
                hint="remove the config (Kafka's default is false); for availability, add "
                "replicas instead",
            )


def core_compression(ctx: RuleContext) -> Iterator[RuleViolation]:
    """Core topics use one codec so their storage and network cost is predictable."""
    wanted = ctx.settings.core_compression
    for entry in ctx.spec.topics.values():
        if not entry.topic.core:
            continue
        actual = topic_config(entry, "compression.type")
        if actual == wanted:
            continue
        shown = f'"{actual}"' if actual is not None else '"producer" (the Kafka default)'
        yield RuleViolation(
            resource=entry.full_name,
            path=config_path(entry, "compression.type"),
            message=f'core topic uses compression {shown}; policy requires "{wanted}"',
            hint=f"set compression: {wanted}",
        )


def ownership(ctx: RuleContext) -> Iterator[RuleViolation]:
    """Every topic says who answers for it, how sensitive it is, and what it holds."""
    for entry in ctx.spec.topics.values():
        topic = entry.topic
        if topic.owner is None and entry.domain.owner is None:
            yield RuleViolation(
                resource=entry.full_name,
                path=entry.path,
                message=f'topic has no owner, and neither has its domain "{entry.domain.name}"',
                hint="set owner: <team address> on the topic or on its domain",
            )
        if topic.classification is None:
            yield RuleViolation(
                resource=entry.full_name,
                path=entry.path,
                message="topic has no classification",
                hint="set classification: one of " + ", ".join(c.value for c in Classification),
            )
        if topic.value_schema is None:
            yield RuleViolation(
                resource=entry.full_name,
                path=entry.path,
                message="topic has no value_schema",
                hint="set value_schema: schemas/<name>.avsc (a path relative to the spec root)",
            )


def core_schema_format(ctx: RuleContext) -> Iterator[RuleViolation]:
    """Core topics use Avro or Protobuf: JSON Schema's compatibility checks are too weak."""
    for entry in ctx.spec.topics.values():
        if not entry.topic.core:
            continue
        for field in ("key_schema", "value_schema"):
            ref = getattr(entry.topic, field)
            if ref is None or ref.format in ("AVRO", "PROTOBUF"):
                continue
            yield RuleViolation(
                resource=entry.full_name,
                path=(*entry.path, field),
                message=f'core topic has a {ref.format} {field} "{ref.file}"; core topics '
                "allow Avro or Protobuf only",
                hint="convert the schema to Avro (.avsc) or Protobuf (.proto)",
            )


def public_event_versioned(ctx: RuleContext) -> Iterator[RuleViolation]:
    """Public events are contracts with other domains: versioned, and with a schema."""
    for entry in ctx.spec.topics.values():
        topic = entry.topic
        if topic.visibility is not Visibility.PUBLIC:
            continue
        if not PUBLIC_EVENT_RE.match(topic.name):
            yield RuleViolation(
                resource=entry.full_name,
                path=(*entry.path, "name"),
                message=f'public event "{topic.name}" is not named <event>.v<N>',
                hint=f'rename it, e.g. "{topic.name.split(".")[0]}.v1"',
            )
        if topic.value_schema is None:
            yield RuleViolation(
                resource=entry.full_name,
                path=entry.path,
                message="public event has no value_schema: its consumers in other domains "
                "have no contract to read it by",
                hint="set value_schema: schemas/<event>-v<N>.avsc",
            )


def pii_placement(ctx: RuleContext) -> Iterator[RuleViolation]:
    """PII may only be stored on clusters approved (and audited) for it."""
    for entry, cluster in ctx.topic_cluster_entries():
        if entry.topic.classification is not Classification.PII:
            continue
        if Classification.PII in cluster.data_classes:
            continue
        allowed = ", ".join(c.value for c in cluster.data_classes) or "none"
        pii_clusters = [
            c.name for c in ctx.spec.platform.clusters if Classification.PII in c.data_classes
        ]
        where = f"clusters allowed pii: {', '.join(pii_clusters)}" if pii_clusters else ""
        yield RuleViolation(
            resource=entry.full_name,
            path=(*entry.path, "classification"),
            message=f'pii topic lives on cluster "{cluster.name}" (tenant '
            f'"{entry.tenant.name}"), which may hold only: {allowed}',
            hint=f"move tenant {entry.tenant.name} to a cluster with pii in data_classes"
            + (f" ({where})" if where else "")
            + ", or keep pii out of this topic",
        )


def pii_encryption(ctx: RuleContext) -> Iterator[RuleViolation]:
    """A pii topic's PII fields are encrypted: tagged PII, under an ENCRYPT rule with a KEK."""
    for entry in ctx.spec.topics.values():
        if entry.topic.classification is not Classification.PII:
            continue
        ref = entry.topic.value_schema
        if ref is None:
            continue  # the ownership rule asks for the value schema first
        path = (*entry.path, "value_schema")
        rules = schema_contract(ctx.spec, entry, "value").rules()
        encrypting = [
            r
            for r in rules
            if r.get("type") in FIELD_ENCRYPTING
            and not r.get("disabled")
            and (not r.get("tags") or PII_TAG in r["tags"])
        ]
        if encryption_for(ctx.spec, entry.tenant) is None and not encrypting:
            yield RuleViolation(
                resource=entry.full_name,
                path=path,
                message="pii topic has no KEK to encrypt its PII fields with, so its "
                f"{DEFAULT_ENCRYPT_RULE} rule cannot be made",
                hint="set `encryption: {kek: <name>, kms_type: local-kms|aws-kms, kms_key_id: "
                "<key>}` at the top level of the spec, or on tenant "
                f"{entry.tenant.name} for a key of its own",
            )
        elif not encrypting:
            yield RuleViolation(
                resource=entry.full_name,
                path=path,
                message="pii topic's value schema has no enabled ENCRYPT rule for its PII fields",
                hint=f"remove the disabled or untagged ENCRYPT rule: the default "
                f"{DEFAULT_ENCRYPT_RULE} rule then encrypts every field tagged {PII_TAG}",
            )
        if not has_tagged_field(ctx.spec, entry, "value", PII_TAG):
            yield RuleViolation(
                resource=entry.full_name,
                path=path,
                message=f"pii topic's value schema {ref.file} has no field tagged {PII_TAG}, so "
                "nothing of it would be encrypted",
                hint=f'tag the personal fields: "confluent:tags": ["{PII_TAG}"] on the field in '
                f'the schema, or `tags: {{"**.<field>": [{PII_TAG}]}}` under value_schema; a '
                "topic without personal data is not classification: pii",
            )


def tiered_retention(ctx: RuleContext) -> Iterator[RuleViolation]:
    """Long retention belongs in tiered storage, not on broker disks."""
    limit = ctx.settings.max_retention_without_tiered
    if limit < 0:
        return
    for entry, cluster in ctx.topic_cluster_entries():
        if topic_config(entry, "cleanup.policy") == "compact":
            continue  # retention deletes nothing on a compacted topic, and tiering refuses it
        raw = topic_config(entry, "retention.ms")
        retention = int(raw) if raw is not None else _KAFKA_DEFAULT_RETENTION_MS
        if 0 <= retention <= limit:
            continue
        remote = topic_config(entry, "remote.storage.enable") == "true"
        missing = []
        if not cluster.tiered_storage:
            missing.append(f'cluster "{cluster.name}" has no tiered_storage')
        if not remote:
            missing.append("the topic does not set remote.storage.enable: true")
        if not missing:
            continue
        yield RuleViolation(
            resource=entry.full_name,
            path=config_path(entry, "retention.ms"),
            message=f"retention {_human_ms(retention)} exceeds {_human_ms(limit)} without "
            f"tiered storage: {' and '.join(missing)}",
            hint="shorten retention to at most "
            f"{_human_ms(limit)}, or run the topic on a cluster with tiered_storage: true "
            "and set configs: {remote.storage.enable: true}",
        )


def tiered_topics(ctx: RuleContext) -> Iterator[RuleViolation]:
    """A tiered topic on a cluster without tiered storage, which the brokers would refuse.
    (Compaction and a local retention beyond the retention are refused when the spec
    loads, by the topic configs' own rules.)"""
    for entry, cluster in ctx.topic_cluster_entries():
        if topic_config(entry, "remote.storage.enable") != "true":
            continue
        if not cluster.tiered_storage:
            yield RuleViolation(
                resource=entry.full_name,
                path=config_path(entry, "remote.storage.enable"),
                message=f'tiered topic on cluster "{cluster.name}", which has no tiered '
                "storage: the brokers refuse remote.storage.enable",
                hint=f"set tiered_storage: true on cluster {cluster.name} (a local cluster then "
                "starts with tiered storage), or drop tiered: true",
            )


def partition_limits(ctx: RuleContext) -> Iterator[RuleViolation]:
    """A broker past its partition budget slows elections and recovery for every tenant."""
    for cluster in ctx.spec.platform.clusters:
        loads: list[tuple[int, TopicEntry]] = []
        for entry in ctx.spec.topics_on(cluster.name):
            replicas = entry.topic.partitions * effective_replication_factor(entry, cluster)
            loads.append((replicas, entry))
        total = sum(replicas for replicas, _ in loads)
        per_broker = math.ceil(total / cluster.brokers)
        if per_broker <= cluster.max_partitions_per_broker:
            continue
        largest = sorted(loads, key=lambda item: (-item[0], item[1].full_name))[:3]
        biggest = ", ".join(f"{e.full_name} ({n})" for n, e in largest)
        yield RuleViolation(
            resource=f"cluster {cluster.name}",
            path=ctx.cluster_path(cluster),
            message=f"{total} partition replicas over {cluster.brokers} broker(s) is "
            f"{per_broker} per broker, above max_partitions_per_broker "
            f"{cluster.max_partitions_per_broker}",
            hint=f"add brokers, lower partitions of the largest topics ({biggest}), or raise "
            "max_partitions_per_broker if the brokers are sized for it",
        )


def secret_files(ctx: RuleContext) -> Iterator[RuleViolation]:
    """Passwords read from files (``password: {file: …}``): each file exists and holds one."""
    sources: list[tuple[str, Secret, SpecPath]] = [
        (f"cluster {cluster.name}", cluster.auth.password, ("clusters", index, "auth", "password"))
        for index, cluster in enumerate(ctx.spec.platform.clusters)
        if cluster.auth is not None
    ]
    sources += [
        (entry.app.name, entry.app.password, (*entry.path, "password"))
        for entry in ctx.spec.applications.values()
        if entry.app.password is not None
    ]
    for resource, secret, path in sources:
        if secret.file is None:
            continue  # an environment variable is set where the command runs, not in the spec
        # Resolved as apply resolves it (streamplane.reconcile's SecretStore).
        where = (ctx.spec.root / secret.file).resolve()
        if not where.is_file():
            problem = "does not exist" if not where.exists() else "is not a file"
        elif not where.read_text(errors="replace").strip():
            problem = "is empty"
        else:
            continue
        yield RuleViolation(
            resource=resource,
            path=(*path, "file"),
            message=f"password file {secret.file} ({where}) {problem}",
            hint="write the password into it (one line, mode 0600), or name the file where "
            "it is provisioned; paths are relative to the spec root",
        )


BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(
        id="replication",
        default_severity=Severity.ERROR,
        summary="topics on prod clusters have RF >= 3 and min.insync.replicas >= 2",
        check=replication,
    ),
    Rule(
        id="unclean-leader-election",
        default_severity=Severity.ERROR,
        summary="no topic enables unclean.leader.election.enable",
        check=unclean_leader_election,
    ),
    Rule(
        id="core-compression",
        default_severity=Severity.ERROR,
        summary="core topics use the policy's core_compression codec",
        check=core_compression,
    ),
    Rule(
        id="ownership",
        default_severity=Severity.ERROR,
        summary="every topic has an owner (its own or its domain's), a classification and "
        "a value_schema",
        check=ownership,
    ),
    Rule(
        id="core-schema-format",
        default_severity=Severity.ERROR,
        summary="core topics use Avro or Protobuf schemas, never JSON",
        check=core_schema_format,
    ),
    Rule(
        id="public-event-versioned",
        default_severity=Severity.ERROR,
        summary="public events are named <event>.v<N> and have a value_schema",
        check=public_event_versioned,
    ),
    Rule(
        id="pii-placement",
        default_severity=Severity.ERROR,
        summary="pii topics live only on clusters whose data_classes include pii",
        check=pii_placement,
    ),
    Rule(
        id="pii-encryption",
        default_severity=Severity.ERROR,
        summary="pii topics tag their personal fields PII and encrypt them with a KEK",
        check=pii_encryption,
    ),
    Rule(
        id="tiered-retention",
        default_severity=Severity.ERROR,
        summary="retention beyond max_retention_without_tiered needs tiered storage",
        check=tiered_retention,
    ),
    Rule(
        id="tiered-topics",
        default_severity=Severity.ERROR,
        summary="tiered topics run on a cluster with tiered storage",
        check=tiered_topics,
    ),
    Rule(
        id="partition-limits",
        default_severity=Severity.ERROR,
        summary="partition replicas per broker stay within max_partitions_per_broker",
        check=partition_limits,
    ),
    Rule(
        id=ZERO_LOSS_RULE,
        default_severity=Severity.ERROR,
        summary="applications keep the zero_loss promise: transactional ones declare it, "
        "overrides never break it, producers feeding a zero_loss consumer guarantee it",
        check=zero_loss_rule,
    ),
    Rule(
        id="secret-files",
        default_severity=Severity.ERROR,
        summary="every password the spec reads from a file has that file, with a password in it",
        check=secret_files,
    ),
)
