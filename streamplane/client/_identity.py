"""Who an application is when it connects, and which topics the spec lets it touch.

``Producer.for_application`` and ``Consumer.for_application`` connect as the application,
never as the platform's ``admin``: the broker's ACLs (derived from the same spec) then
hold the application to its ``produces`` and ``consumes``. Before the broker is asked,
:class:`ApplicationScope` refuses a topic the spec does not list for the application,
with the spec entry that would have to change.

Resolution of the connection, first match wins:

1. ``connection=`` with a user name: used as given (an operator's own identity, or
   credentials from a vault). The spec still decides which topics the client may use.
2. Otherwise the application's principal (its ``principal:``, else its name) with its
   password from the spec's ``password: {env: ...}`` or ``{file: ...}``, else, on the local
   cluster, from ``<data dir>/secrets/<principal>``, which ``streamplane apply`` writes.
   The same order ``apply`` uses to set the SCRAM credential, so the two always agree.
3. The cluster: ``cluster=``, else the only cluster of the application's tenant (or its
   local one). Bootstrap servers and SASL settings come from ``connection=`` when it gives
   them without a user, else from the cluster entry (``bootstrap_servers``, ``auth``), or,
   for the local cluster, from the data directory ``streamplane up`` wrote.
4. The schema registry: the cluster's ``schema_registry``, else for the local cluster the
   one ``streamplane up`` runs (8081 + its port offset), reached with the same identity.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from streamplane.client._errors import ClientError
from streamplane.client._schemas import RegistryRef, RegistrySettings
from streamplane.kafka import ConnectionSettings

if TYPE_CHECKING:
    from streamplane.model import ApplicationEntry, Cluster, Secret, Spec

logger = logging.getLogger(__name__)

#: Where ``streamplane up`` keeps the local cluster, relative to the working directory.
DEFAULT_DATA_DIR = Path(".streamplane")

#: ACL-exception operations that let a principal write or read a topic.
_WRITES = frozenset({"write", "all"})
_READS = frozenset({"read", "all"})


@dataclass(frozen=True)
class _Grant:
    """A topic right from the spec's ``acl_exceptions``: a literal name or a prefix."""

    name: str
    prefixed: bool
    allow: bool

    def covers(self, topic: str) -> bool:
        return topic.startswith(self.name) if self.prefixed else topic == self.name


