"""``streamplane audit zero-loss SPEC``: can the live cluster keep the zero_loss promise?"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict

import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli import audit_trail
from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, SpecArg
from streamplane.kafka._durability import read_durability
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.model import load_spec
from streamplane.policy import (
    FixCommands,
    Severity,
    ZeroLossReport,
    audited_topics,
    zero_loss_report,
)
from streamplane.reconcile import connect

console = Console(soft_wrap=True)

audit_app = typer.Typer(
    help="Audits of the live cluster against the spec's guarantees, and the audit trail."
)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    audit_trail.register(audit_app)


@audit_app.command("zero-loss")
def zero_loss(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Brokers, topics and applications that let a zero_loss record be lost; exit 1 if any.

    Brokers, zero_loss topics (RF, min ISR, unclean election) and profiles, each with its fix.
    The spec's policy applies as in `lint`: a rule's severity and exemptions, and the
    environments it judges (replication: prod clusters only); what it exempts is listed
    with the reason, and does not fail the audit.
    """
    loaded = load_spec(spec)
    target = connect(loaded, cluster=cluster, data_dir=data_dir)
    audited = audited_topics(loaded, target.cluster)
    live = read_durability(target.settings, audited)
    commands = FixCommands.for_cluster(
        loaded, target.cluster, spec_arg=spec, cluster_arg=cluster, data_dir=data_dir
    )
    report = zero_loss_report(loaded, cluster=target.cluster, live=live, commands=commands)
    topics = sorted(t for t in audited if t in live.topics)
    if as_json:
        print(
            json.dumps(
                {
                    "cluster": target.cluster,
                    "brokers": sorted(live.brokers),
                    "topics_checked": topics,
                    "violations": [asdict(v) for v in report.violations],
                    "exempted": [
                        {**asdict(e.violation), "exempted_because": e.because}
                        for e in report.exempted
                    ],
                },
                indent=2,
                default=str,
            )
        )
    else:
        _print_report(report, cluster=target.cluster, brokers=len(live.brokers), topics=len(topics))
    if report.failed:
        raise typer.Exit(1)


def _print_report(report: ZeroLossReport, *, cluster: str, brokers: int, topics: int) -> None:
    colours = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}
    for violation in report.violations:
        where = f"{violation.location}: " if violation.location else ""
        colour = colours[violation.severity]
        level = "" if violation.severity is Severity.ERROR else f"{violation.severity} "
        console.print(
            f"{escape(where)}[{colour}]{level}{escape(violation.resource)}[/]: "
            f"{escape(violation.message)}",
            highlight=False,
        )
        console.print(f"    fix: {violation.fix}", highlight=False, markup=False)
    if report.exempted:
        reasons = Counter(e.because for e in report.exempted)
        console.print(f"not enforced here ({len(report.exempted)}, `--json` lists each):")
        for because, count in sorted(reasons.items()):
            console.print(f"  · {count} × {because}", highlight=False, markup=False)
    errors = sum(1 for v in report.violations if v.severity is Severity.ERROR)
    summary = (
        f"{errors} violation(s) of zero_loss on cluster {cluster} "
        f"({brokers} broker(s), {topics} topic(s) checked"
        + (f", {len(report.exempted)} exempted by the spec's policy" if report.exempted else "")
        + ")"
    )
    console.print(
        f"[red]{escape(summary)}[/]" if report.failed else f"[green]{escape(summary)}[/]",
        highlight=False,
    )
