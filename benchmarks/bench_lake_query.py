"""Query time over a 10 M-row lake table: DuckDB (pyiceberg scans into Arrow) and ClickHouse
(chDB's own Iceberg reader), against DuckDB reading the same Parquet files directly.
DuckDB over pyiceberg's Arrow scan (the fallback for tables with delete files or on
object storage) is shown too.

The table has the sink's layout (an order's id, decimal amount, timestamp, a status of 8
values, a note, and the Kafka coordinates) and is written through the sink's committer
(``LakeTable.commit``) in 1 M-row commits, then compacted; Kafka is not involved, only
the table format is. Each query runs ``--runs`` times per engine and the median counts.
The baseline is the floor for those files: DuckDB's ``read_parquet`` over the table's
data files, no catalog or Iceberg metadata in the way.

Run: .venv/bin/python benchmarks/bench_lake_query.py [--rows 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from _harness import median, report

from streamplane.lake.maintenance import MaintenancePolicy, MaintenanceResult, compact
from streamplane.lake.query import clickhouse_query, run_query
from streamplane.lake.table import LakeTable, local_catalog

TABLE = "bench.orders_placed"
TOPIC = "bench.orders.placed"
SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("amount", pa.decimal128(10, 2), nullable=False),
        pa.field("placed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("note", pa.string(), nullable=False),
        pa.field("_kafka_partition", pa.int32(), nullable=False),
        pa.field("_kafka_offset", pa.int64(), nullable=False),
        pa.field("_kafka_timestamp", pa.timestamp("us", tz="UTC"), nullable=True),
    ]
)
STATUSES = ["new", "paid", "packed", "shipped", "delivered", "returned", "refunded", "lost"]
QUERIES = {
    "count": "SELECT count(*) AS n FROM {t}",
    "group by status, sum amount": (
        "SELECT status, count(*) AS n, sum(amount) AS total FROM {t} "
        "GROUP BY status ORDER BY status"
    ),
    "filter 0.1 % of ids": "SELECT count(*) AS n, max(amount) AS m FROM {t} WHERE id % 1000 = 7",
}


def chunk(start: int, rows: int, epoch: datetime.datetime) -> pa.Table:
    ids = pa.array(range(start, start + rows), pa.int64())
    cents = pc.add(pc.multiply(pc.bit_wise_and(ids, 0xFFFF), 7), 100)
    units = pc.divide(pc.cast(cents, pa.float64()), 100.0)
    amount = pc.cast(units, pa.decimal128(10, 2), safe=False)
    micros = pc.add(pc.multiply(ids, 1000), int(epoch.timestamp() * 1_000_000))
    stamps = pc.cast(micros, pa.timestamp("us", tz="UTC"))
    statuses = pa.DictionaryArray.from_arrays(
        pc.cast(pc.bit_wise_and(ids, 7), pa.int32()), pa.array(STATUSES)
    ).cast(pa.string())
    return pa.table(
        {
            "id": ids,
            "amount": amount,
            "placed_at": stamps,
            "status": statuses,
            "note": pc.binary_join_element_wise("order ", pc.cast(ids, pa.string()), ""),
            "_kafka_partition": pc.cast(pc.bit_wise_and(ids, 1), pa.int32()),
            "_kafka_offset": pc.shift_right(ids, 1),
            "_kafka_timestamp": stamps,
        },
        schema=SCHEMA,
    )


def build(home: Path, rows: int) -> LakeTable:
    table = LakeTable.open(local_catalog(home), TABLE, SCHEMA, topic=TOPIC)
    epoch = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    step = 1_000_000
    based: dict[int, int] = {}
    for start in range(0, rows, step):
        batch = chunk(start, min(step, rows - start), epoch)
        upto = {0: (start + len(batch)) // 2, 1: (start + len(batch)) // 2}
        table.commit(batch, upto, based_on=based)
        based = upto
    everything = MaintenancePolicy(min_files=2, small_file_bytes=1 << 40, max_input_bytes=1 << 40)
    compact(table.table, everything, MaintenanceResult())
    return table


def timed(run: Callable[[], pa.Table], runs: int) -> tuple[float, pa.Table]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    assert result is not None
    return median(times), result


def _scanned(data: pa.Table) -> duckdb.DuckDBPyConnection:
    """DuckDB over the table materialised by pyiceberg (the path for tables with deletes or
    on object storage), as ``scanned``."""
    con = duckdb.connect()
    con.register("scanned", data)
    return con


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="sp-bench-lake-query-"))
    started = time.perf_counter()
    table = build(home, args.rows)
    built_s = time.perf_counter() - started
    catalog = local_catalog(home)
    files = [t.file.file_path.removeprefix("file://") for t in table.table.scan().plan_files()]
    raw = duckdb.connect()
    raw.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet({files!r})")
    rows: list[tuple[str, str, str]] = []
    for name, sql in QUERIES.items():
        duck_s, duck = timed(
            lambda sql=sql: run_query(catalog, sql.format(t=TABLE), [(TABLE, TOPIC)]), args.runs
        )
        house_s, house = timed(
            lambda sql=sql: clickhouse_query(catalog, sql.format(t=TABLE), [TABLE]), args.runs
        )
        arrow_s, arrow = timed(
            lambda sql=sql: (
                _scanned(table.table.scan().to_arrow())
                .sql(sql.format(t="scanned"))
                .to_arrow_table()
            ),
            args.runs,
        )
        base_s, base = timed(lambda sql=sql: raw.sql(sql.format(t="orders")).to_arrow_table(),
                             args.runs)  # fmt: skip
        counts = {r.to_pylist()[0]["n"] for r in (duck, house, arrow, base)}
        assert len(counts) == 1, counts
        floor = f"{base_s:.2f} s"
        rows.append((f"{name}: DuckDB", f"{duck_s:.2f} s", floor))
        rows.append((f"{name}: ClickHouse (chDB icebergLocal)", f"{house_s:.2f} s", floor))
        rows.append((f"{name}: DuckDB over pyiceberg's Arrow scan", f"{arrow_s:.2f} s", floor))
    rows.append(("table written (10 commits + compaction)", f"{built_s:.1f} s", "-"))
    report(
        rows,
        title=f"lake queries over {args.rows:,} rows in {len(files)} data files, median of "
        f"{args.runs}; baseline: DuckDB read_parquet over the same files",
    )


if __name__ == "__main__":
    main()
