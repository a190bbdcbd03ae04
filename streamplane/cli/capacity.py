"""``streamplane capacity``: brokers and disks for a workload, with the reasoning shown."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import JsonOpt
from streamplane.cli._tables import new_table, print_table
from streamplane.model._topic_configs import parse_bytes, parse_duration_ms
from streamplane.ops.capacity import BrokerShape, Workload, size_cluster

console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("capacity")(capacity)


def _bytes(value: str, option: str) -> int:
    try:
        return parse_bytes(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _seconds(value: str, option: str) -> float:
    try:
        return parse_duration_ms(value) / 1000
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def capacity(
    throughput: Annotated[
        str, typer.Option(help="Ingress per second, e.g. 100MB (decimal) or 64MiB.")
    ],
    retention: Annotated[str, typer.Option(help="How long data is kept, e.g. 7d.")] = "7d",
    rf: Annotated[int, typer.Option("--rf", min=1, help="Replication factor.")] = 3,
    fan_out: Annotated[int, typer.Option(min=0, help="Consumer groups reading every byte.")] = 1,
    partitions: Annotated[int, typer.Option(min=0, help="Partitions planned (0: suggest).")] = 0,
    local_retention: Annotated[
        str | None, typer.Option(help="Tiered storage: what stays on broker disks, e.g. 1d.")
    ] = None,
    disk: Annotated[str, typer.Option(help="Disk per broker.")] = "4TiB",
    network: Annotated[str, typer.Option(help="Network per broker per second.")] = "1.25GB",
    headroom: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share kept free.")] = 0.3,
    max_partitions_per_broker: Annotated[int, typer.Option(min=1)] = 4000,
    as_json: JsonOpt = False,
) -> None:
    """Broker count and disks for a target throughput, retention, RF and fan-out: each
    limit (storage, network in and out, partitions, RF) computed, the binding one named."""
    work = Workload(
        ingress_bytes_s=_bytes(throughput, "--throughput"),
        retention_s=_seconds(retention, "--retention"),
        replication_factor=rf,
        fan_out=fan_out,
        partitions=partitions,
        local_retention_s=_seconds(local_retention, "--local-retention")
        if local_retention
        else None,
    )
    if work.ingress_bytes_s <= 0:
        raise typer.BadParameter("must be more than 0 bytes per second", param_hint="--throughput")
    if work.local_retention_s is not None and work.local_retention_s > work.retention_s:
        raise typer.BadParameter(
            f"local retention ({local_retention}) is longer than the retention ({retention}): "
            "tiered storage keeps less locally, not more",
            param_hint="--local-retention",
        )
    shape = BrokerShape(
        disk_bytes=_bytes(disk, "--disk"),
        network_bytes_s=_bytes(network, "--network"),
        max_partitions_per_broker=max_partitions_per_broker,
        headroom=headroom,
    )
    sizing = size_cluster(work, shape)
    if as_json:
        print(json.dumps(asdict(sizing), indent=2))
        return
    table = new_table(
        f"{sizing.brokers} brokers ({sizing.binding} binds), {headroom:.0%} headroom kept",
        ("limit", "needs", "one broker takes", "brokers", "because"),
    )
    for lim in sizing.limits:
        table.add_row(
            lim.name, _amount(lim.name, lim.needs), _amount(lim.name, lim.per_broker),
            str(lim.brokers), lim.reasoning,
        )  # fmt: skip
    print_table(console, table)
    console.print(
        f"disk per broker: {sizing.disk_per_broker_bytes / 1e12:,.2f} TB (local data "
        f"{sizing.local_bytes / 1e12:,.2f} TB over {sizing.brokers} brokers, {headroom:.0%} "
        f"free)"
        + (f"; object storage {sizing.remote_bytes / 1e12:,.2f} TB" if sizing.remote_bytes else "")
        + f"; partitions: {sizing.suggested_partitions} at least for the throughput",
        highlight=False,
    )


def _amount(limit: str, value: float) -> str:
    if limit == "storage":
        return f"{value / 1e12:,.2f} TB"
    if limit.startswith("network"):
        return f"{value / 1e6:,.0f} MB/s"
    return f"{value:,.0f}"
