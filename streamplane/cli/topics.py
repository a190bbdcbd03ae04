"""``streamplane topics list|describe``: the topics of the live cluster, as an operator reads them.

``list`` is one metadata request: every topic with its partitions, replication factor and
how many partitions are under-replicated or offline, plus the owner and whether the
platform manages it when a spec is given. ``describe`` adds what a single topic needs:
configs that differ from Kafka's defaults (and who set them), each partition's leader,
replicas, in-sync replicas, offsets and size, and the topic's schema subjects.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape

from streamplane.cli._options import (
    ClusterOpt,
    DataDirOpt,
    JsonOpt,
    KafkaConfigOpt,
    SpecOpt,
)
from streamplane.cli._tables import human_bytes, new_table, print_table
from streamplane.cli._target import ReadTarget, resolve_target
from streamplane.errors import StreamplaneError
from streamplane.kafka import ClusterInspector, TopicDetail, TopicLayout
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.reconcile import HttpRegistryClient, subject_name

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

topics_app = typer.Typer(
    help="Topics on the live cluster: partitions, replicas, health, offsets, owners."
)


def register(app: typer.Typer) -> None:
    app.add_typer(topics_app, name="topics")


@topics_app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """`streamplane topics` alone lists the topics of the local cluster."""
    if ctx.invoked_subcommand is None:
        list_topics()


@topics_app.command("list")
def list_topics(
    pattern: Annotated[
        str | None, typer.Argument(help="Only topics matching this glob, e.g. 'payments.*'.")
    ] = None,
    spec: SpecOpt = None,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    internal: Annotated[
        bool, typer.Option("--internal", help="Also Kafka's own topics (__consumer_offsets...).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Every topic: partitions, RF, under-replicated and offline partitions, owner.

    With --spec: the owning tenant and domain, and whether the spec manages the topic.
    """
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    layouts = [
        layout
        for layout in ClusterInspector(target.settings).layouts()
        if (internal or not layout.internal)
        and (pattern is None or fnmatch.fnmatchcase(layout.name, pattern))
    ]
    if as_json:
        print(json.dumps([_layout_json(target, layout) for layout in layouts], indent=2))
        return
    if not layouts:
        what = f"matching {pattern!r} " if pattern else ""
        console.print(f"no topics {what}on {target.label}", highlight=False, markup=False)
        return
    columns = ["topic", "partitions", "RF", "under-replicated", "offline"]
    if target.spec is not None:
        columns += ["tenant", "domain", "managed"]
    table = new_table(
        f"topics on {target.label}",
        columns,
        right=("partitions", "RF", "under-replicated", "offline"),
    )
    for layout in layouts:
        cells = [
            escape(layout.name),
            str(len(layout.partitions)),
            str(layout.replication_factor),
            _count(layout.under_replicated, "yellow"),
            _count(layout.offline, "red"),
        ]
        owner = target.owner(layout.name)
        if owner is not None:
            cells += [
                escape(owner.tenant or "-"),
                escape(owner.domain or "-"),
                "yes" if owner.managed else ("platform" if owner.platform else "[yellow]no[/]"),
            ]
        table.add_row(*cells)
    print_table(console, table)
    unhealthy = sum(1 for layout in layouts if layout.under_replicated or layout.offline)
    summary = f"{len(layouts)} topic(s)"
    if unhealthy:
        summary += f", {unhealthy} with under-replicated or offline partitions"
    if target.spec is not None:
        owners = [target.owner(layout.name) for layout in layouts]
        unmanaged = sum(1 for o in owners if o is not None and not (o.managed or o.platform))
        summary += f", {unmanaged} not in the spec"
    console.print(summary, highlight=False)