@dataclass(frozen=True)
class ApplicationScope:
    """The topics the spec lets one application write and read, and where it says so.

    Built with :meth:`of`. ``produces`` and ``consumes`` are the application's lists; an
    ``acl_exceptions`` entry naming its principal can widen (allow) or narrow (deny) them,
    exactly as the ACLs ``apply`` derives do.
    """

    app: str
    principal: str
    tenant: str
    domain: str
    #: ``file:line`` of the application's entry in the spec.
    declared_at: str
    produces: tuple[str, ...]
    consumes: tuple[str, ...]
    writes: tuple[_Grant, ...] = ()
    reads: tuple[_Grant, ...] = ()
    #: topic -> "tenant.domain" that owns it, for the hint in a refusal.
    owners: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, spec: Spec, app: str, *, cluster: str | None = None) -> ApplicationScope:
        """The scope of application ``app`` (exceptions for ``cluster`` or for every one)."""
        entry = _entry(spec, app)
        pos = spec.source.locate(entry.path)
        principal = f"User:{entry.principal}"
        writes: list[_Grant] = []
        reads: list[_Grant] = []
        for exc in spec.platform.acl_exceptions:
            if exc.principal != principal or exc.resource_type != "topic":
                continue
            if exc.cluster not in (None, cluster):
                continue
            grant = _Grant(exc.resource_name, exc.pattern == "prefixed", exc.permission == "allow")
            if exc.operation in _WRITES:
                writes.append(grant)
            if exc.operation in _READS:
                reads.append(grant)
        # The copies replication brings of what it reads are the same data: readable too.
        from streamplane.model import copy_origins

        origins = copy_origins(spec, cluster) if cluster is not None else {}
        copies = [c for c, original in origins.items() if original in entry.app.consumes]
        return cls(
            app=entry.app.name,
            principal=entry.principal,
            tenant=entry.tenant.name,
            domain=entry.domain.name,
            declared_at=f"{pos.file}:{pos.line}",
            produces=tuple(entry.app.produces),
            consumes=(*entry.app.consumes, *copies),
            writes=tuple(writes),
            reads=tuple(reads),
            owners=tuple(
                (name, f"{t.tenant.name}.{t.domain.name}") for name, t in spec.topics.items()
            ),
        )

    def may_produce(self, topic: str) -> bool:
        return _allowed(topic, self.produces, self.writes)

    def may_consume(self, topic: str) -> bool:
        return _allowed(topic, self.consumes, self.reads)

    def require_produce(self, topic: str) -> None:
        """ClientError, before anything reaches the broker, if the spec does not let the
        application write ``topic``."""
        if self.may_produce(topic):
            return
        raise ClientError(
            f"application {self.app} may not produce to {topic}: its spec entry "
            f"({self._entry()}) produces {_listed(self.produces)}. Nothing was sent. "
            f"{self._owner_hint(topic, 'produce')}"
        )

    def require_consume(self, topics: Iterable[str]) -> None:
        """ClientError, before subscribing, if the spec does not let it read one of ``topics``."""
        refused = [t for t in topics if not self.may_consume(t)]
        if not refused:
            return
        hints = " ".join(self._owner_hint(t, "consume") for t in refused)
        raise ClientError(
            f"application {self.app} may not consume {', '.join(refused)}: its spec entry "
            f"({self._entry()}) consumes {_listed(self.consumes)}. Nothing was subscribed. "
            f"{hints} Or leave topics= out to consume what the spec lists."
        )

    def _entry(self) -> str:
        return f"tenant {self.tenant}, domain {self.domain}, {self.declared_at}"

    def _owner_hint(self, topic: str, verb: str) -> str:
        field = "produces" if verb == "produce" else "consumes"
        owner = dict(self.owners).get(topic)
        if owner is None:
            return (
                f"The spec declares no topic {topic}: declare it, add it to the "
                f"application's `{field}` and apply the spec."
            )
        if verb == "produce" and owner != f"{self.tenant}.{self.domain}":
            return (
                f"{topic} belongs to {owner}, and only applications of its own domain may "
                "produce it: produce from one of them, or publish an event of your own."
            )
        return f"Add {topic} to the application's `{field}` and apply the spec."


def _allowed(topic: str, listed: tuple[str, ...], grants: tuple[_Grant, ...]) -> bool:
    if any(not g.allow and g.covers(topic) for g in grants):
        return False  # a deny wins, as it does in Kafka's authorizer
    return topic in listed or any(g.allow and g.covers(topic) for g in grants)


def _listed(topics: tuple[str, ...]) -> str:
    return f"only {', '.join(topics)}" if topics else "no topic"


@dataclass(frozen=True)
class ApplicationConnection:
    """How one application of the spec reaches its cluster and its schema registry."""

    cluster: str
    connection: ConnectionSettings
    registry: RegistrySettings | None
    #: Where the credentials came from, for logs and errors (never the secret itself).
    credentials_from: str


