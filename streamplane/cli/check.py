"""``streamplane check SPEC``: will the registry accept the spec's schemas? For CI, before merge.

Nothing is registered in the spec's subjects and none of their levels changes: for each
schema whose text is not already in its subject, the registry's compatibility endpoint
judges it under the level the spec declares (else the subject's), as the registry will
when the merged spec is applied.

Data contracts are judged too: a change to a schema's rules or metadata is listed (a new
CONDITION rule, a new major version), and a change that would stop encrypting PII (an
ENCRYPT rule removed, a field's PII tag dropped) is refused, exit 1, with the reason.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, SpecArg
from streamplane.errors import PlanError
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.model import load_spec
from streamplane.reconcile import SubjectReading, check_schemas, registry_endpoint

console = Console(soft_wrap=True)

_COLOUR = {
    "new": "green",
    "unchanged": "dim",
    "compatible": "green",
    "incompatible": "red",
    "refused": "red",
}
_STATUSES = ("new", "unchanged", "compatible", "incompatible", "refused")


def register(app: typer.Typer) -> None:
    app.command()(check)


def check(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    registry: Annotated[
        str | None,
        typer.Option("--registry", help="Registry URL (default: the cluster's, from the spec)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the spec's schemas and contracts against the registry; exit 1 if any is refused."""
    if registry is not None and not registry.startswith(("http://", "https://")):
        raise typer.BadParameter(
            f"{registry!r} is not an http:// or https:// URL", param_hint="--registry"
        )
    loaded = load_spec(spec)
    try:
        cluster_name = loaded.cluster(cluster).name
    except KeyError as exc:
        names = ", ".join(c.name for c in loaded.platform.clusters) or "none"
        raise PlanError(f"no cluster {exc.args[0]!r} in the spec (clusters: {names})") from None
    endpoint = registry_endpoint(
        loaded,
        cluster=cluster_name,
        data_dir=data_dir,
        url=registry.rstrip("/") if registry else None,
    )
    readings = check_schemas(loaded, endpoint, cluster=cluster_name)
    url = endpoint.url if endpoint is not None else None
    if as_json:
        print(json.dumps(check_report(readings, registry=url, cluster=cluster_name), indent=2))
    else:
        render_check(readings, console, registry=url, cluster=cluster_name)
    if any(r.status in ("incompatible", "refused") for r in readings):
        raise typer.Exit(1)


def check_report(
    readings: list[SubjectReading], *, registry: str | None, cluster: str
) -> dict[str, Any]:
    """The ``--json`` document: one entry per schema and the counts per status."""
    counts: Counter[str] = Counter(r.status for r in readings)
    return {
        "cluster": cluster,
        "registry": registry,
        "ok": counts["incompatible"] == 0 and counts["refused"] == 0,
        "counts": {s: counts[s] for s in _STATUSES},
        "schemas": [r.to_json() for r in readings],
    }


def render_check(
    readings: list[SubjectReading], console: Console, *, registry: str | None, cluster: str
) -> None:
    if not readings:
        console.print(f"No schemas in the spec for cluster {cluster}: nothing to check.")
        return
    console.print(f"[bold]schemas of cluster {cluster}[/] against the registry at {registry}")
    width = max(len(r.schema.subject) for r in readings)
    for reading in readings:
        schema, status = reading.schema, reading.status
        subject = escape(schema.subject.ljust(width))
        line = f"  [{_COLOUR[status]}]{status:<12}[/] {subject}  {escape(schema.file)}"
        if status == "unchanged":
            line += f"  (version {reading.registered_as})"
        elif status == "new":
            line += f"  (new subject, {reading.level})"
        else:
            assert reading.latest is not None
            line += (
                f"  (version {reading.latest.version} → {reading.latest.version + 1} "
                f"under {reading.level})"
            )
        console.print(line, highlight=False)
        for change in reading.contract_diff():
            before = "" if change.before is None else f"{change.before} → "
            console.print(f"      {change.key}: {before}{change.after}", markup=False)
        for note in reading.notes():
            console.print(f"      note: {note}", highlight=False, markup=False)
        if status == "refused":
            for reason in reading.refused:
                console.print(f"      · {reason}", highlight=False, markup=False)
            console.print(f"      {reading.to_json()['refusal_alternative']}", markup=False)
        if status != "incompatible":
            continue
        if reading.paths:
            console.print(f"      field paths: {', '.join(reading.paths)}", markup=False)
        for message in reading.problems:
            console.print(f"      · {message}", highlight=False, markup=False)
        console.print(f"      {reading.alternative}", highlight=False, markup=False)
    counts: Counter[str] = Counter(r.status for r in readings)
    # "refused" only when there is one, so the usual summary reads as it always has.
    shown = [s for s in _STATUSES if s != "refused" or counts[s]]
    summary = ", ".join(f"{counts[s]} {s}" for s in shown)
    blocked = counts["incompatible"] + counts["refused"]
    verdict = (
        f"[red]{blocked} cannot be registered as the spec has it (see above).[/]"
        if blocked
        else "[green]All can be registered.[/]"
    )
    console.print(f"\n{len(readings)} schema(s): {summary}. {verdict}", highlight=False)
