"""``streamplane gdpr report SPEC``: the data map of every personal-data field."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, KafkaConfigOpt, SpecArg
from streamplane.cli._tables import new_table, print_table
from streamplane.cli.lineage import OfflineOpt, SampleOpt, duration, live_catalog
from streamplane.lineage.catalog import personal_data
from streamplane.local import DEFAULT_DATA_DIR

console = Console(soft_wrap=True)

gdpr_app = typer.Typer(help="Personal data: where it lives and who reads it.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(gdpr_app, name="gdpr")


@gdpr_app.command("report")
def report(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    sample: SampleOpt = 100,
    offline: OfflineOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Every PII field: its topic, owner, retention, who may read it and who does."""
    entries = live_catalog(
        spec, offline=offline, cluster=cluster, data_dir=data_dir, config=config, sample=sample
    )
    fields = personal_data(entries)
    if as_json:
        print(json.dumps([f.to_json() for f in fields], indent=2))
        return
    if not fields:
        console.print("no field is tagged PII and no topic is classified pii", markup=False)
        return
    columns = ["topic", "field", "owner", "retention", "may read"]
    if not offline:
        columns.append("does read")
    table = new_table("personal data", columns)
    for f in fields:
        cells = [
            escape(f.topic), escape(f.field), escape(f.owner), duration(f.retention_ms),
            escape(", ".join(f.may_read) or "-"),
        ]  # fmt: skip
        if not offline:
            cells.append(escape(", ".join(f.does_read) or "-"))
        table.add_row(*cells)
    print_table(console, table)
