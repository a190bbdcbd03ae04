"""``streamplane kafka TOOL ARGS…``: Kafka's own command-line tools, connected for you.

``streamplane kafka kafka-topics --list`` runs Kafka's ``kafka-topics`` from the jars
``streamplane up`` cached, with ``--bootstrap-server`` and ``--command-config`` added
for the cluster: the local one of ``--data-dir`` by default, a spec's cluster with
``--spec`` (and ``--cluster``; its password comes from the spec's secret source, so
nothing is written by hand), or any cluster whose librdkafka properties ``--config``
names. Options of ``streamplane kafka`` come before TOOL; everything after TOOL is the
tool's own, and a ``--bootstrap-server`` or ``--command-config`` given there wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import ClusterOpt, DataDirOpt, KafkaConfigOpt
from streamplane.cli._tables import new_table, print_table
from streamplane.cli._target import resolve_target
from streamplane.local import DEFAULT_DATA_DIR, cached_runtime, fetch_runtime, find_java
from streamplane.local._tools import TOOLS, find_tool, run_tool, wants_help

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

#: Everything after TOOL belongs to the tool, options included (`--help` too).
_PASS_THROUGH = {
    "allow_extra_args": True,
    "ignore_unknown_options": True,
    "allow_interspersed_args": False,
}

ToolSpecOpt = Annotated[
    Path | None,
    typer.Option("--spec", help="Spec directory (or file): run against its cluster."),
]


def register(app: typer.Typer) -> None:
    app.command("kafka", context_settings=_PASS_THROUGH)(kafka)


def kafka(
    ctx: typer.Context,
    tool: Annotated[
        str | None, typer.Argument(help="Kafka tool, e.g. kafka-topics (see --list).")
    ] = None,
    list_tools: Annotated[bool, typer.Option("--list", help="List the tools.")] = False,
    spec: ToolSpecOpt = None,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
) -> None:
    """Run one of Kafka's own tools (kafka-topics, kafka-configs, kafka-consumer-groups…)
    against the cluster, with its connection and admin credentials added.

    Example: streamplane kafka kafka-configs --describe --entity-type brokers --entity-default
    """
    if list_tools or tool is None:
        _print_tools()
        if tool is None and not list_tools:
            raise typer.Exit(2)
        return
    chosen = find_tool(tool)
    settings = None
    if not wants_help(ctx.args):  # a tool's own help needs no cluster
        target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
        settings = target.settings
    runtime = cached_runtime()
    if runtime is None:
        with err.status("Fetching the Kafka jars with Maven…"):
            runtime = fetch_runtime()
    code = run_tool(chosen, ctx.args, settings=settings, java=find_java(), runtime=runtime)
    raise typer.Exit(code)


def _print_tools() -> None:
    table = new_table(
        "Kafka's tools: streamplane kafka [--spec S] [--cluster C] [--data-dir D] TOOL ARGS…",
        ("tool", "what it does"),
    )
    for name, found in sorted(TOOLS.items()):
        table.add_row(name, found.summary)
    print_table(console, table)
    console.print(
        "The cluster's --bootstrap-server and --command-config are added unless given "
        "after TOOL; `streamplane kafka TOOL --help` shows the tool's own options.",
        highlight=False,
    )
