"""``streamplane dlq inspect|replay``: look at parked records and send them back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamplane.cli._options import DataDirOpt, JsonOpt
from streamplane.cli._reach import kafka_connection
from streamplane.cli._target import local_registry
from streamplane.client import (
    FAILED_APP_HEADER,
    ClientError,
    DeadLetter,
    Decoded,
    ParkedRecords,
    RegistrySettings,
    SchemaIdDecoder,
    find_parked,
    inspect_dead_letters,
    named_parked,
    replay_dead_letters,
)
from streamplane.kafka import ConnectionSettings
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.model import load_spec

console = Console(soft_wrap=True)

dlq_app = typer.Typer(help="Dead-letter topics: inspect parked records, replay them.")

TopicArg = Annotated[
    str,
    typer.Argument(
        help="The topic the records were consumed from (the spec then finds the consuming "
        "application's dead-letter topic), or a retry or dead-letter topic by its own name."
    ),
]
SpecOpt = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        help="Spec directory (or file): it says which application's retry and dead-letter "
        "topics TOPIC has.",
    ),
]
AppOpt = Annotated[
    str | None,
    typer.Option(
        "--app", help="The application whose parked records to read, when several park TOPIC's."
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="librdkafka properties file (default: <data dir>/admin.properties)."
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")


def _parked(
    topic: str, *, spec: Path | None, app: str | None, to_source: bool = False
) -> ParkedRecords:
    """The parking topic meant: through the spec, or named outright without one.

    Retry and dead-letter topics belong to the consuming application
    (<prefix><domain>.<app>.<topic>.dlq), so only the spec can say which one a topic has.
    """
    if spec is None:
        if app is not None:
            raise ClientError("--app needs --spec: the spec says where the application parks")
        return named_parked(topic)
    return find_parked(load_spec(spec), topic, app=app, to_source=to_source)


def _connection(data_dir: Path, config: Path | None) -> ConnectionSettings:
    """The cluster's connection, proven to answer (a stopped cluster fails in seconds)."""
    return kafka_connection(data_dir, config)


RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        help="Schema registry URL to decode values by their schema id (default: the local "
        "cluster's registry, when it runs); authenticates with the cluster credentials.",
    ),
]
RawOpt = Annotated[
    bool, typer.Option("--raw", help="Show values as the bytes they are; decode nothing.")
]
#: A decoded value longer than this is cut in the text listing (--json has it whole).
SHOWN_VALUE_CHARS = 600


def _decoder(
    registry: str | None, conn: ConnectionSettings, *, data_dir: Path, config: Path | None
) -> tuple[SchemaIdDecoder | None, str | None]:
    """The decoder for parked values, or None and a note saying why values are shown raw.

    Without --registry, the registry `streamplane up` runs beside the local cluster (found
    by its pid file, so a stopped one costs no timeout); a --config cluster has none known.
    """
    if registry is None and config is None:
        local = local_registry(data_dir, conn)
        if local is None:
            return None, (
                "values are shown raw: the local schema registry is not running (`streamplane "
                "up` starts it); pass --registry URL to decode with another"
            )
        registry = local.url
    elif registry is None:
        return None, "values are shown raw: pass --registry URL to decode them"
    settings = RegistrySettings(registry, username=conn.username, password=conn.password)
    return SchemaIdDecoder(settings.client()), None


def _raw(data: bytes | None) -> str:
    text = repr(data) if data is not None else "(null)"
    return text[:SHOWN_VALUE_CHARS] + "…" if len(text) > SHOWN_VALUE_CHARS else text


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
    if decoded is not None and decoded.error is None:
        text = json.dumps(decoded.value, ensure_ascii=False)
        if len(text) > SHOWN_VALUE_CHARS:
            text = text[:SHOWN_VALUE_CHARS] + "…"
        what = decoded.format or "empty"
        if decoded.schema_id is not None:
            what += f" schema {decoded.schema_id}"
        console.print(f"  value:   ({what}) {text}", highlight=False, markup=False)
    elif letter.value is not None:
        # Not decoded (--raw, no registry, or a value its schema cannot read): the bytes.
        console.print(f"  value:   {_raw(letter.value)}", highlight=False, markup=False)
        if decoded is not None:
            console.print(f"           not decoded: {decoded.error}", highlight=False, markup=False)
    for name, value in letter.headers:
        text = value.decode(errors="replace") if value is not None else "(null)"
        console.print(f"  header   {name}: {text}", highlight=False, markup=False)


