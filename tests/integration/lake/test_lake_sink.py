"""The lake sink on a real cluster and registry: killed -9 ten times while records arrive
and while it compacts and expires snapshots every 2 s, the Iceberg table still holds every
acknowledged record exactly once, in few files; a new optional field in the registry
becomes a column; DuckDB and ClickHouse see the table, and with --fresh the tail."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from confluent_kafka import Producer as ConfluentProducer
from confluent_kafka import SerializingProducer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.client._protobuf import DynamicProtobufDecoder
from streamplane.lake.catalogs import open_catalog
from streamplane.lake.table import LakeTable, local_catalog
from streamplane.local import LocalCluster, RegistryProcess, open_cluster
from streamplane.model import load_spec
from streamplane.reconcile._secrets import SecretStore
from tests.conftest import TEST_ROOT
from tests.integration.conftest import PORT_SHIFT
from tests.integration.registry import test_encryption

OFFSET = 23000 + PORT_SHIFT
# moto's S3 server, for the catalog on S3-compatible storage: one per module.
moto_url = test_encryption.moto_url
TOPIC = "shop.orders.placed"
TABLE = "shop.orders_placed"
runner = CliRunner()

ORDER = {
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}  # fmt: skip
SPEC = """
clusters:
  - {name: local, local: true, environment: dev}
lake_catalogs:
  - name: s3
    warehouse: s3://lake/warehouse
    s3_endpoint: MOTO_URL
    s3_region: us-east-1
    s3_access_key_id: {env: STREAMPLANE_TEST_S3_KEY}
    s3_secret_access_key: {env: STREAMPLANE_TEST_S3_SECRET}
policy:
  rules:
    replication:
      exemptions: [{resource: '*', reason: 'one-node test cluster'}]
tenants:
  - name: shop
    owners: [shop@example.com]
    clusters: [local]
    domains:
      - name: orders
        topics:
          - name: placed
            partitions: 3
            value_schema: schemas/order.avsc
            lake: {max_rows: 400, commit_interval: 1s, maintenance_interval: 2s, snapshot_retention: 0}
          - name: shipped
            partitions: 2
            value_schema: schemas/order.avsc
            lake: {catalog: s3, partition_by: ['day(placed_at)'], commit_interval: 1s}
          - name: returned
            partitions: 1
            value_schema: schemas/return.json
            lake: {commit_interval: 1s}
          - name: refunded
            partitions: 1
            value_schema: schemas/refund.proto
            lake: {commit_interval: 1s}
"""
REFUND = """
syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";

