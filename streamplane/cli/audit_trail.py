"""``streamplane audit ship|query|export``: the trail of every decision and change."""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streamplane.cli._options import DataDirOpt, JsonOpt
from streamplane.errors import StreamplaneError
from streamplane.local import DEFAULT_DATA_DIR, open_cluster
from streamplane.security.audit import AuditFilter, Shipper, as_cef, as_cloudevent, read_trail

console = Console(soft_wrap=True)

SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Only events newer than this: 30m, 2h, 7d.")
]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(audit_app: typer.Typer) -> None:
    audit_app.command("ship")(ship)
    audit_app.command("query")(query)
    audit_app.command("export")(export)


def since_ms(text: str | None) -> int | None:
    """``2h`` -> the epoch milliseconds two hours ago."""
    if text is None:
        return None
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if match is None:
        raise StreamplaneError(f"--since {text!r}: use a number and s, m, h or d (e.g. 2h)")
    return int((time.time() - int(match[1]) * _UNITS[match[2]]) * 1000)


def ship(data_dir: DataDirOpt = DEFAULT_DATA_DIR) -> None:
    """Tail every node's authorization log into _streamplane_audit (run by `up`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    cluster = open_cluster(data_dir)
    state = cluster.require_state()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    shipper = Shipper(
        cluster.admin_settings(),
        {n: cluster.dir.node_logs(n) for n in state.node_ids()},
        cluster_id=state.cluster_id,
        status_file=cluster.dir.root / "audit" / "shipper.json",
    )
    shipper.run(stop)


def _filter(
    principal: str | None, resource: str | None, denied: bool, source: str | None, since: str | None
) -> AuditFilter:
    return AuditFilter(principal, resource, denied, source, since_ms(since))


def query(
    principal: Annotated[str | None, typer.Option(help="User:NAME or NAME.")] = None,
    resource: Annotated[str | None, typer.Option(help="A resource name (or part of one).")] = None,
    denied: Annotated[bool, typer.Option("--denied", help="Only refused requests.")] = False,
    source: Annotated[
        str | None, typer.Option(help="broker, registry, apply, gdpr or slo.")
    ] = None,
    since: SinceOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many (the newest).")] = 200,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Who did what, when: decisions of the brokers and the registry, and apply's changes."""
    settings = open_cluster(data_dir).admin_settings()
    found = list(read_trail(settings, _filter(principal, resource, denied, source, since)))
    found = found[-limit:]
    if as_json:
        for record in found:
            typer.echo(record.to_json())
        return
    table = Table("time", "source", "principal", "operation", "resource", "decision", "rule")
    for column in table.columns:
        column.overflow = "fold"  # names are what is looked for: wrapped, never cut
    for r in found:
        where = f"{r.resource_type}:{r.resource_name}" if r.resource_type else (r.raw or "")
        table.add_row(
            r.time, r.source, r.principal or "", r.operation, where, r.decision,
            r.acl or r.change or r.request or "",
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(found)} event(s)", highlight=False)


def export(
    format: Annotated[str, typer.Option("--format", help="jsonl, cef or cloudevents.")] = "jsonl",
    since: SinceOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    denied: Annotated[bool, typer.Option("--denied", help="Only refused requests.")] = False,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """The trail for a SIEM (Splunk, Elastic): JSON lines, CEF or CloudEvents 1.0."""
    if format not in ("jsonl", "cef", "cloudevents"):
        raise StreamplaneError(f"--format {format!r}: use jsonl, cef or cloudevents")
    settings = open_cluster(data_dir).admin_settings()
    lines = []
    for record in read_trail(settings, _filter(None, None, denied, None, since)):
        if format == "cef":
            lines.append(as_cef(record))
        elif format == "cloudevents":
            lines.append(json.dumps(as_cloudevent(record), separators=(",", ":")))
        else:
            lines.append(record.to_json())
    text = "".join(line + "\n" for line in lines)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        console.print(f"{len(lines)} event(s) written to {out}", highlight=False)
