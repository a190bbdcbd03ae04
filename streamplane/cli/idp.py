"""``streamplane idp``: the local OIDC issuer that OAUTHBEARER applications get tokens from."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from streamplane.cli._options import DataDirOpt, JsonOpt
from streamplane.local import DEFAULT_DATA_DIR, DataDir
from streamplane.security.idp import IDP_PORT, IdpError, IdpHome, IdpSettings, create_app
from streamplane.security.idp import mint_token as _mint

console = Console(soft_wrap=True)
idp_app = typer.Typer(help="The local OIDC issuer (OAuth 2 client credentials for Kafka).")


def register(app: typer.Typer) -> None:
    app.add_typer(idp_app, name="idp")


@idp_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = IDP_PORT,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    issuer: Annotated[
        str | None, typer.Option(help="The tokens' iss (default http://HOST:PORT).")
    ] = None,
    audience: Annotated[str, typer.Option(help="The tokens' aud.")] = "kafka",
    token_lifetime: Annotated[int, typer.Option(help="Seconds a token is valid.", min=30)] = 300,
    key_rotation: Annotated[
        int, typer.Option(help="Seconds before the signing key is replaced.", min=60)
    ] = 86400,
) -> None:
    """Serve discovery, JWKS and the client-credentials token endpoint (clients: apply)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = IdpSettings(
        issuer=issuer or f"http://{host}:{port}",
        audience=audience,
        token_lifetime_s=token_lifetime,
        key_rotation_s=key_rotation,
    )
    uvicorn.run(
        create_app(IdpHome(DataDir(data_dir).idp), settings),
        host=host,
        port=port,
        log_level="warning",
    )


@idp_app.command("clients")
def clients(data_dir: DataDirOpt = DEFAULT_DATA_DIR, as_json: JsonOpt = False) -> None:
    """The registered OAuth clients (secrets are never shown)."""
    found = IdpHome(DataDir(data_dir).idp).clients()
    rows = [
        {"client_id": c.client_id, "principal": c.principal, "disabled": c.disabled}
        for c in found.values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "disabled" if row["disabled"] else "enabled"
        console.print(f"{row['client_id']}  sub={row['principal']}  {state}", highlight=False)
    if not rows:
        console.print("no clients: applications with `auth: oauth` are registered by apply")


@idp_app.command("disable")
def disable(
    client_id: Annotated[str, typer.Argument(help="A registered client.")],
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Issue no more tokens to a client; the next apply removes its principal's ACLs, and its
    open connections fail at their next re-authentication."""
    home = IdpHome(DataDir(data_dir).idp)
    if client_id not in home.clients():
        raise IdpError(f"no client {client_id!r}: `streamplane idp clients` lists them")
    if home.disable_client(client_id):
        console.print(
            f"disabled {client_id}: apply the spec to cut its principal off", highlight=False
        )
    else:
        console.print(f"{client_id} was already disabled", highlight=False)


@idp_app.command("rotate")
def rotate(data_dir: DataDirOpt = DEFAULT_DATA_DIR) -> None:
    """Sign new tokens with a new key; the old one stays in the JWKS until its tokens expire."""
    kid = IdpHome(DataDir(data_dir).idp).rotate_keys()
    console.print(f"new signing key {kid}", highlight=False)


@idp_app.command("token")
def token(
    client_id: Annotated[str, typer.Argument(help="A registered client.")],
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Print a token for a registered client (to call the registry with curl)."""
    home = IdpHome(DataDir(data_dir).idp)
    client = home.clients().get(client_id)
    if client is None or client.disabled:
        raise IdpError(f"no enabled client {client_id!r}: `streamplane idp clients` lists them")
    state = DataDir(data_dir).read_state()
    offset = state.port_offset if state else 0
    settings = IdpSettings(issuer=f"http://127.0.0.1:{IDP_PORT + offset}")
    typer.echo(_mint(home, settings, sub=client.principal))
