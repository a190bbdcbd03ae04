"""``streamplane audit zero-loss SPEC``: can the live cluster keep the zero_loss promise?"""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, SpecArg
from streamplane.kafka._durability import read_durability
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.model import load_spec
from streamplane.policy import audit_zero_loss, audited_topics
from streamplane.reconcile import connect

console = Console(soft_wrap=True)

audit_app = typer.Typer(help="Audits of the live cluster against the spec's guarantees.")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("zero-loss")
def zero_loss(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Brokers, topics and applications that let a zero_loss record be lost; exit 1 if any.

    Brokers, zero_loss topics (RF, min ISR, unclean election) and profiles, each with its fix.
    """
    loaded = load_spec(spec)
    target = connect(loaded, cluster=cluster, data_dir=data_dir)
    live = read_durability(target.settings, audited_topics(loaded, target.cluster))
    found = audit_zero_loss(loaded, cluster=target.cluster, live=live)
    if as_json:
        print(
            json.dumps(
                {
                    "cluster": target.cluster,
                    "brokers": sorted(live.brokers),
                    "topics_checked": sorted(
                        t for t in audited_topics(loaded, target.cluster) if t in live.topics
                    ),
                    "violations": [asdict(v) for v in found],
                },
                indent=2,
            )
        )
    else:
        for violation in found:
            where = f"{violation.location}: " if violation.location else ""
            console.print(
                f"{escape(where)}[red]{escape(violation.resource)}[/]: {escape(violation.message)}",
                highlight=False,
            )
            console.print(f"    fix: {violation.fix}", highlight=False, markup=False)
        topics = sum(1 for t in audited_topics(loaded, target.cluster) if t in live.topics)
        summary = (
            f"{len(found)} violation(s) of zero_loss on cluster {target.cluster} "
            f"({len(live.brokers)} broker(s), {topics} topic(s) checked)"
        )
        console.print(
            f"[red]{escape(summary)}[/]" if found else f"[green]{escape(summary)}[/]",
            highlight=False,
        )
    if found:
        raise typer.Exit(1)
