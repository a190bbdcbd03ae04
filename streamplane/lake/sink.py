"""The sink: one topic into one Iceberg table, exactly once, resuming from the table.

It assigns every partition of the topic itself (no consumer group: the table's offsets
are the only position that counts), decodes each record with the writer schema the
registry holds for it, rules not applied (:mod:`streamplane.lake.decode`: encrypted
fields stay ciphertext),
and commits a batch when it holds ``max_rows`` rows or is ``max_wait_s`` old, together
with the next offset of every partition (:mod:`streamplane.lake.table`).

A record written with a schema the sink has not seen yet first commits what is pending,
then evolves the table (an added optional field becomes a column; a change Iceberg
cannot take stops the sink with the reason, before anything of the new schema is
written). Losing a commit race, or finding the table moved, makes the sink drop what it
holds and go back to the table's offsets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from pyiceberg.catalog import Catalog

from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings
from streamplane.lake.decode import RecordDecoder, schema_id
from streamplane.lake.maintenance import MaintenancePolicy, maintain
from streamplane.lake.schema import same
from streamplane.lake.table import LakeTable, StaleWriter

log = logging.getLogger(__name__)

#: Columns every table gets besides the value's fields: where each row came from.
KAFKA_COLUMNS = pa.schema(
    [
        pa.field("_kafka_partition", pa.int32(), nullable=False),
        pa.field("_kafka_offset", pa.int64(), nullable=False),
        pa.field("_kafka_timestamp", pa.timestamp("us", tz="UTC"), nullable=True),
    ]
)


@dataclass(frozen=True)
class SinkSettings:
    max_rows: int = 10_000
    max_wait_s: float = 5.0
    #: Compaction and snapshot expiry run between two commits this often (0: never).
    maintenance_interval_s: float = 600.0
    maintenance: MaintenancePolicy = field(default_factory=MaintenancePolicy)
    #: Iceberg partition transforms (``lake.partition_by``), added when the table lacks them.
    partition_by: tuple[str, ...] = ()


@dataclass
class SinkStats:
    rows: int = 0
    commits: int = 0
    stale: int = 0
    offsets: dict[int, int] = field(default_factory=dict)
    compacted_files: int = 0
    expired_snapshots: int = 0
    deleted_files: int = 0


def table_schema(value: pa.Schema) -> pa.Schema:
    """The value's columns, then the Kafka coordinates of each row."""
    clash = set(value.names) & set(KAFKA_COLUMNS.names)
    if clash:
        raise StreamplaneError(
            f"the value has fields named {sorted(clash)}, which the sink adds itself"
        )
    return pa.schema(list(value) + list(KAFKA_COLUMNS))


def table_row(message: Message, decode: RecordDecoder) -> dict[str, Any]:
    """A record as a row of its table: the value's fields, then where it came from."""
    row: dict[str, Any] = decode(message.value() or b"")
    stamp = message.timestamp()[1]
    row["_kafka_partition"] = message.partition()
    row["_kafka_offset"] = message.offset()
    row["_kafka_timestamp"] = stamp * 1000 if stamp > 0 else None
    return row


