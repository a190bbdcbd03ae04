"""``streamplane lake``: topics streamed into Apache Iceberg tables, and SQL over them
(``streamplane.lake``)."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from rich.console import Console

from streamplane.cli._options import ClusterOpt, DataDirOpt, JsonOpt, SpecArg
from streamplane.cli._tables import new_table, print_table
from streamplane.client import RegistrySettings
from streamplane.errors import StreamplaneError
from streamplane.local import DEFAULT_DATA_DIR
from streamplane.model import LakeSink as LakeSinkSpec
from streamplane.model import Spec, lake_source, lake_table, load_spec, read_schema
from streamplane.reconcile import RegistryEndpoint, Target, connect

# The lake's modules are imported inside the commands that use them: they load pyiceberg,
# pyarrow and SQLAlchemy (about 0.8 s and 120 MiB), which every other command and the
# services the CLI runs (registry, console) would otherwise pay at start.
if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from streamplane.lake.sink import SinkSettings, SinkStats


console = Console(soft_wrap=True)
lake_app = typer.Typer(
    help="The lakehouse: topics into Iceberg tables, exactly once; SQL over them."
)


def register(app: typer.Typer) -> None:
    app.add_typer(lake_app, name="lake")


def lake_topics(spec: Spec) -> dict[str, str]:
    """topic -> table, for every topic of the spec with a lake sink."""
    return {name: lake_table(e) for name, e in sorted(spec.topics.items()) if e.topic.lake}


def source(spec: Spec, topic: str) -> str:
    """The topic the sink of ``topic`` reads (its masked twin, if it has one)."""
    return lake_source(spec.topics[topic])


def registry_client(endpoint: RegistryEndpoint | None) -> SchemaRegistryClient:
    if endpoint is None:
        raise StreamplaneError(
            "the lake sink needs the cluster's schema registry; start it with `streamplane up`"
        )
    password = endpoint.password or ("" if endpoint.username is not None else None)
    return RegistrySettings(endpoint.url, endpoint.username, password).client()


def sink_settings(lake: LakeSinkSpec) -> SinkSettings:
    from streamplane.lake.maintenance import MaintenancePolicy
    from streamplane.lake.sink import SinkSettings

    return SinkSettings(
        max_rows=lake.max_rows,
        max_wait_s=lake.commit_interval / 1000,
        maintenance_interval_s=lake.maintenance_interval / 1000,
        maintenance=MaintenancePolicy(snapshot_retention_s=lake.snapshot_retention / 1000),
        partition_by=tuple(lake.partition_by),
    )


@dataclass
class LakeTopic:
    """A topic with ``lake:``: its table, the topic the sink reads, and the catalog."""

    topic: str
    table: str
    source: str
    lake: LakeSinkSpec
    catalog: Catalog


def lake_entries(spec: Spec, target: Target, home: Path) -> list[LakeTopic]:
    """Every lake topic of the spec, each with its catalog opened (once per catalog)."""
    from streamplane.lake.catalogs import open_catalog

    catalogs: dict[str | None, Catalog] = {}
    found = []
    for topic, table in lake_topics(spec).items():
        lake = spec.topics[topic].topic.lake
        assert lake is not None
        if lake.catalog not in catalogs:
            catalogs[lake.catalog] = open_catalog(spec, lake.catalog, target.secrets, home)
        found.append(LakeTopic(topic, table, source(spec, topic), lake, catalogs[lake.catalog]))
    return found


def provision_tables(spec: Spec, target: Target, data_dir: Path) -> list[str]:
    """Create (or evolve, or partition anew) each lake topic's table from its subject's
    latest schema, so the tables exist as `apply` leaves the estate, before any sink ran;
    one line per table that changed or could not. A table that cannot take the schema is
    reported, not raised: the cluster's changes are applied by then, and its sink refuses
    the same schema with the same reason."""
    from streamplane.lake.sink import LakeSink

    if not lake_topics(spec) or target.registry is None:
        return []
    home = (target.data_dir or data_dir) / "lake"
    registry = registry_client(target.registry)
    said = []
    for entry in lake_entries(spec, target, home):
        try:
            existed = entry.catalog.table_exists(entry.table)
            LakeSink(
                target.settings, registry, entry.catalog, entry.source, entry.table,
                sink_settings(entry.lake),
            ).open_table()  # fmt: skip
        except (StreamplaneError, SchemaRegistryError) as exc:
            said.append(f"lake table {entry.table} not provisioned: {exc}")
            continue
        if not existed:
            said.append(f"lake table {entry.table} created (from {entry.source})")
    return said


def _target(
    spec: Spec, cluster: str | None, data_dir: Path, *, reach: bool = True
) -> tuple[Target, Path]:
    """The cluster, and the lake's home beside its data; without ``reach`` the cluster may
    be down (the tables and the configs need only where it is)."""
    target = connect(spec, cluster=cluster, data_dir=data_dir, reach=reach)
    return target, (target.data_dir or data_dir) / "lake"


@lake_app.command("run")
def run(
    topic: Annotated[str, typer.Argument(help="A topic of the spec with `lake:`.")],
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    status_file: Annotated[
        Path | None, typer.Option(help="Write the sink's counts here after each commit.")
    ] = None,
) -> None:
    """Stream TOPIC into its Iceberg table until stopped (run by `up`), exactly once."""
    from streamplane.lake.sink import LakeSink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    loaded = load_spec(spec)
    tables = lake_topics(loaded)
    if topic not in tables:
        raise StreamplaneError(
            f"{topic} has no `lake:` in {spec}; topics with one: {', '.join(tables) or 'none'}"
        )
    target, home = _target(loaded, cluster, data_dir)
    (entry,) = [e for e in lake_entries(loaded, target, home) if e.topic == topic]
    sink = LakeSink(
        target.settings, registry_client(target.registry), entry.catalog, entry.source,
        entry.table, sink_settings(entry.lake),
    )  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def report(stats: SinkStats) -> None:
        if status_file is not None:
            status_file.write_text(
                json.dumps({"time": time.time(), "table": tables[topic], **stats.__dict__})
            )

    if status_file is not None:
        report(sink.stats)
    console.print(f"streaming {source(loaded, topic)} into {tables[topic]} ({home})", markup=False)
    sink.run(stop, on_commit=report)


@lake_app.command("tables")
def tables(
    spec: SpecArg,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Each lake table of the spec: its topic, rows, snapshots and committed offsets."""
    from streamplane.lake.table import LakeTable

    loaded = load_spec(spec)
    target, home = _target(loaded, cluster, data_dir, reach=False)
    found: list[dict[str, Any]] = []
    for entry in lake_entries(loaded, target, home):
        identifier, topic = entry.table, entry.source
        if not entry.catalog.table_exists(identifier):
            found.append({
                "table": identifier, "topic": topic, "rows": 0, "snapshots": 0, "offsets": {},
            })  # fmt: skip
            continue
        table = entry.catalog.load_table(identifier)
        snapshot = table.current_snapshot()
        rows = (
            int(snapshot.summary.additional_properties.get("total-records", 0))
            if snapshot and snapshot.summary
            else 0
        )
        found.append({
            "table": identifier, "topic": topic, "rows": rows,
            "snapshots": len(table.snapshots()), "offsets": LakeTable(table, topic).offsets(),
        })  # fmt: skip
    if as_json:
        print(json.dumps(found, indent=2))
        return
    table_view = new_table("lake tables", ("table", "topic", "rows", "snapshots", "offsets"))
    for row in found:
        table_view.add_row(
            row["table"],
            row["topic"],
            f"{row['rows']:,}",
            str(row["snapshots"]),
            json.dumps(row["offsets"]),
        )
    print_table(console, table_view)