message Refund {
  enum Reason { UNKNOWN = 0; DAMAGED = 1; LATE = 2; }
  int64 id = 1;
  Reason reason = 2;
  google.protobuf.Timestamp refunded_at = 3;
  repeated string skus = 4;
}
"""
RETURN = {
    "type": "object",
    "required": ["id", "returned_at"],
    "properties": {
        "id": {"type": "integer"},
        "returned_at": {"type": "string", "format": "date-time"},
        "reason": {"type": ["string", "null"]},
        "lines": {"type": "array", "items": {"type": "object", "required": ["sku"],
                  "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}}}},
    },
}  # fmt: skip


@dataclass
class Lake:
    cluster: LocalCluster
    spec: Path
    root: Path
    registry: SchemaRegistryClient

    def cli(self, *args: str) -> str:
        result = runner.invoke(app, [*args, "--data-dir", str(self.root)])
        text = result.stdout + result.stderr + (str(result.exception) if result.exception else "")
        assert result.exit_code == 0, text
        return text

    def sink(self, topic: str = TOPIC) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "streamplane", "lake", "run", topic, str(self.spec),
             "--data-dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=(self.root / "sink.log").open("ab"),
        )  # fmt: skip

    def stream(self, topic: str, table: str, records: int) -> None:
        """Run the sink of ``topic`` until ``table`` (local catalog) holds ``records``."""
        catalog = local_catalog(self.root / "lake")

        def done() -> bool:
            if not catalog.table_exists(table):
                return False
            return sum(LakeTable(catalog.load_table(table), topic).offsets().values()) >= records

        sink = self.sink(topic)
        try:
            wait_for(lambda: done() or sink.poll() is not None, timeout_s=60)
            assert sink.poll() is None, (self.root / "sink.log").read_text()[-2000:]
        finally:
            sink.send_signal(signal.SIGTERM)
            sink.wait(30)

    def table(self) -> LakeTable:
        catalog = local_catalog(self.root / "lake")
        return LakeTable(catalog.load_table(TABLE), TOPIC)

    def committed(self) -> int:
        """Records the table holds by its offsets (-1 before the first sink made it)."""
        if not local_catalog(self.root / "lake").table_exists(TABLE):
            return -1
        return sum(self.table().offsets().values())

    def producer(self, schema: dict[str, Any]) -> SerializingProducer:
        settings = self.cluster.admin_settings()
        serializer = AvroSerializer(
            self.registry, json.dumps(schema),
            conf={"auto.register.schemas": True, "normalize.schemas": True},
        )  # fmt: skip
        return SerializingProducer(
            settings.librdkafka(
                **{"acks": "all", "enable.idempotence": True, "linger.ms": 5,
                   "value.serializer": serializer, "log_level": 3}
            )
        )  # fmt: skip


@pytest.fixture(scope="module")
def lake(moto_url: str) -> Iterator[Lake]:
    root = TEST_ROOT / "lake"
    spec = TEST_ROOT / "lake-spec"
    (spec / "schemas").mkdir(parents=True, exist_ok=True)
    (spec / "platform.yaml").write_text(SPEC.replace("MOTO_URL", moto_url))
    # The S3 catalog's keys, as the spec's secret sources name them (moto takes any).
    os.environ.update(STREAMPLANE_TEST_S3_KEY="lake-key", STREAMPLANE_TEST_S3_SECRET="lake-secret")
    boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="lake-key", aws_secret_access_key="lake-secret",
    ).create_bucket(Bucket="lake")  # fmt: skip
    (spec / "schemas" / "order.avsc").write_text(json.dumps(ORDER))
    (spec / "schemas" / "return.json").write_text(json.dumps(RETURN))
    (spec / "schemas" / "refund.proto").write_text(REFUND)
    up = runner.invoke(app, ["up", "--data-dir", str(root), "--port-offset", str(OFFSET),
                             "--no-audit", "--no-canary"])  # fmt: skip
    cluster = open_cluster(root)
    try:
        assert up.exit_code == 0, up.stdout + up.stderr
        applied = runner.invoke(
            app, ["apply", str(spec), "--auto-approve", "--data-dir", str(root)]
        )
        assert applied.exit_code == 0, applied.stdout + applied.stderr
        # apply provisions the tables (columns from the registry, partitions from the spec).
        for table in ("orders_placed", "orders_shipped", "orders_returned", "orders_refunded"):
            assert f"lake table shop.{table} created" in applied.stdout, applied.stdout
        registry = RegistryProcess(cluster.dir, port_offset=OFFSET)
        creds = cluster.dir.read_credentials()
        assert creds is not None
        client = SchemaRegistryClient(
            {"url": registry.url, "basic.auth.user.info": f"admin:{creds.admin_password}"}
        )
        yield Lake(cluster, spec, root, client)
    finally:
        runner.invoke(app, ["down", "--data-dir", str(root)])


def wait_for(check: Any, *, timeout_s: float, step_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not true within {timeout_s}s"
        time.sleep(step_s)


def test_kill_minus_nine_ten_times_loses_and_duplicates_nothing(lake: Lake) -> None:
    acked: list[int] = []
    failed: list[int] = []
    done = threading.Event()

    def produce() -> None:
        producer = lake.producer(ORDER)
        for n in range(12_000):
            value = {"id": n, "amount": __import__("decimal").Decimal(f"{n % 1000}.25"),
                     "placed_at": __import__("datetime").datetime.now(__import__("datetime").UTC)}  # fmt: skip
            producer.produce(
                TOPIC, value=value,
                on_delivery=lambda err, _m, n=n: (failed if err else acked).append(n),
            )  # fmt: skip
            producer.poll(0)
            if n % 100 == 0:
                time.sleep(0.2)  # about 500 records/s: still arriving while the sink is killed
        producer.flush(60)
        done.set()

    writer = threading.Thread(target=produce)
    sink = lake.sink()
    writer.start()
    rng = random.Random(7)
    kills = 0
    try:
        while kills < 10:
            # Each sink commits at least once, then dies at a random point of its work:
            # reading, building a batch, writing files, committing.
            before = lake.committed()
            wait_for(lambda before=before: lake.committed() > before or done.is_set(),
                     timeout_s=60, step_s=0.1)  # fmt: skip
            time.sleep(rng.uniform(0.0, 1.2))
            sink.send_signal(signal.SIGKILL)
            sink.wait()
            kills += 1
            sink = lake.sink()
        writer.join()
        assert not failed and len(acked) == 12_000
        wait_for(lambda: lake.committed() == 12_000, timeout_s=120)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
    ids = lake.table().table.scan(selected_fields=("id",)).to_arrow()["id"].to_pylist()
    assert len(ids) == 12_000, (
        f"{len(ids) - len(set(ids))} duplicated, {12_000 - len(set(ids))} missing"
    )
    assert sorted(ids) == sorted(acked)
    # The same through the command line, with DuckDB.
    counted = json.loads(lake.cli("lake", "query", f"select count(*) as n, count(distinct id) as d from {TABLE}",
                                  "--spec", str(lake.spec), "--json"))  # fmt: skip
    assert counted == [{"n": 12_000, "d": 12_000}]
    # At least 30 commits (400 rows each at most), compacted into few files; ClickHouse's
    # own Iceberg reader sees the same rows.
    files = list(lake.table().table.scan().plan_files())
    assert len(files) <= 16, f"{len(files)} data files after at least 30 commits"
    assert "compacted" in (lake.root / "sink.log").read_text()
    clickhouse = json.loads(lake.cli("lake", "query", f"select count() as n, uniqExact(id) as d from {TABLE}",
                                     "--spec", str(lake.spec), "--engine", "clickhouse", "--json"))  # fmt: skip
    assert clickhouse == [{"n": 12_000, "d": 12_000}]


def test_an_added_optional_field_becomes_a_column_and_fresh_sees_the_tail(lake: Lake) -> None:
    import datetime
    import decimal

    v2 = {
        **ORDER,
        "fields": [
            *ORDER["fields"],
            {"name": "coupon", "type": ["null", "string"], "default": None},
        ],
    }
    producer = lake.producer(v2)
    for n in range(20):
        producer.produce(TOPIC, value={"id": 100_000 + n, "amount": decimal.Decimal("1.00"),
                                       "placed_at": datetime.datetime.now(datetime.UTC), "coupon": f"c{n}"})  # fmt: skip
    producer.flush(30)
    sink = lake.sink()
    try:
        wait_for(lambda: lake.committed() == 12_020, timeout_s=60)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
    assert "coupon" in lake.table().table.schema().column_names
    coupons = json.loads(lake.cli("lake", "query", f"select count(coupon) as c from {TABLE}",
                                  "--spec", str(lake.spec), "--json"))  # fmt: skip
    assert coupons == [{"c": 20}]
    # With the sink stopped, 5 more records: only --fresh sees them.
    for n in range(5):
        producer.produce(TOPIC, value={"id": 200_000 + n, "amount": decimal.Decimal("2.00"),
                                       "placed_at": datetime.datetime.now(datetime.UTC), "coupon": None})  # fmt: skip
    producer.flush(30)
    query = [
        "lake",
        "query",
        f"select count(*) as n from {TABLE}",
        "--spec",
        str(lake.spec),
        "--json",
    ]
    assert json.loads(lake.cli(*query)) == [{"n": 12_020}]
    assert json.loads(lake.cli(*query, "--fresh")) == [{"n": 12_025}]


def test_olap_configs_are_generated_for_the_lake_topics(lake: Lake, tmp_path: Path) -> None:
    """`lake export` from the spec, checked by each engine's own rules, naming this
    cluster's listener and registry."""
    lake.cli("lake", "export", str(lake.spec), "--engine", "clickhouse", "--out", str(tmp_path))
    lake.cli("lake", "export", str(lake.spec), "--engine", "pinot", "--out", str(tmp_path))
    ddl = (tmp_path / f"{TABLE}.sql").read_text()
    assert f"kafka_topic_list = '{TOPIC}'" in ddl and "`placed_at` DateTime64(3, 'UTC')" in ddl
    bootstrap = lake.cluster.admin_settings().bootstrap_servers
    assert bootstrap in (tmp_path / "streamplane_kafka.xml").read_text()
    table = json.loads((tmp_path / "shop_orders_placed.table.json").read_text())
    stream = table["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"][0]
    assert stream["stream.kafka.broker.list"] == bootstrap
    assert stream["stream.kafka.topic.name"] == TOPIC


