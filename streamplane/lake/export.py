"""Ingestion configs for real-time OLAP engines, generated from the spec: a ClickHouse Kafka
engine table with its materialized view, and an Apache Pinot schema with its realtime
table config (``streamplane lake export --engine clickhouse|pinot``).

Both engines read the topic themselves, beside the Iceberg sink: the sink's table is the
complete, exactly-once history; an OLAP engine serves sub-second dashboards. Both
consume at least once, so the ClickHouse target is a ``ReplacingMergeTree`` keyed by the
Kafka partition and offset (duplicates collapse when parts merge; ``FINAL`` collapses
them at query time), and Pinot's low-level consumer commits offsets with its segments.

The column types come from the registry's Avro schema through the same Arrow mapping the
sink uses (:mod:`streamplane.lake.schema`), so the three places a topic lands agree.
No password is written into a config: ClickHouse reads it from the environment through
its server config (``from_env``), and Pinot's config carries a ``${...}`` placeholder
for the deployer's secret templating.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from google.protobuf import descriptor_pool

from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings
from streamplane.lake.json_schema import json_arrow_schema
from streamplane.lake.protobuf import proto_arrow_schema
from streamplane.lake.schema import arrow_schema
from streamplane.registry.compat._proto_compile import compile_schema

#: The ClickHouse named collection holding the connection (server config, not DDL).
CLICKHOUSE_COLLECTION = "streamplane_kafka"
PASSWORD_ENV = "STREAMPLANE_KAFKA_PASSWORD"
REGISTRY_URL_ENV = "STREAMPLANE_REGISTRY_URL"
#: The pinot-spi version of pinot/pom.xml, which checks the Pinot configs.
PINOT_VERSION = "1.3.0"


@dataclass(frozen=True)
class Source:
    """Where an engine reads the topic from, and as whom."""

    topic: str
    table: str  # namespace.table, as in the lake
    partitions: int
    bootstrap: str
    security_protocol: str
    sasl_mechanism: str | None
    principal: str
    registry_url: str
    replication: int = 1
    #: "avro", "json" or "protobuf": what the registry's wire format frames.
    value_format: str = "avro"

    @classmethod
    def of(
        cls,
        topic: str,
        table: str,
        partitions: int,
        settings: ConnectionSettings,
        registry_url: str,
        principal: str,
        replication: int = 1,
        value_format: str = "avro",
    ) -> Source:
        return cls(
            topic, table, partitions, settings.bootstrap_servers, settings.security_protocol,
            settings.sasl_mechanism, principal, registry_url, replication, value_format,
        )  # fmt: skip


def spec_value(file_name: str, text: str) -> tuple[str, pa.Schema, set[str]]:
    """A spec schema file's format ("avro", "json", "protobuf"), its columns, and its
    millisecond timestamp fields (Avro's)."""
    if file_name.endswith(".proto"):
        compiled = compile_schema(text, {})
        pool = descriptor_pool.DescriptorPool()
        for dependency in compiled.dependencies:
            pool.Add(dependency)
        pool.Add(compiled.file)
        file = pool.FindFileByName(compiled.file.name)
        if not file.message_types_by_name:
            raise StreamplaneError(f"{file_name} declares no message")
        first = file.message_types_by_name[compiled.file.message_type[0].name]
        return "protobuf", proto_arrow_schema(first), set()
    document = json.loads(text)
    if file_name.endswith(".json"):
        return "json", json_arrow_schema(document), set()
    return "avro", arrow_schema(document), millisecond_fields(document)


# ---------------------------------------------------------------------- ClickHouse


def clickhouse_type(data_type: pa.DataType, nullable: bool) -> str:
    """The ClickHouse type of an Arrow column (ClickHouse cannot wrap composite types in
    Nullable: a null array, map or tuple arrives empty)."""
    inner = _clickhouse_inner(data_type)
    composite = (
        pa.types.is_list(data_type) or pa.types.is_map(data_type) or pa.types.is_struct(data_type)
    )
    return f"Nullable({inner})" if nullable and not composite else inner


def _clickhouse_inner(t: pa.DataType) -> str:
    simple = {
        pa.int8(): "Int8", pa.int16(): "Int16", pa.int32(): "Int32", pa.int64(): "Int64",
        pa.float32(): "Float32", pa.float64(): "Float64", pa.bool_(): "Bool",
        pa.string(): "String", pa.large_string(): "String", pa.binary(): "String",
        pa.large_binary(): "String", pa.date32(): "Date32",
    }  # fmt: skip
    if t in simple:
        return simple[t]
    if pa.types.is_fixed_size_binary(t):
        return f"FixedString({t.byte_width})"
    if pa.types.is_decimal(t):
        return f"Decimal({t.precision}, {t.scale})"
    if pa.types.is_timestamp(t):
        precision = {"s": 0, "ms": 3, "us": 6, "ns": 9}[t.unit]
        return f"DateTime64({precision}, 'UTC')" if t.tz else f"DateTime64({precision})"
    if pa.types.is_time(t):
        return "Int64"  # Avro time-of-day: microseconds (ClickHouse's Time64 is too new)
    if pa.types.is_list(t):
        item = t.value_field
        return f"Array({clickhouse_type(item.type, item.nullable)})"
    if pa.types.is_map(t):
        return f"Map(String, {clickhouse_type(t.item_field.type, t.item_field.nullable)})"
    if pa.types.is_struct(t):
        fields = ", ".join(f"{_quote(f.name)} {clickhouse_type(f.type, f.nullable)}" for f in t)
        return f"Tuple({fields})"
    raise StreamplaneError(f"no ClickHouse type for Arrow type {t}")


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def millisecond_fields(avro: dict[str, Any]) -> set[str]:
    """The top-level fields that are Avro millisecond timestamps: Iceberg (and so the Arrow
    schema) keeps only microseconds, ClickHouse reads them as DateTime64(3)."""
    found = set()
    for f in avro.get("fields", []):
        branches = f["type"] if isinstance(f["type"], list) else [f["type"]]
        for branch in branches:
            if isinstance(branch, dict) and branch.get("logicalType") in (
                "timestamp-millis", "local-timestamp-millis",
            ):  # fmt: skip
                found.add(f["name"])
    return found


def clickhouse_ddl(source: Source, value: pa.Schema, millis: set[str] | None = None) -> str:
    """The statements that make ClickHouse ingest the topic: a Kafka engine table, a
    ReplacingMergeTree target, a view moving rows across, and one keeping the records
    that could not be parsed (instead of stopping ingestion). ``millis``: the fields to
    type DateTime64(3) (:func:`millisecond_fields`)."""
    if source.value_format != "avro":
        raise StreamplaneError(
            f"{source.topic} holds {source.value_format} in the registry's wire format (a "
            "schema id before each value), which no ClickHouse input format reads; export it "
            "for Pinot, or query its lake table with --engine clickhouse"
        )
    database, name = (_quote(p) for p in source.table.split(".", 1))

    def column(f: pa.Field) -> str:
        kind = clickhouse_type(f.type, f.nullable)
        if f.name in (millis or set()):
            kind = kind.replace("DateTime64(6", "DateTime64(3")
        return f"    {_quote(f.name)} {kind}"

    columns = ",\n".join(column(f) for f in value)
    local = source.table.split(".", 1)[1]
    queue = f"{database}.{_quote(local + '_queue')}"
    target = f"{database}.{name}"
    errors = f"{database}.{_quote(local + '_errors')}"
    view, errors_view = (
        f"{database}.{_quote(local + '_mv')}",
        f"{database}.{_quote(local + '_errors_mv')}",
    )
    selected = ", ".join(_quote(f.name) for f in value)
    settings = ",\n    ".join([
        f"kafka_topic_list = {_literal(source.topic)}",
        f"kafka_group_name = {_literal('clickhouse.' + source.table)}",
        "kafka_format = 'AvroConfluent'",
        f"kafka_num_consumers = {max(1, min(source.partitions, 4))}",
        "kafka_handle_error_mode = 'stream'",
    ])  # fmt: skip
    return f"""-- ClickHouse ingestion of {source.topic} (streamplane lake export: regenerate it).
-- The connection is the named collection {CLICKHOUSE_COLLECTION} ({CLICKHOUSE_COLLECTION}.xml
-- beside this file, for the server's config.d/). At least once: the target collapses
-- redelivered records by (partition, offset) when parts merge; FINAL does it at query time.
CREATE DATABASE IF NOT EXISTS {database};

CREATE TABLE IF NOT EXISTS {queue}
(
{columns}
)
ENGINE = Kafka({CLICKHOUSE_COLLECTION})
SETTINGS
    {settings};

CREATE TABLE IF NOT EXISTS {target}
(
{columns},
    `_kafka_partition` Int32,
    `_kafka_offset` Int64,
    `_kafka_timestamp` Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ReplacingMergeTree
ORDER BY (`_kafka_partition`, `_kafka_offset`);

CREATE TABLE IF NOT EXISTS {errors}
(
    `_kafka_partition` Int32,
    `_kafka_offset` Int64,
    `raw` String,
    `error` String
)
ENGINE = MergeTree
ORDER BY (`_kafka_partition`, `_kafka_offset`);

CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {target} AS
SELECT {selected},
    toInt32(_partition) AS `_kafka_partition`,
    toInt64(_offset) AS `_kafka_offset`,
    _timestamp_ms AS `_kafka_timestamp`
FROM {queue}
WHERE length(_error) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {errors_view} TO {errors} AS
SELECT toInt32(_partition) AS `_kafka_partition`, toInt64(_offset) AS `_kafka_offset`,
    _raw_message AS `raw`, _error AS `error`
FROM {queue}
WHERE length(_error) > 0;
"""


def clickhouse_collection(source: Source) -> str:
    """The server config that defines the connection (the password from the environment)."""
    entries = [
        ("kafka_broker_list", source.bootstrap),
        ("kafka_security_protocol", source.security_protocol.lower()),
    ]
    if source.sasl_mechanism:
        entries += [
            ("kafka_sasl_mechanism", source.sasl_mechanism),
            ("kafka_sasl_username", source.principal),
        ]
    lines = [f"      <{k}>{_xml(v)}</{k}>" for k, v in entries]
    if source.sasl_mechanism:
        lines.append(f'      <kafka_sasl_password from_env="{PASSWORD_ENV}"/>')
    # The registry asks for the same principal's password: the whole URL comes from the
    # environment, as http://<principal>:<password>@<registry host:port>.
    lines.append(
        f"      <!-- {_xml(source.registry_url)} with the credentials: "
        f"http://{_xml(source.principal)}:PASSWORD@host:port -->"
    )
    lines.append(f'      <format_avro_schema_registry_url from_env="{REGISTRY_URL_ENV}"/>')
    body = "\n".join(lines)
    return f"""<!-- The Kafka connection of Streamplane's ClickHouse ingestion (config.d/). -->
<clickhouse>
  <named_collections>
    <{CLICKHOUSE_COLLECTION}>
{body}
    </{CLICKHOUSE_COLLECTION}>
  </named_collections>
</clickhouse>
"""


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------- Pinot


def _pinot_type(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return _pinot_type(t.value_type)
    simple = {
        pa.int8(): "INT", pa.int16(): "INT", pa.int32(): "INT", pa.int64(): "LONG",
        pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
        pa.string(): "STRING", pa.binary(): "BYTES", pa.date32(): "INT",
    }  # fmt: skip
    if t in simple:
        return simple[t]
    if pa.types.is_fixed_size_binary(t):
        return "BYTES"
    if pa.types.is_decimal(t):
        return "BIG_DECIMAL"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_time(t):
        return "LONG"
    if pa.types.is_map(t) or pa.types.is_struct(t):
        return "JSON"
    raise StreamplaneError(f"no Pinot type for Arrow type {t}")


#: Pinot's decoders of the registry's wire format (its confluent-avro and confluent-json
#: input format plugins).
_PINOT_DECODERS = {
    "avro": "org.apache.pinot.plugin.inputformat.avro.confluent."
    "KafkaConfluentSchemaRegistryAvroMessageDecoder",
    "json": "org.apache.pinot.plugin.inputformat.json.confluent."
    "KafkaConfluentSchemaRegistryJsonMessageDecoder",
    "protobuf": "org.apache.pinot.plugin.inputformat.protobuf."
    "KafkaConfluentSchemaRegistryProtoBufMessageDecoder",
}


def pinot_name(table: str) -> str:
    """Pinot table and schema names hold no dots."""
    return table.replace(".", "_")


def pinot_schema(source: Source, value: pa.Schema) -> dict[str, Any]:
    """Dimensions, metrics (decimals and floating point: the amounts dashboards sum) and
    date-times (the value's timestamps, epoch milliseconds as Avro carries them)."""
    dimensions: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    times: list[dict[str, Any]] = []
    for f in value:
        kind = _pinot_type(f.type)
        if kind == "TIMESTAMP":
            times.append({
                "name": f.name, "dataType": "TIMESTAMP",
                "format": "1:MILLISECONDS:TIMESTAMP", "granularity": "1:MILLISECONDS",
            })  # fmt: skip
        elif kind in ("BIG_DECIMAL", "FLOAT", "DOUBLE") and not pa.types.is_list(f.type):
            metrics.append({"name": f.name, "dataType": kind})
        else:
            spec: dict[str, Any] = {"name": f.name, "dataType": kind}
            if pa.types.is_list(f.type):
                spec["singleValueField"] = False
            dimensions.append(spec)
    schema: dict[str, Any] = {"schemaName": pinot_name(source.table)}
    if dimensions:
        schema["dimensionFieldSpecs"] = dimensions
    if metrics:
        schema["metricFieldSpecs"] = metrics
    if times:
        schema["dateTimeFieldSpecs"] = times
    return schema


def pinot_table(source: Source, value: pa.Schema, *, retention_days: int | None) -> dict[str, Any]:
    """A REALTIME table config: Pinot's Kafka 2 low-level consumer, Confluent Avro decoding
    through the registry, the first timestamp of the value as the time column."""
    times = [f.name for f in value if pa.types.is_timestamp(f.type)]
    segments: dict[str, Any] = {
        "schemaName": pinot_name(source.table),
        "replication": str(source.replication),
    }
    if times:
        segments["timeColumnName"] = times[0]
    if retention_days is not None:
        segments.update(retentionTimeUnit="DAYS", retentionTimeValue=str(retention_days))
    stream: dict[str, str] = {
        "streamType": "kafka",
        "stream.kafka.topic.name": source.topic,
        "stream.kafka.broker.list": source.bootstrap,
        "stream.kafka.consumer.type": "lowlevel",
        "stream.kafka.consumer.factory.class.name":
            "org.apache.pinot.plugin.stream.kafka20.KafkaConsumerFactory",
        "stream.kafka.decoder.class.name": _PINOT_DECODERS[source.value_format],
        "stream.kafka.decoder.prop.schema.registry.rest.url": source.registry_url,
        "stream.kafka.consumer.prop.auto.offset.reset": "smallest",
        "realtime.segment.flush.threshold.rows": "0",
        "realtime.segment.flush.threshold.time": "6h",
        "realtime.segment.flush.threshold.segment.size": "200M",
        "security.protocol": source.security_protocol,
    }  # fmt: skip
    if source.sasl_mechanism:
        module = (
            "org.apache.kafka.common.security.scram.ScramLoginModule"
            if source.sasl_mechanism.startswith("SCRAM")
            else "org.apache.kafka.common.security.plain.PlainLoginModule"
        )
        stream["stream.kafka.decoder.prop.basic.auth.credentials.source"] = "USER_INFO"
        stream["stream.kafka.decoder.prop.basic.auth.user.info"] = (
            f"{source.principal}:${{{PASSWORD_ENV}}}"
        )
        stream["sasl.mechanism"] = source.sasl_mechanism
        stream["sasl.jaas.config"] = (
            f'{module} required username="{source.principal}" password="${{{PASSWORD_ENV}}}";'
        )
    return {
        "tableName": pinot_name(source.table),
        "tableType": "REALTIME",
        "segmentsConfig": segments,
        "tenants": {},
        "tableIndexConfig": {"loadMode": "MMAP"},
        "ingestionConfig": {"streamIngestionConfig": {"streamConfigMaps": [stream]}},
        "metadata": {"customConfigs": {"streamplane.topic": source.topic}},
    }


def pinot_files(source: Source, value: pa.Schema, *, retention_days: int | None) -> dict[str, str]:
    """File name -> JSON text: the schema and the table config Pinot's controller takes."""
    name = pinot_name(source.table)
    return {
        f"{name}.schema.json": json.dumps(pinot_schema(source, value), indent=2) + "\n",
        f"{name}.table.json": json.dumps(
            pinot_table(source, value, retention_days=retention_days), indent=2
        ) + "\n",
    }  # fmt: skip


# ---------------------------------------------------------------------- checks


def _statements(ddl: str) -> list[str]:
    text = "\n".join(line for line in ddl.splitlines() if not line.startswith("--"))
    return [s.strip() for s in text.split(";\n") if s.strip().rstrip(";")]


def check_clickhouse(ddl: str, source: Source) -> None:
    """Run the statements in an in-process ClickHouse (chDB): ClickHouse's own parser, type
    system and Kafka settings check them, and each view's SELECT is bound against the
    queue's columns and virtual columns and the target's types.

    chDB runs no background consumers, so creating the Kafka table fails as it starts,
    after ClickHouse checked and registered it ("Shutdown was called"); that one failure
    is taken as success once the table shows in ``system.tables``."""
    import chdb  # 500 MB library: loaded only for the check

    session = chdb.connect(":memory:")
    try:
        session.query(
            f"CREATE NAMED COLLECTION IF NOT EXISTS {CLICKHOUSE_COLLECTION} AS "
            f"kafka_broker_list = {_literal(source.bootstrap)}, "
            f"kafka_security_protocol = {_literal(source.security_protocol.lower())}"
        )
        for statement in _statements(ddl):
            try:
                session.query(statement)
            except Exception as exc:  # chDB raises its own ChdbError or RuntimeError
                if "Shutdown was called" in str(exc) and "ENGINE = Kafka" in statement:
                    database, name = source.table.split(".", 1)
                    found = session.query(
                        "SELECT count() FROM system.tables WHERE database = "
                        f"{_literal(database)} AND name = {_literal(name + '_queue')} "
                        "AND engine = 'Kafka'",
                        "CSV",
                    )
                    if str(found).strip() == "1":
                        continue
                first = statement.splitlines()[0]
                raise StreamplaneError(f"ClickHouse refuses `{first} …`: {exc}") from exc
    finally:
        session.close()


def check_pinot(files: dict[str, str]) -> None:
    """Bind the schema and table config to Pinot's own classes: ``PinotCheck.java`` run
    against pinot-spi, resolved once from Maven Central like the brokers' jars."""
    from streamplane.local import find_java
    from streamplane.local._fetch import fetch_pom_jars

    here = Path(__file__).parent / "pinot"
    lib = fetch_pom_jars(here / "pom.xml", f"pinot-spi-{PINOT_VERSION}", f"Pinot {PINOT_VERSION}")
    java = find_java().executable
    with tempfile.TemporaryDirectory() as tmp:
        written = {}
        for name, text in files.items():
            written[name] = Path(tmp) / name
            written[name].write_text(text)
        schema = next(p for n, p in written.items() if n.endswith(".schema.json"))
        table = next(p for n, p in written.items() if n.endswith(".table.json"))
        done = subprocess.run(
            [str(java), "-cp", f"{lib}/*", str(here / "PinotCheck.java"), str(schema), str(table)],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
    if done.returncode != 0 or done.stdout.strip() != "ok":
        raise StreamplaneError(
            f"Pinot refuses {table.name}: {(done.stdout or done.stderr).strip()}"
        )