@lake_app.command("query")
def query(
    sql: Annotated[
        str,
        typer.Argument(
            help="SQL over the tables, named namespace.table, e.g. "
            '"select count(*) from payments.card_authorizations".'
        ),
    ],
    spec: Annotated[Path, typer.Option("--spec", help="Spec directory (or file).")],
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Add the records Kafka holds beyond each table's last commit."
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="duckdb (the default; --fresh) or clickhouse (chDB's own Iceberg reader).",
        ),
    ] = "duckdb",
    as_json: JsonOpt = False,
) -> None:
    """SQL over the lake's tables with DuckDB or ClickHouse; --fresh reads the uncommitted
    tail from Kafka."""
    from streamplane.lake.query import as_json_rows, clickhouse_query, run_query

    if engine not in ("duckdb", "clickhouse"):
        raise StreamplaneError(f"--engine {engine}: choose duckdb or clickhouse")
    if fresh and engine != "duckdb":
        raise StreamplaneError("--fresh adds Kafka's tail through DuckDB: use --engine duckdb")
    loaded = load_spec(spec)
    target, home = _target(loaded, cluster, data_dir, reach=fresh)
    entries = [e for e in lake_entries(loaded, target, home) if e.catalog.table_exists(e.table)]
    if not entries:
        raise StreamplaneError("no lake table exists yet: `streamplane up --spec` starts the sinks")
    catalogs = {e.table: e.catalog for e in entries}
    if engine == "clickhouse":
        result = clickhouse_query(catalogs, sql, list(catalogs))
    else:
        extra = (target.settings, registry_client(target.registry)) if fresh else None
        result = run_query(catalogs, sql, [(e.table, e.source) for e in entries], fresh=extra)
    if as_json:
        print(json.dumps(as_json_rows(result), indent=2))
        return
    view = new_table(None, result.column_names)
    for row in as_json_rows(result):
        view.add_row(*(str(v) for v in row.values()))
    print_table(console, view)


