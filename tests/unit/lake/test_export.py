"""OLAP ingestion configs from a topic's Avro schema, checked by each engine's own rules:
ClickHouse in process (chDB) creates every object, Pinot's classes bind the schema and the
table config; broken configs are refused with the engine's reason."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings
from streamplane.lake.export import (
    Source,
    check_clickhouse,
    check_pinot,
    clickhouse_collection,
    clickhouse_ddl,
    clickhouse_type,
    millisecond_fields,
    pinot_files,
    pinot_schema,
)
from streamplane.lake.schema import arrow_schema

ORDER = {
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["NEW", "PAID"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attributes", "type": {"type": "map", "values": "long"}},
        {"name": "address", "type": ["null", {"type": "record", "name": "Address",
                                               "fields": [{"name": "city", "type": "string"}]}]},
        {"name": "coupon", "type": ["null", "string"], "default": None},
        {"name": "ratio", "type": "double"},
    ],
}  # fmt: skip
SOURCE = Source.of(
    "shop.orders.placed", "shop.orders_placed", 6,
    ConnectionSettings("broker-1:9092,broker-2:9092", username="admin", password="secret"),
    "http://registry:8081", "olap",
)  # fmt: skip


def test_clickhouse_types_follow_the_avro_schema() -> None:
    value = arrow_schema(ORDER)
    types = {f.name: clickhouse_type(f.type, f.nullable) for f in value}
    # Iceberg keeps microseconds; the DDL types Avro's millisecond timestamps as such.
    assert types["placed_at"] == "DateTime64(6, 'UTC')"
    ddl = clickhouse_ddl(SOURCE, value, millisecond_fields(ORDER))
    assert "`placed_at` DateTime64(3, 'UTC')" in ddl
    types["placed_at"] = "DateTime64(3, 'UTC')"
    assert types == {
        "id": "Int64",
        "amount": "Decimal(10, 2)",
        "placed_at": "DateTime64(3, 'UTC')",
        "state": "String",
        "tags": "Array(String)",
        "attributes": "Map(String, Int64)",
        "address": "Tuple(`city` String)",  # ClickHouse has no Nullable(Tuple)
        "coupon": "Nullable(String)",
        "ratio": "Float64",
    }


def test_clickhouse_creates_every_object_of_the_ddl() -> None:
    ddl = clickhouse_ddl(SOURCE, arrow_schema(ORDER))
    assert "kafka_num_consumers = 4" in ddl and "ReplacingMergeTree" in ddl
    check_clickhouse(ddl, SOURCE)  # raises with ClickHouse's reason otherwise


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("Decimal(10, 2)", "Decimal(10, 2, 3)"), "Decimal"),
        (("kafka_handle_error_mode", "kafka_handle_mistakes"), "Unknown setting"),
        (("toInt64(_offset)", "toInt64(_offsets)"), "_offsets"),
    ],
)
def test_clickhouse_refuses_a_broken_ddl(change: tuple[str, str], reason: str) -> None:
    ddl = clickhouse_ddl(SOURCE, arrow_schema(ORDER)).replace(*change, 1)
    with pytest.raises(StreamplaneError, match=f"ClickHouse refuses .*{reason}"):
        check_clickhouse(ddl, SOURCE)


def test_the_connection_keeps_secrets_out_of_the_files() -> None:
    xml = clickhouse_collection(SOURCE)
    files = "".join(pinot_files(SOURCE, arrow_schema(ORDER), retention_days=7).values())
    assert "secret" not in xml + files + clickhouse_ddl(SOURCE, arrow_schema(ORDER))
    assert 'from_env="STREAMPLANE_KAFKA_PASSWORD"' in xml
    assert "broker-1:9092,broker-2:9092" in xml
    assert "${STREAMPLANE_KAFKA_PASSWORD}" in files


def test_pinot_fields_split_into_dimensions_metrics_and_times() -> None:
    schema = pinot_schema(SOURCE, arrow_schema(ORDER))
    assert [f["name"] for f in schema["metricFieldSpecs"]] == ["amount", "ratio"]
    assert [f["name"] for f in schema["dateTimeFieldSpecs"]] == ["placed_at"]
    dims = {f["name"]: f for f in schema["dimensionFieldSpecs"]}
    assert dims["tags"] == {"name": "tags", "dataType": "STRING", "singleValueField": False}
    assert dims["address"]["dataType"] == "JSON" and dims["id"]["dataType"] == "LONG"


def test_pinot_accepts_the_configs_and_refuses_a_broken_one() -> None:
    files = pinot_files(SOURCE, arrow_schema(ORDER), retention_days=7)
    table_name = next(n for n in files if n.endswith(".table.json"))
    table = json.loads(files[table_name])
    assert table["segmentsConfig"]["timeColumnName"] == "placed_at"
    assert table["segmentsConfig"]["retentionTimeValue"] == "7"
    check_pinot(files)
    table["segmentsConfig"]["timeColumnName"] = "id"
    broken = {**files, table_name: json.dumps(table)}
    with pytest.raises(StreamplaneError, match="time column id is not a date-time field"):
        check_pinot(broken)


def test_a_type_no_engine_has_is_refused() -> None:
    with pytest.raises(StreamplaneError, match="no ClickHouse type"):
        clickhouse_type(pa.duration("s"), False)


def test_json_topics_go_to_pinot_not_clickhouse() -> None:
    value = arrow_schema(ORDER)
    source = Source.of(
        "shop.orders.returned", "shop.orders_returned", 1,
        ConnectionSettings("broker-1:9092", username="admin", password="secret"),
        "http://registry:8081", "olap", value_format="json",
    )  # fmt: skip
    with pytest.raises(StreamplaneError, match="no ClickHouse input format reads"):
        clickhouse_ddl(source, value)
    files = pinot_files(source, value, retention_days=None)
    table = json.loads(next(t for n, t in files.items() if n.endswith(".table.json")))
    stream = table["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"][0]
    assert stream["stream.kafka.decoder.class.name"].endswith(
        "json.confluent.KafkaConfluentSchemaRegistryJsonMessageDecoder"
    )
    check_pinot(files)
