"""The exactly-once committer on a real Iceberg table (pyiceberg's SQL catalog on SQLite):
offsets ride in the snapshot summary, a stale writer is refused and appends nothing, a
crash before the commit leaves the table as it was."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from streamplane.errors import StreamplaneError
from streamplane.lake.schema import UnmappableSchema
from streamplane.lake.table import LakeTable, StaleWriter, local_catalog

SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("note", pa.string())])


def rows(*ids: int) -> pa.Table:
    return pa.table({"id": list(ids), "note": [f"n{i}" for i in ids]}, schema=SCHEMA)


def test_offsets_ride_with_the_rows_and_survive_reopening(tmp_path: Path) -> None:
    catalog = local_catalog(tmp_path)
    table = LakeTable.open(catalog, "shop.orders", SCHEMA, topic="shop.orders")
    assert table.offsets() == {}
    table.commit(rows(1, 2), {0: 2, 1: 0}, based_on={})
    table.commit(rows(3), {0: 2, 1: 1}, based_on={0: 2, 1: 0})
    again = LakeTable.open(local_catalog(tmp_path), "shop.orders", SCHEMA, topic="shop.orders")
    assert again.offsets() == {0: 2, 1: 1}
    assert sorted(again.table.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
    assert again.table.properties["commit.retry.num-retries"] == "0"


def test_a_stale_writer_appends_nothing(tmp_path: Path) -> None:
    first = LakeTable.open(local_catalog(tmp_path), "shop.orders", SCHEMA, topic="shop.orders")
    second = LakeTable.open(local_catalog(tmp_path), "shop.orders", SCHEMA, topic="shop.orders")
    first.commit(rows(1), {0: 1}, based_on={})
    # The second writer started from the empty table: its rows 1 would be a duplicate.
    with pytest.raises(StaleWriter, match=r"holds offsets \{0: 1\}"):
        second.commit(rows(1), {0: 1}, based_on={})
    # Started again from the table's offsets, it goes on.
    second.commit(rows(2), {0: 2}, based_on=second.offsets())
    assert sorted(first.table.refresh().scan().to_arrow()["id"].to_pylist()) == [1, 2]


def test_a_race_lost_at_the_commit_itself_is_refused_not_rebased(tmp_path: Path) -> None:
    """pyiceberg would rebase a losing append onto the winner (4 retries by default); with
    retries off the loser's commit fails, whatever the check before it saw."""
    first = LakeTable.open(local_catalog(tmp_path), "shop.orders", SCHEMA, topic="shop.orders")
    second = LakeTable.open(local_catalog(tmp_path), "shop.orders", SCHEMA, topic="shop.orders")
    second.table.refresh()
    first.commit(rows(1), {0: 1}, based_on={})
    stale = second.table  # based on the empty table
    with pytest.raises(Exception, match=r"(?i)commit|snapshot|requirement"):
        stale.append(rows(9), snapshot_properties={"streamplane.offsets": '{"0": 1}'})
    assert first.table.refresh().scan().to_arrow()["id"].to_pylist() == [1]


def test_files_written_without_a_commit_are_not_rows(tmp_path: Path) -> None:
    """A crash between the data files and the commit: the files exist, the table does not
    reference them, and the next writer resumes from the last committed offsets."""
    table = LakeTable.open(local_catalog(tmp_path), "shop.orders", SCHEMA, topic="shop.orders")
    table.commit(rows(1), {0: 1}, based_on={})
    # What append does before it commits: write the data files (pyiceberg's own step).
    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    orphans = list(
        _dataframe_to_data_files(table.table.metadata, rows(2), table.table.io, write_uuid=None)
    )
    assert orphans and all(Path(f.file_path.removeprefix("file://")).exists() for f in orphans)
    again = LakeTable.open(local_catalog(tmp_path), "shop.orders", SCHEMA, topic="shop.orders")
    assert again.offsets() == {0: 1}
    assert again.table.scan().to_arrow()["id"].to_pylist() == [1]


def test_schema_changes_evolve_or_are_refused(tmp_path: Path) -> None:
    catalog = local_catalog(tmp_path)
    LakeTable.open(catalog, "shop.orders", SCHEMA, topic="shop.orders")
    wider = SCHEMA.append(pa.field("added", pa.string(), nullable=True))
    table = LakeTable.open(catalog, "shop.orders", wider, topic="shop.orders")
    assert [f.name for f in table.table.schema().fields] == ["id", "note", "added"]
    required = SCHEMA.append(pa.field("must", pa.string(), nullable=False))
    with pytest.raises(UnmappableSchema, match="must: a new column must be optional"):
        LakeTable.open(catalog, "shop.orders", required, topic="shop.orders")
    with pytest.raises(StreamplaneError, match=r"fed from topic shop\.orders, not shop\.other"):
        LakeTable.open(catalog, "shop.orders", SCHEMA, topic="shop.other")


STAMPED = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("placed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def stamped(*ids: int) -> pa.Table:
    days = [1_700_000_000_000_000 + i * 86_400_000_000 for i in ids]  # one day apart
    return pa.table(
        {"id": list(ids), "placed_at": pa.array(days, pa.timestamp("us", tz="UTC"))},
        schema=STAMPED,
    )


def test_partitioned_tables_write_a_folder_per_partition(tmp_path: Path) -> None:
    table = LakeTable.open(
        local_catalog(tmp_path), "shop.orders", STAMPED, topic="shop.orders",
        partition_by=["day(placed_at)", "bucket(4, id)"],
    )  # fmt: skip
    assert [(f.name, str(f.transform)) for f in table.table.spec().fields] == [
        ("placed_at_day", "day"), ("id_bucket", "bucket[4]"),
    ]  # fmt: skip
    table.commit(stamped(1, 2, 3), {0: 3}, based_on={})
    folders = {p.parent.parent.name for p in (tmp_path / "warehouse").rglob("*.parquet")}
    assert len(folders) == 3 and all(f.startswith("placed_at_day=") for f in folders)
    assert sorted(table.table.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
    # Opening again with the same spec changes nothing; a new transform is added.
    again = LakeTable.open(
        local_catalog(tmp_path), "shop.orders", STAMPED, topic="shop.orders",
        partition_by=["day(placed_at)", "bucket(4, id)", "truncate(10, id)"],
    )  # fmt: skip
    assert [f.name for f in again.table.spec().fields][-1] == "id_truncate"


def test_a_partition_the_column_cannot_take_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StreamplaneError, match=r"cannot apply day to id \(long\)"):
        LakeTable.open(
            local_catalog(tmp_path), "shop.orders", STAMPED, topic="shop.orders",
            partition_by=["day(id)"],
        )  # fmt: skip
    with pytest.raises(StreamplaneError, match="names no column"):
        LakeTable.open(
            local_catalog(tmp_path), "shop.other", STAMPED, topic="shop.other",
            partition_by=["country"],
        )  # fmt: skip