@topics_app.command("describe")
def describe_topic(
    topic: Annotated[str, typer.Argument(help="The topic's full name.")],
    spec: SpecOpt = None,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: KafkaConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One topic: configs, partitions with leader, replicas, ISR, offsets and size.

    Configs: those not at Kafka's default, with where each is set.

    Offsets: the log start and the high-water mark. Subjects: from the spec and the registry.
    """
    target = resolve_target(spec=spec, cluster=cluster, data_dir=data_dir, config=config)
    detail = ClusterInspector(target.settings).topic(topic)
    subjects = _subjects(target, topic)
    if as_json:
        print(json.dumps(_detail_json(target, detail, subjects), indent=2))
        return
    layout = detail.layout
    console.print(f"[bold]{escape(topic)}[/] on {escape(target.label)}", highlight=False)
    owner = target.owner(topic)
    if owner is not None and owner.platform:
        _field("owner", "the platform (Kafka's or Streamplane's own topic)")
    elif owner is not None:
        managed = "managed by the spec" if owner.managed else "[yellow]not in the spec[/]"
        _field(
            "owner",
            f"tenant {escape(owner.tenant or '-')}, domain {escape(owner.domain or '-')} "
            f"({managed})",
        )
    if detail.size_on_disk_bytes is not None:
        size = (
            f"{human_bytes(sum(p.size_bytes or 0 for p in detail.partitions))} "
            f"({human_bytes(detail.size_on_disk_bytes)} on disk with every replica)"
        )
    else:
        size = "unknown (the brokers did not answer DescribeLogDirs)"
    _field(
        "partitions",
        f"{len(layout.partitions)}, replication factor {layout.replication_factor}; "
        f"{_count(layout.under_replicated, 'yellow')} under-replicated, "
        f"{_count(layout.offline, 'red')} offline",
    )
    _field("size", size)
    for role, (name, registered) in subjects.items():
        _field(f"{role} schema", f"{escape(name)} {registered}")
    if detail.configs:
        table = new_table("configs (not Kafka's defaults)", ["config", "value", "set in"])
        for entry in detail.configs:
            table.add_row(escape(entry.name), escape(entry.value or ""), entry.source)
        print_table(console, table)
    table = new_table(
        "partitions",
        ["partition", "leader", "replicas", "in sync", "state", "start", "end", "size"],
        right=("partition", "leader", "start", "end", "size"),
    )
    for part in detail.partitions:
        state = part.state
        table.add_row(
            str(state.partition),
            str(state.leader) if state.leader is not None else "[red]none[/]",
            ",".join(map(str, state.replicas)),
            ",".join(map(str, state.isr)),
            "[red]offline[/]"
            if state.offline
            else ("[yellow]under-replicated[/]" if state.under_replicated else "ok"),
            _offset(part.start_offset),
            _offset(part.end_offset),
            human_bytes(part.size_bytes) if part.size_bytes is not None else "-",
        )
    print_table(console, table)


def _subjects(target: ReadTarget, topic: str) -> dict[str, tuple[str, str]]:
    """role -> (subject, what the registry holds) for the topic's key and value subjects.

    Subjects follow TopicNameStrategy. A subject is listed when the spec declares its
    schema or the registry holds it; the registry is asked only when one is known.
    """
    roles: tuple[Literal["key", "value"], ...] = ("key", "value")
    entry = target.spec.topics.get(topic) if target.spec is not None else None
    declared = {
        role: entry is not None and getattr(entry.topic, f"{role}_schema") is not None
        for role in roles
    }
    found: dict[str, tuple[str, str]] = {}
    client = HttpRegistryClient(target.registry, timeout_s=5.0) if target.registry else None
    try:
        for role in roles:
            subject = str(subject_name(topic, role))
            if client is None:
                if declared[role]:
                    found[role] = (subject, "(declared in the spec; no registry to ask)")
                continue
            try:
                latest = client.version(subject, "latest")
            except StreamplaneError as exc:
                found[role] = (subject, f"(registry not readable: {exc})")
                continue
            if latest is not None:
                found[role] = (
                    subject,
                    f"version {latest.version}, schema id {latest.schema_id} "
                    f"({latest.schema_type})",
                )
            elif declared[role]:
                found[role] = (subject, "[yellow]declared in the spec, not registered[/]")
    finally:
        if client is not None:
            client.close()
    return found


def _layout_json(target: ReadTarget, layout: TopicLayout) -> dict[str, Any]:
    data: dict[str, Any] = {
        "topic": layout.name,
        "partitions": len(layout.partitions),
        "replication_factor": layout.replication_factor,
        "under_replicated": layout.under_replicated,
        "offline": layout.offline,
    }
    owner = target.owner(layout.name)
    if owner is not None:
        data.update(
            tenant=owner.tenant, domain=owner.domain, managed=owner.managed, platform=owner.platform
        )
    return data


def _detail_json(
    target: ReadTarget, detail: TopicDetail, subjects: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    data = _layout_json(target, detail.layout)
    data["configs"] = {c.name: {"value": c.value, "source": c.source} for c in detail.configs}
    data["partition_details"] = [
        {
            **p.state.to_json(),
            "start_offset": p.start_offset,
            "end_offset": p.end_offset,
            "size_bytes": p.size_bytes,
        }
        for p in detail.partitions
    ]
    data["size_on_disk_bytes"] = detail.size_on_disk_bytes
    data["subjects"] = {role: subject for role, (subject, _) in subjects.items()}
    return data


def _field(label: str, text: str) -> None:
    """One ``label: value`` line of a description, values aligned."""
    console.print(f"  {label + ':':<14}{text}", highlight=False)


def _count(value: int, colour: str) -> str:
    return f"[{colour}]{value}[/]" if value else "0"


def _offset(value: int | None) -> str:
    return "-" if value is None else str(value)
