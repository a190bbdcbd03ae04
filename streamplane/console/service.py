"""Build a running console for one cluster of a spec: its connection, registry and issuer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from streamplane.console.app import Console, create_app
from streamplane.console.estate import EstateCache
from streamplane.console.sessions import Sessions
from streamplane.local._layout import DataDir, idp_url
from streamplane.local._slo_services import PrometheusProcess
from streamplane.model import load_spec
from streamplane.reconcile import connect
from streamplane.registry._auth import DEFAULT_SUPER_USERS


@dataclass(frozen=True)
class BuiltConsole:
    app: FastAPI
    console: Console


def build_console(
    spec_path: Path,
    *,
    cluster: str | None,
    data_dir: Path,
    issuer: str | None = None,
    refresh_s: float = 2.0,
) -> BuiltConsole:
    """The console of ``cluster`` (the spec's only one by default), reading it now.

    The cluster must answer first (``connect``): a console of a stopped cluster fails at
    start with the one line that says so, rather than serving empty pages. On a local
    cluster the OIDC issuer defaults to the one ``up`` runs beside it.
    """
    spec = load_spec(spec_path)
    target = connect(spec, cluster=cluster, data_dir=data_dir)
    if issuer is None and target.data_dir is not None:
        state = DataDir(target.data_dir).read_state()
        if state is not None:
            issuer = idp_url(state.port_offset)
    super_users = set(DEFAULT_SUPER_USERS)
    if target.settings.username:
        super_users.add(target.settings.username)
    prometheus = None
    if target.data_dir is not None:
        state = DataDir(target.data_dir).read_state()
        server = PrometheusProcess(
            DataDir(target.data_dir), port_offset=state.port_offset if state else 0
        )
        if server.process() is not None:
            prometheus = server.url
    cache = EstateCache(target.settings, refresh_s=refresh_s)
    cache.refresh()
    cache.start()
    console = Console(
        spec=spec,
        cluster=target.cluster,
        settings=target.settings,
        cache=cache,
        sessions=Sessions(spec, target.settings, super_users=super_users, issuer=issuer),
        registry_url=target.registry.url if target.registry else None,
        data_dir=target.data_dir,
        prometheus=prometheus,
    )
    return BuiltConsole(create_app(console), console)
