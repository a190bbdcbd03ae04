"""Which cluster a read-only command looks at, and what the spec says about what it finds.

Read-only commands (``topics``, ``groups``) connect the way the others do: with a spec,
to the spec's cluster (``--cluster``, else its local or only one) with the credentials
``plan`` would use; without one, to the local cluster of ``--data-dir``; ``--config``
names a librdkafka properties file for any other cluster. The spec is optional: it adds
who owns each topic and group, and whether the platform manages it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from streamplane.cli._reach import config_connection
from streamplane.errors import ClusterError
from streamplane.kafka import ConnectionSettings
from streamplane.local import DataDir, RegistryProcess, require_local_cluster
from streamplane.model import Spec, load_spec
from streamplane.reconcile import RegistryEndpoint, connect, desired_state


@dataclass(frozen=True)
class Owner:
    """Who a topic belongs to by the spec; ``managed``: the spec declares it on this cluster;
    ``platform``: Kafka's or the platform's own topic (``_schemas``...), never the spec's."""

    tenant: str | None
    domain: str | None
    managed: bool
    platform: bool = False


@dataclass
class ReadTarget:
    """A connection plus what the spec knows about the cluster (empty without a spec)."""

    settings: ConnectionSettings
    #: How the cluster is named in messages: the spec's name, or where its settings came from.
    label: str
    spec: Spec | None = None
    cluster: str | None = None
    registry: RegistryEndpoint | None = None
    owners: dict[str, Owner] = field(default_factory=dict)
    #: consumer group -> the application of the spec that consumes with it
    group_apps: dict[str, str] = field(default_factory=dict)

    def owner(self, topic: str) -> Owner | None:
        """The topic's owner; None without a spec. Unmanaged topics get the tenant whose
        namespace they fall in, if any."""
        if self.spec is None:
            return None
        found = self.owners.get(topic)
        if found is not None:
            return found
        if topic.startswith("_"):
            return Owner(None, None, managed=False, platform=True)
        tenant = self.spec.tenant_of_topic(topic)
        return Owner(tenant.name if tenant else None, None, managed=False)


def resolve_target(
    *,
    spec: Path | None,
    cluster: str | None,
    data_dir: Path,
    config: Path | None,
    reach: bool = True,
) -> ReadTarget:
    """The cluster to read, as described in the module docstring.

    With ``reach`` (the default) the cluster is proven to answer first, in bounded time:
    a stopped or unreachable cluster is one ClusterUnreachableError line.
    """
    if spec is not None:
        loaded = load_spec(spec)
        # With --config, that file's cluster is the one that must answer, not the spec's.
        target = connect(loaded, cluster=cluster, data_dir=data_dir, reach=reach and not config)
        settings = target.settings if config is None else config_connection(config, reach=reach)
        read = ReadTarget(
            settings,
            f"cluster {target.cluster}",
            spec=loaded,
            cluster=target.cluster,
            registry=target.registry,
        )
        _index(read, loaded, target.cluster)
        return read
    if cluster is not None:
        raise ClusterError(f"--cluster {cluster} names a cluster of a spec: pass --spec too")
    if config is not None:
        return ReadTarget(config_connection(config, reach=reach), str(config))
    props = data_dir / "admin.properties"
    if not props.exists():
        raise ClusterError(
            f"{props} does not exist; start the local cluster with `streamplane up`, or pass "
            "--data-dir, --spec (a spec naming the cluster) or --config (its librdkafka "
            "properties)"
        )
    settings = ConnectionSettings.from_properties_file(props)
    if reach:
        require_local_cluster(data_dir, settings)
    return ReadTarget(
        settings,
        f"local cluster {DataDir(data_dir).root}",
        registry=local_registry(data_dir, settings),
    )


def local_registry(data_dir: Path, settings: ConnectionSettings) -> RegistryEndpoint | None:
    """The schema registry ``streamplane up`` runs beside the local cluster, if it is running.

    Checked by its pid file, not over HTTP: a stopped registry costs no connection timeout.
    """
    layout = DataDir(data_dir)
    state = layout.read_state()
    if state is None:
        return None
    process = RegistryProcess(layout, port_offset=state.port_offset)
    if process.process() is None:
        return None
    return RegistryEndpoint(
        process.url,
        settings.username,
        settings.password,
        how_to_fix="start it with `streamplane up`",
    )


def _index(read: ReadTarget, spec: Spec, cluster: str) -> None:
    desired = desired_state(spec, cluster)
    for name, topic in desired.topics.items():
        entry = spec.topics.get(name)
        domain = entry.domain.name if entry is not None else None
        read.owners[name] = Owner(topic.tenant, domain, managed=True)
    for app in spec.applications_on(cluster):
        if app.app.consumes:
            read.group_apps[app.consumer_group] = app.app.name


def broker_count_warning(spec: Spec, cluster: str, data_dir: Path) -> str | None:
    """A warning when the spec's ``brokers:`` for the local cluster is not its node count.

    lint and the zero-loss rules judge replication factors, min ISR and partitions per
    broker by the declared count, so a 3-node cluster declared as 1 broker is checked as
    the wrong cluster. Read from the data directory's state: no request to the cluster.
    """
    entry = spec.cluster(cluster)
    if entry.local:
        data_dir = spec.local_data_dir(entry, data_dir)
    state = DataDir(data_dir).read_state() if entry.local else None
    if state is None or state.nodes == entry.brokers:
        return None
    path = ("clusters", spec.platform.clusters.index(entry), "brokers")
    pos = spec.source.locate(path)
    declared = "" if path in spec.source.values else " (the default: it sets none)"
    return (
        f"{pos.file}:{pos.line}: cluster {entry.name} declares brokers: {entry.brokers}"
        f"{declared}, but "
        f"the local cluster in {data_dir} has {state.nodes} node(s); lint and the replication "
        f"checks judge it as {entry.brokers} broker(s). Set `brokers: {state.nodes}` on the "
        f"cluster, or run the cluster the spec describes (`streamplane up --nodes "
        f"{entry.brokers}` in another --data-dir)."
    )


def warn_broker_count(console: Console, spec: Spec, cluster: str, data_dir: Path) -> None:
    """Print :func:`broker_count_warning`, if any (to stderr: --json output stays clean)."""
    warning = broker_count_warning(spec, cluster, data_dir)
    if warning is not None:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
