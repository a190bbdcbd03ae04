"""The idempotent sink's database side, without a broker: offsets compare-and-set, and a
batch's effect and offsets committed or rolled back together."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message

from streamplane.client.sink import IdempotentSink, SinkError, SqliteSinkStore
from streamplane.kafka import ConnectionSettings

#: Nothing listens there: the consumer is created but never reaches a broker.
OFFLINE = ConnectionSettings(
    bootstrap_servers="127.0.0.1:1", security_protocol="PLAINTEXT", sasl_mechanism=None
)


def _store(tmp_path: Path) -> SqliteSinkStore:
    store = SqliteSinkStore(tmp_path / "sink.db")
    store.open()
    with store.transaction() as cursor:
        cursor.execute("CREATE TABLE seen (record_id TEXT)")
    return store


def test_sqlite_store_runs_in_wal_mode_with_an_offsets_table(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.close()
    with sqlite3.connect(tmp_path / "sink.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in db.execute("PRAGMA table_info(offsets)")]
    assert columns == ["consumer_group", "topic", "partition", "next_offset"]


def test_offsets_advance_only_from_the_value_the_writer_expects(tmp_path: Path) -> None:
    store = _store(tmp_path)
    where = ("orders", 2)
    with store.transaction() as cursor:
        assert store.advance(cursor, group="g", partition=where, expected=None, next_offset=10)
    with store.transaction() as cursor:
        # A second "first" writer of the partition, and a writer a step behind: refused.
        assert not store.advance(cursor, group="g", partition=where, expected=None, next_offset=7)
        assert not store.advance(cursor, group="g", partition=where, expected=5, next_offset=7)
        assert store.advance(cursor, group="g", partition=where, expected=10, next_offset=20)
    assert store.stored_offsets("g", [where, ("orders", 3)]) == {where: 20}
    assert store.stored_offsets("other-group", [where]) == {}


def test_offsets_table_name_is_checked(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="letters, digits and underscores"):
        SqliteSinkStore(tmp_path / "x.db", table="offsets; DROP TABLE seen")


def _records(*offsets: int, partition: int = 0) -> list[Message]:
    return [
        Message(topic="orders", partition=partition, offset=o, value=f"r{o}".encode())
        for o in offsets
    ]


def _insert(cursor: Any, batch: list[Message]) -> None:
    cursor.executemany("INSERT INTO seen VALUES (?)", [(m.value().decode(),) for m in batch])


class _OfflineSink(IdempotentSink):
    """The sink with its seeks recorded instead of sent to a consumer that has no assignment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seeks: list[tuple[tuple[str, int], int | None]] = []
        self.kafka_commits: list[dict[tuple[str, int], int]] = []

    def _seek(self, where: tuple[str, int], offset: int | None) -> None:
        self.seeks.append((where, offset))

    def _commit_to_kafka(self, next_offsets: Any, *, asynchronous: bool = True) -> None:
        self.kafka_commits.append(dict(next_offsets))


def _seen(store: SqliteSinkStore) -> list[str]:
    with store.transaction() as cursor:
        cursor.execute("SELECT record_id FROM seen ORDER BY record_id")
        return [r[0] for r in cursor.fetchall()]


def test_a_batch_stores_its_effect_and_offsets_together(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sink = _OfflineSink(["orders"], group="g", store=store, effect=_insert, connection=OFFLINE)
    try:
        sink._owned = {("orders", 0): None, ("orders", 1): None}
        stored = sink._store_batch(_records(0, 1, 2) + _records(5, partition=1))
        assert stored == 4
        assert store.stored_offsets("g", [("orders", 0), ("orders", 1)]) == {
            ("orders", 0): 3,
            ("orders", 1): 6,
        }
        assert _seen(store) == ["r0", "r1", "r2", "r5"]
        assert sink.stats.batches_stored == 1
        # Kafka hears of it only after the database commit.
        assert sink.kafka_commits == [{("orders", 0): 3, ("orders", 1): 6}]
    finally:
        sink.close()


def test_a_failing_effect_leaves_nothing_and_rewinds_to_the_stored_offsets(tmp_path: Path) -> None:
    store = _store(tmp_path)

    def failing(cursor: Any, batch: list[Message]) -> None:
        _insert(cursor, batch)
        raise RuntimeError("boom")

    sink = _OfflineSink(["orders"], group="g", store=store, effect=failing, connection=OFFLINE)
    try:
        sink._owned = {("orders", 0): 3}
        with pytest.raises(RuntimeError, match="boom"):
            sink._store_batch(_records(3, 4))
        assert _seen(store) == []
        assert sink.kafka_commits == []
        assert sink.seeks == [(("orders", 0), 3)]
        assert sink._owned == {("orders", 0): 3}
    finally:
        sink.close()


def test_a_zombie_batch_is_rolled_back_when_another_member_stored_progress(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sink = _OfflineSink(["orders"], group="g", store=store, effect=_insert, connection=OFFLINE)
    try:
        sink._owned = {("orders", 0): None}
        assert sink._store_batch(_records(0, 1)) == 2
        # The partition moved to another member, which stored up to offset 9.
        with store.transaction() as cursor:
            assert store.advance(
                cursor, group="g", partition=("orders", 0), expected=2, next_offset=9
            )
        assert sink._store_batch(_records(2, 3)) == 0
        assert _seen(store) == ["r0", "r1"]
        assert sink.stats.batches_refused == 1
        assert sink.seeks == [(("orders", 0), 9)]
        assert sink._owned == {("orders", 0): 9}
    finally:
        sink.close()


def test_a_sink_that_cannot_seek_back_refuses_to_go_on(tmp_path: Path) -> None:
    """Skipping an unstored batch would lose it: the sink stops instead."""

    class _Stuck(_OfflineSink):
        def _seek(self, where: tuple[str, int], offset: int | None) -> None:
            raise RuntimeError("partition not assigned")

    def failing(cursor: Any, batch: list[Message]) -> None:
        raise RuntimeError("boom")

    store = _store(tmp_path)
    sink = _Stuck(["orders"], group="g", store=store, effect=failing, connection=OFFLINE)
    try:
        sink._owned = {("orders", 0): 3}
        with pytest.raises(SinkError, match="could not seek back"):
            sink._store_batch(_records(3, 4))
        with pytest.raises(SinkError, match="cannot continue safely"):
            sink.step()
    finally:
        sink._owned = {}
        sink.close()
