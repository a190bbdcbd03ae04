"""``streamplane registry serve``: the schema registry over HTTP."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Annotated

import typer

from streamplane.cli._reach import local_connection
from streamplane.kafka import route_client_logs
from streamplane.local import DEFAULT_DATA_DIR

registry_app = typer.Typer(help="The Confluent-compatible schema registry.")


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")


@registry_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8081,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Local cluster data directory.")] = (
        DEFAULT_DATA_DIR
    ),
    topic: Annotated[str, typer.Option(help="Topic holding the schemas.")] = "_schemas",
    advertised_url: Annotated[
        str | None,
        typer.Option(
            "--advertised-url",
            help="URL other instances forward writes to when this one is the writer "
            "[default: http://<host>:<port>].",
        ),
    ] = None,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth/--no-auth",
            help="HTTP basic auth against the cluster's SCRAM principals, with tenant rules.",
        ),
    ] = False,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", help="Platform spec whose tenants and topics define the access policy."
        ),
    ] = None,
    audit_log: Annotated[
        Path | None,
        typer.Option(
            "--audit-log",
            help="JSON-lines audit of writes [default: <data-dir>/registry/audit.log].",
        ),
    ] = None,
    forward_timeout: Annotated[
        float,
        typer.Option(help="Seconds a write waits for a reachable writer before it fails."),
    ] = 30.0,
    client_ca: Annotated[
        Path | None,
        typer.Option(
            "--client-ca",
            help="CA whose client certificates may sign assertions (mTLS applications) "
            "[default: <data-dir>/pki/ca.pem when it exists].",
        ),
    ] = None,
    client_crl: Annotated[
        Path | None,
        typer.Option("--client-crl", help="That CA's revocation list [default: beside it]."),
    ] = None,
) -> None:
    """Serve the registry, storing schemas in the local cluster's ``_schemas`` topic.

    Start several on the same topic (each with its own port) for availability: one is
    elected writer and the others forward writes to it.
    """
    import uvicorn

    from streamplane.model import load_spec
    from streamplane.registry import AppOptions, AuthSettings, Registry, create_app
    from streamplane.registry import policy_from_spec as access_from
    from streamplane.security.kms import KmsDrivers, local_kms_secret
    from streamplane.security.pki import Pki

    log_format = "%(asctime)s %(levelname)s %(name)s %(message)s"
    logging.basicConfig(level=logging.INFO, format=log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forwarded write is noise
    # A service's log is its stderr (a file under `streamplane up`): the Kafka clients'
    # warnings belong there, beside the registry's own lines.
    client_log = logging.StreamHandler()
    client_log.setFormatter(logging.Formatter(log_format))
    route_client_logs(client_log, level=logging.WARNING)
    # The local cluster must answer first: a stopped one is one line, not a hung server.
    settings = local_connection(data_dir)
    if advertised_url is None:
        shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
        advertised_url = f"http://{shown}:{port}"
    registry = Registry(settings, topic=topic, advertised_url=advertised_url)
    local_kms_secret(data_dir)  # made on first start, shared with the SDK's clients
    pki = Pki(data_dir / "pki")
    if client_ca is None and pki.ca_cert.exists():
        client_ca, client_crl = pki.ca_cert, client_crl or pki.crl
    options = AppOptions(
        kms=KmsDrivers.from_environment(data_dir=data_dir),
        auth=AuthSettings() if auth else None,
        audit_log=audit_log or data_dir / "registry" / "audit.log",
        forward_timeout_s=forward_timeout,
        access_policy=access_from(load_spec(spec)) if spec is not None else None,
        client_ca=client_ca,
        client_crl=client_crl,
    )
    uvicorn.run(create_app(registry, options), host=host, port=port, log_level="warning")
