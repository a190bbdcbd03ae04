"""``streamplane lineage graph|who-consumes|undeclared SPEC``: declared and observed flows.

Every command takes the spec directory, as ``plan`` does, and reads the cluster the spec
names (or ``--config``); see :mod:`streamplane.lineage.flows` for what counts as observed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, KafkaConfigOpt, SpecArg
from streamplane.cli._tables import human_bytes, new_table, print_table
from streamplane.cli._target import ReadTarget, resolve_target
from streamplane.kafka import ClusterInspector
from streamplane.lineage.access import readers_by_acl
from streamplane.lineage.catalog import CatalogEntry, catalog
from streamplane.lineage.flows import (
    LineageRow,
    declared_flows,
    lineage,
    mermaid,
    observed_consumers,
    observed_producers,
    refused_flows,
)
from streamplane.lineage.paths import orphans, where_flows
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.model import load_spec
from streamplane.model._topic_configs import format_duration_ms
from streamplane.security.audit import AuditFilter, read_trail

console = Console(soft_wrap=True)

lineage_app = typer.Typer(
    help="Lineage: the flows the spec declares joined with those the cluster shows.",
    no_args_is_help=True,
)

SampleOpt = Annotated[
    int,
    typer.Option(
        "--sample", min=1, help="Records read from the end of each partition to name producers."
    ),
]
AuditOpt = Annotated[
    float,
    typer.Option(
        "--audit-hours", min=0,
        help="Refused reads and writes from the audit trail of the last N hours (0: none).",
    ),
]  # fmt: skip
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="From the spec alone: no sizes, no observed flows.")
]
MermaidOpt = Annotated[bool, typer.Option("--mermaid", help="A Mermaid flowchart instead.")]


def register(app: typer.Typer) -> None:
    app.add_typer(lineage_app, name="lineage")


def _rows(
    target: ReadTarget,
    sample: int,
    audit_hours: float,
    *,
    producers: bool = True,
    inspector: ClusterInspector | None = None,
) -> list[LineageRow]:
    assert target.spec is not None
    inspector = inspector or ClusterInspector(target.settings)
    observed = observed_consumers(target.spec, inspector)
    if producers:
        sampled = observed_producers(target.spec, target.settings, sample=sample)
        for flow, evidence in sampled.items():
            observed.setdefault(flow, set()).update(evidence)
    refused = None
    if audit_hours > 0:
        since = int((time.time() - audit_hours * 3600) * 1000)
        records = read_trail(target.settings, AuditFilter(denied=True, since_ms=since))
        refused = refused_flows(target.spec, records)
    return lineage(declared_flows(target.spec), observed, refused)


def _show(rows: list[LineageRow], title: str, *, as_json: bool, as_mermaid: bool) -> None:
    if as_json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
        return
    if as_mermaid:
        print(mermaid(rows), end="")
        return
    if not rows:
        console.print(f"{title}: none", highlight=False, markup=False)
        return
    table = new_table(title, ["topic", "direction", "application", "status", "evidence"])
    for row in rows:
        status = row.status if row.declared and not row.refused else f"[bold red]{row.status}[/]"
        table.add_row(
            escape(row.flow.topic), row.flow.direction, escape(row.flow.application), status,
            escape("; ".join((*row.evidence, *row.refused)) or "-"),
        )  # fmt: skip
    print_table(console, table)


@lineage_app.command("graph")
def graph(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    audit_hours: AuditOpt = 24.0,
    sample: SampleOpt = 100,
    as_json: JsonOpt = False,
    as_mermaid: MermaidOpt = False,
) -> None:
    """Every flow, declared or observed, with the evidence for it."""
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    rows = _rows(target, sample, audit_hours)
    _show(rows, f"lineage of {target.label}", as_json=as_json, as_mermaid=as_mermaid)


@lineage_app.command("who-consumes")
def who_consumes(
    topic: Annotated[str, typer.Argument(help="Full topic name.")],
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    audit_hours: AuditOpt = 24.0,
    as_json: JsonOpt = False,
) -> None:
    """The applications, groups and clients that read TOPIC: declared and observed."""
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    rows = [
        row
        for row in _rows(target, 1, audit_hours, producers=False)
        if row.flow.topic == topic and row.flow.direction == "consumes"
    ]
    _show(rows, f"consumers of {topic}", as_json=as_json, as_mermaid=False)


@lineage_app.command("undeclared")
def undeclared(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    audit_hours: AuditOpt = 24.0,
    sample: SampleOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """Observed flows the spec does not declare; exit 1 when there are any."""
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    rows = [row for row in _rows(target, sample, audit_hours) if not row.declared]
    _show(rows, f"undeclared flows on {target.label}", as_json=as_json, as_mermaid=False)
    if rows:
        raise typer.Exit(1)


def live_catalog(
    spec: Path,
    *,
    offline: bool,
    cluster: str | None,
    data_dir: Path,
    config: Path | None,
    sample: int,
) -> list[CatalogEntry]:
    """The catalog, with sizes on disk and observed flows unless ``offline``."""
    if offline:
        return catalog(load_spec(spec))
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    assert target.spec is not None
    names = sorted(target.spec.topics)
    inspector = ClusterInspector(target.settings)
    return catalog(
        target.spec, sizes=inspector.sizes_on_disk(names),
        flows=_rows(target, sample, 0, inspector=inspector),
        readers=readers_by_acl(target.spec, inspector.acls(), names),
    )  # fmt: skip


@lineage_app.command("catalog")
def show_catalog(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    sample: SampleOpt = 100,
    offline: OfflineOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Every topic: owner, classification, schema, tagged fields, retention, size, flows."""
    entries = live_catalog(
        spec, offline=offline, cluster=cluster, data_dir=data_dir, config=config, sample=sample
    )
    if as_json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return
    table = new_table(
        "catalog", ["topic", "owner", "class", "retention", "size", "tagged fields",
                    "producers", "consumers"], right=("size",),
    )  # fmt: skip
    for e in entries:
        table.add_row(
            escape(e.topic), escape(e.owner), e.classification or "-", duration(e.retention_ms),
            human_bytes(e.size_on_disk_bytes),
            escape(", ".join(f"{n} ({','.join(t)})" for n, t in e.tagged_fields.items()) or "-"),
            escape(_flows(e.producers, e.observed_producers, offline)),
            escape(_flows(e.consumers, e.observed_consumers, offline)),
        )  # fmt: skip
    print_table(console, table)


