"""``streamplane dlq inspect|replay``: look at parked records and send them back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import DataDirOpt, JsonOpt
from streamplane.client import (
    FAILED_APP_HEADER,
    DeadLetter,
    Decoded,
    RegistrySettings,
    SchemaIdDecoder,
    inspect_dead_letters,
    replay_dead_letters,
)
from streamplane.errors import ClusterError
from streamplane.kafka import ConnectionSettings
from streamplane.local import DEFAULT_DATA_DIR

console = Console(soft_wrap=True)

dlq_app = typer.Typer(help="Dead-letter topics: inspect parked records, replay them.")

TopicArg = Annotated[str, typer.Argument(help="The original topic; its DLQ is <TOPIC>.dlq.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="librdkafka properties file (default: <data dir>/admin.properties)."
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")


def _connection(data_dir: Path, config: Path | None) -> ConnectionSettings:
    props = config if config is not None else data_dir / "admin.properties"
    if not props.exists():
        raise ClusterError(
            f"{props} does not exist; start the local cluster with `streamplane up`, or pass "
            "--config with the cluster's librdkafka properties"
        )
    return ConnectionSettings.from_properties_file(props)


RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="Schema registry URL: show each value decoded by its schema id (authenticates "
        "with the cluster credentials).",
    ),
]
#: A decoded value longer than this is cut in the text listing (--json has it whole).
SHOWN_VALUE_CHARS = 600


def _decoder(registry: str | None, conn: ConnectionSettings) -> SchemaIdDecoder | None:
    if registry is None:
        return None
    settings = RegistrySettings(registry, username=conn.username, password=conn.password)
    return SchemaIdDecoder(settings.client())


def _show(letter: DeadLetter, decoded: Decoded | None = None) -> None:
    origin_topic, origin_partition, origin_offset = letter.origin
    title = f"{letter.topic}[{letter.partition}]@{letter.offset}  {letter.error_kind} failure"
    if letter.failed_at is not None:
        title += f" at {letter.failed_at.isoformat(timespec='seconds')}"
    failed_app = letter.header(FAILED_APP_HEADER)
    if failed_app is not None:
        title += f" in {failed_app}"
    console.print(title, style="bold", highlight=False, markup=False)
    console.print(
        f"  error:   {letter.error_class}: {letter.error_message}", highlight=False, markup=False
    )
    if origin_topic is not None:
        console.print(
            f"  from:    {origin_topic}[{origin_partition}]@{origin_offset}",
            highlight=False,
            markup=False,
        )
    size = len(letter.value) if letter.value is not None else 0
    console.print(f"  key:     {letter.key!r}   value: {size} bytes", highlight=False, markup=False)
    if decoded is not None:
        text = json.dumps(decoded.value, ensure_ascii=False)
        if len(text) > SHOWN_VALUE_CHARS:
            text = text[:SHOWN_VALUE_CHARS] + "…"
        what = decoded.format or "empty"
        if decoded.schema_id is not None:
            what += f" schema {decoded.schema_id}"
        console.print(f"  value:   ({what}) {text}", highlight=False, markup=False)
        if decoded.error is not None:
            console.print(f"           {decoded.error}", highlight=False, markup=False)
    for name, value in letter.headers:
        text = value.decode(errors="replace") if value is not None else "(null)"
        console.print(f"  header   {name}: {text}", highlight=False, markup=False)


@dlq_app.command("inspect")
def inspect(
    topic: TopicArg,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many records.")] = 20,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: ConfigOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """List the records parked in <TOPIC>.dlq, oldest first, with why and where they failed."""
    conn = _connection(data_dir, config)
    letters = inspect_dead_letters(conn, topic, limit=limit)
    decoder = _decoder(registry, conn)
    decoded = [decoder.decode(topic, letter.value) if decoder else None for letter in letters]
    if as_json:
        entries = [letter.to_json() for letter in letters]
        for entry, value in zip(entries, decoded, strict=True):
            if value is not None:
                entry["decoded"] = value.to_json()
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        return
    if not letters:
        console.print(f"{topic}.dlq is empty")
        return
    for letter, value in zip(letters, decoded, strict=True):
        _show(letter, value)
    console.print(f"\n{len(letters)} record(s) shown (--limit {limit})")


@dlq_app.command("replay")
def replay(
    topic: TopicArg,
    dry_run: Annotated[bool, typer.Option(help="List what would be replayed; change nothing.")] = (
        False
    ),
    limit: Annotated[
        int | None, typer.Option(min=1, help="Replay at most this many records.")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(help="Consumer group recording replay progress (default per topic)."),
    ] = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: ConfigOpt = None,
) -> None:
    """Produce the records of <TOPIC>.dlq not yet replayed back to <TOPIC>.

    Each batch is written in a transaction together with the replay group's offsets, so a
    replay interrupted and run again sends every record exactly once.
    """
    result = replay_dead_letters(
        _connection(data_dir, config), topic, dry_run=dry_run, limit=limit, group=group
    )
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    for letter in result.records:
        _show(letter)
    verb = "would replay" if dry_run else "replayed"
    console.print(
        f"\n{verb} {len(result.records)} record(s) from {result.dead_letter_topic} to {topic} "
        f"(progress kept by group {result.group})",
        highlight=False,
    )
