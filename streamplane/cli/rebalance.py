"""``streamplane rebalance plan|execute|status|cancel|simulate``.

``plan`` reads the live cluster (DescribeLogDirs, metadata) into the planner's model and
writes a plan a reviewer can read; ``execute`` hands it to Kafka's reassignment in
throttled batches (``streamplane.ops.rebalance.executor`` says how it survives crashes);
``simulate`` runs the same planner on a seeded synthetic cluster, so its figures
reproduce anywhere.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from streamplane.cli._options import DataDirOpt, JsonOpt, KafkaConfigOpt
from streamplane.cli._reach import kafka_connection
from streamplane.cli._tables import human_bytes, new_table, print_table
from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.model._topic_configs import parse_bytes
from streamplane.ops.rebalance import Goals, plan_rebalance
from streamplane.ops.rebalance.executor import (
    DEFAULT_BATCH,
    DEFAULT_THROTTLE,
    Execution,
    Executor,
    StateDir,
    cancel,
)
from streamplane.ops.rebalance.live import in_flight, read_cluster_with_rates
from streamplane.ops.rebalance.plan_file import plan_file, read_plan
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
    # Disk goals only: the figures compare bytes moved with --generate's, which balances
    # replica counts by construction; counting moves of small replicas would blur that.
    plan = plan_rebalance(model, Goals(tolerance=tolerance, replicas=False))
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


StateDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the execution record lives (default: <data dir>/rebalance, or "
        ".streamplane-rebalance with --config).",
    ),
]


def _state_dir(data_dir: Path, config: Path | None, state_dir: Path | None) -> StateDir:
    if state_dir is not None:
        return StateDir(state_dir)
    return StateDir(Path(".streamplane-rebalance") if config else data_dir / "rebalance")


def _connection_file(data_dir: Path, config: Path | None) -> Path:
    return config if config is not None else data_dir / "admin.properties"


@rebalance_app.command("plan")
def plan(
    out: Annotated[
        Path | None, typer.Option(help="Write the plan here (JSON) for execute.")
    ] = None,
    add_broker: Annotated[
        list[int] | None,
        typer.Option("--add-broker", help="New broker(s): move replicas onto them only."),
    ] = None,
    drain: Annotated[
        list[int] | None,
        typer.Option("--drain", help="Move every replica off these broker(s) before removal."),
    ] = None,
    fix_racks: Annotated[
        bool, typer.Option("--fix-racks", help="Only fix rack violations, nothing else.")
    ] = False,
    tolerance: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Disk-use band: this share of the mean.")
    ] = 0.10,
    capacity: Annotated[
        str | None,
        typer.Option(help="Disk per broker (e.g. 500GiB) instead of what the brokers report."),
    ] = None,
    window: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds over which each partition's write rate is measured, for the network "
            "goal (leaders spread by bytes written); 0: leaders spread by count.",
        ),
    ] = 5.0,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plan a rebalance of the live cluster: rack awareness and capacity first, then disk
    and leader balance, moving the fewest bytes (the lower bound is shown beside it)."""
    if fix_racks and (add_broker or drain):
        raise typer.BadParameter("--fix-racks stands alone; plan --add-broker/--drain apart")
    settings = kafka_connection(data_dir, config)
    try:
        capacity_bytes = parse_bytes(capacity) if capacity else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--capacity") from None
    live = read_cluster_with_rates(settings, window, capacity_bytes=capacity_bytes)
    unknown = sorted((set(add_broker or []) | set(drain or [])) - set(live.model.brokers))
    if unknown:
        raise StreamplaneError(
            f"broker(s) {unknown} are not in the cluster (brokers: "
            f"{sorted(live.model.brokers)}); `streamplane status` lists them"
        )
    if live.reassigning:
        first = next(iter(live.reassigning))
        raise StreamplaneError(
            f"{len(live.reassigning)} partition(s) are being reassigned now (e.g. "
            f"{first[0]}-{first[1]}); plan when they have landed (`streamplane rebalance "
            "status`), or the plan would start from a placement that is changing"
        )
    mode = (
        "fix-racks"
        if fix_racks
        else "add-broker"
        if add_broker
        else "drain"
        if drain
        else "balance"
    )
    goals = Goals(
        tolerance=tolerance,
        relative=True,
        only_to=frozenset(add_broker) if add_broker else None,
        drain=frozenset(drain or []),
        racks_only=fix_racks,
    )
    result = plan_rebalance(live.model, goals)
    document = plan_file(result, live.cluster_id, mode)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(document.to_json())
    if as_json:
        print(document.to_json() if out is None else json.dumps(document.figures, indent=2))
        return
    _show_plan(document.figures, document.moves, mode, out)


