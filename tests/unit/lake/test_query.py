"""SQL over lake tables: DuckDB reading the snapshot's own files agrees with pyiceberg's scan
and with ClickHouse, including columns added after files were written."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from streamplane.lake.query import clickhouse_query, run_query
from streamplane.lake.table import LakeTable, local_catalog
from tests.unit.lake.test_maintenance import WIDER, fill

SQL = "SELECT count(*) AS n, count(note) AS notes, sum(id) AS ids FROM shop.orders"


def test_duckdb_reads_what_pyiceberg_and_clickhouse_read(tmp_path: Path) -> None:
    table = fill(tmp_path)  # the first 8 commits lack `note`, the last 2 have it
    scanned = table.table.scan().to_arrow()
    expected = {"n": 30, "notes": 6, "ids": sum(scanned["id"].to_pylist())}
    catalog = local_catalog(tmp_path)
    assert run_query(catalog, SQL, [("shop.orders", "shop.orders")]).to_pylist() == [expected]
    assert clickhouse_query(catalog, SQL, ["shop.orders"]).to_pylist() == [expected]


def test_a_column_no_file_holds_yet_reads_as_null(tmp_path: Path) -> None:
    fill(tmp_path)
    wider = WIDER.append(pa.field("coupon", pa.string(), nullable=True))
    LakeTable.open(local_catalog(tmp_path), "shop.orders", wider, topic="shop.orders")
    result = run_query(
        local_catalog(tmp_path),
        "SELECT count(*) AS n, count(coupon) AS coupons FROM shop.orders",
        [("shop.orders", "shop.orders")],
    )
    assert result.to_pylist() == [{"n": 30, "coupons": 0}]


def test_an_empty_table_has_its_columns(tmp_path: Path) -> None:
    LakeTable.open(local_catalog(tmp_path), "shop.orders", WIDER, topic="shop.orders")
    result = run_query(
        local_catalog(tmp_path), "SELECT count(note) AS n FROM shop.orders",
        [("shop.orders", "shop.orders")],
    )  # fmt: skip
    assert result.to_pylist() == [{"n": 0}]