@lake_app.command("maintain")
def maintain_tables(
    spec: SpecArg,
    table: Annotated[
        str | None, typer.Option("--table", help="Only this table (namespace.table).")
    ] = None,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Compact small files and expire old snapshots now (each sink also does it every
    `maintenance_interval`); offsets and rows are kept."""
    from streamplane.lake.maintenance import maintain

    loaded = load_spec(spec)
    target, home = _target(loaded, cluster, data_dir, reach=False)
    entries = lake_entries(loaded, target, home)
    names = [e.table for e in entries]
    if table is not None and table not in names:
        raise StreamplaneError(f"no lake table {table} in {spec}; tables: {', '.join(names)}")
    done: list[dict[str, Any]] = []
    for entry in sorted(entries, key=lambda e: e.table):
        if table not in (None, entry.table) or not entry.catalog.table_exists(entry.table):
            continue
        policy = sink_settings(entry.lake).maintenance
        result = maintain(entry.catalog.load_table(entry.table), policy)
        done.append({"table": entry.table, **result.__dict__})
    if as_json:
        print(json.dumps(done, indent=2))
        return
    view = new_table(
        "lake maintenance",
        ("table", "compacted files", "written files", "expired snapshots", "deleted files"),
    )
    for row in done:
        view.add_row(
            row["table"], str(row["compacted_files"]), str(row["written_files"]),
            str(row["expired_snapshots"]), str(row["deleted_files"]),
        )  # fmt: skip
    print_table(console, view)


@lake_app.command("export")
def export(
    spec: SpecArg,
    engine: Annotated[str, typer.Option("--engine", help="clickhouse or pinot.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files into.")],
    topic: Annotated[
        str | None, typer.Option("--topic", help="Only this topic (default: every lake topic).")
    ] = None,
    principal: Annotated[
        str, typer.Option(help="The Kafka principal the engine reads as (grant it the topic).")
    ] = "olap",
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Check with the engine's own rules: ClickHouse in process (chDB), Pinot's "
            "classes (Java, resolved from Maven Central once).",
        ),
    ] = True,
    cluster: ClusterOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Ingestion configs for an OLAP engine reading the lake topics: ClickHouse DDL and its
    connection, or Pinot's schema and REALTIME table config."""
    from streamplane.lake.export import (
        CLICKHOUSE_COLLECTION,
        Source,
        check_clickhouse,
        check_pinot,
        clickhouse_collection,
        clickhouse_ddl,
        pinot_files,
        spec_value,
    )

    if engine not in ("clickhouse", "pinot"):
        raise StreamplaneError(f"--engine {engine}: choose clickhouse or pinot")
    loaded = load_spec(spec)
    chosen = lake_topics(loaded)
    if topic is not None:
        if topic not in chosen:
            raise StreamplaneError(
                f"{topic} has no `lake:` in {spec}; topics with one: {', '.join(chosen) or 'none'}"
            )
        chosen = {topic: chosen[topic]}
    target, _ = _target(loaded, cluster, data_dir, reach=False)
    registry = target.registry.url if target.registry is not None else "http://localhost:8081"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, table in chosen.items():
        entry = loaded.topics[name]
        ref = entry.topic.value_schema
        text = read_schema(loaded, ref) if ref is not None else None
        if text is None:
            raise StreamplaneError(f"cannot read the value schema of {name} ({ref})")
        assert ref is not None
        value_format, value, millis = spec_value(ref.file, text)
        origin = Source.of(
            source(loaded, name), table, entry.topic.partitions, target.settings, registry,
            principal, value_format=value_format,
        )  # fmt: skip
        files: dict[str, str]
        if engine == "clickhouse" and value_format != "avro" and topic is None:
            console.print(
                f"skipped {name}: {value_format} in the registry's wire format has no "
                "ClickHouse input format (export it for Pinot)",
                markup=False,
            )
            continue
        if engine == "clickhouse":
            ddl = clickhouse_ddl(origin, value, millis)
            if check:
                check_clickhouse(ddl, origin)
            files = {
                f"{table}.sql": ddl,
                f"{CLICKHOUSE_COLLECTION}.xml": clickhouse_collection(origin),
            }
        else:
            retention = entry.topic.retention
            days = -(-retention // 86_400_000) if retention and retention > 0 else None
            files = pinot_files(origin, value, retention_days=days)
            if check:
                check_pinot(files)
        for file_name, body in files.items():
            (out / file_name).write_text(body)
            written.append(out / file_name)
    for path in written:
        console.print(f"wrote {path}", markup=False)
    if check:
        console.print(f"{engine} accepts the configs (checked with its own rules)", markup=False)
