"""``streamplane canary``, ``slo`` and ``lag``: synthetic traffic, SLOs and lag health
(``streamplane.slo``)."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import (
    ClusterOpt,
    DataDirOpt,
    JsonOpt,
    KafkaConfigOpt,
    SpecArg,
    SpecOpt,
)
from streamplane.cli._tables import new_table, print_table
from streamplane.cli._target import resolve_target
from streamplane.errors import StreamplaneError
from streamplane.local import DEFAULT_DATA_DIR, CanaryProcess, open_cluster
from streamplane.model import load_spec, objectives
from streamplane.slo.canary import CanarySettings
from streamplane.slo.lag import GroupSample, evaluate, sample_groups
from streamplane.slo.monitor import LAG_WINDOW, Monitor, MonitorSettings
from streamplane.slo.report import lookback_s, slo_report
from streamplane.slo.rules import promtool_check, write_rules
from streamplane.slo.samples import read_samples

console = Console(soft_wrap=True)
canary_app = typer.Typer(help="The canary: synthetic traffic through every broker, measured.")
slo_app = typer.Typer(help="SLOs: Prometheus rules, error budgets and what burned them.")


def register(app: typer.Typer) -> None:
    app.add_typer(canary_app, name="canary")
    app.add_typer(slo_app, name="slo")
    app.command("lag")(lag)


@canary_app.command("run")
def run(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    spec: SpecOpt = None,
    interval: Annotated[
        float, typer.Option(min=0.01, help="Seconds between records per broker.")
    ] = 1.0,
    sample: Annotated[
        float, typer.Option(min=0.1, help="Seconds between samples and alert checks.")
    ] = 10.0,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds before an unacknowledged request fails.")
    ] = 5.0,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
) -> None:
    """Run the canary and the SLO monitor for the local cluster of --data-dir (run by `up`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    cluster = open_cluster(data_dir)
    found = []
    webhook, audit = None, True
    if spec is not None:
        loaded = load_spec(spec)
        found = objectives(loaded)
        webhook, audit = loaded.platform.alerting.webhook, loaded.platform.alerting.audit
    status_file = CanaryProcess(cluster.dir).status_file
    status_file.parent.mkdir(parents=True, exist_ok=True)
    monitor = Monitor(
        cluster.admin_settings(),
        found,
        MonitorSettings(
            canary=CanarySettings(interval_s=interval, sample_s=sample, timeout_s=timeout),
            metrics_port=metrics_port,
            status_file=status_file,
            webhook=webhook,
            audit=audit,
        ),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    monitor.start()
    try:
        monitor.run(stop)
    finally:
        monitor.close()


@canary_app.command("status")
def status(data_dir: DataDirOpt = DEFAULT_DATA_DIR, as_json: JsonOpt = False) -> None:
    """What the canary has measured per broker, the budgets left and the alerts firing."""
    process = CanaryProcess(open_cluster(data_dir).dir)
    data = process.status_data()
    if data is None:
        raise StreamplaneError(
            f"the canary has written no status in {process.status_file}; start it with "
            "`streamplane up` (or `streamplane canary run`)"
        )
    if as_json:
        print(json.dumps(data, indent=2))
        return
    age = time.time() - float(data["time"])
    running = "running" if process.process() else "[red]not running[/]"
    console.print(
        f"canary {running}, status {age:.0f}s old, metrics port {data.get('metrics_port')}"
    )
    table = new_table(
        "per broker", ("broker", "requests", "errors", "lost", "duplicated", "read back")
    )
    for broker, c in sorted(data["brokers"].items()):
        table.add_row(
            broker,
            str(c["requests"]),
            str(c["errors"]),
            str(c["lost"]),
            str(c["duplicated"]),
            str(c["consumed"]),
        )
    print_table(console, table)
    for slo in data.get("slos", []):
        left = slo["budget_remaining"]
        shown = "-" if left is None else f"{left:.1%}"
        firing = ", ".join(slo["firing"]) or "none"
        console.print(f"{slo['slo']} ({slo['sli']}): budget left {shown}, alerts firing: {firing}")


@slo_app.command("rules")
def rules(
    spec: SpecArg,
    out: Annotated[Path, typer.Option(help="Rules file to write.")],
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Validate with promtool.")
    ] = True,
) -> None:
    """Prometheus recording and alerting rules for every SLO of the spec."""
    found = objectives(load_spec(spec))
    if not found:
        raise StreamplaneError(f"{spec} declares no SLO: add `slos:` to the platform or a tenant")
    write_rules(found, out)
    console.print(f"wrote {out}: {len(found)} SLO(s), 3 burn-rate alerts each")
    if check:
        passed, output = promtool_check(out)
        if not passed:
            raise StreamplaneError(f"promtool refused {out}: {output}")
        console.print(output, highlight=False)


@slo_app.command("report")
def report(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    prometheus: Annotated[
        str | None, typer.Option(help="Prometheus URL (tenant SDK SLIs).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Budget left per SLO and owner, the burn rate of each alert window, and what burned it."""
    loaded = load_spec(spec)
    found = objectives(loaded)
    if not found:
        raise StreamplaneError(f"{spec} declares no SLO: add `slos:` to the platform or a tenant")
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=None)
    now = time.time()
    records = read_samples(target.settings, since=now - lookback_s(found))
    statuses = slo_report(found, records, now=now, prometheus=prometheus)
    if as_json:
        print(json.dumps([s.as_json() for s in statuses], indent=2))
        return
    table = new_table(
        f"SLOs of {target.label}",
        (
            "owner",
            "slo",
            "sli",
            "objective",
            "events",
            "bad",
            "budget left",
            "fast burn (long / short)",
            "firing",
            "burned by",
        ),
    )
    for s in statuses:
        slo = s.objective.slo
        fast = s.burns.get("fast-burn")
        table.add_row(
            s.objective.owner,
            slo.name,
            slo.sli,
            f"{slo.objective:g}%",
            f"{s.events:,.0f}",
            f"{s.bad:,.0f}",
            "-" if s.remaining is None else f"{s.remaining:.1%}",
            "-" if fast is None else f"{fast[0]:.1f} / {fast[1]:.1f}",
            ", ".join(s.firing) or "-",
            ", ".join(f"{p} ({b:,.0f})" for p, b in s.culprits[:3]) or (s.note or "-"),
        )
    print_table(console, table)


def lag(
    group: Annotated[str | None, typer.Argument(help="One consumer group (default: all).")] = None,
    spec: SpecOpt = None,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    samples: Annotated[
        int, typer.Option(min=2, help="Samples in the window (Burrow: 10).")
    ] = LAG_WINDOW,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between live samples.")] = 1.0,
    live: Annotated[
        bool, typer.Option("--live", help="Sample now instead of reading the canary's samples.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Lag health of consumer groups by Burrow's rules: OK, WARN, or ERR with each
    partition's STOP, STALL or REWIND.

    The window is the canary's last samples from _streamplane_slo; without them (or with
    --live) it samples the cluster itself, --samples times every --interval seconds.
    """
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    history: dict[str, list[GroupSample]] = {}
    if not live:
        for record in read_samples(target.settings, since=time.time() - 3600):
            if record.kind == "lag" and (group is None or record.data.get("group") == group):
                sample = GroupSample.from_record(record.time, record.data)
                history.setdefault(sample.group, []).append(sample)
    source = "the canary's samples"
    if not history or any(len(h) < 2 for h in history.values()):
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(target.settings.librdkafka(**{"log_level": 3}))
        history = {}
        for n in range(samples):
            if n:
                time.sleep(interval)
            for name, sample in sample_groups(admin, [group] if group else None).items():
                history.setdefault(name, []).append(sample)
        source = f"{samples} live samples {interval:g}s apart"
    if group is not None and group not in history:
        raise StreamplaneError(f"consumer group {group} has no committed offsets on {target.label}")
    results = [
        evaluate(name, [s.partitions for s in h], window=samples)
        for name, h in sorted(history.items())
    ]
    if as_json:
        print(json.dumps({"source": source, "groups": [r.as_json() for r in results]}, indent=2))
        return
    table = new_table(
        f"lag health ({source})", ("group", "status", "total lag", "partitions (status: lag)")
    )
    for r in results:
        shown = ", ".join(f"{p.topic}[{p.partition}] {p.status}: {p.lag}" for p in r.partitions)
        colour = {"OK": "green", "WARN": "yellow"}.get(r.status, "red")
        table.add_row(r.group, f"[{colour}]{r.status}[/]", f"{r.total_lag:,}", shown)
    print_table(console, table)
