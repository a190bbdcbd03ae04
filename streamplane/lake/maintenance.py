"""Keeping a streamed table cheap to read: small files compacted, old snapshots expired,
and the files nothing refers to any more deleted.

A sink that commits every few seconds leaves one small Parquet file per commit and one
snapshot per commit; readers then open thousands of files and catalogs carry thousands
of snapshots. pyiceberg 0.12 has snapshot expiry (metadata only) but neither data-file
compaction nor the deletion of the files an expired snapshot alone referenced, so both
are written here on its public transaction API.

Both operations commit like the sink does, as the table's one committer: the sink runs
them between two of its own commits (:meth:`LakeSink.run`), so they never race it. A
compaction's snapshot carries the table's offsets forward unchanged — the sink resumes
from the current snapshot's offsets, so a compaction that dropped them would make the
next restart read the topic again from the start. ``lake maintain`` can also run them by
hand; if it then loses a race against a running sink, the loser is told so and nothing
is half-applied (commit retries are off on every sink table).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Snapshot

from streamplane.lake.table import OFFSETS_PROPERTY, StaleWriter

#: Marks the snapshots maintenance wrote (the summary says "overwrite": pyiceberg 0.12
#: cannot write Iceberg's "replace" operation, which is what a compaction is).
OPERATION_PROPERTY = "streamplane.operation"


@dataclass(frozen=True)
class MaintenancePolicy:
    """When to compact and what to keep.

    Files under ``small_file_bytes`` are rewritten once there are ``min_files`` of them,
    at most ``max_input_bytes`` per run so a run holds bounded memory. Snapshots older
    than ``snapshot_retention_s`` are expired, always keeping the newest
    ``keep_snapshots``; files of no live snapshot that are older than ``orphan_age_s``
    (a crashed writer's) are deleted too.
    """

    small_file_bytes: int = 16 * 1024 * 1024
    min_files: int = 8
    max_input_bytes: int = 256 * 1024 * 1024
    snapshot_retention_s: float = 3600.0
    keep_snapshots: int = 5
    orphan_age_s: float = 3600.0


@dataclass
class MaintenanceResult:
    compacted_files: int = 0
    written_files: int = 0
    compacted_rows: int = 0
    expired_snapshots: int = 0
    deleted_files: int = 0


def compact(table: Table, policy: MaintenancePolicy, result: MaintenanceResult) -> None:
    """Rewrite the table's small data files into few large ones, rows sorted by partition
    and offset, in one snapshot that keeps the table's offsets."""
    table.refresh()
    snapshot = table.current_snapshot()
    if snapshot is None:
        return
    small: list[FileScanTask] = []
    size = 0
    for task in table.scan().plan_files():
        if task.delete_files or task.file.file_size_in_bytes >= policy.small_file_bytes:
            continue
        if size + task.file.file_size_in_bytes > policy.max_input_bytes and small:
            break
        small.append(task)
        size += task.file.file_size_in_bytes
    if len(small) < policy.min_files:
        return
    expected = sum(task.file.record_count for task in small)
    rows = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue()).to_table(small)
    if rows.num_rows != expected:
        raise RuntimeError(
            f"compacting {table.name()}: read {rows.num_rows} rows from {len(small)} files "
            f"whose manifests count {expected}; nothing was changed"
        )
    if {"_kafka_partition", "_kafka_offset"} <= set(rows.column_names):
        rows = rows.sort_by([("_kafka_partition", "ascending"), ("_kafka_offset", "ascending")])
    rows = rows.cast(table.schema().as_arrow())
    summary = _carried(snapshot, "compaction")
    try:
        with (
            table.transaction() as tx,
            tx.update_snapshot(snapshot_properties=summary).overwrite() as rewrite,
        ):
            for task in small:
                rewrite.delete_data_file(task.file)
            written = list(
                _dataframe_to_data_files(
                    tx.table_metadata, rows, table.io, write_uuid=rewrite.commit_uuid
                )
            )
            for data_file in written:
                rewrite.append_data_file(data_file)
    except CommitFailedException as exc:
        raise StaleWriter(f"table {table.name()} changed during compaction: {exc}") from exc
    result.compacted_files += len(small)
    result.written_files += len(written)
    result.compacted_rows += rows.num_rows


