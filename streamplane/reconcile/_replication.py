"""The principals and least-privilege ACLs MirrorMaker 2 needs on both ends of each flow.

MM2 is usually run as a super user; here each flow has its own principal
(``mm2.<source>.<target>``), created by ``apply`` on both clusters with only what the
flow's connectors use:

* on the source: read (and describe the configs of) exactly the topics the flow copies
  and the ``heartbeats`` topic, and read the offsets of the groups it checkpoints;
* on the target: create and write the copies (the ``<source>.`` prefix with prefix
  naming, the copies by name with identity naming), the checkpoints, offset-syncs and
  heartbeats topics, and the Connect worker's group and internal topics.

ACL sync is off (``sync.topic.acls.enabled=false``): the spec grants every cluster's ACLs.
"""

from __future__ import annotations

from streamplane.model import (
    HEARTBEATS_TOPIC,
    ApplicationEntry,
    ReplicationFlow,
    Spec,
    checkpoints_topic,
    connect_group,
    copy_origins,
    flow_label,
    flow_topics,
    mm2_principal,
    offset_syncs_topic,
    worker_topics,
)
from streamplane.reconcile._resources import AclEntry


def replication_acls(spec: Spec, cluster: str) -> list[tuple[AclEntry, str]]:
    """Every ACL the flows touching ``cluster`` need there, each with its reason."""
    acls: list[tuple[AclEntry, str]] = []
    for flow in spec.platform.replication.flows:
        if flow.source == cluster:
            acls.extend(_source_acls(spec, flow))
        if flow.target == cluster:
            acls.extend(_target_acls(spec, flow))
    return acls


def replication_principals(spec: Spec, cluster: str) -> list[str]:
    return sorted(
        {
            mm2_principal(f)
            for f in spec.platform.replication.flows
            if cluster in (f.source, f.target)
        }
    )


class _Grants:
    def __init__(self, flow: ReplicationFlow, side: str) -> None:
        self.principal = f"User:{mm2_principal(flow)}"
        self.here = f"replication {flow_label(flow)} ({side})"
        self.acls: list[tuple[AclEntry, str]] = []

    def __call__(
        self, rtype: str, name: str, ops: tuple[str, ...], why: str, pattern: str = "LITERAL"
    ) -> None:
        for op in ops:
            entry = AclEntry(self.principal, rtype, name, pattern, op)
            self.acls.append((entry, f"{self.here} {why}"))


_READ = ("READ", "DESCRIBE", "DESCRIBE_CONFIGS")
_OWN = ("CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS")


def _source_acls(spec: Spec, flow: ReplicationFlow) -> list[tuple[AclEntry, str]]:
    grant = _Grants(flow, "source")
    for topic in flow_topics(spec, flow):
        grant("TOPIC", topic.name, _READ, f"copies {topic.name}")
    grant("TOPIC", HEARTBEATS_TOPIC, _READ, "copies the heartbeats of flows into the source")
    for group in flow.groups:
        # "*" is Kafka's wildcard, "team.*" a prefix; lint allows no other glob.
        prefixed = group != "*" and group.endswith("*")
        name, pattern = (group[:-1], "PREFIXED") if prefixed else (group, "LITERAL")
        grant("GROUP", name, ("DESCRIBE",), f"checkpoints group {group}", pattern)
    grant("CLUSTER", "kafka-cluster", ("DESCRIBE",), "lists the consumer groups to checkpoint")
    return grant.acls


def _target_acls(spec: Spec, flow: ReplicationFlow) -> list[tuple[AclEntry, str]]:
    grant = _Grants(flow, "target")
    if flow.naming == "prefix":
        grant("TOPIC", f"{flow.source}.", _OWN, "makes and writes the copies", "PREFIXED")
    else:
        for topic in flow_topics(spec, flow):
            grant("TOPIC", topic.remote, _OWN, f"makes and writes the copy of {topic.name}")
        grant("TOPIC", checkpoints_topic(flow), _OWN, "writes checkpoints")
    grant("TOPIC", HEARTBEATS_TOPIC, _OWN, "writes heartbeats")
    grant("TOPIC", offset_syncs_topic(flow), _OWN, "records offset syncs")
    for name in worker_topics(flow):
        grant("TOPIC", name, _OWN, "keeps the Connect worker's state")
    grant("GROUP", connect_group(flow), ("READ", "DESCRIBE"), "runs the Connect worker group")
    grant("CLUSTER", "kafka-cluster", ("DESCRIBE",), "reads the cluster id")
    grant("CLUSTER", "kafka-cluster", ("IDEMPOTENT_WRITE",), "writes idempotently")
    return grant.acls


def copy_read_acls(spec: Spec, app: ApplicationEntry, cluster: str) -> list[tuple[AclEntry, str]]:
    """An application reading topic T on ``cluster`` may read the copies of T the flows
    bring there: the same data, from another region (active-active, failover)."""
    acls: list[tuple[AclEntry, str]] = []
    principal = f"User:{app.principal}"
    for copy, original in copy_origins(spec, cluster).items():
        if original not in app.app.consumes:
            continue
        why = f"application {app.app.name} consumes {original}, and {copy} is its copy"
        for op in ("READ", "DESCRIBE"):
            acls.append((AclEntry(principal, "TOPIC", copy, "LITERAL", op), why))
    return acls