def application_connection(
    spec: Spec,
    app: str,
    *,
    connection: ConnectionSettings | None = None,
    cluster: str | None = None,
    data_dir: Path | str = DEFAULT_DATA_DIR,
) -> ApplicationConnection:
    """The connection application ``app`` uses, resolved as the module docstring says."""
    entry = _entry(spec, app)
    chosen = _cluster(spec, entry, cluster)
    root = Path(data_dir)
    if chosen.local:
        # With several local clusters (regions) --data-dir is their common root.
        root = spec.local_data_dir(chosen, root)
    if connection is not None and _carries_identity(connection):
        return ApplicationConnection(
            chosen.name,
            connection,
            _registry(spec, chosen, root, connection, local_fallback=False),
            "connection= (given)",
        )
    if entry.app.auth != "scram" and connection is None:
        settings = _issued_identity(entry, chosen, root)
        return ApplicationConnection(
            chosen.name,
            settings,
            _registry(spec, chosen, root, settings, local_fallback=True),
            f"{root / 'clients'} ({entry.app.auth})",
        )
    password, source = _password(spec, entry, chosen, root)
    if connection is not None:
        base = connection
    elif chosen.local:
        base = ConnectionSettings(bootstrap_servers=_local_state(chosen, root).bootstrap_servers)
    else:
        assert chosen.auth is not None and chosen.bootstrap_servers is not None
        base = ConnectionSettings(
            bootstrap_servers=chosen.bootstrap_servers,
            security_protocol=chosen.auth.security_protocol,
            sasl_mechanism=chosen.auth.mechanism,
        )
    settings = replace(base, username=entry.principal, password=password)
    logger.info(
        "application %s connects to cluster %s as principal %s (password from %s)",
        entry.app.name,
        chosen.name,
        entry.principal,
        source,
        extra={"app": entry.app.name},
    )
    return ApplicationConnection(
        chosen.name, settings, _registry(spec, chosen, root, settings, local_fallback=True), source
    )


def _issued_identity(entry: ApplicationEntry, chosen: Cluster, root: Path) -> ConnectionSettings:
    """A certificate or OAuth client: the configuration ``apply`` wrote for the application
    (the certificate's files or the client's secret live beside the cluster's data)."""
    path = root / "clients" / f"{entry.principal}.properties"
    if not chosen.local:
        raise ClientError(
            f"application {entry.app.name} authenticates with {entry.app.auth} on cluster "
            f"{chosen.name}: pass connection= with its certificate or OAuth client settings"
        )
    if not path.exists():
        raise ClientError(
            f"application {entry.app.name} authenticates with {entry.app.auth}, and {path} "
            "does not exist: apply the spec to the local cluster first (it issues the "
            "identity and writes that file)"
        )
    return ConnectionSettings.from_properties_file(path)


@dataclass(frozen=True)
class ResolvedApplication:
    """What ``for_application`` connects with, and the scope it holds the client to."""

    connection: ConnectionSettings
    registry: RegistryRef | None
    scope: ApplicationScope
    data_dir: Path
    cluster: str = ""


def resolve_application(
    spec: Spec,
    app: str,
    *,
    connection: ConnectionSettings | None,
    registry: RegistryRef | None,
    cluster: str | None,
    data_dir: Path | str,
) -> ResolvedApplication:
    """The connection, registry (``registry`` wins) and scope of application ``app``."""
    resolved = application_connection(
        spec, app, connection=connection, cluster=cluster, data_dir=data_dir
    )
    return ResolvedApplication(
        resolved.connection,
        registry if registry is not None else resolved.registry,
        ApplicationScope.of(spec, app, cluster=resolved.cluster),
        Path(data_dir),
        resolved.cluster,
    )


def _carries_identity(connection: ConnectionSettings) -> bool:
    """Whether ``connection`` already says who the client is (password, certificate or
    OAuth client), so it is used as given rather than completed from the spec."""
    return (
        connection.username is not None
        or connection.ssl_certificate is not None
        or connection.oauth_client_id is not None
    )


def _entry(spec: Spec, app: str) -> ApplicationEntry:
    entry = spec.applications.get(app)
    if entry is None:
        known = ", ".join(sorted(spec.applications)) or "none"
        raise ClientError(f"the spec has no application {app!r} (applications: {known})")
    return entry