def test_a_partitioned_table_on_s3_through_its_catalog(lake: Lake, moto_url: str) -> None:
    """`lake: {catalog: s3, partition_by: [day(placed_at)]}`: the sink writes the table's
    files to S3-compatible storage (moto's server), one folder per day, and the queries
    and maintenance go through the same catalog."""
    import datetime
    import decimal

    shipped = "shop.orders.shipped"
    producer = lake.producer(ORDER)
    start = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    for n in range(300):
        placed = start + datetime.timedelta(hours=n % 72)  # three days
        producer.produce(
            shipped, value={"id": n, "amount": decimal.Decimal("3.50"), "placed_at": placed}
        )
    producer.flush(30)
    spec = load_spec(lake.spec)
    catalog = open_catalog(
        spec, "s3", SecretStore(spec, local_secrets_dir=None), lake.root / "lake"
    )

    def committed() -> int:
        if not catalog.table_exists("shop.orders_shipped"):
            return -1
        return sum(LakeTable(catalog.load_table("shop.orders_shipped"), shipped).offsets().values())

    sink = lake.sink(shipped)
    try:
        wait_for(lambda: committed() == 300, timeout_s=90)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
    table = catalog.load_table("shop.orders_shipped")
    assert table.location().startswith("s3://lake/warehouse/")
    assert [f.name for f in table.spec().fields] == ["placed_at_day"]
    s3 = boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="lake-key", aws_secret_access_key="lake-secret",
    )  # fmt: skip
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"]]
    days = {k.split("placed_at_day=")[1].split("/")[0] for k in keys if "placed_at_day=" in k}
    assert days == {"2026-03-01", "2026-03-02", "2026-03-03"}
    counted = json.loads(lake.cli("lake", "query", "select count(*) as n, count(distinct id) as d "
                                  "from shop.orders_shipped", "--spec", str(lake.spec), "--json"))  # fmt: skip
    assert counted == [{"n": 300, "d": 300}]
    listed = json.loads(lake.cli("lake", "tables", str(lake.spec), "--json"))
    assert {t["table"]: t["rows"] for t in listed}["shop.orders_shipped"] == 300
    lake.cli("lake", "maintain", str(lake.spec), "--table", "shop.orders_shipped")


