"""``streamplane export asyncapi|mermaid|openlineage SPEC``: documents generated from the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import httpx
import typer

from streamplane.errors import StreamplaneError
from streamplane.lineage import asyncapi_documents
from streamplane.lineage.flows import declared_flows, lineage, mermaid
from streamplane.lineage.openlineage import lineage_events, to_json_lines
from streamplane.model import load_spec

export_app = typer.Typer(help="Documents generated from the spec.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")


@export_app.command("asyncapi")
def asyncapi(
    spec: Annotated[Path, typer.Argument(help="Spec directory (or file).")],
    out: Annotated[Path, typer.Option("--out", help="Directory the documents are written to.")],
) -> None:
    """Write an AsyncAPI 3.0 document per tenant domain: channels, operations, schemas."""
    loaded = load_spec(spec)
    documents = asyncapi_documents(loaded)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for doc in documents:
            text = json.dumps(doc.document, indent=2, sort_keys=False) + "\n"
            (out / doc.file_name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StreamplaneError(
            f"cannot write the AsyncAPI documents to {out}: {exc.strerror or exc}; "
            "pass a writable directory with --out"
        ) from exc
    for doc in documents:
        body = doc.document
        typer.echo(
            f"{out / doc.file_name}: {len(body['channels'])} channels, "
            f"{len(body['operations'])} operations"
        )
    typer.echo(
        f"{len(documents)} AsyncAPI {documents[0].document['asyncapi'] if documents else ''} "
        f"document(s) written to {out}"
    )


@export_app.command("mermaid")
def export_mermaid(
    spec: Annotated[Path, typer.Argument(help="Spec directory (or file).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write; default: standard output.")
    ] = None,
) -> None:
    """The declared lineage as a Mermaid flowchart (`lineage graph --mermaid` adds what the
    cluster shows)."""
    picture = mermaid(lineage(declared_flows(load_spec(spec)), {}))
    if out is None:
        typer.echo(picture, nl=False)
        return
    _write(out, picture)
    typer.echo(f"wrote {out}")


def _write(out: Path, text: str) -> None:
    """Write ``text`` to the ``--out`` file, or say why it cannot be written."""
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StreamplaneError(
            f"cannot write {out}: {exc.strerror or exc}; pass a writable file with --out"
        ) from exc


@export_app.command("openlineage")
def export_openlineage(
    spec: Annotated[Path, typer.Argument(help="Spec directory (or file).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="JSON-lines file; default: standard output.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Also POST each event to <URL>/api/v1/lineage (Marquez)."),
    ] = None,
) -> None:
    """One OpenLineage RUNNING event per application: a streaming job reading and writing
    its topics."""
    events = lineage_events(load_spec(spec))
    text = to_json_lines(events)
    if url is not None:
        endpoint = url.rstrip("/") + "/api/v1/lineage"
        for line in text.splitlines():
            try:
                response = httpx.post(
                    endpoint, content=line, headers={"Content-Type": "application/json"},
                    timeout=10,
                )  # fmt: skip
            except httpx.HTTPError as exc:
                raise StreamplaneError(
                    f"cannot reach {endpoint}: {exc}; is Marquez (or another OpenLineage "
                    "backend) running there?"
                ) from exc
            if response.status_code >= 300:
                raise StreamplaneError(
                    f"{endpoint} refused an event: HTTP {response.status_code} "
                    f"{response.text[:200]}"
                )
    if out is None:
        if url is None:
            typer.echo(text, nl=False)
        else:
            typer.echo(f"{len(events)} events sent to {url}")
        return
    _write(out, text)
    typer.echo(f"{len(events)} OpenLineage events written to {out}")
