"""The embedded default: N combined broker+controller Kafka nodes on loopback."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from streamplane.errors import AlreadyRunningError, DataDirError, NodeStartError
from streamplane.kafka import ConnectionSettings, describe_quorum, read_properties
from streamplane.local._audit_service import AuditShipperProcess
from streamplane.local._config import render_server_properties
from streamplane.local._console_service import ConsoleProcess
from streamplane.local._fetch import KafkaRuntime, fetch_runtime, package_file
from streamplane.local._idp_service import IdpProcess
from streamplane.local._java import JavaRuntime, find_java
from streamplane.local._jobs import masking_jobs
from streamplane.local._layout import (
    ADMIN_USER,
    DEFAULT_DATA_DIR,
    ClusterState,
    Credentials,
    DataDir,
    NodeAddress,
    new_cluster_id,
    node_address,
    write_secret_file,
)
from streamplane.local._ports import ensure_ports_free
from streamplane.local._process import (
    NODE_TAG,
    JvmOptions,
    launch,
    running_process,
    stop_processes,
    tail,
    write_pid_file,
)
from streamplane.local._readiness import probe_node
from streamplane.local._security import broker_jvm_args, broker_tls, principal_mapping_rules
from streamplane.local._slo_services import CanaryProcess, PrometheusProcess

log = logging.getLogger(__name__)

DEFAULT_START_TIMEOUT_S = 90.0
DEFAULT_STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    client_port: int
    controller_port: int
    rack: str
    #: A KRaft voter (combined broker+controller) or a broker-only node (``add-broker``).
    voter: bool
    pid: int | None
    ready: bool
    error: str | None


@dataclass(frozen=True)
class ClusterStatus:
    data_dir: str
    cluster_id: str
    kafka_version: str
    bootstrap_servers: str
    controller_leader: int | None
    nodes: list[NodeStatus]

    @property
    def ready(self) -> bool:
        return all(n.ready for n in self.nodes)


class LocalCluster:
    """A local cluster rooted at one data directory.

    Methods converge rather than assume: ``up`` formats only what is unformatted,
    starts only nodes that are not running, and stops what it started if any node
    fails to come up, so a failed ``up`` leaves nothing half-running.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        java: JavaRuntime,
        runtime: KafkaRuntime,
        jvm: JvmOptions | None = None,
    ) -> None:
        self.dir = DataDir(data_dir)
        self.java = java
        self.runtime = runtime
        self.jvm = jvm or JvmOptions()

    # ----------------------------------------------------------------- state
    def state(self) -> ClusterState | None:
        return self.dir.read_state()

    def credentials(self) -> Credentials:
        creds = self.dir.read_credentials()
        if creds is None:
            raise DataDirError(
                f"{self.dir.credentials_file} is missing; run `{_up(self.dir.root)}` first."
            )
        return creds

    def admin_settings(self) -> ConnectionSettings:
        state = self.require_state()
        return _admin_connection(state, self.credentials().admin_password, self.dir)

    def running_nodes(self) -> dict[int, psutil.Process]:
        state = self.state()
        if state is None:
            return {}
        found = {}
        for node_id in state.node_ids():
            proc = running_process(self.dir.node_pid_file(node_id))
            if proc is not None:
                found[node_id] = proc
        return found

    # -------------------------------------------------------------------- up
    def up(
        self,
        *,
        nodes: int = 1,
        port_offset: int | None = None,
        timeout_s: float = DEFAULT_START_TIMEOUT_S,
        tls: bool | None = None,
        tiered: bool | None = None,
    ) -> ClusterState:
        """Format on first start, start every node that is not running, wait until ready.

        ``tls`` puts the SASL listener, inter-broker and controller traffic on TLS (True) or
        back in the clear (False); None keeps what the cluster was started with. The local
        OIDC issuer is started first: the brokers fetch its signing keys while they start.
        """
        running = self.running_nodes()
        existing = self.state()
        if existing is None:
            # Check ports before formatting, so a taken port leaves no new data behind.
            self._ensure_ports_free(
                [node_address(n, port_offset=port_offset or 0) for n in range(1, nodes + 1)]
            )
        state = self._prepare(
            nodes=nodes, port_offset=port_offset, tls=tls, tiered=tiered, running=running
        )
        if len(running) == len(state.node_ids()):
            pids = ", ".join(str(p.pid) for p in running.values())
            raise AlreadyRunningError(
                f"a {len(state.node_ids())}-node cluster is already running from {self.dir.root} "
                f"(pids {pids}; bootstrap {state.bootstrap_servers}). Nothing was started: "
                "`streamplane status` shows it, `streamplane down` stops it."
            )
        to_start = [n for n in state.node_ids() if n not in running]
        idp = self.identity_provider(state)
        idp_was_running = idp.process() is not None
        idp.start()
        try:
            self._start_nodes(state, to_start, timeout_s=timeout_s)
        except BaseException:
            # A failed up leaves nothing of its own running, the issuer included.
            if not idp_was_running and not running:
                idp.stop()
            raise
        return state

    def identity_provider(self, state: ClusterState | None = None) -> IdpProcess:
        """The cluster's OIDC issuer (8085 + its port offset), which the brokers trust."""
        state = state or self.require_state()
        return IdpProcess(self.dir, port_offset=state.port_offset)

    def _prepare(
        self,
        *,
        nodes: int,
        port_offset: int | None,
        tls: bool | None = None,
        tiered: bool | None = None,
        running: dict[int, psutil.Process] | None = None,
    ) -> ClusterState:
        state = self.state()
        if state is None:
            state = self._initialise(
                nodes=nodes, port_offset=port_offset or 0, tls=bool(tls), tiered=bool(tiered)
            )
        elif state.nodes != nodes:
            # A cluster cannot change size in place (its KRaft voters are formatted in), and
            # its directory holds generated secrets: start afresh beside it, never over it.
            shown = _shown(self.dir.root)
            fresh = f"{shown}-{nodes}"
            here = "" if shown == DEFAULT_DATA_DIR else f" DATA_DIR={shown}"
            flag = "" if shown == DEFAULT_DATA_DIR else f" --data-dir {shown}"
            raise DataDirError(
                f"{shown} holds a {state.nodes}-node cluster, not {nodes}; nothing was "
                f"started. Start it as it is with --nodes {state.nodes} (`make up "
                f"NODES={state.nodes}{here}`), or start a fresh {nodes}-node cluster in a data "
                f"directory of its own, keeping this one: `streamplane up --nodes {nodes} "
                f"--data-dir {fresh}` (`make up NODES={nodes} DATA_DIR={fresh}`). Stop this "
                f"one first (`streamplane down{flag}`) or give the new one other ports "
                "(--port-offset N, PORT_OFFSET=N)."
            )
        elif port_offset is not None and port_offset != state.port_offset:
            raise DataDirError(
                f"{self.dir.root} holds a cluster on port offset {state.port_offset}, not "
                f"{port_offset}; its nodes advertise those ports. Omit --port-offset or use "
                "another --data-dir."
            )
        elif tls is not None and tls != state.tls:
            if running:
                now = "--tls" if state.tls else "--no-tls"
                raise DataDirError(
                    f"the cluster in {self.dir.root} is running {now}; its listeners change "
                    "only at start. Stop it (`streamplane down`) and start it again with "
                    f"{'--tls' if tls else '--no-tls'}."
                )
            state = replace(state, tls=tls)
            self.dir.write_state(state)
        if tiered is not None and tiered != state.tiered:
            if running:
                raise DataDirError(
                    f"the cluster in {self.dir.root} is running with tiered storage "
                    f"{'on' if state.tiered else 'off'}; it changes only at start. Stop it "
                    f"(`streamplane down`) and start it again with "
                    f"{'--tiered' if tiered else '--no-tiered'}."
                )
            state = replace(state, tiered=tiered)
            self.dir.write_state(state)
        self._check_formatted_for(state)
        self._write_node_files(state)
        return state

    def _initialise(
        self, *, nodes: int, port_offset: int, tls: bool = False, tiered: bool = False
    ) -> ClusterState:
        leftovers = [
            self.dir.node_data(n) / "meta.properties"
            for n in range(1, 10)
            if (self.dir.node_data(n) / "meta.properties").exists()
        ]
        if leftovers:
            raise DataDirError(
                f"{leftovers[0]} holds Kafka data but {self.dir.state_file} is missing, so the "
                "cluster it belongs to and its credentials are unknown. Restore the file, or "
                f"move {self.dir.root} away to start a new cluster."
            )
        creds = self.dir.read_credentials() or Credentials.generate()
        self.dir.write_credentials(creds)
        state = ClusterState(
            cluster_id=new_cluster_id(),
            nodes=nodes,
            port_offset=port_offset,
            kafka_version=self.runtime.version,
            tls=tls,
            tiered=tiered,
        )
        self._write_node_files(state, creds=creds)
        with ThreadPoolExecutor(max_workers=nodes) as pool:
            results = list(pool.map(lambda n: self._format(state, creds, n), state.node_ids()))
        failed = [r for r in results if r]
        if failed:
            for node_id in state.node_ids():
                meta = self.dir.node_data(node_id) / "meta.properties"
                meta.unlink(missing_ok=True)
            raise NodeStartError(
                "formatting KRaft storage failed; nothing was started:\n" + failed[0], node_id=0
            )
        # Written last: state without formatted storage would be a lie.
        self.dir.write_state(state)
        log.info("formatted cluster %s with %d node(s)", state.cluster_id, nodes)
        return state

    def _format(self, state: ClusterState, creds: Credentials, node_id: int) -> str:
        cmd = [
            *self._java_base(tools=True),
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id", state.cluster_id,
            "--config", str(self.dir.node_config(node_id)),
        ]  # fmt: skip
        if state.is_voter(node_id):
            # Bootstrap records are read by controllers only; a broker-only node takes none.
            cmd += [
                "--add-scram",
                f"SCRAM-SHA-512=[name={ADMIN_USER},password={creds.admin_password}]",
            ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            return f"node {node_id}: {(proc.stderr or proc.stdout).strip()[-2000:]}"
        return ""

    def _check_formatted_for(self, state: ClusterState) -> None:
        for node_id in state.node_ids():
            meta_file = self.dir.node_data(node_id) / "meta.properties"
            if not meta_file.exists():
                raise DataDirError(
                    f"{meta_file} is missing: node {node_id}'s storage is not formatted although "
                    f"{self.dir.state_file} says it belongs to cluster {state.cluster_id}. Move "
                    f"{self.dir.root} away to start a new cluster."
                )
            meta = read_properties(meta_file)
            if meta.get("cluster.id") != state.cluster_id:
                raise DataDirError(
                    f"{meta_file} was formatted for cluster {meta.get('cluster.id')}, but "
                    f"{self.dir.root} belongs to cluster {state.cluster_id}. Kafka would refuse to "
                    f"start it. Put back node {node_id}'s own data, or use another --data-dir."
                )
            if meta.get("node.id") != str(node_id):
                raise DataDirError(
                    f"{meta_file} belongs to node {meta.get('node.id')}, not node {node_id}. Put "
                    "each node's data back in its own directory, or use another --data-dir."
                )

    def _write_node_files(self, state: ClusterState, *, creds: Credentials | None = None) -> None:
        creds = creds or self.credentials()
        tls = broker_tls(self.dir)
        rules = principal_mapping_rules()
        for node_id in state.node_ids():
            self.dir.node_data(node_id).mkdir(parents=True, exist_ok=True)
            self.dir.node_logs(node_id).mkdir(parents=True, exist_ok=True)
            self.dir.node_config(node_id).write_text(
                render_server_properties(
                    node_id,
                    state=state,
                    creds=creds,
                    data_dir=self.dir,
                    tls=tls,
                    principal_mapping_rules=rules,
                )
            )
            self.dir.node_config(node_id).chmod(0o600)
        settings = _admin_connection(state, creds.admin_password, self.dir)
        # Both hold the admin password: created 0600, never readable by others in between.
        write_secret_file(self.dir.admin_properties, settings.properties_text())
        write_secret_file(self.dir.admin_java_properties, settings.java_properties_text())

    def _java_base(self, *, tools: bool = False) -> list[str]:
        log4j = package_file("templates/tools-log4j2.yaml" if tools else "templates/log4j2.yaml")
        return [str(self.java.executable), f"-Dlog4j2.configurationFile={log4j}"] + (
            ["-Xmx256m", "-XX:TieredStopAtLevel=1"] if tools else []
        ) + ["-cp", self.runtime.classpath]  # fmt: skip

    # ----------------------------------------------------------- start nodes
    def _launch_node(self, state: ClusterState, node_id: int) -> psutil.Process:
        node_dir = self.dir.node_dir(node_id)
        cmd = [
            str(self.java.executable),
            *self.jvm.args(),
            *broker_jvm_args(state),
            f"-Dlog4j2.configurationFile={package_file('templates/log4j2.yaml')}",
            f"-Dkafka.logs.dir={self.dir.node_logs(node_id)}",
            f"{NODE_TAG}{node_dir}",
            "-cp", self.runtime.classpath,
            "kafka.Kafka", str(self.dir.node_config(node_id)),
        ]  # fmt: skip
        proc = launch(cmd, console=self.dir.node_console(node_id), cwd=node_dir)
        write_pid_file(self.dir.node_pid_file(node_id), proc)
        return proc

    def _start_nodes(self, state: ClusterState, node_ids: list[int], *, timeout_s: float) -> None:
        addresses = {a.node_id: a for a in state.addresses()}
        self._ensure_ports_free([addresses[n] for n in node_ids])
        started = {n: self._launch_node(state, n) for n in node_ids}
        try:
            self._wait_ready(state, started, addresses, timeout_s=timeout_s)
        except BaseException:
            # Nothing half-running: stop what this call started, keep what was running.
            stop_processes(started.values(), timeout_s=10)
            for n in node_ids:
                self.dir.node_pid_file(n).unlink(missing_ok=True)
            raise

    @staticmethod
    def _ensure_ports_free(addresses: list[NodeAddress]) -> None:
        ensure_ports_free(
            {
                port: f"node {a.node_id} {kind} listener"
                for a in addresses
                for port, kind in ((a.client_port, "client"), (a.controller_port, "controller"))
            }
        )

    def _wait_ready(
        self,
        state: ClusterState,
        started: dict[int, psutil.Process],
        addresses: dict[int, NodeAddress],
        *,
        timeout_s: float,
    ) -> None:
        settings = self.admin_settings()
        deadline = time.monotonic() + timeout_s
        pending = set(started)
        last_error: dict[int, str] = {}
        while pending:
            for node_id in sorted(pending):
                proc = started[node_id]
                if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                    code = _exit_code(proc)
                    raise NodeStartError(
                        f"node {node_id} exited during start-up (exit code {code}); "
                        f"its log is {self.dir.node_logs(node_id) / 'server.log'}",
                        node_id=node_id,
                        log_tail=self.node_log_tail(node_id),
                    )
                probe = probe_node(
                    settings.with_bootstrap(addresses[node_id].bootstrap), timeout_s=1.0
                )
                if probe.answered and node_id in probe.brokers:
                    pending.discard(node_id)
                elif probe.error:
                    last_error[node_id] = probe.error
            if not pending:
                return
            if time.monotonic() >= deadline:
                slow = min(pending)
                raise NodeStartError(
                    f"node {slow} was not ready after {timeout_s:.0f}s "
                    f"(last answer: {last_error.get(slow, 'registered but not yet unfenced')}); "
                    f"its log is {self.dir.node_logs(slow) / 'server.log'}",
                    node_id=slow,
                    log_tail=self.node_log_tail(slow),
                )
            time.sleep(0.25)

    def node_log_tail(self, node_id: int, lines: int = 30) -> str:
        """The end of a node's server log and, if the JVM itself complained, its console."""
        parts = []
        console = tail(self.dir.node_console(node_id), lines)
        if console.strip():
            parts.append(f"--- {self.dir.node_console(node_id)}\n{console}")
        server = tail(self.dir.node_logs(node_id) / "server.log", lines)
        if server.strip():
            parts.append(f"--- {self.dir.node_logs(node_id) / 'server.log'}\n{server}")
        return "\n".join(parts)

    def add_broker(self, *, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> int:
        """Add one broker-only node to the running cluster; returns its id.

        Why broker-only: the KRaft voters of a local cluster are static (formatted in), and
        an expansion adds capacity, not quorum members — as in production, where a few
        controllers serve many brokers. The new node holds no partitions until a rebalance
        (``streamplane rebalance plan --add-broker N``) moves some to it.
        """
        state = self.require_state()
        if len(self.running_nodes()) != len(state.node_ids()):
            raise DataDirError(
                f"not every node of the cluster in {self.dir.root} is running; start it "
                f"(`{_up(self.dir.root)}`) before adding a broker."
            )
        grown = replace(state, brokers=state.brokers + 1)
        node_id = grown.node_ids()[-1]
        self._ensure_ports_free([node_address(node_id, port_offset=state.port_offset)])
        if (self.dir.node_data(node_id) / "meta.properties").exists():
            raise DataDirError(
                f"{self.dir.node_data(node_id)} already holds Kafka data; move it away before "
                f"adding node {node_id}."
            )
        self._write_node_files(grown)
        failed = self._format(grown, self.credentials(), node_id)
        if failed:
            raise NodeStartError(f"formatting node {node_id} failed:\n{failed}", node_id=node_id)
        self.dir.write_state(grown)
        try:
            self._start_nodes(grown, [node_id], timeout_s=timeout_s)
        except BaseException:
            # Nothing half-added: the state forgets the node, its formatted storage goes.
            self.dir.write_state(state)
            self._write_node_files(state)
            (self.dir.node_data(node_id) / "meta.properties").unlink(missing_ok=True)
            raise
        return node_id

    # ------------------------------------------------------ faults and stop
    def start_node(self, node_id: int, *, timeout_s: float = DEFAULT_START_TIMEOUT_S) -> None:
        state = self.require_state()
        self._require_node(state, node_id)
        if node_id in self.running_nodes():
            raise AlreadyRunningError(f"node {node_id} is already running.")
        self._check_formatted_for(state)
        self._write_node_files(state)
        self.identity_provider(state).start()
        self._start_nodes(state, [node_id], timeout_s=timeout_s)

    def kill_node(self, node_id: int, *, graceful: bool = False) -> int:
        """SIGKILL (or SIGTERM with ``graceful``) one node; returns its pid."""
        state = self.require_state()
        self._require_node(state, node_id)
        proc = self.running_nodes().get(node_id)
        if proc is None:
            raise NodeStartError(f"node {node_id} is not running.", node_id=node_id)
        pid = proc.pid
        if graceful:
            stop_processes([proc], timeout_s=DEFAULT_STOP_TIMEOUT_S)
        else:
            proc.kill()
            psutil.wait_procs([proc], timeout=10)
        self.dir.node_pid_file(node_id).unlink(missing_ok=True)
        return pid

    def down(self, *, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> list[int]:
        """Stop every node; returns the ids of nodes that had to be SIGKILLed.

        The services that read and write the nodes go first (masking jobs, the console, the
        audit shipper, the canary, and Prometheus which scrapes it), the OIDC issuer last
        (the nodes refresh its keys while they run).
        """
        for job in masking_jobs(self.dir):
            job.stop()
        known = self.state()
        offset = known.port_offset if known is not None else 0
        ConsoleProcess(self.dir, port_offset=offset).stop()
        AuditShipperProcess(self.dir).stop()
        PrometheusProcess(self.dir, port_offset=offset).stop()
        CanaryProcess(self.dir, port_offset=offset).stop()
        running = self.running_nodes()
        killed_pids = set(stop_processes(running.values(), timeout_s=timeout_s))
        state = self.state()
        for node_id in state.node_ids() if state else []:
            self.dir.node_pid_file(node_id).unlink(missing_ok=True)
        if state is not None:
            # After the nodes: they would log failed key refreshes in the meantime.
            self.identity_provider(state).stop()
        return [n for n, p in running.items() if p.pid in killed_pids]

    # ---------------------------------------------------------------- status
    def status(self) -> ClusterStatus:
        state = self.require_state()
        running = self.running_nodes()
        settings = self.admin_settings()
        nodes = []
        for address in state.addresses():
            proc = running.get(address.node_id)
            probe = (
                probe_node(settings.with_bootstrap(address.bootstrap), timeout_s=2.0)
                if proc
                else None
            )
            nodes.append(
                NodeStatus(
                    node_id=address.node_id,
                    client_port=address.client_port,
                    controller_port=address.controller_port
                    if state.is_voter(address.node_id)
                    else 0,
                    rack=f"rack-{address.node_id}",
                    voter=state.is_voter(address.node_id),
                    pid=proc.pid if proc else None,
                    ready=bool(probe and probe.answered and address.node_id in probe.brokers),
                    error=None if proc is None or probe is None else probe.error,
                )
            )
        leader = None
        ready_nodes = [n for n in nodes if n.ready]
        if ready_nodes:
            bootstrap = ",".join(f"127.0.0.1:{n.client_port}" for n in ready_nodes)
            try:
                leader = describe_quorum(settings.with_bootstrap(bootstrap), timeout_s=5).leader_id
            except Exception as exc:  # noqa: BLE001 - status must render even without a quorum
                log.debug("describe quorum failed: %s", exc)
        return ClusterStatus(
            data_dir=str(self.dir.root),
            cluster_id=state.cluster_id,
            kafka_version=state.kafka_version,
            bootstrap_servers=state.bootstrap_servers,
            controller_leader=leader,
            nodes=nodes,
        )

    def require_state(self) -> ClusterState:
        state = self.state()
        if state is None:
            raise DataDirError(
                f"no local cluster in {self.dir.root}; start one with `{_up(self.dir.root)}`."
            )
        return state

    @staticmethod
    def _require_node(state: ClusterState, node_id: int) -> None:
        if node_id not in state.node_ids():
            raise DataDirError(
                f"node {node_id} does not exist; this cluster has nodes 1..{len(state.node_ids())}."
            )


def _admin_connection(state: ClusterState, password: str, data_dir: DataDir) -> ConnectionSettings:
    """The super user's connection: SCRAM on the SASL listener, over TLS with ``--tls``."""
    return ConnectionSettings(
        bootstrap_servers=state.bootstrap_servers,
        security_protocol=state.sasl_protocol,
        username=ADMIN_USER,
        password=password,
        ssl_ca=str(data_dir.pki / "ca.pem") if state.tls else None,
    )


def _up(root: Path) -> str:
    """``streamplane up`` for the data directory ``root``: a fix that starts this cluster."""
    if root == DEFAULT_DATA_DIR.resolve():
        return "streamplane up"
    return f"streamplane up --data-dir {_shown(root)}"


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when inside it, as a user typed it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _exit_code(proc: psutil.Process) -> int | str:
    try:
        code = proc.wait(timeout=1)
    except psutil.Error:
        return "unknown"
    return code if code is not None else "unknown"


def open_cluster(
    data_dir: Path = DEFAULT_DATA_DIR,
    *,
    jvm: JvmOptions | None = None,
    on_fetch_progress: Callable[[str], None] | None = None,
) -> LocalCluster:
    """A LocalCluster with Java checked and the jars fetched (a no-op when cached)."""
    java = find_java()
    return LocalCluster(
        data_dir, java=java, runtime=fetch_runtime(on_progress=on_fetch_progress), jvm=jvm
    )
