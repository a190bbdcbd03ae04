"""Compaction and snapshot expiry on a real Iceberg table: the rows and the offsets the sink
resumes from survive both, files nothing refers to go, and ClickHouse (chDB) reads the
result the same as pyiceberg."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pytest

from streamplane.lake.maintenance import (
    OPERATION_PROPERTY,
    MaintenancePolicy,
    MaintenanceResult,
    compact,
    expire,
    maintain,
)
from streamplane.lake.query import clickhouse_query
from streamplane.lake.table import LakeTable, StaleWriter, local_catalog

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("_kafka_partition", pa.int32(), nullable=False),
        pa.field("_kafka_offset", pa.int64(), nullable=False),
    ]
)
WIDER = SCHEMA.append(pa.field("note", pa.string(), nullable=True))


def batch(partition: int, first: int, count: int, schema: pa.Schema = SCHEMA) -> pa.Table:
    columns = {
        "id": [partition * 1000 + first + i for i in range(count)],
        "_kafka_partition": [partition] * count,
        "_kafka_offset": [first + i for i in range(count)],
    }
    if "note" in schema.names:
        columns["note"] = [f"n{first + i}" for i in range(count)]
    return pa.table(columns, schema=schema)


def fill(path: Path, commits: int = 10) -> LakeTable:
    """``commits`` appends of 3 rows each, alternating partitions 0 and 1; the last two
    after the schema gained a column."""
    table = LakeTable.open(local_catalog(path), "shop.orders", SCHEMA, topic="shop.orders")
    offsets: dict[int, int] = {}
    for n in range(commits):
        schema = WIDER if n >= commits - 2 else SCHEMA
        if n == commits - 2:
            table = LakeTable.open(local_catalog(path), "shop.orders", WIDER, topic="shop.orders")
        partition = n % 2
        first = offsets.get(partition, 0)
        based = dict(offsets)
        offsets[partition] = first + 3
        table.commit(batch(partition, first, 3, schema), offsets, based_on=based)
    return table


def data_files(path: Path) -> set[Path]:
    return set((path / "warehouse").rglob("*.parquet"))


def test_compaction_keeps_rows_and_offsets_and_leaves_few_files(tmp_path: Path) -> None:
    table = fill(tmp_path)
    before = sorted(table.table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])
    offsets = table.offsets()
    result = MaintenanceResult()
    compact(table.table, MaintenancePolicy(min_files=4), result)
    assert (result.compacted_files, result.written_files, result.compacted_rows) == (10, 1, 30)
    assert table.offsets() == offsets == {0: 15, 1: 15}
    summary = table.table.current_snapshot().summary  # type: ignore[union-attr]
    assert summary is not None and summary.additional_properties[OPERATION_PROPERTY] == "compaction"
    assert len(list(table.table.scan().plan_files())) == 1
    after = sorted(table.table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])
    assert after == before  # older rows have note None, the newest keep theirs
    assert sum(1 for r in after if r["note"] is not None) == 6
    # The sink goes on from the same offsets.
    table.commit(batch(0, 15, 3, WIDER), {0: 18, 1: 15}, based_on=offsets)
    assert table.table.scan().to_arrow().num_rows == 33


def test_too_few_small_files_are_left_alone(tmp_path: Path) -> None:
    table = fill(tmp_path, commits=3)
    result = MaintenanceResult()
    compact(table.table, MaintenancePolicy(min_files=4), result)
    assert result.compacted_files == 0 and len(table.table.snapshots()) == 3


def test_expiry_deletes_what_only_expired_snapshots_referenced(tmp_path: Path) -> None:
    table = fill(tmp_path)
    compact(table.table, MaintenancePolicy(min_files=4), MaintenanceResult())
    assert len(data_files(tmp_path)) == 11
    result = MaintenanceResult()
    expire(
        table.table,
        MaintenancePolicy(snapshot_retention_s=0, keep_snapshots=1),
        result,
        now=time.time() + 1,
    )
    assert result.expired_snapshots == 10 and len(table.table.snapshots()) == 1
    # The ten small files went with their snapshots; the compacted one serves every row.
    assert result.deleted_files >= 10 and len(data_files(tmp_path)) == 1
    assert table.table.scan().to_arrow().num_rows == 30
    assert table.offsets() == {0: 15, 1: 15}


def test_old_orphans_go_and_a_writer_in_flight_is_left_alone(tmp_path: Path) -> None:
    table = fill(tmp_path, commits=2)
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    def orphan() -> Path:
        (written,) = _dataframe_to_data_files(
            table.table.metadata, batch(0, 99, 1), table.table.io, write_uuid=None
        )
        return Path(written.file_path.removeprefix("file://"))

    old, new = orphan(), orphan()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    result = MaintenanceResult()
    expire(table.table, MaintenancePolicy(), result)
    assert not old.exists() and new.exists() and result.deleted_files == 1
    assert table.table.scan().to_arrow().num_rows == 6


def test_a_compaction_that_loses_a_race_changes_nothing(tmp_path: Path) -> None:
    table = fill(tmp_path)
    writer = LakeTable.open(local_catalog(tmp_path), "shop.orders", WIDER, topic="shop.orders")
    stale = table.table  # loaded before the writer's commit below
    writer.commit(batch(1, 15, 3, WIDER), {0: 15, 1: 18}, based_on={0: 15, 1: 15})
    from pyiceberg.table import Table

    frozen = Table(stale.name(), stale.metadata, stale.metadata_location, stale.io, stale.catalog)
    frozen.refresh = lambda: frozen  # type: ignore[method-assign]  # keep it stale
    with pytest.raises(StaleWriter, match="changed during compaction"):
        compact(frozen, MaintenancePolicy(min_files=4), MaintenanceResult())
    assert writer.offsets() == {0: 15, 1: 18}
    assert writer.table.refresh().scan().to_arrow().num_rows == 33


def test_clickhouse_reads_the_maintained_table(tmp_path: Path) -> None:
    table = fill(tmp_path)
    maintain(table.table, MaintenancePolicy(min_files=4, snapshot_retention_s=0, keep_snapshots=1))
    result = clickhouse_query(
        local_catalog(tmp_path),
        "SELECT count() AS n, sum(id) AS ids, countIf(note IS NOT NULL) AS notes FROM shop.orders",
        ["shop.orders"],
    )
    ids = sum(table.table.scan().to_arrow()["id"].to_pylist())
    assert result.to_pylist() == [{"n": 30, "ids": ids, "notes": 6}]