def expire(
    table: Table, policy: MaintenancePolicy, result: MaintenanceResult, *, now: float | None = None
) -> None:
    """Expire snapshots past the retention (never the newest ``keep_snapshots``), then
    delete the manifests and data files only they referred to, and old orphans."""
    table.refresh()
    snapshots = sorted(table.snapshots(), key=lambda s: s.timestamp_ms)
    current = table.current_snapshot()
    cutoff_ms = ((now or time.time()) - policy.snapshot_retention_s) * 1000
    keep = {s.snapshot_id for s in snapshots[-policy.keep_snapshots :]} if snapshots else set()
    if current is not None:
        keep.add(current.snapshot_id)
    expired = [s for s in snapshots if s.timestamp_ms < cutoff_ms and s.snapshot_id not in keep]
    live: set[str] | None = None  # read once, after the expiry, and only when needed
    if expired:
        before = _files_of(table, expired)
        try:
            table.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in expired]).commit()
        except CommitFailedException as exc:
            raise StaleWriter(f"table {table.name()} changed during expiry: {exc}") from exc
        table.refresh()
        result.expired_snapshots += len(expired)
        live = _files_of(table, table.snapshots())
        result.deleted_files += _delete(table, before - live)
    result.deleted_files += _delete_orphans(table, live, policy, now=now)


def maintain(table: Table, policy: MaintenancePolicy | None = None) -> MaintenanceResult:
    """Compact, then expire: the compaction's input files go once their snapshots do."""
    policy = policy or MaintenancePolicy()
    result = MaintenanceResult()
    compact(table, policy, result)
    expire(table, policy, result)
    return result


def _carried(snapshot: Snapshot, operation: str) -> dict[str, str]:
    properties = {OPERATION_PROPERTY: operation}
    offsets = (
        snapshot.summary.additional_properties.get(OFFSETS_PROPERTY) if snapshot.summary else None
    )
    if offsets is not None:
        properties[OFFSETS_PROPERTY] = offsets
    return properties


def _files_of(table: Table, snapshots: Iterable[Snapshot]) -> set[str]:
    """Every file the snapshots need: manifest lists, manifests and the data files they
    read (a manifest's entry for a file it deleted does not keep the file). Each manifest
    is read once; successive snapshots share most of them."""
    files: set[str] = set()
    seen: set[str] = set()
    for snapshot in snapshots:
        files.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            files.add(manifest.manifest_path)
            if manifest.manifest_path in seen:
                continue
            seen.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                files.add(entry.data_file.file_path)
    return files


def _delete(table: Table, paths: Iterable[str]) -> int:
    count = 0
    for path in sorted(paths):
        table.io.delete(path)
        count += 1
    return count


def _delete_orphans(
    table: Table, live: set[str] | None, policy: MaintenancePolicy, *, now: float | None
) -> int:
    """Data files under the table's local ``data/`` that no snapshot refers to and that are
    older than ``orphan_age_s`` (``live``: every file the snapshots need, if already read):
    what a writer killed between writing and committing left.
    Only local warehouses are swept; an object store's listing is left to its lifecycle
    rules."""
    location = urlparse(table.location())
    if location.scheme not in ("", "file"):
        return 0
    data = Path(location.path) / "data"
    if not data.is_dir():
        return 0
    if live is None:
        live = _files_of(table, table.snapshots())
    live_paths = {urlparse(p).path for p in live}
    oldest = (now or time.time()) - policy.orphan_age_s
    count = 0
    for path in data.rglob("*.parquet"):
        if str(path) not in live_paths and path.stat().st_mtime < oldest:
            path.unlink()
            count += 1
    return count
