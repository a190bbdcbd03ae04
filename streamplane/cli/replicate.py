"""``streamplane replicate plan|apply|status|run`` and ``failover|failback``.

MirrorMaker 2 does the copying; Streamplane plans it from the spec's flows, runs one
supervised MM2 per flow, watches it from Kafka's own topics and moves consumer groups
between clusters with translated offsets.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli._options import DataDirOpt, JsonOpt, SpecArg
from streamplane.cli._tables import new_table, print_table
from streamplane.errors import PlanError
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.local._fetch import fetch_mirror_runtime, pinned_mirror_version
from streamplane.local._mirror_service import MirrorProcess
from streamplane.model import (
    ReplicationFlow,
    Spec,
    find_flow,
    flow_label,
    flow_topics,
    load_spec,
    mm2_principal,
)
from streamplane.replication.config import flow_ends, mm2_properties, render
from streamplane.replication.failover import MoveReport, failback_group, failover_groups
from streamplane.replication.status import flow_status
from streamplane.replication.supervisor import supervise

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
replicate_app = typer.Typer(
    help="Replication between the spec's clusters (MirrorMaker 2).", no_args_is_help=True
)

FlowOpt = Annotated[
    str | None,
    typer.Option("--flow", help="Only this flow, as SOURCE->TARGET (default: every flow)."),
]
TIMEOUT_S = 90.0


def register(app: typer.Typer) -> None:
    app.add_typer(replicate_app, name="replicate")
    app.command("failover")(failover)
    app.command("failback")(failback)


def _flows(spec: Spec, only: str | None) -> list[ReplicationFlow]:
    flows = spec.platform.replication.flows
    if only is None:
        return list(flows)
    source, sep, target = only.partition("->")
    if not sep:
        raise typer.BadParameter(f"--flow {only}: write it as SOURCE->TARGET, e.g. eu->hub")
    try:
        return [find_flow(spec, source, target)]
    except KeyError as exc:
        raise PlanError(str(exc.args[0])) from None


@replicate_app.command("plan")
def plan(spec: SpecArg, flow: FlowOpt = None, data_dir: DataDirOpt = DEFAULT_DATA_DIR) -> None:
    """Show each flow's topics, principal and MM2 configuration (secrets redacted)."""
    loaded = load_spec(spec)
    flows = _flows(loaded, flow)
    if not flows:
        console.print("the spec declares no replication flows")
        return
    for one in flows:
        ends = flow_ends(loaded, one, data_dir)
        topics = flow_topics(loaded, one)
        console.print(
            f"[bold]{flow_label(one)}[/] as {mm2_principal(one)}: {len(topics)} topic(s), "
            f"naming {one.naming}, groups {', '.join(one.groups) or 'none'}",
            highlight=False,
        )
        for topic in topics:
            console.print(f"  {escape(topic.name)} -> {escape(topic.remote)}", highlight=False)
        console.print(render(mm2_properties(loaded, one, ends), redact=True), markup=False)


@replicate_app.command("apply")
def apply(
    spec: SpecArg,
    flow: FlowOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each MM2.")] = TIMEOUT_S,
) -> None:
    """Write each flow's MM2 configuration and run it supervised (restarted on change)."""
    loaded = load_spec(spec)
    flows = _flows(loaded, flow)
    if not flows:
        console.print("the spec declares no replication flows: nothing to run")
        return
    with console.status(f"Fetching MirrorMaker {pinned_mirror_version()} jars…"):
        fetch_mirror_runtime()
    for one in flows:
        process = MirrorProcess(data_dir, one.source, one.target, loaded.root)
        text = render(mm2_properties(loaded, one, flow_ends(loaded, one, data_dir)), redact=False)
        digest = hashlib.sha256(text.encode()).hexdigest()
        stamp = process.home / "config.sha256"
        running = process.process() is not None
        if running and stamp.exists() and stamp.read_text() == digest:
            console.print(f"[green]running[/] {process.label}, configuration unchanged")
            continue
        if running:
            process.stop()
        process.home.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
        with console.status(f"Starting {process.label}…"):
            process.start(timeout_s=timeout)
        verb = "restarted" if running else "started"
        console.print(f"[green]{verb}[/] {process.label} (log {process.mm2_log})", highlight=False)


@replicate_app.command("stop")
def stop(spec: SpecArg, flow: FlowOpt = None, data_dir: DataDirOpt = DEFAULT_DATA_DIR) -> None:
    """Stop the flows' MM2 processes (what they copied stays)."""
    loaded = load_spec(spec)
    for one in _flows(loaded, flow):
        process = MirrorProcess(data_dir, one.source, one.target)
        said = "stopped" if process.stop() else "was not running:"
        console.print(f"{said} {process.label}")