def _cluster(spec: Spec, entry: ApplicationEntry, name: str | None) -> Cluster:
    """The cluster the application connects to: named, else its tenant's only (or local) one."""
    clusters = {c.name: c for c in spec.platform.clusters}
    tenant = entry.tenant
    if name is not None:
        if name not in clusters:
            raise ClientError(
                f"the spec has no cluster {name!r} (clusters: {', '.join(clusters) or 'none'})"
            )
        if name not in tenant.clusters:
            raise ClientError(
                f"application {entry.app.name}'s tenant {tenant.name} is not on cluster {name} "
                f"(its clusters: {', '.join(tenant.clusters)}); apply created nothing for it there"
            )
        return clusters[name]
    candidates = [clusters[c] for c in tenant.clusters if c in clusters]
    if len(candidates) == 1:
        return candidates[0]
    local = [c for c in candidates if c.local]
    if len(local) == 1:
        return local[0]
    raise ClientError(
        f"application {entry.app.name}'s tenant {tenant.name} is on clusters "
        f"{', '.join(tenant.clusters)}; pass cluster= to say which one to connect to"
    )


def _password(
    spec: Spec, entry: ApplicationEntry, cluster: Cluster, data_dir: Path
) -> tuple[str, str]:
    """The principal's password and where it came from, in ``apply``'s order."""
    app = entry.app
    pos = spec.source.locate(entry.path)
    where = f"{pos.file}:{pos.line}"
    if app.password is not None:
        return _read_secret(spec, app.password, what=f"application {app.name} ({where})")
    if cluster.local:
        path = data_dir / "secrets" / entry.principal
        try:
            return path.read_text().strip(), str(path)
        except FileNotFoundError:
            flag = "" if data_dir == DEFAULT_DATA_DIR else f" --data-dir {data_dir}"
            raise ClientError(
                f"application {app.name} has no credentials on the local cluster yet: {path} "
                f"does not exist. Run `streamplane apply {spec.root}{flag}` (it creates the "
                f"principal {entry.principal} and writes its password there), pass data_dir= "
                "if the cluster runs elsewhere, or give the application "
                f"`password: {{env: NAME}}` in the spec ({where})"
            ) from None
        except OSError as exc:
            raise ClientError(f"cannot read {path}: {exc.strerror}") from None
    raise ClientError(
        f"application {app.name} ({where}) has no `password:` in the spec, and cluster "
        f"{cluster.name} is not local, so no generated secret exists for it: give it "
        "`password: {env: NAME}` or `{file: path}` (apply sets its credential from it), "
        "or pass connection= with the credentials it has"
    )


def _read_secret(spec: Spec, source: Secret, *, what: str) -> tuple[str, str]:
    """A secret from the environment variable or file (relative to the spec) it names."""
    if source.env is not None:
        value = os.environ.get(source.env)
        if not value:
            raise ClientError(
                f"{what}: its password is the environment variable {source.env}, which is "
                "not set; export it"
            )
        return value, f"${source.env}"
    path = spec.root / str(source.file)
    try:
        return path.read_text().strip(), str(path)
    except OSError as exc:
        raise ClientError(f"{what}: cannot read its password file {path}: {exc.strerror}") from None


def _local_state(cluster: Cluster, data_dir: Path) -> _LocalState:
    # Imported here: the local runtime is needed only by clients of a local cluster.
    from streamplane.local import DataDir

    state = DataDir(data_dir).read_state()
    if state is None:
        flag = "" if data_dir == DEFAULT_DATA_DIR else f" --data-dir {data_dir}"
        raise ClientError(
            f"cluster {cluster.name} is the local cluster, but {data_dir} holds none (no "
            f"cluster.json): start it with `streamplane up{flag}`, or pass data_dir= where "
            "it runs"
        )
    return _LocalState(state.bootstrap_servers, state.port_offset)


@dataclass(frozen=True)
class _LocalState:
    bootstrap_servers: str
    port_offset: int


def _registry(
    spec: Spec,
    cluster: Cluster,
    data_dir: Path,
    connection: ConnectionSettings,
    *,
    local_fallback: bool,
) -> RegistrySettings | None:
    """The cluster's ``schema_registry``, else (``local_fallback``) the local one, if any."""
    url = cluster.schema_registry
    if url is None and cluster.local and local_fallback:
        from streamplane.local import DataDir, RegistryProcess

        state = DataDir(data_dir).read_state()
        if state is not None:
            url = RegistryProcess(DataDir(data_dir), port_offset=state.port_offset).url
    if url is None:
        return None
    return RegistrySettings.of(url, connection)
