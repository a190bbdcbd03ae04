"""``streamplane topics`` and ``streamplane groups`` read what an operator looks for."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from streamplane.cli import app
from streamplane.local import LocalCluster
from tests.integration.cli.conftest import cli, cli_json, runner
from tests.integration.conftest import create_topic
from tests.unit.client.specs import write_spec

#: Records produced to partitions 0, 1 and 2 of the test topic.
PRODUCED = {0: 5, 1: 3, 2: 0}


def produce(cluster: LocalCluster, topic: str) -> None:
    producer = Producer(cluster.admin_settings().librdkafka())
    for partition, count in PRODUCED.items():
        for i in range(count):
            producer.produce(topic, f"p{partition}-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def consume_all(consumer: Consumer, count: int) -> None:
    """Poll until ``count`` records arrived (the group has joined and owns every partition)."""
    seen = 0
    deadline = time.monotonic() + 60
    while seen < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            seen += 1
    assert seen == count, f"consumed {seen} of {count}"


def test_topics_list_and_describe_show_layout_offsets_and_configs(
    cluster1: LocalCluster, topic_name: str
) -> None:
    create_topic(
        cluster1.admin_settings(), topic_name, partitions=3, config={"retention.ms": "3600000"}
    )
    produce(cluster1, topic_name)
    # A group's commit makes Kafka create its own __consumer_offsets topic.
    committer = Consumer(cluster1.admin_settings().librdkafka(**{"group.id": topic_name}))
    committer.commit(offsets=[TopicPartition(topic_name, 0, 1)], asynchronous=False)
    committer.close()

    listed = {t["topic"]: t for t in cli_json(cluster1, "topics", "list")}
    assert listed[topic_name] == {
        "topic": topic_name, "partitions": 3, "replication_factor": 1,
        "under_replicated": 0, "offline": 0,
    }  # fmt: skip
    assert "__consumer_offsets" not in listed  # Kafka's own topics only with --internal
    internal = cli_json(cluster1, "topics", "list", "__consumer*", "--internal")
    assert [t["topic"] for t in internal] == ["__consumer_offsets"]

    described = cli_json(cluster1, "topics", "describe", topic_name)
    partitions = described["partition_details"]
    assert [p["end_offset"] for p in partitions] == [5, 3, 0]
    assert [p["start_offset"] for p in partitions] == [0, 0, 0]
    assert all(p["leader"] == 1 and p["isr"] == [1] for p in partitions)
    assert partitions[0]["size_bytes"] > partitions[2]["size_bytes"] == 0
    assert described["configs"]["retention.ms"] == {"value": "3600000", "source": "topic"}

    text = cli(cluster1, "topics", "describe", topic_name)
    assert "retention.ms" in text and "3600000" in text and topic_name in text


def test_groups_describe_reports_lag_per_partition_members_and_state(
    cluster1: LocalCluster, topic_name: str
) -> None:
    create_topic(cluster1.admin_settings(), topic_name, partitions=3)
    produce(cluster1, topic_name)
    group = f"lag-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        cluster1.admin_settings().librdkafka(
            **{"group.id": group, "client.id": "lag-probe", "enable.auto.commit": False,
               "auto.offset.reset": "earliest"}
        )
    )  # fmt: skip
    try:
        consumer.subscribe([topic_name])
        consume_all(consumer, sum(PRODUCED.values()))
        # Partition 0 is 2 records in, partition 1 all the way, partition 2 never committed.
        consumer.commit(
            offsets=[TopicPartition(topic_name, 0, 2), TopicPartition(topic_name, 1, 3)],
            asynchronous=False,
        )
        live = cli_json(cluster1, "groups", "describe", group)
        assert live["state"] == "STABLE" and live["type"] == "CLASSIC"
        (member,) = live["members"]
        assert member["client_id"] == "lag-probe" and member["host"]
        assert member["assignment"] == [{"topic": topic_name, "partition": p} for p in range(3)]
        lags = {p["partition"]: p for p in live["partitions"]}
        assert (lags[0]["committed"], lags[0]["end_offset"], lags[0]["lag"]) == (2, 5, 3)
        assert (lags[1]["committed"], lags[1]["end_offset"], lags[1]["lag"]) == (3, 3, 0)
        assert (lags[2]["committed"], lags[2]["end_offset"], lags[2]["lag"]) == (None, 0, None)
        assert all(p["member"] == member["member_id"] for p in live["partitions"])
        assert live["total_lag"] == 3

        text = cli(cluster1, "groups", "describe", group)
        assert "lag-probe" in text and f"{topic_name}[0,1,2]" in text
    finally:
        consumer.close()

    listed = {g["group"]: g for g in cli_json(cluster1, "groups", "list")}
    assert listed[group] == {
        "group": group, "state": "EMPTY", "type": "CLASSIC", "members": 0, "total_lag": 3,
    }  # fmt: skip
    missing = runner.invoke(
        app, ["groups", "describe", f"no-such-{group}", "--data-dir", str(cluster1.dir.root)]
    )
    assert missing.exit_code == 1
    assert f"no consumer group 'no-such-{group}'" in str(missing.exception)


def test_with_a_spec_topics_and_groups_name_their_owner(
    cluster1: LocalCluster, tmp_path: Path
) -> None:
    prefix = f"o{uuid.uuid4().hex[:8]}."
    spec = write_spec(tmp_path / "spec", prefix=prefix)
    managed, stray = f"{prefix}orders.raw", f"{prefix}orders.stray"
    for name in (managed, stray):
        create_topic(cluster1.admin_settings(), name)
    args = ("--spec", str(spec.root))

    listed = {t["topic"]: t for t in cli_json(cluster1, "topics", "list", f"{prefix}*", *args)}
    assert listed[managed] == {
        "topic": managed, "partitions": 1, "replication_factor": 1, "under_replicated": 0,
        "offline": 0, "tenant": "shop", "domain": "orders", "managed": True, "platform": False,
    }  # fmt: skip
    assert (listed[stray]["tenant"], listed[stray]["managed"]) == ("shop", False)
    assert "1 not in the spec" in cli(cluster1, "topics", "list", f"{prefix}*", *args)

    # The spec's consumer of the topic, under its own group: the group names its application.
    group = f"{prefix}auditor"
    consumer = Consumer(
        cluster1.admin_settings().librdkafka(**{"group.id": group, "enable.auto.commit": False})
    )
    consumer.commit(offsets=[TopicPartition(managed, 0, 0)], asynchronous=False)
    consumer.close()
    groups = {g["group"]: g for g in cli_json(cluster1, "groups", "list", *args)}
    assert groups[group]["application"] == "auditor" and groups[group]["total_lag"] == 0
