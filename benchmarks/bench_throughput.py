"""Produce/consume throughput of 1 KiB records with raw confluent-kafka on the 1-node cluster.

This is the baseline every later client benchmark (the SDK, serializers) is
compared with. Its own baseline, same run and same topic settings: Kafka's Java
perf tools (ProducerPerformance / ConsumerPerformance from kafka-tools), so the
ratio shows what the Python client costs against the reference client.

Run: .venv/bin/python benchmarks/bench_throughput.py [--records 200000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from _harness import report, scratch_cluster
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.local import LocalCluster, fetch_runtime, find_java
from streamplane.local._fetch import package_file

RECORD_BYTES = 1024
PARTITIONS = 3
PRODUCER_TUNING = {"linger.ms": "5", "batch.size": "262144", "acks": "all"}


def create(cluster: LocalCluster, topic: str) -> None:
    admin = AdminClient(cluster.admin_settings().librdkafka())
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(60)


def python_produce(cluster: LocalCluster, topic: str, records: int) -> float:
    producer = Producer(cluster.admin_settings().librdkafka(**PRODUCER_TUNING))
    payload = os.urandom(RECORD_BYTES)
    failed = 0

    def on_delivery(err: object, _msg: object) -> None:
        nonlocal failed
        if err is not None:
            failed += 1

    started = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, payload, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    assert producer.flush(120) == 0 and failed == 0, f"{failed} deliveries failed"
    return time.perf_counter() - started


def python_consume(cluster: LocalCluster, topic: str, records: int) -> float:
    consumer = Consumer(
        cluster.admin_settings().librdkafka(
            **{"group.id": f"bench-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
               "enable.auto.commit": False, "fetch.max.bytes": 52428800}
        )
    )  # fmt: skip
    # Partitions are assigned directly and the clock starts there: the group join is
    # excluded, as it is from ConsumerPerformance's fetch.nMsg.sec.
    started = time.perf_counter()
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    seen = 0
    while seen < records:
        batch = consumer.consume(num_messages=10000, timeout=1.0)
        seen += sum(1 for m in batch if m.error() is None)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def _java_tool(cluster: LocalCluster, main: str, args: list[str], config: Path) -> str:
    java, runtime = find_java(), fetch_runtime()
    cmd = [
        str(java.executable), "-Xmx512m",
        f"-Dlog4j2.configurationFile={package_file('templates/tools-log4j2.yaml')}",
        "-cp", runtime.classpath, main, *args,
    ]  # fmt: skip
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout


def java_produce(cluster: LocalCluster, topic: str, records: int, config: Path) -> float:
    out = _java_tool(
        cluster, "org.apache.kafka.tools.ProducerPerformance",
        ["--topic", topic, "--num-records", str(records), "--record-size", str(RECORD_BYTES),
         "--throughput", "-1", "--producer.config", str(config)],
        config,
    )  # fmt: skip
    # Final summary line: "N records sent, X records/sec (Y MB/sec), ..."
    rate = float(re.findall(r"records sent, ([\d.]+) records/sec", out)[-1])
    return records / rate


def java_consume(cluster: LocalCluster, topic: str, records: int, config: Path) -> float:
    out = _java_tool(
        cluster, "org.apache.kafka.tools.ConsumerPerformance",
        ["--bootstrap-server", cluster.admin_settings().bootstrap_servers, "--topic", topic,
         "--num-records", str(records), "--command-config", str(config)],
        config,
    )  # fmt: skip
    # Summary CSV: start, end, MB, MB/s, msgs, msgs/s, rebalance ms, fetch ms, fetch MB/s,
    # fetch msgs/s: the last one excludes the group join.
    fields = [f.strip() for f in out.strip().splitlines()[-1].split(",")]
    return records / float(fields[9])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    n = args.records
    mb = n * RECORD_BYTES / 1e6
    with scratch_cluster("throughput", nodes=1) as cluster:
        config = Path(tempfile.mkdtemp()) / "client.properties"
        java_conf = {**cluster.admin_settings().java_client(), **PRODUCER_TUNING}
        config.write_text("".join(f"{k}={v}\n" for k, v in java_conf.items()))
        py_topic, java_topic = "bench-py", "bench-java"
        create(cluster, py_topic)
        create(cluster, java_topic)
        py_p = python_produce(cluster, py_topic, n)
        java_p = java_produce(cluster, java_topic, n, config)
        py_c = python_consume(cluster, py_topic, n)
        java_c = java_consume(cluster, java_topic, n, config)
    rows = [
        ("produce msgs/s", f"{n / py_p:,.0f}", f"{n / java_p:,.0f}"),
        ("produce MB/s", f"{mb / py_p:,.1f}", f"{mb / java_p:,.1f}"),
        ("consume msgs/s", f"{n / py_c:,.0f}", f"{n / java_c:,.0f}"),
        ("consume MB/s", f"{mb / py_c:,.1f}", f"{mb / java_c:,.1f}"),
        ("produce ratio vs Java", f"{java_p / py_p:.2f}", "1.00"),
        ("consume ratio vs Java", f"{java_c / py_c:.2f}", "1.00"),
    ]
    report(
        rows,
        title=(
            f"raw confluent-kafka, {n:,} x {RECORD_BYTES} B, {PARTITIONS} partitions, 1 node, "
            "acks=all, linger 5 ms (baseline: Kafka's Java perf tools, same run)"
        ),
    )


if __name__ == "__main__":
    main()
