"""``streamplane rebalance simulate``: plan a rebalance of a synthetic cluster, with figures.

The planner (``streamplane.ops.rebalance``) is the one a live cluster's plan will use;
``simulate`` gives everyone the same input from a seed, so its figures reproduce.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import JsonOpt
from streamplane.ops.rebalance import Goals, plan_rebalance
from streamplane.ops.rebalance.synthetic import bytes_to_move, generate_placement, skewed_cluster

console = Console(soft_wrap=True)
rebalance_app = typer.Typer(help="Rebalancing: plans that move the fewest bytes.")


def register(app: typer.Typer) -> None:
    app.add_typer(rebalance_app, name="rebalance")


@rebalance_app.command("simulate")
def simulate(
    brokers: Annotated[int, typer.Option(min=3, help="Brokers (a tenth of them new, empty).")],
    partitions: Annotated[int, typer.Option(min=1, help="Partitions, RF 3, log-normal sizes.")],
    seed: Annotated[int, typer.Option(help="Same seed, same cluster.")] = 1,
    tolerance: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Disk-use band around the mean.")
    ] = 0.05,
    as_json: JsonOpt = False,
) -> None:
    """Plan for a skewed synthetic cluster; print the plan's figures and the baselines:
    the lower bound of bytes any plan reaching the same bands moves, and the bytes
    `kafka-reassign-partitions --generate` would move on the same input."""
    model = skewed_cluster(brokers, partitions, seed=seed)
    plan = plan_rebalance(model, Goals(tolerance=tolerance))
    figures = {
        "brokers": brokers,
        "partitions": partitions,
        "seed": seed,
        "plan_seconds": round(plan.plan_seconds, 3),
        "moves": len(plan.moves),
        "bytes_moved": plan.bytes_moved,
        "lower_bound_bytes": plan.lower_bound_bytes,
        "generate_bytes": bytes_to_move(model, generate_placement(model, seed=seed)),
        "disk_stddev_before": round(plan.disk_stddev_before, 4),
        "disk_stddev_after": round(plan.disk_stddev_after, 4),
        "rack_violations_before": plan.rack_violations_before,
        "rack_violations_after": plan.rack_violations_after,
        "leader_changes": plan.leader_changes,
    }
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    gib = 1 << 30
    console.print(
        f"{brokers} brokers, {partitions} partitions (seed {seed}): planned in "
        f"{plan.plan_seconds:.2f}s, {len(plan.moves)} moves, "
        f"{plan.bytes_moved / gib:,.0f} GiB moved (lower bound "
        f"{plan.lower_bound_bytes / gib:,.0f} GiB; --generate would move "
        f"{figures['generate_bytes'] / gib:,.0f} GiB); disk-use std-dev "
        f"{plan.disk_stddev_before:.3f} -> {plan.disk_stddev_after:.3f}; rack violations "
        f"{plan.rack_violations_before} -> {plan.rack_violations_after}; "
        f"{plan.leader_changes} leadership changes (no data moved)",
        highlight=False,
    )
