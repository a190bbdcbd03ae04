"""Commits follow processing: on revocation in a cooperative rebalance, and with static membership."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka.admin import AdminClient

from streamplane.client import CommitPolicy, Consumer, Producer, Record, RecordBatch
from tests.integration.client.conftest import Estate


def two_numbered_partitions(estate: Estate, each: int) -> str:
    """A new 2-partition topic holding ``each`` records ``b"<partition>-<i>"`` per partition."""
    topic = estate.topic("raw")
    estate.create(topic, partitions=2)
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, telemetry=estate.telemetry()
    ) as producer:
        for partition in (0, 1):
            for i in range(each):
                producer.produce(topic, f"{partition}-{i}".encode(), partition=partition)
    return topic


def test_revoked_partitions_are_committed_so_the_next_owner_does_not_repeat_them(
    estate: Estate,
) -> None:
    topic = two_numbered_partitions(estate, 10)
    rarely = CommitPolicy("async", interval_s=3600)  # nothing committed unless revoked or closed

    def consumer(name: str) -> Consumer:
        return Consumer.for_application(
            estate.spec, "auditor", connection=estate.connection, telemetry=estate.telemetry(),
            commit=rarely, instance_id=name,
        )  # fmt: skip

    group = f"{estate.prefix}auditor"
    first_seen: list[bytes] = []
    first = consumer("auditor-0")
    assert first.run(lambda r: first_seen.append(r.value), max_records=20, idle_timeout_s=30) == 20
    assert estate.committed(group, topic, 2) == [-1001, -1001]  # processed, stored, not committed

    # The first member keeps polling while a second one joins: one partition moves.
    worker = threading.Thread(
        target=lambda: first.run(lambda r: first_seen.append(r.value), idle_timeout_s=20)
    )
    worker.start()
    second_seen: list[bytes] = []
    second = consumer("auditor-1")
    second.run(lambda r: second_seen.append(r.value), idle_timeout_s=8)
    committed = estate.committed(group, topic, 2)
    assert 10 in committed  # the revoked partition was committed in the revoke callback
    first.stop()
    worker.join(30)
    first.close()
    second.close()
    assert second_seen == [] and len(first_seen) == 20
    assert estate.committed(group, topic, 2) == [10, 10]


def test_static_membership_sets_the_group_instance_id(estate: Estate) -> None:
    topic = estate.topic("raw")
    estate.create(topic)
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, telemetry=estate.telemetry()
    ) as producer:
        producer.produce(topic, b"x")
    group = f"{estate.prefix}auditor"
    seen: list[Record] = []
    with Consumer.for_application(
        estate.spec, "auditor", connection=estate.connection, telemetry=estate.telemetry(),
        instance_id="auditor-host-a",
    ) as consumer:  # fmt: skip
        consumer.run(seen.append, max_records=1, idle_timeout_s=30)
        admin = AdminClient(estate.connection.librdkafka())
        deadline = time.monotonic() + 20
        instances: list[str | None] = []
        while time.monotonic() < deadline and not instances:
            described = admin.describe_consumer_groups([group])[group].result(10)
            instances = [m.group_instance_id for m in described.members]
        assert instances == ["auditor-host-a"]
    assert len(seen) == 1


def test_run_batches_commits_what_its_handler_returned_from_and_nothing_after_a_failure(
    estate: Estate,
) -> None:
    topic = two_numbered_partitions(estate, 50)
    group = f"{estate.prefix}auditor"

    def consumer() -> Consumer:
        return Consumer.for_application(
            estate.spec, "auditor", connection=estate.connection, telemetry=estate.telemetry(),
            commit="sync", dead_letters=None,
        )  # fmt: skip

    first = consumer()
    seen: list[bytes] = []

    def fail_on_the_second_call(batch: RecordBatch) -> None:
        if seen:
            raise RuntimeError("downstream is away")
        seen.extend(batch.values)

    with pytest.raises(RuntimeError, match="downstream is away"):
        first.run_batches(fail_on_the_second_call, idle_timeout_s=30)
    first.close()
    # What the first call handed over is committed, and nothing of the failed call
    # (-1001: a partition with nothing committed).
    assert sum(max(o, 0) for o in estate.committed(group, topic, 2)) == len(seen) > 0

    second = consumer()
    rest: list[bytes] = []
    second.run_batches(lambda batch: rest.extend(batch.values), idle_timeout_s=8)
    second.close()
    assert sorted(seen + rest) == sorted(f"{p}-{i}".encode() for p in (0, 1) for i in range(50))
    assert estate.committed(group, topic, 2) == [50, 50]
