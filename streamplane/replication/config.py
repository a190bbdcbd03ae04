"""MirrorMaker 2 configuration generated from the spec, one dedicated-mode process per flow.

Where it departs from MM2's defaults, and why:

* ``topics``: exactly the spec topics the flow selects, as an anchored regex of their
  names, never MM2's ``.*``: an undeclared or newly created topic is not copied until the
  spec says so (and lint has checked its classification against the target's).
* ``sync.topic.acls.enabled=false``: the spec owns every cluster's ACLs; MM2's ACL sync
  would grant read on the copies to whoever could read the originals.
* ``sync.group.offsets.enabled=false``: a group's offsets on the target move only when an
  operator fails it over (``streamplane failover``), which first checks the group is
  inactive; MM2's background sync would overwrite a group already running there.
* ``offset-syncs.topic.location=target``: the offset syncs live beside the copies, so
  failover can still translate offsets when the source cluster is gone.
* checkpoint, offset-sync and heartbeat intervals from the flow (5 s by default, MM2's is
  60 s): failover translates offsets from checkpoints at most this old.
* replication factors of the copies and of MM2's own topics from the clusters' brokers
  (MM2 defaults to 2 for copies and 3 for its internal topics, which fail on one node).
* each flow runs as its own least-privilege principal (``mm2.<source>.<target>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from streamplane.errors import PlanError
from streamplane.kafka import ConnectionSettings
from streamplane.model import ReplicationFlow, Spec, flow_topics, mm2_principal
from streamplane.reconcile import connect

#: What replaces secrets when a configuration is shown.
REDACTED = "[redacted]"


@dataclass(frozen=True)
class FlowEnds:
    """A flow's two clusters as MM2 reaches them (its own principal on each)."""

    source: ConnectionSettings
    target: ConnectionSettings
    #: Cluster admin connections, for reading topics and committing failed-over offsets.
    source_admin: ConnectionSettings
    target_admin: ConnectionSettings


def flow_ends(
    spec: Spec, flow: ReplicationFlow, data_dir: Path, *, reach: bool = False
) -> FlowEnds:
    """Connections for both ends; a local cluster's MM2 password is the one apply made."""
    ends = []
    for name in (flow.source, flow.target):
        target = connect(spec, cluster=name, data_dir=data_dir, reach=reach)
        principal = mm2_principal(flow)
        password = target.secrets.platform_password(principal, create=False)
        if password == "":
            raise PlanError(
                f"cluster {name} has no credential for {principal} yet: run `streamplane "
                f"apply {spec.root} --cluster {name}` first (it creates MM2's principal and "
                "ACLs there)"
            )
        # A remote cluster: MM2 connects with the cluster's own `auth` from the spec.
        mm2 = (
            target.settings
            if password is None
            else target.settings.with_credentials(principal, password)
        )
        ends.append((mm2, target.settings))
    return FlowEnds(ends[0][0], ends[1][0], ends[0][1], ends[1][1])


def _names_regex(names: list[str]) -> str:
    # Kafka topic names are [A-Za-z0-9._-]; escape the dots. An empty selection matches
    # nothing rather than MM2's "everything".
    return "|".join(f"^{re.escape(n)}$" for n in names) if names else "^$"


def _groups_regex(groups: list[str]) -> str:
    parts = [
        ".*"
        if g == "*"
        else (f"^{re.escape(g[:-1])}.*" if g.endswith("*") else f"^{re.escape(g)}$")
        for g in groups
    ]
    return "|".join(parts) if parts else "^$"


def _replicas(spec: Spec, cluster: str) -> int:
    return min(spec.cluster(cluster).brokers, 3)


def mm2_properties(spec: Spec, flow: ReplicationFlow, ends: FlowEnds) -> dict[str, str]:
    """The dedicated-mode properties of one flow (run with ``--clusters <target>``)."""
    src, dst = flow.source, flow.target
    pair = f"{src}->{dst}"
    seconds = str(max(1, flow.interval // 1000))
    replicas = str(_replicas(spec, dst))
    props: dict[str, str] = {"clusters": f"{src}, {dst}"}
    for alias, settings in ((src, ends.source), (dst, ends.target)):
        for key, value in settings.java_client().items():
            props[f"{alias}.{key}"] = value
    props.update(
        {
            f"{pair}.enabled": "true",
            f"{dst}->{src}.enabled": "false",
            f"{pair}.topics": _names_regex([t.name for t in flow_topics(spec, flow)]),
            f"{pair}.groups": _groups_regex(flow.groups),
            f"{pair}.sync.topic.acls.enabled": "false",
            f"{pair}.sync.topic.configs.enabled": "true" if flow.sync_configs else "false",
            f"{pair}.sync.group.offsets.enabled": "false",
            # On the target: failover reads them there when the source is gone.
            f"{pair}.offset-syncs.topic.location": "target",
            f"{pair}.emit.checkpoints.interval.seconds": seconds,
            f"{pair}.emit.heartbeats.interval.seconds": seconds,
            f"{pair}.refresh.topics.interval.seconds": seconds,
            f"{pair}.refresh.groups.interval.seconds": seconds,
            f"{pair}.tasks.max": str(flow.tasks),
            "replication.policy.class": (
                "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
                if flow.naming == "identity"
                else "org.apache.kafka.connect.mirror.DefaultReplicationPolicy"
            ),
            "replication.factor": replicas,
            "checkpoints.topic.replication.factor": replicas,
            "heartbeats.topic.replication.factor": replicas,
            "offset-syncs.topic.replication.factor": replicas,
            "offset.storage.replication.factor": replicas,
            "status.storage.replication.factor": replicas,
            "config.storage.replication.factor": replicas,
            # Copies are written with acks=all and idempotence, so a broker failover on the
            # target neither loses nor duplicates what MM2 acknowledged to itself.
            f"{dst}.producer.acks": "all",
            f"{dst}.producer.enable.idempotence": "true",
            # Offsets the worker keeps of the source: flushed often, so a killed MM2
            # re-copies seconds of records (duplicates), never skips any.
            "offset.flush.interval.ms": "2000",
        }
    )
    return props


def render(props: dict[str, str], *, redact: bool) -> str:
    """A properties file; with ``redact``, JAAS configs and keys are shown as redacted."""
    lines = ["# Generated by `streamplane replicate` from the spec; do not edit."]
    for key, value in props.items():
        secret = key.endswith(("sasl.jaas.config", "ssl.keystore.key"))
        shown = REDACTED if redact and secret else value
        lines.append(f"{key} = {_escape(shown)}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    # java.util.Properties: a backslash escapes, and a value keeps its inner spaces; the
    # PEM key and chain of mTLS are the only multi-line values.
    return value.replace("\\", "\\\\").replace("\n", "\\n")
