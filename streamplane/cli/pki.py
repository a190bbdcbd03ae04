"""``streamplane pki``: the local cluster's CA and the client certificates it issues."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import DataDirOpt, JsonOpt
from streamplane.local import DEFAULT_DATA_DIR, DataDir
from streamplane.security.pki import MAX_DAYS, Pki

console = Console(soft_wrap=True)
pki_app = typer.Typer(help="The local development CA (mTLS certificates).")


def register(app: typer.Typer) -> None:
    app.add_typer(pki_app, name="pki")


def _pki(data_dir: DataDirOpt) -> Pki:
    return Pki(DataDir(data_dir).pki)


@pki_app.command("init")
def init(data_dir: DataDirOpt = DEFAULT_DATA_DIR) -> None:
    """Create the CA (done by `up` on first start); prints its path and fingerprint."""
    pki = _pki(data_dir)
    made = pki.init()
    verb = "created" if made else "exists:"
    console.print(f"CA {verb} {pki.ca_cert}  SHA-256 {pki.fingerprint()}", highlight=False)


@pki_app.command("issue")
def issue(
    name: Annotated[str, typer.Argument(help="The principal (the certificate's CN).")],
    days: Annotated[int, typer.Option(help=f"Validity, 1 to {MAX_DAYS} days.")] = 365,
    server: Annotated[bool, typer.Option(help="Also a server certificate (SANs).")] = False,
    force: Annotated[bool, typer.Option(help="Issue a revoked name again.")] = False,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Issue a certificate whose CN becomes the Kafka principal on the mTLS listener."""
    pki = _pki(data_dir)
    pki.init()
    issued = pki.issue(name, days=days, server=server, force=force)
    row = {
        "name": issued.name, "cert": str(issued.cert), "key": str(issued.key),
        "keystore": str(issued.keystore), "ca": str(pki.ca_cert),
        "not_after": issued.not_after.isoformat(), "serial": str(issued.serial),
    }  # fmt: skip
    if as_json:
        typer.echo(json.dumps(row, indent=2))
        return
    console.print(
        f"issued {name} (User:{name}) until {issued.not_after:%Y-%m-%d}\n"
        f"  ssl.certificate.location={issued.cert}\n  ssl.key.location={issued.key}\n"
        f"  ssl.ca.location={pki.ca_cert}",
        highlight=False,
    )


@pki_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The certificate to revoke.")],
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Revoke a certificate (listed in crl.pem); the next apply cuts the principal off."""
    pki = _pki(data_dir)
    issued = pki.revoke(name)
    console.print(
        f"revoked {name} (serial {issued.serial}); CRL {pki.crl}\n"
        "Kafka does not read CRLs: apply the spec now, which removes the principal's ACLs "
        "so its next request is refused, on open connections too.",
        highlight=False,
    )


@pki_app.command("list")
def list_certificates(data_dir: DataDirOpt = DEFAULT_DATA_DIR, as_json: JsonOpt = False) -> None:
    """Every certificate issued: name, serial, expiry, revoked?"""
    pki = _pki(data_dir)
    revoked = pki.revoked()
    rows = [
        {
            "name": c.name,
            "serial": str(c.serial),
            "not_after": c.not_after.isoformat(),
            "revoked": c.name in revoked,
        }
        for c in pki.issued()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for cert in pki.issued():
        mark = "  REVOKED" if cert.name in revoked else ""
        console.print(f"{cert.name}  until {cert.not_after:%Y-%m-%d}{mark}", highlight=False)