def duration(ms: int | None) -> str:
    """A retention as the spec writes it (``3d``); None: the cluster's default."""
    if ms is None:
        return "default"
    return "forever" if ms < 0 else str(format_duration_ms(ms))


def _flows(declared: list[str], observed: list[str], offline: bool) -> str:
    """Declared parties, each marked when it was not observed; observed outsiders added."""
    if offline:
        return ", ".join(declared) or "-"
    seen, named = set(observed), set(declared)
    parts = [name if name in seen else f"{name} (not observed)" for name in declared]
    parts += [f"{name} (UNDECLARED)" for name in observed if name not in named]
    return ", ".join(parts) or "-"


@lineage_app.command("where-flows")
def where_flows_command(
    field: Annotated[str, typer.Argument(help="A field: ns.Record.field, or its simple name.")],
    spec: SpecArg,
    as_json: JsonOpt = False,
) -> None:
    """The topics that hold FIELD, who reads them, and where they write it on (declared)."""
    flow = where_flows(load_spec(spec), field)
    if as_json:
        print(json.dumps(flow.to_json(), indent=2))
        return
    if not flow.held_in:
        console.print(f"no topic of {spec} holds a field {field}", highlight=False, markup=False)
        return
    table = new_table(f"where {field} flows", ["topic", "fields", "read by"])
    for topic, names in flow.held_in.items():
        readers = flow.read_by.get(topic, [])
        table.add_row(escape(topic), escape(", ".join(names)), escape(", ".join(readers) or "-"))
    print_table(console, table)
    if flow.hops:
        hops = new_table("hops", ["from", "application", "writes", "carried as"])
        for hop in flow.hops:
            carried = ", ".join(hop.carried_as) or "not by name (may hold a derived value)"
            if hop.masked is not None:
                carried = f"{carried} (masked: {hop.masked})"
            hops.add_row(
                escape(hop.source), escape(hop.application), escape(hop.target), escape(carried)
            )
        print_table(console, hops)


@lineage_app.command("orphans")
def orphans_command(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Topics no application is declared to use and no consumer group reads, with bytes."""
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    assert target.spec is not None
    inspector = ClusterInspector(target.settings)
    names = [t.name for t in inspector.layouts() if not t.internal and not t.name.startswith("_")]
    observed = observed_consumers(target.spec, inspector)
    rows = lineage(declared_flows(target.spec), observed)
    found = orphans(target.spec, names, rows, inspector.sizes_on_disk(names))
    if as_json:
        print(json.dumps([o.to_json() for o in found], indent=2))
        return
    if not found:
        console.print(f"no orphan topics on {target.label}", highlight=False, markup=False)
        return
    table = new_table(f"orphan topics on {target.label}", ["topic", "in spec", "size"],
                      right=("size",))  # fmt: skip
    for o in found:
        table.add_row(
            escape(o.topic), "yes" if o.in_spec else "no", human_bytes(o.size_on_disk_bytes)
        )
    print_table(console, table)
