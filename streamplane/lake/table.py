"""An Iceberg table that records which Kafka offsets its rows came from, committed exactly
once.

Each append carries, in its snapshot's summary, the next offset of every partition the
rows came from (``streamplane.offsets``). A sink resumes from the table's offsets, never
from Kafka's committed ones, so a crash between writing data files and committing them
leaves only unreferenced files and the retry writes the same rows once.

Exactly once also needs one committer per table. pyiceberg retries a commit that lost a
race by rebasing it onto the new snapshot (``commit.retry.num-retries``, 4 by default),
which would append a stale writer's rows a second time; the table is therefore created
with retries off, every commit first checks that the table's offsets are the ones the
writer started from, and the commit itself asserts the snapshot it was based on. A
writer that lost is told so (:class:`StaleWriter`) and must start again from the table's
offsets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    TruncateTransform,
    YearTransform,
)

from streamplane.errors import StreamplaneError
from streamplane.lake.schema import UnmappableSchema, evolution_problems, same
from streamplane.model import lake_partition

OFFSETS_PROPERTY = "streamplane.offsets"
TOPIC_PROPERTY = "streamplane.topic"
#: Table properties every sink table gets: no silent rebase of a commit that lost a race.
TABLE_PROPERTIES = {"commit.retry.num-retries": "0"}


class StaleWriter(StreamplaneError):
    """Another commit reached the table first: resume from the table's offsets."""


def local_catalog(root: Path, name: str = "default") -> SqlCatalog:
    """The default catalog: SQLite beside a warehouse of files, under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        name,
        uri=f"sqlite:///{root.resolve() / 'catalog.db'}",
        warehouse=(root.resolve() / "warehouse").as_uri(),
    )


@dataclass
class LakeTable:
    """One sink table: its Iceberg table and the topic it is fed from."""

    table: Table
    topic: str

    @classmethod
    def open(
        cls,
        catalog: Catalog,
        identifier: str,
        schema: pa.Schema,
        *,
        topic: str,
        partition_by: Sequence[str] = (),
    ) -> LakeTable:
        """Create the table (and its namespace) if missing; evolve its schema to ``schema``
        when the change is one Iceberg can take, else refuse with the reasons; add the
        partition fields of ``partition_by`` it lacks (Iceberg partition evolution: files
        written before keep their layout)."""
        namespace = identifier.rsplit(".", 1)[0]
        catalog.create_namespace_if_not_exists(namespace)
        table = catalog.create_table_if_not_exists(
            identifier, schema=schema, properties={**TABLE_PROPERTIES, TOPIC_PROPERTY: topic}
        )
        owner = table.properties.get(TOPIC_PROPERTY)
        if owner is not None and owner != topic:
            raise StreamplaneError(
                f"table {identifier} is fed from topic {owner}, not {topic}: give this topic's "
                "lake another table name"
            )
        missing = {k: v for k, v in TABLE_PROPERTIES.items() if table.properties.get(k) != v}
        if missing or owner is None:
            with table.transaction() as tx:
                tx.set_properties({**missing, TOPIC_PROPERTY: topic})
        current = table.schema().as_arrow()
        problems = evolution_problems(current, schema)
        if problems:
            raise UnmappableSchema(
                f"table {identifier} cannot take the topic's new schema: " + "; ".join(problems)
            )
        if not same(current, schema) and not _only_removed(current, schema):
            with table.update_schema() as update:
                update.union_by_name(schema)
        _partition(table, partition_by)
        return cls(table, topic)

    def offsets(self) -> dict[int, int]:
        """The next offset of each partition the table holds rows of (empty: none yet)."""
        self.table.refresh()
        snapshot = self.table.current_snapshot()
        if snapshot is None:
            return {}
        text = (
            snapshot.summary.additional_properties.get(OFFSETS_PROPERTY)
            if snapshot.summary
            else None
        )
        if not text:
            return {}
        return {int(p): int(o) for p, o in json.loads(text).items()}

    def commit(
        self, rows: pa.Table, offsets: Mapping[int, int], *, based_on: Mapping[int, int]
    ) -> None:
        """Append ``rows`` with ``offsets`` (the next offset per partition, all of them),
        if the table still holds exactly ``based_on``; else :class:`StaleWriter`."""
        found = self.offsets()
        if found != dict(based_on):
            raise StaleWriter(
                f"table {self.table.name()} holds offsets {found}, this writer started from "
                f"{dict(based_on)}"
            )
        properties = {OFFSETS_PROPERTY: json.dumps({str(p): o for p, o in sorted(offsets.items())})}
        try:
            self.table.append(
                rows.cast(self.table.schema().as_arrow()), snapshot_properties=properties
            )
        except CommitFailedException as exc:
            raise StaleWriter(
                f"table {self.table.name()} changed under this writer: {exc}"
            ) from exc


def _transform(kind: str, width: int | None) -> Transform[Any, Any]:
    simple: dict[str, Transform[Any, Any]] = {
        "identity": IdentityTransform(), "year": YearTransform(), "month": MonthTransform(),
        "day": DayTransform(), "hour": HourTransform(),
    }  # fmt: skip
    if kind in simple:
        return simple[kind]
    assert width is not None
    return BucketTransform(width) if kind == "bucket" else TruncateTransform(width)


def _partition(table: Table, partition_by: Sequence[str]) -> None:
    """Add the partition fields of ``partition_by`` the table's spec lacks."""
    schema = table.schema()
    have = {(f.source_id, str(f.transform)) for f in table.spec().fields}
    missing = []
    for item in partition_by:
        kind, width, column = lake_partition(item)
        try:
            field = schema.find_field(column)
        except ValueError as exc:
            raise StreamplaneError(
                f"table {table.name()}: partition {item!r} names no column of the table"
            ) from exc
        transform = _transform(kind, width)
        if not transform.can_transform(field.field_type):
            raise StreamplaneError(
                f"table {table.name()}: partition {item!r} cannot apply {kind} to {column} "
                f"({field.field_type}); year/month/day/hour take dates and timestamps"
            )
        if (field.field_id, str(transform)) not in have:
            name = column if kind == "identity" else f"{column}_{kind}"
            missing.append((column, transform, name))
    if missing:
        with table.update_spec() as update:
            for column, transform, name in missing:
                update.add_field(column, transform, name)


def _only_removed(current: pa.Schema, proposed: pa.Schema) -> bool:
    """Whether ``proposed`` only lacks some of the table's columns (which stay, null)."""
    kept = [f for f in current if f.name in proposed.names]
    return same(pa.schema(kept), proposed)
