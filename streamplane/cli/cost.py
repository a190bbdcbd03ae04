"""``streamplane cost report``: what the spec's topics cost on the live cluster, and what
follower fetching, tiered storage and compression would save (``streamplane.ops.cost``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, SpecArg
from streamplane.cli._tables import new_table, print_table
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.model import load_spec
from streamplane.ops.cost.prices import CLOUDS, load_prices
from streamplane.ops.cost.report import cost_report
from streamplane.reconcile import connect

console = Console(soft_wrap=True)
cost_app = typer.Typer(help="Cost: storage, cross-zone traffic, compression, and savings.")


def register(app: typer.Typer) -> None:
    app.add_typer(cost_app, name="cost")


@cost_app.command("report")
def report(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    cloud: Annotated[str, typer.Option(help=f"Price section: {', '.join(CLOUDS)}.")] = "aws",
    prices: Annotated[
        Path | None, typer.Option(help="Your prices (the shipped file documents the keys).")
    ] = None,
    window: Annotated[
        float, typer.Option(min=1.0, help="Seconds traffic is measured over.")
    ] = 10.0,
    sample_records: Annotated[
        int, typer.Option(min=1, help="Newest records per topic compression is measured on.")
    ] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Price each topic of the spec on its cluster: storage (local and tiered), cross-zone
    bytes of replication, produce and consume (with and without follower fetching), the
    four codecs measured on its own records; then what each change would save."""
    chosen = load_prices(cloud, prices)
    loaded = load_spec(spec)
    target = connect(loaded, cluster=cluster, data_dir=data_dir)
    result = cost_report(
        loaded, target.cluster, target.settings, chosen, window_s=window,
        sample_records=sample_records,
    )  # fmt: skip
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    table = new_table(
        f"cluster {target.cluster}, {result.zones} zone(s), {chosen.cloud} prices, traffic "
        f"measured over {window:g}s",
        ("topic", "in", "local GB", "remote GB", "cross-zone /s (repl, prod, cons → FF)",
         "best codec", "$/month"),
    )  # fmt: skip
    for row in result.topics:
        cz = row["cross_zone_bytes_s"]
        measured = row["compression"]["measured"]
        best = min(measured, key=lambda c: c["ratio"]) if measured else None
        table.add_row(
            row["topic"], f"{row['bytes_in_s'] / 1e3:,.1f} kB/s", f"{row['local_gb']:,.2f}",
            f"{row['remote_gb']:,.2f}",
            f"{cz['replication'] / 1e3:,.1f}, {cz['produce'] / 1e3:,.1f}, "
            f"{cz['consume'] / 1e3:,.1f} → {cz['consume_with_follower_fetching'] / 1e3:,.1f} kB",
            f"{best['codec']} {best['ratio']:.2f}" if best else "-",
            f"{row['total_month']:,.2f}",
        )  # fmt: skip
    print_table(console, table)
    totals = result.totals
    console.print(
        f"total ${totals.get('total_month', 0):,.2f}/month (storage "
        f"${totals.get('storage_month', 0):,.2f}, cross-zone "
        f"${totals.get('cross_zone_month', 0):,.2f})",
        highlight=False,
    )
    for saving in result.savings:
        console.print(
            f"  save ${saving.month:,.2f}/month on {saving.topic}: {saving.change} "
            f"({saving.detail})",
            highlight=False,
        )
