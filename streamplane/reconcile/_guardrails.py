"""The rules the brokers' guardrails plugin enforces, generated from the spec.

The plugin (``streamplane/local/guardrails``, a Kafka ``CreateTopicPolicy`` and
``AlterConfigPolicy``) refuses what ``lint`` would refuse in a spec, for topics that do
not come through the spec at all: an admin with ``kafka-topics``, a script with an
AdminClient. The rules are a Java properties file (the plugin reads it with
``java.util.Properties``, no parser to ship) that ``apply`` writes beside a local cluster's
data and the brokers re-read when it changes; for a remote cluster, ``streamplane
guardrails SPEC`` prints the file to deploy with the jar.

Keys: ``naming.prefixes`` (every tenant's namespace) and ``naming.names`` (topics pinned by
``full_name``), with the topics MirrorMaker 2 makes there (copies, checkpoints,
heartbeats, its worker's topics); ``replication.min`` and ``min.insync.replicas.min``
(the replication rule, on the environments it judges); ``retention.max.ms`` and
``retention.tiered.allowed`` (the tiered-retention rule);
``unclean.leader.election.forbidden``. Topics whose name starts with ``_`` are the
platform's own (registry, audit) and are not checked.
"""

from __future__ import annotations

from pathlib import Path

from streamplane.local._layout import write_public_file
from streamplane.model import Cluster, Spec, replication_names
from streamplane.policy._rules import MIN_PROD_INSYNC, MIN_PROD_REPLICATION
from streamplane.policy._scope import judges


def guardrail_rules(spec: Spec, cluster: Cluster) -> str:
    """The rules file for ``cluster``, as the spec says today."""
    tenants = [t for t in spec.platform.tenants if cluster.name in t.clusters]
    copy_prefixes, copy_names = replication_names(spec, cluster.name)
    prefixes = sorted({t.namespace for t in tenants} | set(copy_prefixes))
    names = sorted(
        {
            entry.full_name
            for entry in spec.topics_on(cluster.name)
            if not any(entry.full_name.startswith(p) for p in prefixes)
        }
        | {name for name in copy_names if not any(name.startswith(p) for p in prefixes)}
    )
    strict = judges("replication", cluster)
    settings = spec.platform.policy
    lines = [
        f"# Written by `streamplane apply` from {spec.root} for cluster {cluster.name}; "
        "the brokers re-read it when it changes.",
        f"source={spec.root}",
        f"naming.prefixes={','.join(prefixes)}",
        f"naming.names={','.join(names)}",
        f"replication.min={MIN_PROD_REPLICATION if strict else 1}",
        f"min.insync.replicas.min={MIN_PROD_INSYNC if strict else 1}",
        f"retention.max.ms={settings.max_retention_without_tiered}",
        f"retention.tiered.allowed={'true' if cluster.tiered_storage else 'false'}",
        "unclean.leader.election.forbidden=true",
    ]
    return "\n".join(lines) + "\n"


def write_guardrail_rules(spec: Spec, cluster: Cluster, path: Path) -> bool:
    """Write (or, with guardrails off, remove) the rules; True when the file changed.

    Written to a temporary file and renamed: a broker never reads half a file.
    """
    if not spec.platform.policy.guardrails:
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed
    text = guardrail_rules(spec, cluster)
    if path.exists() and path.read_text() == text:
        return False
    write_public_file(path, text)
    return True