@dlq_app.command("inspect")
def inspect(
    topic: TopicArg,
    app: AppOpt = None,
    spec: SpecOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many records.")] = 20,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: ConfigOpt = None,
    registry: RegistryOpt = None,
    raw: RawOpt = False,
) -> None:
    """List the records an application parked for TOPIC, oldest first, with why and where
    they failed (its dead-letter topic, <prefix><domain>.<app>.<TOPIC>.dlq).

    Values are decoded by their schema id with the local registry (or --registry).
    """
    parked = _parked(topic, spec=spec, app=app)
    conn = _connection(data_dir, config)
    letters = inspect_dead_letters(conn, parked.topic, dead_letter_topic=parked.parked, limit=limit)
    decoder, note = (
        (None, None) if raw else _decoder(registry, conn, data_dir=data_dir, config=config)
    )
    decoded = [
        decoder.decode(parked.topic, letter.value) if decoder else None for letter in letters
    ]
    if as_json:
        entries = [letter.to_json() for letter in letters]
        for entry, value in zip(entries, decoded, strict=True):
            if value is not None:
                entry["decoded"] = value.to_json()
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        return
    if not letters:
        console.print(f"{parked.parked} is empty", highlight=False)
        return
    if note is not None:
        console.print(note, style="yellow", highlight=False, markup=False)
    for letter, value in zip(letters, decoded, strict=True):
        _show(letter, value)
    console.print(f"\n{len(letters)} record(s) shown (--limit {limit})")


@dlq_app.command("replay")
def replay(
    topic: TopicArg,
    app: AppOpt = None,
    spec: SpecOpt = None,
    to_source: Annotated[
        bool,
        typer.Option(
            "--to-source",
            help="Send the records to TOPIC itself, where every consumer reads them again "
            "(default: the application's first retry topic when it has one).",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="List what would be replayed; change nothing.")] = (
        False
    ),
    limit: Annotated[
        int | None, typer.Option(min=1, help="Replay at most this many records.")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            help="Consumer group recording replay progress (default: one per dead-letter topic)."
        ),
    ] = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    config: ConfigOpt = None,
) -> None:
    """Send the records an application parked for TOPIC, not yet replayed, to be processed
    again: to the application's first retry topic when it has retries (only it sees them),
    else back to TOPIC (--to-source always). Needs --spec.

    Each batch is written in a transaction together with the replay group's offsets, so a
    replay interrupted and run again sends every record exactly once. An old-style
    <TOPIC>.dlq or <TOPIC>.retry.<n> (from before parking topics belonged to the consumer)
    is replayed the same way while the estate migrates.
    """
    if spec is None:
        raise ClientError(
            "dlq replay needs --spec SPEC: the spec says whose records these are and where "
            "they go back"
        )
    parked = _parked(topic, spec=spec, app=app, to_source=to_source)
    if parked.kind == "retry" and not parked.legacy:
        raise ClientError(
            f"{parked.parked} is a retry topic: {parked.application} processes its records "
            "itself once they are due; replay its dead-letter topic instead"
        )
    result = replay_dead_letters(
        _connection(data_dir, config), parked.topic, dead_letter_topic=parked.parked,
        target=parked.target, resume_group=parked.resume_group, dry_run=dry_run, limit=limit,
        group=group,
    )  # fmt: skip
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    for letter in result.records:
        _show(letter)
    verb = "would replay" if dry_run else "replayed"
    console.print(
        f"\n{verb} {len(result.records)} record(s) from {result.dead_letter_topic} to "
        f"{result.target} (progress kept by group {result.group})",
        highlight=False,
    )
    console.print(f"  {parked.target_reason}", highlight=False, markup=False)
