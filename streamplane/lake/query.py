"""``lake query``: SQL over the lake's tables with DuckDB, optionally fresher than the last
commit.

Each table is scanned by pyiceberg into Arrow at its current snapshot and shown to DuckDB
as ``namespace.table``. With ``fresh``, the rows Kafka holds beyond the table's offsets
(acknowledged records the sink has not committed yet, read committed) are decoded the
same way and appended to the scan: a query then sees what the topic holds now, at the
price of reading that tail; the committed table alone is what every engine sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from pyiceberg.catalog import Catalog

from streamplane.kafka import ConnectionSettings
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
    decode = AvroDeserializer(registry)
    context = SerializationContext(topic, MessageField.VALUE)
    rows: list[dict[str, Any]] = []
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        todo = []
        for p in metadata.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            start = offsets.get(p, 0)
            if start < high:
                todo.append(TopicPartition(topic, p, start))
        if not todo:
            return rows
        consumer.assign(todo)
        left = {tp.partition for tp in todo}
        while left:
            messages = consumer.consume(1000, timeout=1.0)
            if not messages:
                break
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        left.discard(message.partition() or 0)
                    continue
                rows.append(table_row(message, decode, context))
        return rows
    finally:
        consumer.close()


def run_query(
    catalog: Catalog,
    sql: str,
    tables: Iterable[tuple[str, str]],
    *,
    fresh: tuple[ConnectionSettings, SchemaRegistryClient] | None = None,
) -> pa.Table:
    """Run ``sql`` over ``tables`` ((identifier, topic) pairs) and return the result."""
    con = duckdb.connect()
    for identifier, topic in tables:
        table = catalog.load_table(identifier)
        data = table.scan().to_arrow()
        if fresh is not None:
            offsets = LakeTable(table, topic).offsets()
            extra = tail_rows(fresh[0], fresh[1], topic, offsets)
            if extra:
                data = pa.concat_tables([data, pa.Table.from_pylist(extra, schema=data.schema)])
        namespace, name = identifier.rsplit(".", 1)
        view = f"_arrow_{namespace}_{name}"
        con.register(view, data)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
        con.execute(f'CREATE OR REPLACE VIEW "{namespace}"."{name}" AS SELECT * FROM {view}')
    return con.execute(sql).to_arrow_table()


def as_json_rows(result: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(json.dumps(result.to_pylist(), default=str))
    return rows
