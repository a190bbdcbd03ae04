"""``streamplane client-config APP`` and ``streamplane doctor APP``: an application's own
connection, printed ready to use, and why it fails when it does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import DataDirOpt, JsonOpt
from streamplane.errors import PlanError
from streamplane.local import DEFAULT_DATA_DIR, open_cluster
from streamplane.model import ApplicationEntry, Spec, load_spec
from streamplane.reconcile import client_config_path
from streamplane.security.doctor import diagnose

console = Console(soft_wrap=True)

AppArg = Annotated[str, typer.Argument(help="Application name (or its principal).")]
SpecPathOpt = Annotated[
    Path, typer.Option("--spec", help="Spec directory the application is declared in.")
]
DEFAULT_SPEC = Path("examples/platform")


def register(app: typer.Typer) -> None:
    app.command("client-config")(client_config)
    app.command("doctor")(doctor)


def _application(spec: Spec, name: str) -> ApplicationEntry:
    for entry in spec.applications.values():
        if name in (entry.app.name, entry.principal):
            return entry
    known = ", ".join(sorted(e.app.name for e in spec.applications.values())) or "none"
    raise PlanError(
        f"no application {name!r} in the spec {spec.root} (its applications: {known}); "
        "pass --spec DIR for another spec"
    )


def client_config(
    application: AppArg,
    spec: SpecPathOpt = DEFAULT_SPEC,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Print the application's ready librdkafka configuration (written by apply, 0600).

    It holds the application's secret (password, OAuth client secret or key path): pipe it
    to a file, e.g. `streamplane client-config card-authorizer > app.properties`.
    """
    entry = _application(load_spec(spec), application)
    path = client_config_path(data_dir, entry.principal)
    if not path.exists():
        raise PlanError(
            f"{path} does not exist: apply the spec first "
            f"(streamplane apply {spec} --data-dir {data_dir})"
        )
    typer.echo(path.read_text(), nl=False)


def doctor(
    application: AppArg,
    spec: SpecPathOpt = DEFAULT_SPEC,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Say why an application cannot connect or is denied: its client config, identity
    (CA, certificate, token, password), a real connection, and its grants in the spec."""
    loaded = load_spec(spec)
    entry = _application(loaded, application)
    admin = open_cluster(data_dir).admin_settings()
    findings = diagnose(loaded, entry, data_dir, admin)
    if as_json:
        typer.echo(json.dumps([f.as_json() for f in findings], indent=2))
    else:
        for finding in findings:
            mark = "[green]ok[/]  " if finding.ok else "[red]FAIL[/]"
            console.print(f"{mark} {finding.check}: {finding.detail}", highlight=False)
            if finding.fix and not finding.ok:
                console.print(f"       fix: {finding.fix}", highlight=False)
    if not all(f.ok for f in findings):
        raise typer.Exit(1)
