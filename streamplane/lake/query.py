"""``lake query``: SQL over the lake's tables with DuckDB or ClickHouse (chDB), optionally
fresher than the last commit.

Each table is shown to DuckDB as ``namespace.table`` at its current snapshot: the
snapshot's Parquet files read by DuckDB itself when that is exact, else pyiceberg's scan
into Arrow. With ``fresh``, the rows Kafka holds beyond the table's offsets
(acknowledged records the sink has not committed yet, read committed) are decoded the
same way and appended to the scan: a query then sees what the topic holds now, at the
price of reading that tail; the committed table alone is what every engine sees.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings
from streamplane.lake.decode import RecordDecoder
from streamplane.lake.sink import table_row
from streamplane.lake.table import LakeTable


def tail_rows(
    settings: ConnectionSettings,
    registry: SchemaRegistryClient,
    topic: str,
    offsets: Mapping[int, int],
    *,
    timeout_s: float = 30.0,
) -> list[dict[str, Any]]:
    """The records of ``topic`` from ``offsets`` (the table's) to the partitions' ends."""
    consumer = Consumer(
        settings.librdkafka(
            **{
                "group.id": "_streamplane_lake_query",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed",
                "log_level": 3,
            }
        )
    )
    decode = RecordDecoder(registry)
    rows: list[dict[str, Any]] = []
    try:
        # No watermark round trip per partition: each assigned partition reports its end
        # (enable.partition.eof) as soon as its fetch reaches it.
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        consumer.assign(
            [
                TopicPartition(topic, p, offsets.get(p, OFFSET_BEGINNING))
                for p in metadata.partitions
            ]
        )
        left = set(metadata.partitions)
        deadline = time.monotonic() + timeout_s
        while left:
            if time.monotonic() > deadline:
                raise StreamplaneError(
                    f"{topic}: partitions {sorted(left)} did not reach their end within "
                    f"{timeout_s:.0f}s; the tail is incomplete, so the query is not run"
                )
            for message in consumer.consume(1000, timeout=0.05):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        left.discard(message.partition() or 0)
                    continue
                rows.append(table_row(message, decode))
        return rows
    finally:
        consumer.close()


def _catalog(catalogs: Catalog | Mapping[str, Catalog], identifier: str) -> Catalog:
    return catalogs[identifier] if isinstance(catalogs, Mapping) else catalogs


def run_query(
    catalogs: Catalog | Mapping[str, Catalog],
    sql: str,
    tables: Iterable[tuple[str, str]],
    *,
    fresh: tuple[ConnectionSettings, SchemaRegistryClient] | None = None,
) -> pa.Table:
    """Run ``sql`` over ``tables`` ((identifier, topic) pairs), each in ``catalogs`` (one
    catalog, or one per identifier), and return the result."""
    con = duckdb.connect()
    for identifier, topic in tables:
        table = _catalog(catalogs, identifier).load_table(identifier)
        namespace, name = identifier.rsplit(".", 1)
        source = _duckdb_source(con, table, f"_rows_{namespace}_{name}")
        if fresh is not None:
            offsets = LakeTable(table, topic).offsets()
            extra = tail_rows(fresh[0], fresh[1], topic, offsets)
            if extra:
                tail = f"_tail_{namespace}_{name}"
                con.register(tail, pa.Table.from_pylist(extra, schema=table.schema().as_arrow()))
                source = f"{source} UNION ALL BY NAME SELECT * FROM {tail}"
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
        con.execute(f'CREATE OR REPLACE VIEW "{namespace}"."{name}" AS {source}')
    return con.sql(sql).to_arrow_table()


def _duckdb_source(con: duckdb.DuckDBPyConnection, table: Table, view: str) -> str:
    """A SELECT of the table's rows at its current snapshot.

    A local table without delete files (what the sink writes: appends, and compactions
    that replace whole files) is read by DuckDB from the snapshot's Parquet files, so a
    query reads only the columns and row groups it needs; a column added after some
    files were written is null in them (``union_by_name``), as Iceberg says. Anything
    else goes through pyiceberg's scan, which applies deletes and field ids, into Arrow."""
    tasks = list(table.scan().plan_files())
    paths = [urlparse(t.file.file_path) for t in tasks]
    if (
        not tasks
        or any(t.delete_files for t in tasks)
        or any(p.scheme not in ("", "file") for p in paths)
    ):
        con.register(view, table.scan().to_arrow())
        return f"SELECT * FROM {view}"
    files = "[" + ", ".join(_sql_string(p.path) for p in paths) + "]"
    scan = f"read_parquet({files}, union_by_name = true)"
    present = {row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
    columns = []
    for field in table.schema().as_arrow():
        quoted = '"' + field.name.replace('"', '""') + '"'
        if field.name in present:
            columns.append(quoted)
        else:  # added to the table after every file was written
            columns.append(f"NULL AS {quoted}")
    return f"SELECT {', '.join(columns)} FROM {scan}"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def clickhouse_query(
    catalogs: Catalog | Mapping[str, Catalog], sql: str, identifiers: Iterable[str]
) -> pa.Table:
    """Run ``sql`` with ClickHouse over the tables (local warehouses only).

    chDB 4.4 lets a query read only files under the process's working directory (its
    ``user_files_path`` setting is accepted and ignored), so the query runs from the one
    directory holding every table and the directory is restored after; not thread-safe,
    which a CLI command and a test need not be."""
    import chdb  # imported here: it loads a 500 MB library most commands never need

    locations = {i: _catalog(catalogs, i).load_table(i).location() for i in identifiers}
    paths, remote = {}, {}
    for identifier, location in locations.items():
        parsed = urlparse(location)
        if parsed.scheme in ("", "file"):
            paths[identifier] = parsed.path
        else:
            remote[identifier] = location
    root = os.path.commonpath(list(paths.values())) if paths else "/"
    session = chdb.connect(":memory:")
    here = os.getcwd()
    os.chdir(root)
    try:
        for identifier, path in paths.items():
            namespace, name = identifier.rsplit(".", 1)
            session.query(f"CREATE DATABASE IF NOT EXISTS `{namespace}`")
            session.query(
                f"CREATE VIEW `{namespace}`.`{name}` AS SELECT * FROM icebergLocal('{path}')"
            )
        try:
            result: pa.Table = session.query(sql, "ArrowTable")
        except Exception as exc:  # chDB raises its own ChdbError or RuntimeError
            named = [i for i in remote if i in sql]
            if named:
                raise StreamplaneError(
                    f"table {named[0]} is at {remote[named[0]]}: --engine clickhouse reads "
                    "local warehouses only; use --engine duckdb"
                ) from exc
            raise
        return result
    finally:
        os.chdir(here)
        session.close()


def as_json_rows(result: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(json.dumps(result.to_pylist(), default=str))
    return rows