def test_a_json_schema_topic_streams_into_typed_columns(lake: Lake) -> None:
    """JSON values in the registry's wire format: the table's columns come from the JSON
    Schema, date-times as timestamps, nested arrays of objects as lists of structs."""
    returned = "shop.orders.returned"
    serializer = JSONSerializer(
        json.dumps(RETURN), lake.registry,
        conf={"auto.register.schemas": False, "use.latest.version": True},
    )  # fmt: skip
    producer = SerializingProducer(
        lake.cluster.admin_settings().librdkafka(
            **{"acks": "all", "value.serializer": serializer, "log_level": 3}
        )
    )
    for n in range(40):
        producer.produce(returned, value={
            "id": n, "returned_at": f"2026-03-0{1 + n % 3}T12:00:00Z",
            "reason": None if n % 2 else "damaged",
            "lines": [{"sku": f"sku-{n}", "quantity": 1}, {"sku": "extra"}],
        })  # fmt: skip
    producer.flush(30)
    lake.stream(returned, "shop.orders_returned", 40)
    sql = (
        "select count(*) as n, count(reason) as reasons, min(returned_at)::varchar as first, "
        "sum(len(lines))::int as lines from shop.orders_returned"
    )
    found = json.loads(lake.cli("lake", "query", sql, "--spec", str(lake.spec), "--json"))
    assert found == [{"n": 40, "reasons": 20, "first": "2026-03-01 12:00:00+00", "lines": 80}]
    table = local_catalog(lake.root / "lake").load_table("shop.orders_returned")
    assert str(table.schema().find_field("returned_at").field_type) == "timestamptz"


def test_a_protobuf_topic_streams_into_typed_columns(lake: Lake) -> None:
    """Protobuf values in the registry's wire format: enums by name, Timestamp as a UTC
    timestamp, repeated fields as lists."""
    import datetime

    refunded = "shop.orders.refunded"
    latest = lake.registry.get_latest_version(f"{refunded}-value")
    sid = int(latest.schema_id or 0)
    refund = DynamicProtobufDecoder(lake.registry).message_class(sid)
    producer = ConfluentProducer(lake.cluster.admin_settings().librdkafka(**{"log_level": 3}))
    for n in range(30):
        message = refund(id=n, reason=n % 3, skus=[f"sku-{n}"])
        message.refunded_at.FromDatetime(datetime.datetime(2026, 3, 1, n % 24, tzinfo=datetime.UTC))
        # The wire format: magic byte, schema id, message indexes ([0]: a single 0), payload.
        producer.produce(
            refunded, b"\0" + sid.to_bytes(4, "big") + b"\0" + message.SerializeToString()
        )
    producer.flush(30)
    lake.stream(refunded, "shop.orders_refunded", 30)
    sql = (
        "select count(*) as n, count(*) filter (where reason = 'DAMAGED') as damaged, "
        "max(refunded_at)::varchar as last, sum(len(skus))::int as skus from shop.orders_refunded"
    )
    found = json.loads(lake.cli("lake", "query", sql, "--spec", str(lake.spec), "--json"))
    assert found == [{"n": 30, "damaged": 10, "last": "2026-03-01 23:00:00+00", "skus": 30}]