class LakeSink:
    def __init__(
        self,
        settings: ConnectionSettings,
        registry: SchemaRegistryClient,
        catalog: Catalog,
        topic: str,
        identifier: str,
        config: SinkSettings | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.catalog = catalog
        self.topic = topic
        self.identifier = identifier
        self.config = config or SinkSettings()
        self.stats = SinkStats()
        self._decode = RecordDecoder(registry)
        self._known: set[int] = set()
        self._schema: pa.Schema | None = None
        self._table: LakeTable | None = None
        self._consumer: Consumer | None = None

    # ------------------------------------------------------------------ set-up
    def _open_table(self, schema: pa.Schema) -> LakeTable:
        self._table = LakeTable.open(
            self.catalog, self.identifier, schema, topic=self.topic,
            partition_by=self.config.partition_by,
        )  # fmt: skip
        self._schema = schema
        return self._table

    def open_table(self) -> LakeTable:
        """The table, created or evolved to the subject's latest schema and partitioned
        as configured: what the sink starts from, and what `apply` provisions."""
        return self._open_table(self._latest_schema())

    def _latest_schema(self) -> pa.Schema:
        latest = self.registry.get_latest_version(f"{self.topic}-value")
        self._known.add(int(latest.schema_id or 0))
        return table_schema(self._decode.columns(int(latest.schema_id or 0)))

    def _seek(self, offsets: dict[int, int]) -> None:
        assert self._consumer is not None
        metadata = self._consumer.list_topics(self.topic, timeout=30).topics[self.topic]
        if metadata.error is not None:
            raise StreamplaneError(f"topic {self.topic}: {metadata.error}")
        parts = [
            TopicPartition(self.topic, p, offsets.get(p, OFFSET_BEGINNING))
            for p in sorted(metadata.partitions)
        ]
        self._consumer.assign(parts)

    # ------------------------------------------------------------------ run
    def run(
        self, stop: threading.Event, *, on_commit: Callable[[SinkStats], None] | None = None
    ) -> None:
        table = self.open_table()
        self._consumer = Consumer(
            self.settings.librdkafka(
                **{
                    "group.id": f"_streamplane_lake.{self.identifier}",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "log_level": 3,
                }
            )
        )
        based = table.offsets()
        self._seek(based)
        pending: list[dict[str, Any]] = []
        upto: dict[int, int] = dict(based)
        started = time.monotonic()
        last_maintained = -float("inf")  # after the first commit: a restart catches up
        try:
            while not stop.is_set():
                room = max(1, min(1000, self.config.max_rows - len(pending)))
                for message in self._consumer.consume(room, timeout=0.5):
                    if message.error() is not None:
                        continue
                    value = message.value() or b""
                    sid = schema_id(value)
                    if sid not in self._known:
                        # A new writer schema: what is pending goes under the old one first.
                        based = self._commit(pending, upto, based)
                        pending, started = [], time.monotonic()
                        self._evolve(sid)
                    pending.append(table_row(message, self._decode))
                    upto[message.partition() or 0] = (message.offset() or 0) + 1
                full = len(pending) >= self.config.max_rows
                due = pending and time.monotonic() - started >= self.config.max_wait_s
                if full or due:
                    try:
                        based = self._commit(pending, upto, based)
                    except StaleWriter as exc:
                        log.warning("%s; going back to the table's offsets", exc)
                        self.stats.stale += 1
                        based = table.offsets()
                        upto = dict(based)
                        self._seek(based)
                    pending, started = [], time.monotonic()
                    interval = self.config.maintenance_interval_s
                    if interval and time.monotonic() - last_maintained >= interval:
                        self._maintain()
                        last_maintained = time.monotonic()
                    if on_commit is not None:
                        on_commit(self.stats)
        finally:
            self._consumer.close()

    def _maintain(self) -> None:
        """Compaction and expiry, by this sink as the table's one committer; the records
        arriving meanwhile wait in the consumer. Losing a race to another committer (a
        hand-run ``lake maintain``) only postpones it."""
        assert self._table is not None
        try:
            result = maintain(self._table.table, self.config.maintenance)
        except StaleWriter as exc:
            log.warning("maintenance postponed: %s", exc)
            return
        self.stats.compacted_files += result.compacted_files
        self.stats.expired_snapshots += result.expired_snapshots
        self.stats.deleted_files += result.deleted_files
        if result.compacted_files or result.expired_snapshots:
            log.info(
                "%s: compacted %d files into %d, expired %d snapshots, deleted %d files",
                self.identifier, result.compacted_files, result.written_files,
                result.expired_snapshots, result.deleted_files,
            )  # fmt: skip

    def _evolve(self, sid: int) -> None:
        proposed = table_schema(self._decode.columns(sid))
        self._known.add(sid)
        assert self._schema is not None
        if not same(self._schema, proposed) and not set(proposed.names) <= set(self._schema.names):
            log.info("schema %d adds columns to %s: evolving the table", sid, self.identifier)
            self._open_table(proposed)

    def _commit(
        self, rows: list[dict[str, Any]], upto: dict[int, int], based: dict[int, int]
    ) -> dict[int, int]:
        if not rows:
            return based
        assert self._table is not None and self._schema is not None
        columns = self._table.table.schema().as_arrow()
        batch = pa.Table.from_pylist(rows, schema=columns)
        self._table.commit(batch, upto, based_on=based)
        self.stats.rows += len(rows)
        self.stats.commits += 1
        self.stats.offsets = dict(upto)
        return dict(upto)
