"""The idempotent sink against a real cluster and a real PostgreSQL: where it resumes, what
it does when the effect fails, and how two writers of one partition are kept apart."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streamplane.client.sink import (
    BatchSettings,
    IdempotentSink,
    PostgresSinkStore,
    SqliteSinkStore,
)
from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from streamplane.local._postgres import LocalPostgres
from tests.integration.client._zero_loss import create_topic, wait_for


def _produce(settings: ConnectionSettings, topic: str, ids: range) -> None:
    producer = Producer(settings.librdkafka(**{"acks": "all", "enable.idempotence": True}))
    for i in ids:
        producer.produce(topic, str(i).encode(), key=str(i % 7).encode())
    assert producer.flush(60) == 0


def _effect(cursor: Any, batch: list[Message]) -> None:
    cursor.executemany(
        "INSERT INTO seen (record_id) VALUES (?)", [(m.value().decode(),) for m in batch]
    )


def _seen(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return sorted(int(r[0]) for r in db.execute("SELECT record_id FROM seen"))


def _sink(
    settings: ConnectionSettings, topic: str, group: str, path: Path, effect: Any
) -> IdempotentSink:
    store = SqliteSinkStore(path)
    with store, store.transaction() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS seen (record_id TEXT NOT NULL)")
    return IdempotentSink(
        [topic],
        group=group,
        store=store,
        effect=effect,
        connection=settings,
        batch=BatchSettings(max_records=100, poll_timeout_s=0.5),
    )


def _drain(sink: IdempotentSink, path: Path, count: int) -> None:
    wait_for(
        f"{count} stored records",
        lambda: sink.step() >= 0 and len(_seen(path)) >= count,
        timeout_s=90,
        every_s=0,
    )


def test_sink_resumes_from_the_database_when_kafka_offsets_are_behind(
    cluster3: LocalCluster, tmp_path: Path
) -> None:
    """A crash between the database commit and the Kafka commit leaves Kafka behind; the
    sink must resume from the database or it would apply those records twice."""
    settings = cluster3.admin_settings()
    topic, group = f"sink-resume-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    create_topic(settings, topic, partitions=3)
    path = tmp_path / "sink.db"
    _produce(settings, topic, range(300))
    with _sink(settings, topic, group, path, _effect) as sink:
        _drain(sink, path, 300)
    # Put the group's Kafka offsets back to the start, as a lost commit would leave them.
    rewinder = Consumer(settings.librdkafka(**{"group.id": group}))
    rewinder.commit(offsets=[TopicPartition(topic, p, 0) for p in range(3)], asynchronous=False)
    rewinder.close()

    _produce(settings, topic, range(300, 400))
    with _sink(settings, topic, group, path, _effect) as sink:
        _drain(sink, path, 400)
        for _ in range(3):  # nothing more arrives: nothing more is applied
            sink.step()
    assert _seen(path) == list(range(400))


def test_sink_rolls_back_a_failed_effect_and_applies_the_batch_once_on_retry(
    cluster3: LocalCluster, tmp_path: Path
) -> None:
    settings = cluster3.admin_settings()
    topic, group = f"sink-retry-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    create_topic(settings, topic, partitions=2)
    path = tmp_path / "sink.db"
    _produce(settings, topic, range(50))
    calls = {"n": 0}

    def flaky(cursor: Any, batch: list[Message]) -> None:
        calls["n"] += 1
        _effect(cursor, batch)  # written, then rolled back by the failure below
        if calls["n"] == 1:
            raise RuntimeError("downstream unavailable")

    with _sink(settings, topic, group, path, flaky) as sink:
        with pytest.raises(RuntimeError, match="downstream unavailable"):
            wait_for("a batch", lambda: sink.step() > 0, timeout_s=60, every_s=0)
        assert _seen(path) == []
        _drain(sink, path, 50)
        assert sink.stats.records_stored == 50
    assert _seen(path) == list(range(50))


def _waiting_on_locks(postgres: LocalPostgres) -> int:
    import psycopg

    with psycopg.connect(postgres.conninfo, autocommit=True) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_postgres_offsets_compare_and_set_lets_one_of_two_writers_win(
    postgres: LocalPostgres,
) -> None:
    """Two members storing the same partition at once (one a zombie): the second waits on
    the row, re-reads it after the first commits, and is refused."""
    table = f"offsets_{uuid.uuid4().hex[:8]}"
    first = PostgresSinkStore(postgres.conninfo, table=table)
    second = PostgresSinkStore(postgres.conninfo, table=table)
    where = ("orders", 0)
    with first, second:
        with first.transaction() as cursor:
            assert first.advance(cursor, group="g", partition=where, expected=None, next_offset=10)
        outcome: dict[str, bool] = {}
        holding = threading.Event()

        def zombie() -> None:
            holding.wait(30)
            with second.transaction() as cursor:
                outcome["zombie"] = second.advance(
                    cursor, group="g", partition=where, expected=10, next_offset=30
                )

        thread = threading.Thread(target=zombie)
        thread.start()
        with first.transaction() as cursor:
            outcome["owner"] = first.advance(
                cursor, group="g", partition=where, expected=10, next_offset=20
            )
            holding.set()
            # Commit only once the zombie's UPDATE is queued behind our row lock.
            wait_for(
                "the second writer to wait on the row",
                lambda: _waiting_on_locks(postgres) > 0,
                timeout_s=30,
            )
        thread.join(30)
        assert outcome == {"owner": True, "zombie": False}
        assert first.stored_offsets("g", [where]) == {where: 20}
        with first.transaction() as cursor:
            assert not first.advance(
                cursor, group="g", partition=where, expected=None, next_offset=5
            )