def _show_plan(figures: dict[str, Any], moves: list[Any], mode: str, out: Path | None) -> None:
    console.print(
        f"{mode}: {figures['moves']} move(s), {human_bytes(figures['bytes_moved'])} to copy "
        f"(no plan reaching the band moves less than "
        f"{human_bytes(figures['lower_bound_bytes'])}); disk use "
        f"spread (std-dev/mean) {figures['disk_cv_before']:.3f} -> "
        f"{figures['disk_cv_after']:.3f}; leader bytes-in spread "
        f"{figures['network_cv_before']:.3f} -> {figures['network_cv_after']:.3f}; replica "
        "count spread "
        f"{figures['replica_spread_before']} -> {figures['replica_spread_after']}; rack "
        f"violations {figures['rack_violations_before']} -> {figures['rack_violations_after']}; "
        f"{figures['leader_changes']} leadership change(s); planned in "
        f"{figures['plan_seconds']:.2f}s",
        highlight=False,
    )
    for topic, partition, broker in figures["stranded"]:
        console.print(
            f"[yellow]cannot drain[/] {topic}-{partition} from broker {broker}: no broker of "
            "another rack may take it (add a broker, or lower the topic's replication factor)"
        )
    if moves:
        table = new_table("moves", ("partition", "from", "to", "bytes", "why"))
        for m in moves[:30]:
            table.add_row(
                f"{m.topic}-{m.partition}",
                str(m.before),
                str(m.after),
                human_bytes(m.bytes),
                m.why,
            )
        print_table(console, table)
        if len(moves) > 30:
            console.print(f"... and {len(moves) - 30} more (--json lists all)")
    if out is not None:
        console.print(f"written to {out}; run it with `streamplane rebalance execute {out}`")


@rebalance_app.command("execute")
def execute(
    plan_path: Annotated[
        Path, typer.Argument(metavar="FILE", help="A plan from `rebalance plan --out`.")
    ],
    auto_approve: Annotated[bool, typer.Option(help="Do not ask before moving data.")] = False,
    throttle: Annotated[
        str, typer.Option(help="Replication throttle per broker, per second (e.g. 50MiB).")
    ] = str(DEFAULT_THROTTLE),
    batch: Annotated[int, typer.Option(min=1, help="Partitions moved at once.")] = DEFAULT_BATCH,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Execute (or resume) a plan in throttled batches; throttles are removed at the end,
    on cancel, on failure, and after a crash."""
    document, digest = read_plan(plan_path)
    try:
        rate = parse_bytes(throttle)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--throttle") from None
    settings = kafka_connection(data_dir, config)
    console.print(
        f"{len(document.all_moves)} move(s), {human_bytes(document.total_bytes)} to copy, "
        f"throttled to {human_bytes(rate)}/s per broker, {batch} partition(s) at a time",
        highlight=False,
    )
    if not auto_approve and not typer.confirm("Execute?", default=False):
        raise typer.Exit(1)
    state = _state_dir(data_dir, config, state_dir)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:  # fmt: skip
        task = progress.add_task("moving", total=max(document.total_bytes, 1))

        def show(record: Execution) -> None:
            progress.update(
                task,
                completed=record.bytes_done,
                description=f"moved {len(record.completed)}/{record.moves_total}",
            )

        executor = Executor(settings, state, throttle=rate, batch=batch, progress=show)
        started = time.monotonic()
        record = executor.execute(
            document, plan_path, digest, connection=_connection_file(data_dir, config)
        )
    _report(record, time.monotonic() - started)
    if record.status != "done":
        raise typer.Exit(1)


def _report(record: Execution, seconds: float | None = None) -> None:
    took = f" in {seconds:.1f}s" if seconds is not None else ""
    console.print(
        f"{record.status}{took}: {len(record.completed)}/{record.moves_total} move(s), "
        f"{human_bytes(record.bytes_done)} of {human_bytes(record.bytes_total)}; throttles "
        + ("removed" if not record.throttled_topics and not record.throttled_brokers else
           f"still set on topics {record.throttled_topics} and brokers {record.throttled_brokers}"),
        highlight=False,
    )  # fmt: skip
    for key, why in sorted(record.skipped.items()):
        console.print(f"[yellow]skipped[/] {key}: {why}")
    if record.error:
        console.print(f"[red]{record.error}[/]")


@rebalance_app.command("status")
def status(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The last execution: progress, what is in flight now, throttles still set."""
    state = _state_dir(data_dir, config, state_dir)
    record = state.read()
    settings: ConnectionSettings = kafka_connection(data_dir, config)
    moving = in_flight(settings)
    alive = state.executor_alive()
    if as_json:
        body = {"execution": None if record is None else record.__dict__, "executor_running": alive,
                "in_flight": [f"{t}:{p}" for t, p in sorted(moving)]}  # fmt: skip
        print(json.dumps(body, indent=2))
        return
    if record is None:
        console.print(f"no rebalance executed from {state.root}")
    else:
        if record.status == "running" and not alive:
            record.status += " (executor gone: `rebalance execute` resumes, `cancel` ends it)"
        _report(record)
    console.print(f"{len(moving)} partition(s) being reassigned now")


@rebalance_app.command("cancel")
def cancel_command(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Stop the execution: the batch in flight is cancelled (its partitions stay where
    they were), throttles are removed; what landed stays."""
    settings = kafka_connection(data_dir, config)
    record = cancel(settings, _state_dir(data_dir, config, state_dir))
    _report(record)
