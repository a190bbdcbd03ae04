"""``streamplane groups list|describe``: consumer groups, their members and their lag.

Lag is Kafka's: a partition's high-water mark minus the offset the group committed on
it. A partition the group is assigned but has never committed shows no lag ("-"), as
Kafka's own ``kafka-consumer-groups`` does: it has no position to measure from.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, KafkaConfigOpt, SpecOpt
from streamplane.cli._tables import new_table, print_table
from streamplane.cli._target import resolve_target
from streamplane.kafka import ClusterInspector, GroupDetail, GroupMember
from streamplane.local import DEFAULT_DATA_DIR

console = Console(soft_wrap=True)

groups_app = typer.Typer(help="Consumer groups on the live cluster: state, members, lag.")


def register(app: typer.Typer) -> None:
    app.add_typer(groups_app, name="groups")


@groups_app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """`streamplane groups` alone lists the groups of the local cluster."""
    if ctx.invoked_subcommand is None:
        list_groups()


@groups_app.command("list")
def list_groups(
    spec: SpecOpt = None,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every consumer group: state, protocol type, members, total lag.

    With --spec: the spec's application that consumes with the group.
    """
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    groups = ClusterInspector(target.settings).groups()
    if as_json:
        rows = []
        for group in groups:
            row = asdict(group)
            row["type"] = row.pop("kind")
            if target.spec is not None:
                row["application"] = target.group_apps.get(group.group)
            rows.append(row)
        print(json.dumps(rows, indent=2))
        return
    if not groups:
        console.print(f"no consumer groups on {target.label}", highlight=False, markup=False)
        return
    columns = ["group", "state", "type", "members", "lag"]
    if target.spec is not None:
        columns.append("application")
    table = new_table(f"consumer groups on {target.label}", columns, right=("members", "lag"))
    for group in groups:
        cells = [
            escape(group.group),
            _state(group.state),
            group.kind.lower(),
            str(group.members),
            _number(group.total_lag),
        ]
        if target.spec is not None:
            cells.append(escape(target.group_apps.get(group.group, "-")))
        table.add_row(*cells)
    print_table(console, table)
    lagging = sum(1 for g in groups if g.total_lag)
    console.print(f"{len(groups)} group(s), {lagging} with lag", highlight=False)


@groups_app.command("describe")
def describe_group(
    group: Annotated[str, typer.Argument(help="The consumer group id.")],
    spec: SpecOpt = None,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One group: state, members and their partitions, lag per partition.

    Members: client id, host and assigned partitions.

    Partitions: committed offset, end offset (high-water mark) and the lag between them.
    """
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    detail = ClusterInspector(target.settings).group(group)
    if as_json:
        print(json.dumps(_detail_json(detail, target.group_apps.get(group)), indent=2))
        return
    console.print(f"[bold]{escape(group)}[/] on {escape(target.label)}", highlight=False)
    app = target.group_apps.get(group)
    if app is not None:
        console.print(f"  application: {escape(app)}", highlight=False)
    protocol = f", assignor {detail.protocol}" if detail.protocol else ""
    console.print(
        f"  state:       {_state(detail.state)} ({detail.kind.lower()} protocol{protocol}); "
        f"coordinator node {detail.coordinator if detail.coordinator is not None else '-'}",
        highlight=False,
    )
    console.print(
        f"  members:     {len(detail.members)}; total lag {_number(detail.total_lag)}",
        highlight=False,
    )
    if detail.members:
        table = new_table("members", ["client id", "host", "member id", "assigned partitions"])
        for member in detail.members:
            table.add_row(
                escape(member.client_id),
                escape(member.host),
                escape(
                    member.member_id + (f" ({member.instance_id})" if member.instance_id else "")
                ),
                escape(_assignment(member)),
            )
        print_table(console, table)
    if not detail.lags:
        console.print("  no committed offsets and no assigned partitions", highlight=False)
        return
    clients = {m.member_id: m.client_id for m in detail.members}
    table = new_table(
        "lag per partition",
        ["topic", "partition", "committed", "end", "lag", "consumer"],
        right=("partition", "committed", "end", "lag"),
    )
    for lag in detail.lags:
        table.add_row(
            escape(lag.topic),
            str(lag.partition),
            _number(lag.committed),
            _number(lag.end_offset),
            _number(lag.lag),
            escape(clients.get(lag.member, "-") if lag.member else "-"),
        )
    print_table(console, table)


def _detail_json(detail: GroupDetail, application: str | None) -> dict[str, Any]:
    return {
        "group": detail.group,
        "state": detail.state,
        "type": detail.kind,
        "protocol": detail.protocol,
        "coordinator": detail.coordinator,
        "application": application,
        "total_lag": detail.total_lag,
        "members": [
            {
                "member_id": m.member_id,
                "client_id": m.client_id,
                "host": m.host,
                "instance_id": m.instance_id,
                "assignment": [{"topic": t, "partition": p} for t, p in m.assignment],
            }
            for m in detail.members
        ],
        "partitions": [asdict(lag) for lag in detail.lags],
    }


def _assignment(member: GroupMember) -> str:
    """``topic[0,1,2]``, one topic after another."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in member.assignment:
        by_topic.setdefault(topic, []).append(partition)
    return " ".join(f"{t}[{','.join(map(str, ps))}]" for t, ps in sorted(by_topic.items())) or "-"


def _state(state: str) -> str:
    colour = {"STABLE": "green", "EMPTY": "dim", "DEAD": "red"}.get(state, "yellow")
    return f"[{colour}]{state.lower()}[/]"


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)
