"""``streamplane up|down|status`` and ``streamplane local fetch|kill-node|start-node``."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli._tables import new_table, print_table
from streamplane.errors import AlreadyRunningError, StreamplaneError
from streamplane.kafka import ClusterInspector, PartitionState
from streamplane.local import (
    DEFAULT_DATA_DIR,
    CanaryProcess,
    ClusterStatus,
    KafkaRuntime,
    LocalCluster,
    PrometheusProcess,
    RegistryProcess,
    cached_runtime,
    fetch_runtime,
    open_cluster,
    pinned_kafka_version,
)
from streamplane.local._audit_service import AuditShipperProcess
from streamplane.local._cluster import DEFAULT_START_TIMEOUT_S, DEFAULT_STOP_TIMEOUT_S
from streamplane.local._console_service import ConsoleProcess
from streamplane.local._jobs import LakeSinkProcess, MaskingJobProcess, masking_jobs
from streamplane.local._mirror_service import mirror_processes
from streamplane.model import Spec, lake_table, load_spec, objectives
from streamplane.slo.rules import write_rules

console = Console(soft_wrap=True)

DataDirOpt = Annotated[
    Path,
    typer.Option("--data-dir", help="Where the cluster keeps its data, logs and credentials."),
]

local_app = typer.Typer(help="The embedded local Kafka runtime: jars and node faults.")


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.add_typer(local_app, name="local")


def _fetch_with_progress() -> KafkaRuntime:
    """Resolve the Kafka jars, showing which artifact Maven is downloading."""
    cached = cached_runtime()
    if cached is not None:
        return cached
    with console.status(f"Fetching Kafka {pinned_kafka_version()} jars with Maven…") as spinner:
        count = 0

        def progress(artifact: str) -> None:
            nonlocal count
            count += 1
            spinner.update(f"Fetching Kafka jars with Maven… {count} files ({artifact})")

        return fetch_runtime(on_progress=progress)


def _open(data_dir: Path) -> LocalCluster:
    _fetch_with_progress()
    return open_cluster(data_dir)


SpecOpt = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="The spec whose local clusters to run (each with its port offset and data "
        "folder) and whose jobs to start (a masking job per masked_twin; run it after "
        "`apply`, which makes their topics, principals and ACLs).",
    ),
]
ClusterOpt = Annotated[
    str | None, typer.Option("--cluster", help="With --spec: this local cluster of the spec.")
]
AllOpt = Annotated[bool, typer.Option("--all", help="With --spec: every local cluster of it.")]


@dataclass(frozen=True)
class _LocalTarget:
    """One local cluster to act on: where it lives, its port shift and, by the spec, its name."""

    data_dir: Path
    port_offset: int | None
    name: str | None = None
    region: str | None = None
    spec: Spec | None = None
    #: The spec's ``tiered_storage`` for this cluster (None without a spec).
    tiered: bool | None = None


def _targets(
    spec: Path | None, cluster: str | None, every: bool, data_dir: Path, port_offset: int | None
) -> list[_LocalTarget]:
    """The local clusters a command acts on: the spec's (``--cluster``/``--all``/its only
    one), each in its folder under the --data-dir root with its port offset shifted by
    --port-offset; without a spec, the cluster of --data-dir."""
    if spec is None:
        if cluster is not None or every:
            raise typer.BadParameter("--cluster and --all name clusters of a spec: pass --spec")
        return [_LocalTarget(data_dir, port_offset)]
    loaded = load_spec(spec)
    local = loaded.local_clusters()
    if not local:
        raise typer.BadParameter(f"spec {spec} declares no `local: true` cluster")
    if cluster is not None:
        chosen = [c for c in local if c.name == cluster]
        if not chosen:
            names = ", ".join(c.name for c in local)
            raise typer.BadParameter(f"{cluster} is not a local cluster of {spec} ({names})")
    elif every or len(local) == 1:
        chosen = local
    else:
        names = ", ".join(c.name for c in local)
        raise typer.BadParameter(
            f"spec {spec} has {len(local)} local clusters ({names}): pass --cluster NAME or --all"
        )
    return [
        _LocalTarget(
            loaded.local_data_dir(c, data_dir),
            None
            if c.port_offset is None and port_offset is None
            else (c.port_offset or 0) + (port_offset or 0),
            c.name,
            c.region,
            loaded,
            c.tiered_storage,
        )
        for c in chosen
    ]


def up(
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=3, help="1 or 3 nodes.")] = 1,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    port_offset: Annotated[
        int | None,
        typer.Option(help="Add to every port (a second local cluster uses 10000)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = (
        DEFAULT_START_TIMEOUT_S
    ),
    registry: Annotated[
        bool, typer.Option("--registry/--no-registry", help="Also run the schema registry.")
    ] = True,
    audit: Annotated[
        bool,
        typer.Option(
            "--audit/--no-audit",
            help="Also run the audit shipper (authorization logs -> _streamplane_audit).",
        ),
    ] = True,
    canary: Annotated[
        bool,
        typer.Option(
            "--canary/--no-canary",
            help="Also run the canary and SLO monitor (synthetic traffic per broker, lag "
            "health, burn-rate alerts; metrics on 8087 + the port offset).",
        ),
    ] = True,
    prometheus: Annotated[
        bool | None,
        typer.Option(
            "--prometheus/--no-prometheus",
            help="Also run Prometheus (8089 + the port offset) with the spec's SLO rules; "
            "default: when the spec declares SLOs.",
        ),
    ] = None,
    spec: SpecOpt = None,
    cluster: ClusterOpt = None,
    every: AllOpt = False,
    jobs: Annotated[
        bool, typer.Option("--jobs/--no-jobs", help="With --spec: also start its jobs.")
    ] = True,
    web_console: Annotated[
        bool,
        typer.Option(
            "--console/--no-console",
            help="With --spec: also run the web console (8080 + the port offset).",
        ),
    ] = True,
    tls: Annotated[
        bool | None,
        typer.Option(
            "--tls/--no-tls",
            help="Put the SASL listener and inter-broker traffic on TLS too (kept across "
            "restarts; default: as the cluster was last started, plaintext at first).",
        ),
    ] = None,
    tiered: Annotated[
        bool | None,
        typer.Option(
            "--tiered/--no-tiered",
            help="Tiered storage (KIP-405, Kafka's LocalTieredStorage in <data dir>/remote-"
            "storage); with --spec, the cluster's tiered_storage decides. Kept across restarts.",
        ),
    ] = None,
) -> None:
    """Start the local platform: the cluster (formatted on first start) and its services.

    Clients authenticate with SCRAM-SHA-512 or OAUTHBEARER (tokens from the local OIDC
    issuer, started first) on the SASL listener, or with a certificate from the cluster's
    CA on the mTLS listener. With a spec of several local clusters (regions), ``--all``
    starts each of them in its own folder under --data-dir, on its own ports.
    """
    if nodes == 2:
        raise typer.BadParameter("use 1 or 3 nodes: a 2-voter quorum cannot survive a failure")
    for target in _targets(spec, cluster, every, data_dir, port_offset):
        chosen = tiered if tiered is not None else target.tiered
        local = _up_one(target, nodes=nodes, timeout=timeout, tls=tls, tiered=chosen)
        _start_services(local, registry=registry, audit=audit, timeout=timeout)
        _start_slo_services(local, target, canary=canary, prometheus=prometheus, timeout=timeout)
        if target.spec is not None and jobs:
            _start_jobs(local, target, timeout)
        if target.spec is not None and web_console:
            _start_console(local, target, data_dir, timeout)


def _up_one(
    target: _LocalTarget, *, nodes: int, timeout: float, tls: bool | None, tiered: bool | None
) -> LocalCluster:
    cluster = _open(target.data_dir)
    named = f"cluster {target.name}: " if target.name else ""
    started = time.monotonic()
    try:
        with console.status(f"Starting {named}{nodes} node(s)…"):
            state = cluster.up(
                nodes=nodes,
                port_offset=target.port_offset,
                timeout_s=timeout,
                tls=tls,
                tiered=tiered,
            )
        console.print(
            f"[green]ready[/] {named}{state.nodes} node(s) in "
            f"{time.monotonic() - started:.1f}s  "
            f"bootstrap [bold]{state.bootstrap_servers}[/] ({state.sasl_protocol}: SCRAM, "
            f"OAUTHBEARER)  mTLS [bold]{state.mtls_bootstrap_servers}[/]  "
            f"admin config [bold]{cluster.dir.admin_properties}[/]",
            highlight=False,
        )
        console.print(
            f"[green]ready[/] OIDC issuer {cluster.identity_provider(state).url}  "
            f"CA {cluster.dir.pki / 'ca.pem'}",
            highlight=False,
        )
    except AlreadyRunningError:
        # The same cluster, already up: nothing to do, which is success (exit 0). Another
        # shape (node count, ports) is refused by cluster.up with a DataDirError (exit 1).
        state = cluster.require_state()
        console.print(
            f"[green]already running[/] {named}{state.nodes} node(s) from "
            f"{cluster.dir.root}, nothing to start  bootstrap [bold]{state.bootstrap_servers}[/]"
            f"  admin config [bold]{cluster.dir.admin_properties}[/]",
            highlight=False,
        )
    return cluster


def _start_services(cluster: LocalCluster, *, registry: bool, audit: bool, timeout: float) -> None:
    if registry:
        service = RegistryProcess(cluster.dir, port_offset=cluster.require_state().port_offset)
        if service.process() is None:
            with console.status("Starting the schema registry…"):
                service.start(timeout_s=timeout)
        console.print(f"[green]ready[/] schema registry {service.url}", highlight=False)
    if audit:
        shipper = AuditShipperProcess(cluster.dir)
        if shipper.process() is None:
            with console.status("Starting the audit shipper…"):
                shipper.start(timeout_s=timeout)
        console.print(
            "[green]ready[/] audit shipper -> _streamplane_audit (streamplane audit query)",
            highlight=False,
        )


def _start_slo_services(
    cluster: LocalCluster,
    target: _LocalTarget,
    *,
    canary: bool,
    prometheus: bool | None,
    timeout: float,
) -> None:
    """The canary (with the spec's SLOs) and, for a spec with SLOs, Prometheus with its rules."""
    offset = cluster.require_state().port_offset
    spec_path = target.spec.root if target.spec is not None else None
    if canary:
        process = CanaryProcess(cluster.dir, port_offset=offset)
        if process.process() is None:
            with console.status("Starting the canary…"):
                process.start(spec=spec_path, timeout_s=timeout)
        console.print(
            f"[green]ready[/] canary -> _streamplane_canary, metrics "
            f"http://127.0.0.1:{process.metrics_port}/metrics (streamplane canary status)",
            highlight=False,
        )
    found = objectives(target.spec) if target.spec is not None else []
    asked = prometheus
    if prometheus is None:
        prometheus = bool(found) and canary
    if not prometheus:
        return
    server = PrometheusProcess(cluster.dir, port_offset=offset)
    server.home.mkdir(parents=True, exist_ok=True)
    write_rules(found, server.rules_file)
    try:
        if server.process() is None:
            with console.status("Starting Prometheus…"):
                server.start(timeout_s=timeout)
        else:
            server.reload()
    except (StreamplaneError, httpx.HTTPError) as exc:
        if asked:
            raise
        # Started because the spec has SLOs, not because it was asked for: the canary and
        # its alerts work without it, so a machine that cannot install it still comes up.
        console.print(
            f"[yellow]not started[/] Prometheus: {exc} (the canary's own alerts still run; "
            "`--no-prometheus` silences this)",
            highlight=False,
        )
        return
    console.print(
        f"[green]ready[/] Prometheus {server.url} with {len(found)} SLO(s)' rules "
        f"({server.rules_file}); application targets in {server.targets_dir}",
        highlight=False,
    )


def _start_jobs(cluster: LocalCluster, target: _LocalTarget, timeout: float) -> None:
    """A masking job per masked twin of the spec on this cluster (``streamplane mask run``)
    and a lake sink per topic with ``lake:`` (``streamplane lake run``)."""
    loaded = target.spec
    assert loaded is not None
    topics = loaded.topics_on(target.name) if target.name else loaded.topics.values()
    for entry in topics:
        if entry.topic.masked_twin is None or entry.path[-1] == "masked_twin":
            continue
        if len(loaded.local_clusters()) > 1:
            console.print(
                f"[yellow]not started[/] the masking job of {entry.full_name}: masking jobs "
                "run for a spec of one local cluster only",
                highlight=False,
            )
            continue
        job = MaskingJobProcess(cluster.dir, entry.full_name, loaded.root)
        if job.process() is None:
            with console.status(f"Starting {job.label}…"):
                job.start(timeout_s=timeout)
        console.print(f"[green]ready[/] {job.label} (log {job.log_file})", highlight=False)
    for entry in topics:
        if entry.topic.lake is None:
            continue
        if len(loaded.local_clusters()) > 1:
            console.print(
                f"[yellow]not started[/] the lake sink of {entry.full_name}: lake sinks run "
                "for a spec of one local cluster only",
                highlight=False,
            )
            continue
        sink = LakeSinkProcess(cluster.dir, entry.full_name, loaded.root)
        if sink.process() is None:
            with console.status(f"Starting {sink.label}…"):
                sink.start(timeout_s=timeout)
        console.print(
            f"[green]ready[/] {sink.label} -> Iceberg table {lake_table(entry)} "
            f"(streamplane lake query --spec {loaded.root} ...)",
            highlight=False,
        )


def _start_console(
    cluster: LocalCluster, target: _LocalTarget, data_dir: Path, timeout: float
) -> None:
    """The console of this cluster of the spec, signing users in with their own identities."""
    assert target.spec is not None
    service = ConsoleProcess(cluster.dir, port_offset=cluster.require_state().port_offset)
    if service.process() is None:
        with console.status("Starting the console…"):
            service.start(
                target.spec.root, cluster=target.name, spec_data_dir=data_dir, timeout_s=timeout
            )
    console.print(
        f"[green]ready[/] console {service.url} (sign in as a principal of the spec, e.g. "
        f"admin with the password in {cluster.dir.credentials_file})",
        highlight=False,
    )


def down(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    timeout: Annotated[
        float, typer.Option(help="Seconds before SIGKILL.")
    ] = DEFAULT_STOP_TIMEOUT_S,
    spec: SpecOpt = None,
    cluster: ClusterOpt = None,
    every: AllOpt = False,
) -> None:
    """Stop every node (SIGTERM, then SIGKILL after the timeout). Data is kept.

    With a spec, its replication flows (MirrorMaker 2) stop first, then its clusters.
    """
    targets = _targets(spec, cluster, every, data_dir, None)
    if spec is not None:
        for flow in mirror_processes(data_dir):
            if flow.stop():
                console.print(f"stopped {flow.label}")
    for target in targets:
        _down_one(target.data_dir, timeout, target.name)


def _down_one(data_dir: Path, timeout: float, name: str | None) -> None:
    cluster = _open(data_dir)
    named = f"cluster {name}: " if name else ""
    state = cluster.state()
    for job in masking_jobs(cluster.dir):
        if job.stop():
            console.print(f"stopped {job.label}")
    if state is not None:
        offset = state.port_offset
        if PrometheusProcess(cluster.dir, port_offset=offset).stop():
            console.print(f"{named}stopped Prometheus")
        if CanaryProcess(cluster.dir, port_offset=offset).stop():
            console.print(f"{named}stopped the canary")
    if state is not None and ConsoleProcess(cluster.dir, port_offset=state.port_offset).stop():
        console.print(f"{named}stopped the console")
    if AuditShipperProcess(cluster.dir).stop():
        console.print(f"{named}stopped the audit shipper")
    if state is not None and RegistryProcess(cluster.dir, port_offset=state.port_offset).stop():
        console.print(f"{named}stopped the schema registry")
    running = cluster.running_nodes()
    if not running:
        # The nodes may have died (kill -9) and left their OIDC issuer running.
        if state is not None and cluster.identity_provider(state).stop():
            console.print(f"{named}stopped the OIDC issuer")
        console.print(f"{named}no node of {cluster.dir.root} is running")
        return
    killed = cluster.down(timeout_s=timeout)
    note = f" (nodes {killed} did not stop in {timeout:.0f}s and were killed)" if killed else ""
    console.print(f"{named}stopped {len(running)} node(s){note}; data kept in {cluster.dir.root}")


def status(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    spec: SpecOpt = None,
    cluster: ClusterOpt = None,
    every: AllOpt = False,
) -> None:
    """Nodes, ports, pids, the controller leader, readiness, and unhealthy partitions.

    Lists partitions with fewer in-sync replicas than replicas, or with no leader. With a
    spec of several local clusters, ``--all`` shows each (``--json``: a ``clusters`` list,
    each with its name, region, bootstrap servers and admin properties file).

    Exit 1 if a node is not ready.
    """
    if spec is not None and cluster is None and not every:
        every = True
    targets = _targets(spec, cluster, every, data_dir, None)
    reports = [_status_one(t, as_json=as_json) for t in targets]
    if as_json:
        if spec is None:
            print(json.dumps(reports[0], indent=2))
        else:
            print(json.dumps({"clusters": reports}, indent=2))
    if not all(r["ready"] for r in reports):
        raise typer.Exit(1)


def _status_one(target: _LocalTarget, *, as_json: bool) -> dict[str, Any]:
    cluster = _open(target.data_dir)
    info = cluster.status()
    port_offset = cluster.require_state().port_offset
    services = [
        RegistryProcess(cluster.dir, port_offset=port_offset).status(),
        ConsoleProcess(cluster.dir, port_offset=port_offset).status(),
        cluster.identity_provider().status(),
        AuditShipperProcess(cluster.dir).status(),
        CanaryProcess(cluster.dir, port_offset=port_offset).status(),
        PrometheusProcess(cluster.dir, port_offset=port_offset).status(),
        *(job.status() for job in masking_jobs(cluster.dir)),
    ]
    unhealthy, unknown = _unhealthy_partitions(cluster, info)
    partitions = (
        None
        if unknown
        else {
            "under_replicated": [p.to_json() for p in unhealthy if p.under_replicated],
            "offline": [p.to_json() for p in unhealthy if p.offline],
        }
    )
    report = {
        **({"name": target.name, "region": target.region} if target.name else {}),
        **asdict(info),
        "admin_properties": str(cluster.dir.admin_properties),
        "ready": info.ready,
        "partitions": partitions,
        "services": [asdict(s) for s in services],
    }
    if as_json:
        return report
    named = f"cluster {target.name}" + (f" ({target.region})" if target.region else "") + " · "
    table = new_table(
        f"{named if target.name else ''}cluster {info.cluster_id} (Kafka {info.kafka_version})",
        ("node", "client", "controller", "rack", "pid", "role", "state"),
    )
    for node in info.nodes:
        role = (
            "leader"
            if node.node_id == info.controller_leader
            else "voter"
            if node.voter
            else "broker"
        )
        state = (
            "[green]ready[/]"
            if node.ready
            else (
                "[red]stopped[/]" if node.pid is None else f"[yellow]starting[/] {node.error or ''}"
            )
        )
        table.add_row(
            str(node.node_id), str(node.client_port), str(node.controller_port or "-"),
            node.rack, str(node.pid or "-"), role, state,
        )  # fmt: skip
    print_table(console, table)
    console.print(
        f"bootstrap {info.bootstrap_servers}  data {info.data_dir}  "
        f"admin config {cluster.dir.admin_properties}",
        soft_wrap=True,
    )
    for service in services:
        state = "[green]ready[/]" if service.ready else "[red]stopped[/]"
        console.print(f"{service.name} {service.url}  pid {service.pid or '-'}  {state}")
    _print_partition_health(unhealthy, unknown)
    return report


#: At most this many unhealthy partitions are listed one by one (--json has them all).
SHOWN_PARTITIONS = 20


def _unhealthy_partitions(
    cluster: LocalCluster, info: ClusterStatus
) -> tuple[list[PartitionState], str | None]:
    """Under-replicated and offline partitions, read through the nodes that are ready;
    (``[]``, why) when no node can say."""
    ready = [n for n in info.nodes if n.ready]
    if not ready:
        return [], "no node is ready"
    bootstrap = ",".join(f"127.0.0.1:{n.client_port}" for n in ready)
    settings = cluster.admin_settings().with_bootstrap(bootstrap)
    try:
        return ClusterInspector(settings, timeout_s=5.0).unhealthy_partitions(), None
    except StreamplaneError as exc:
        return [], str(exc)


def _print_partition_health(unhealthy: list[PartitionState], unknown: str | None) -> None:
    if unknown is not None:
        console.print(f"partitions: [yellow]unknown[/] ({escape(unknown)})", soft_wrap=True)
        return
    offline = [p for p in unhealthy if p.offline]
    under = [p for p in unhealthy if p.under_replicated]
    if not unhealthy:
        console.print("partitions: [green]none under-replicated or offline[/]")
        return
    console.print(
        f"partitions: [red]{len(offline)} offline[/], [yellow]{len(under)} under-replicated[/]"
    )
    for part in unhealthy[:SHOWN_PARTITIONS]:
        what = "[red]offline[/]" if part.offline else "[yellow]under-replicated[/]"
        leader = part.leader if part.leader is not None else "none"
        console.print(
            f"  {what} {escape(part.topic)}[{part.partition}]  leader {leader}  replicas "
            f"{','.join(map(str, part.replicas))}  in sync {','.join(map(str, part.isr)) or '-'}",
            highlight=False,
            soft_wrap=True,
        )
    if len(unhealthy) > SHOWN_PARTITIONS:
        console.print(f"  ... and {len(unhealthy) - SHOWN_PARTITIONS} more (--json lists all)")


@local_app.command("fetch")
def fetch() -> None:
    """Resolve the pinned Kafka jars into the cache (a no-op when complete)."""
    cached = cached_runtime()
    if cached is not None:
        console.print(f"Kafka {cached.version} already cached in {cached.lib_dir}")
        return
    runtime = _fetch_with_progress()
    jars = len(list(runtime.lib_dir.glob("*.jar")))
    console.print(f"Kafka {runtime.version}: {jars} jars in {runtime.lib_dir}")


@local_app.command("kill-node")
def kill_node(
    node: Annotated[int, typer.Argument(help="Node id (1..N).")],
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    graceful: Annotated[bool, typer.Option(help="SIGTERM instead of SIGKILL.")] = False,
) -> None:
    """Kill one node (SIGKILL by default) to test failure handling."""
    cluster = _open(data_dir)
    pid = cluster.kill_node(node, graceful=graceful)
    console.print(f"node {node} (pid {pid}) {'stopped' if graceful else 'killed'}")


@local_app.command("start-node")
def start_node(
    node: Annotated[int, typer.Argument(help="Node id (1..N).")],
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = (
        DEFAULT_START_TIMEOUT_S
    ),
) -> None:
    """Start one stopped node again and wait until it is ready."""
    cluster = _open(data_dir)
    cluster.start_node(node, timeout_s=timeout)
    console.print(f"node {node} ready")


@local_app.command("add-broker")
def add_broker(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = (
        DEFAULT_START_TIMEOUT_S
    ),
) -> None:
    """Add a broker-only node to the running local cluster (it holds nothing until a
    rebalance moves replicas to it: `streamplane rebalance plan --add-broker N`)."""
    cluster = _open(data_dir)
    node_id = cluster.add_broker(timeout_s=timeout)
    console.print(
        f"node {node_id} ready (broker only). Move replicas to it with `streamplane rebalance "
        f"plan --add-broker {node_id} --out plan.json` and `streamplane rebalance execute "
        "plan.json`."
    )
