"""Render the per-node Kafka configuration from the shipped templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from streamplane.local._fetch import package_file
from streamplane.local._layout import (
    OAUTH_AUDIENCE,
    ClusterState,
    Credentials,
    DataDir,
    idp_url,
    jwks_url,
)


def replication_defaults(nodes: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of ``nodes``.

    Three or more nodes get RF 3 / min ISR 2: one node may fail without losing
    availability of acks=all writes, two may not (the write is refused, not lost).
    """
    if nodes >= 3:
        return 3, 2
    return nodes, 1


#: Open connections authenticate again at least this often (ms): the bound on how long a
#: removed SCRAM user or a disabled OAuth client keeps a session it already had.
REAUTH_MS = 60_000


@dataclass(frozen=True)
class TlsFiles:
    """The brokers' TLS material: their key store (key + chain, PEM) and the CA they trust."""

    broker_keystore: Path
    ca: Path


def render_server_properties(
    node_id: int,
    *,
    state: ClusterState,
    creds: Credentials,
    data_dir: DataDir,
    tls: TlsFiles,
    principal_mapping_rules: str,
) -> str:
    addresses = state.addresses()
    own = addresses[node_id - 1]
    voter = state.is_voter(node_id)
    listeners = [f"CLIENT://127.0.0.1:{own.client_port}", f"MTLS://127.0.0.1:{own.mtls_port}"]
    if voter:
        listeners.append(f"CONTROLLER://127.0.0.1:{own.controller_port}")
    rf, min_isr = replication_defaults(state.nodes)
    template = Template(package_file("templates/server.properties").read_text())
    return template.substitute(
        node_id=node_id,
        process_roles="broker,controller" if voter else "broker",
        listeners=",".join(listeners),
        voters=",".join(
            f"{a.node_id}@127.0.0.1:{a.controller_port}"
            for a in addresses
            if state.is_voter(a.node_id)
        ),
        client_port=own.client_port,
        controller_port=own.controller_port,
        mtls_port=own.mtls_port,
        sasl_protocol=state.sasl_protocol,
        jwks_url=jwks_url(state.port_offset),
        oauth_issuer=idp_url(state.port_offset),
        oauth_audience=OAUTH_AUDIENCE,
        reauth_ms=REAUTH_MS,
        broker_keystore=tls.broker_keystore,
        ca_file=tls.ca,
        principal_mapping_rules=principal_mapping_rules,
        admin_password=creds.admin_password,
        controller_password=creds.controller_password,
        log_dir=data_dir.node_data(node_id),
        guardrails_rules=data_dir.guardrails_rules,
        replication_factor=rf,
        min_insync_replicas=min_isr,
        tiered_storage=(_tiered_storage(state, creds, data_dir, tls.ca) if state.tiered else ""),
    )


#: How often the brokers look for segments to offload and remote data to expire (ms);
#: Kafka's 30 s default makes a laptop demo wait for nothing.
REMOTE_TASK_INTERVAL_MS = 2_000


def _tiered_storage(state: ClusterState, creds: Credentials, data_dir: DataDir, ca: Path) -> str:
    """KIP-405 settings: our DirectoryRemoteStorage (the brokers' plugin jar, beside the
    guardrails) as the RemoteStorageManager, segments copied to a folder shared by the
    nodes; Kafka's topic-based metadata manager, whose clients log in as the admin."""
    rf, _ = replication_defaults(state.nodes)
    client = "rlmm.config.remote.log.metadata.common.client."
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{creds.admin_password}";'
    )
    lines = [
        "# Tiered storage (`up --tiered`): segments a topic with remote.storage.enable=true",
        "# rolls are copied to the remote store; local.retention.* bounds what stays on disk.",
        "remote.log.storage.system.enable=true",
        "remote.log.storage.manager.class.name=io.streamplane.tiered.DirectoryRemoteStorage",
        "remote.log.storage.manager.impl.prefix=rsm.config.",
        f"rsm.config.dir={data_dir.remote_storage}",
        "remote.log.metadata.manager.listener.name=CLIENT",
        "remote.log.metadata.manager.impl.prefix=rlmm.config.",
        f"rlmm.config.remote.log.metadata.topic.replication.factor={rf}",
        "rlmm.config.remote.log.metadata.topic.num.partitions=3",
        f"{client}security.protocol={state.sasl_protocol}",
        f"{client}sasl.mechanism=SCRAM-SHA-512",
        f"{client}sasl.jaas.config={jaas}",
        f"remote.log.manager.task.interval.ms={REMOTE_TASK_INTERVAL_MS}",
        "log.retention.check.interval.ms=5000",
    ]
    if state.tls:
        lines += [f"{client}ssl.truststore.type=PEM", f"{client}ssl.truststore.location={ca}"]
    return "\n".join(lines) + "\n"
