"""Render the per-node Kafka configuration from the shipped templates."""

from __future__ import annotations

from string import Template

from streamplane.local._fetch import package_file
from streamplane.local._layout import ClusterState, Credentials, DataDir


def replication_defaults(nodes: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of ``nodes``.

    Three or more nodes get RF 3 / min ISR 2: one node may fail without losing
    availability of acks=all writes, two may not (the write is refused, not lost).
    """
    if nodes >= 3:
        return 3, 2
    return nodes, 1


def render_server_properties(
    node_id: int, *, state: ClusterState, creds: Credentials, data_dir: DataDir
) -> str:
    addresses = state.addresses()
    own = addresses[node_id - 1]
    rf, min_isr = replication_defaults(state.nodes)
    template = Template(package_file("templates/server.properties").read_text())
    return template.substitute(
        node_id=node_id,
        voters=",".join(f"{a.node_id}@127.0.0.1:{a.controller_port}" for a in addresses),
        client_port=own.client_port,
        controller_port=own.controller_port,
        admin_password=creds.admin_password,
        controller_password=creds.controller_password,
        log_dir=data_dir.node_data(node_id),
        replication_factor=rf,
        min_insync_replicas=min_isr,
    )