@replicate_app.command("run", hidden=True)
def run(
    source: Annotated[str, typer.Argument()],
    target: Annotated[str, typer.Argument()],
    spec: SpecArg,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Supervise one flow's MM2 (what `replicate apply` starts in the background)."""
    loaded = load_spec(spec)
    one = find_flow(loaded, source, target)
    props = mm2_properties(loaded, one, flow_ends(loaded, one, data_dir))
    supervise(MirrorProcess(data_dir, source, target, loaded.root), render(props, redact=False))


@replicate_app.command("status")
def status(
    spec: SpecArg,
    flow: FlowOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Per flow: MM2's process, restarts, copies, lag, checkpoints, heartbeat, errors.

    Lag in records and seconds (the age of the oldest record not yet copied), read from
    the topics and MM2's offset syncs; the newest checkpoint per group and heartbeat from
    theirs on the target. Exit 1 if a flow is down.
    """
    loaded = load_spec(spec)
    reports = [flow_status(loaded, one, data_dir) for one in _flows(loaded, flow)]
    if as_json:
        print(json.dumps({"flows": reports}, indent=2))
    else:
        for report in reports:
            _print_flow(report)
    if any(not r["running"] for r in reports):
        raise typer.Exit(1)


def _ago(ms: int | None) -> str:
    return "never" if not ms else f"{max(0.0, time.time() - ms / 1000):.0f}s ago"


def _print_flow(report: dict[str, Any]) -> None:
    state = "[green]running[/]" if report["running"] else "[red]down[/]"
    console.print(
        f"[bold]{report['flow']}[/] {state}  supervisor {report['supervisor_pid'] or '-'}  "
        f"mm2 {report['mm2_pid'] or '-'}  restarts {report['restarts']}  log {report['log']}",
        highlight=False,
    )
    if "lag_error" in report:
        console.print(f"  lag unknown: {escape(report['lag_error'])}", highlight=False)
    else:
        table = new_table(None, ("topic", "copy", "lag records", "lag s"))
        for t in report["topics"]:
            copy = t["copy"] if t["copied"] else f"{t['copy']} (not yet)"
            table.add_row(t["topic"], copy, str(t["lag_records"]), f"{t['lag_s']:.1f}")
        print_table(console, table)
        console.print(f"  heartbeat {_ago(report['last_heartbeat_ms'])}", highlight=False)
        for group, ms in sorted(report["checkpoints"].items()):
            console.print(f"  checkpoint {escape(group)} {_ago(ms)}", highlight=False)
    for line in report["errors"]:
        console.print(f"  [red]error[/] {escape(line)}", highlight=False)


def _print_failover(report: MoveReport) -> None:
    verb = "would move" if report.dry_run else "moved"
    console.print(
        f"{verb} group [bold]{escape(report.group)}[/] {report.source} -> {report.target}: "
        f"{len(report.partitions)} partition(s), duplicates expected: at most "
        f"{report.duplicate_records} record(s)"
        + (f" + what it read in the last {report.window_s:.0f}s on {report.source}"
           if report.window_s else ""),
        highlight=False,
    )  # fmt: skip
    for note in report.notes:
        console.print(f"  [yellow]note[/] {escape(note)}", highlight=False)
    table = new_table(None, ("topic", "partition", "offset", "from", "duplicates"))
    for p in report.partitions:
        table.add_row(p.topic, str(p.partition), str(p.offset), p.basis, str(p.duplicates))
    print_table(console, table)


def _move(
    groups: list[str],
    source: str,
    target: str,
    spec: Path,
    data_dir: Path,
    *,
    back: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    loaded = load_spec(spec)
    # Failover follows the flow source->target; failback runs the flow target->source
    # backwards (the group reads the copies on `source` and returns to the originals).
    origin, copy = (target, source) if back else (source, target)
    try:
        flow = find_flow(loaded, origin, copy)
    except KeyError as exc:
        raise PlanError(
            f"{exc.args[0]}; a group moves along the flow whose checkpoints and offset syncs "
            f"translate its offsets ({origin}->{copy})"
        ) from None
    if back:
        reports = [failback_group(loaded, flow, g, data_dir, dry_run=dry_run) for g in groups]
    else:
        reports = failover_groups(loaded, flow, groups, data_dir, dry_run=dry_run)
    if as_json:
        print(json.dumps({"groups": [r.to_json() for r in reports]}, indent=2))
        return
    for report in reports:
        _print_failover(report)


def failover(
    groups: Annotated[list[str], typer.Argument(help="The consumer groups to move.")],
    source: Annotated[str, typer.Option("--from", help="The cluster it leaves (may be down).")],
    target: Annotated[str, typer.Option("--to", help="The cluster it resumes on.")],
    spec: SpecArg,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Translate, commit nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Move GROUPS to the copies on TARGET at their translated offsets.

    Each group must be inactive on both clusters. Offsets come from TARGET's checkpoints of
    the flow SOURCE->TARGET; a partition whose checkpoint lags the group (or has none) falls
    back to the offset syncs, and the report says so and how many duplicates to expect.
    """
    _move(groups, source, target, spec, data_dir, back=False, dry_run=dry_run, as_json=as_json)


def failback(
    groups: Annotated[list[str], typer.Argument(help="The consumer groups to move back.")],
    source: Annotated[str, typer.Option("--from", help="The cluster it runs on now.")],
    target: Annotated[str, typer.Option("--to", help="The cluster it returns to.")],
    spec: SpecArg,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Translate, commit nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Move GROUPS from the copies on SOURCE back to the originals on TARGET.

    Runs the flow TARGET->SOURCE backwards: the offsets GROUP committed in the copies map
    back through that flow's offset syncs, never past the exact position.
    """
    _move(groups, source, target, spec, data_dir, back=True, dry_run=dry_run, as_json=as_json)
