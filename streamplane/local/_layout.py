"""Where a local cluster keeps its state, and which ports its nodes use.

Everything lives under one data directory (``.streamplane/`` by default) so that
``down``/``up`` reuses it and deleting it is a full reset.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from streamplane.errors import DataDirError

DEFAULT_DATA_DIR = Path(".streamplane")
CLIENT_PORT_BASE = 9090
CONTROLLER_PORT_BASE = 9091
#: Node N's mTLS listener (client certificates, no SASL): 9190+2N.
MTLS_PORT_BASE = 9190
ADMIN_USER = "admin"
#: The local OIDC issuer listens on 8085 + the cluster's port offset.
IDP_PORT_BASE = 8085
#: The audience the brokers require in a token (the issuer puts it in every token).
OAUTH_AUDIENCE = "kafka"


def idp_url(port_offset: int) -> str:
    """The local OIDC issuer's URL, which is also the ``iss`` of its tokens."""
    return f"http://127.0.0.1:{IDP_PORT_BASE + port_offset}"


def jwks_url(port_offset: int) -> str:
    return f"{idp_url(port_offset)}/jwks"


@dataclass(frozen=True)
class NodeAddress:
    """Node N listens for clients on 9090+2N (SASL: SCRAM and OAUTHBEARER), for clients
    with certificates on 9190+2N (mTLS) and for its controller on 9091+2N (+ offset)."""

    node_id: int
    client_port: int
    controller_port: int
    mtls_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def mtls_bootstrap(self) -> str:
        return f"127.0.0.1:{self.mtls_port}"


def node_address(node_id: int, *, port_offset: int = 0) -> NodeAddress:
    return NodeAddress(
        node_id=node_id,
        client_port=CLIENT_PORT_BASE + 2 * node_id + port_offset,
        controller_port=CONTROLLER_PORT_BASE + 2 * node_id + port_offset,
        mtls_port=MTLS_PORT_BASE + 2 * node_id + port_offset,
    )


@dataclass(frozen=True)
class ClusterState:
    """What was decided at first ``up``, persisted in ``cluster.json``."""

    cluster_id: str
    nodes: int
    port_offset: int
    kafka_version: str
    #: ``up --tls``: the SASL listener, inter-broker and controller traffic on TLS too (the
    #: mTLS listener always is).
    tls: bool = False
    #: Broker-only nodes added later (``local add-broker``), numbered after the ``nodes``
    #: combined broker+controllers: the KRaft voters are formatted in, brokers are not.
    brokers: int = 0
    #: Tiered storage (KIP-405) on: ``up --tiered``; topics opt in with ``tiered: true``.
    tiered: bool = False

    def addresses(self) -> list[NodeAddress]:
        return [node_address(n, port_offset=self.port_offset) for n in self.node_ids()]

    def node_ids(self) -> list[int]:
        return list(range(1, self.nodes + self.brokers + 1))

    def voter_ids(self) -> list[int]:
        return list(range(1, self.nodes + 1))

    def is_voter(self, node_id: int) -> bool:
        return node_id <= self.nodes

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(a.bootstrap for a in self.addresses())

    @property
    def mtls_bootstrap_servers(self) -> str:
        return ",".join(a.mtls_bootstrap for a in self.addresses())

    @property
    def sasl_protocol(self) -> str:
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"


@dataclass(frozen=True)
class Credentials:
    """Generated secrets: the ``admin`` super user and the controller listener."""

    admin_password: str
    controller_password: str

    @classmethod
    def generate(cls) -> Credentials:
        # token_urlsafe never yields ',' or '"', which Kafka's --add-scram and JAAS parsing reject.
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24))


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, url-safe base64 without padding (as Uuid.toString)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka's own generator avoids a leading '-', which CLIs would read as an option.
        if not text.startswith("-"):
            return text


class DataDir:
    """Paths inside one local cluster's data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials"

    @property
    def admin_properties(self) -> Path:
        """The admin's connection in librdkafka form (confluent-kafka, ``kcat -F``)."""
        return self.root / "admin.properties"

    @property
    def admin_java_properties(self) -> Path:
        """The same connection for Kafka's Java tools and clients (``--command-config``)."""
        return self.root / "admin-java.properties"

    @property
    def guardrails_rules(self) -> Path:
        """The topic rules the brokers' guardrails plugin enforces (written by ``apply``)."""
        return self.root / "guardrails.properties"

    @property
    def pki(self) -> Path:
        """The development CA and the certificates it issued (``streamplane pki``)."""
        return self.root / "pki"

    @property
    def idp(self) -> Path:
        """The local OIDC issuer's signing keys and registered clients."""
        return self.root / "idp"

    @property
    def clients(self) -> Path:
        """One ready client configuration per application principal, written by apply."""
        return self.root / "clients"

    def node_dir(self, node_id: int) -> Path:
        return self.root / f"node{node_id}"

    def node_data(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "data"

    def node_logs(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "logs"

    def node_config(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "server.properties"

    @property
    def remote_storage(self) -> Path:
        """Where LocalTieredStorage keeps offloaded segments (the local "object store")."""
        return self.root / "remote-storage"

    def node_pid_file(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "node.pid"

    def node_console(self, node_id: int) -> Path:
        return self.node_logs(node_id) / "console.out"

    def read_state(self) -> ClusterState | None:
        if not self.state_file.exists():
            return None
        try:
            return ClusterState(**json.loads(self.state_file.read_text()))
        except (ValueError, TypeError) as exc:
            raise DataDirError(
                f"{self.state_file} is not a Streamplane cluster state file ({exc}); "
                f"move {self.root} away or pass another --data-dir."
            ) from exc

    def write_state(self, state: ClusterState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.state_file, json.dumps(asdict(state), indent=2) + "\n")

    def read_credentials(self) -> Credentials | None:
        if not self.credentials_file.exists():
            return None
        return Credentials(**json.loads(self.credentials_file.read_text()))

    def write_credentials(self, creds: Credentials) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.credentials_file, json.dumps(asdict(creds)) + "\n", mode=0o600)


def write_secret_file(path: Path, text: str) -> None:
    """Write a file holding a secret: mode 0600 from its first byte, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, text, mode=0o600)


def write_public_file(path: Path, text: str) -> None:
    """Write a file anyone may read (certificates, a CRL, rules), replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, text, mode=0o644)


def _write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write via rename so a crash never leaves a half-written state or secret file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
