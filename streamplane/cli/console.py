"""``streamplane console serve``: the web console of a spec's cluster."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from streamplane.cli._options import ClusterOpt, DataDirOpt, SpecArg
from streamplane.kafka import route_client_logs
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.local._console_service import CONSOLE_PORT

console_app = typer.Typer(help="The web console: the governed platform in a browser.")


def register(app: typer.Typer) -> None:
    app.add_typer(console_app, name="console")


@console_app.command("serve")
def serve(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    port: Annotated[int, typer.Option(help="HTTP port.")] = CONSOLE_PORT,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    oidc_issuer: Annotated[
        str | None,
        typer.Option(
            "--oidc-issuer",
            help="Issuer whose client-credentials tokens sign users in (one the cluster "
            "trusts) [default: the local cluster's own issuer].",
        ),
    ] = None,
    spec_data_dir: Annotated[
        Path | None,
        typer.Option(
            "--spec-data-dir",
            help="The --data-dir the spec's local clusters live under, when it is not "
            "--data-dir itself (a spec of several regions keeps each in a folder of it).",
        ),
    ] = None,
    refresh: Annotated[
        float, typer.Option(min=0.2, help="Seconds between two reads of the cluster.")
    ] = 2.0,
) -> None:
    """Serve the console for the spec's cluster: sign in with a principal's SCRAM password,
    or through the OIDC issuer; everyone sees what their own Kafka rights allow."""
    import uvicorn

    from streamplane.console.service import build_console

    log_format = "%(asctime)s %(levelname)s %(name)s %(message)s"
    logging.basicConfig(level=logging.INFO, format=log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The plan reads quotas with kafka-python, which warns on every SCRAM exchange.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(log_format))
    route_client_logs(handler, level=logging.WARNING)
    built = build_console(
        spec,
        cluster=cluster,
        data_dir=spec_data_dir or data_dir,
        issuer=oidc_issuer,
        refresh_s=refresh,
    )
    try:
        uvicorn.run(built.app, host=host, port=port, log_level="warning")
    finally:
        built.console.cache.stop()
