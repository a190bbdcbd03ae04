"""A consumer process for the zero-loss proofs, killed -9 by the test (or by itself).

Three kinds:

- ``sink``: an IdempotentSink writing each record's id into an ``effects`` table of
  SQLite or PostgreSQL;
- ``transform``: a TransactionalProcessor copying each input record to an output topic;
- ``naive-sink``, the baseline the benchmark compares with: a plain consumer writing the
  same effects, committing the database and then its offsets to Kafka, and resuming from
  Kafka's offsets (what most hand-written sinks do).

Kill points the test asks for deterministically (this is test code: the product has no
such switches). ``--kill-mid-batch N`` dies inside the N-th batch's effect, with half of
its rows written; ``--kill-after-db-commit N`` dies after the N-th database commit and
before its Kafka commit; ``--kill-mid-transaction N`` dies before the N-th transaction
commits, its outputs and offsets already on the brokers.

Credentials come from the environment (STREAMPLANE_WORKER_USERNAME, _PASSWORD,
STREAMPLANE_WORKER_PG for PostgreSQL), never from the command line. SIGTERM stops the
worker cleanly.

Run: python -m tests.integration.client._zero_loss_worker sink|transform ...
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from confluent_kafka import Message

from streamplane.client.sink import (
    BatchSettings,
    IdempotentSink,
    Partition,
    PostgresSinkStore,
    SinkStore,
    SqliteSinkStore,
)
from streamplane.client.transactional import (
    Output,
    TransactionalProcessor,
    TransactionSettings,
)
from streamplane.kafka import ConnectionSettings


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _settings(bootstrap: str) -> ConnectionSettings:
    return ConnectionSettings(
        bootstrap_servers=bootstrap,
        username=os.environ["STREAMPLANE_WORKER_USERNAME"],
        password=os.environ["STREAMPLANE_WORKER_PASSWORD"],
    )


def _consumer_overrides(args: argparse.Namespace) -> dict[str, Any]:
    # Static membership: a restarted worker takes its predecessor's place at once
    # instead of waiting for the dead member's session to time out.
    return {
        "group.instance.id": args.instance,
        "session.timeout.ms": 10_000,
        "client.id": f"zero-loss-{args.kind}",
    }


class _KillingSink(IdempotentSink):
    def __init__(self, *args: Any, kill_after_db_commit: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kill_after = kill_after_db_commit
        self._db_commits = 0

    def _commit_to_kafka(
        self, next_offsets: Mapping[Partition, int], *, asynchronous: bool = True
    ) -> None:
        if asynchronous:  # the commit after each database commit (not the one on close)
            self._db_commits += 1
            if self._db_commits == self._kill_after:
                _die()  # the effect and offsets are in the database; Kafka never hears of it
        super()._commit_to_kafka(next_offsets, asynchronous=asynchronous)


class _KillingProcessor(TransactionalProcessor):
    def __init__(self, *args: Any, kill_mid_transaction: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kill_at = kill_mid_transaction
        self._ends = 0

    def _end_transaction(self) -> None:
        self._ends += 1
        if self._ends == self._kill_at:
            # Outputs and offsets are on the brokers, in a transaction never committed.
            self._producer.flush(30)
            _die()
        super()._end_transaction()


def run_sink(args: argparse.Namespace, stop: threading.Event) -> None:
    store: SinkStore
    if args.store == "sqlite":
        store = SqliteSinkStore(args.sqlite, table=f"offsets_{args.tables}")
    else:
        store = PostgresSinkStore(
            os.environ["STREAMPLANE_WORKER_PG"], table=f"offsets_{args.tables}"
        )
    effects = f"effects_{args.tables}"
    batches = 0

    def effect(cursor: Any, batch: list[Message]) -> None:
        nonlocal batches
        batches += 1
        marker = store.marker
        rows = [(m.value().decode(), m.partition(), m.offset()) for m in batch]
        sql = f"INSERT INTO {effects} (record_id, part, record_offset) VALUES ({marker}, {marker}, {marker})"
        if batches == args.kill_mid_batch:
            cursor.executemany(sql, rows[: len(rows) // 2])
            _die()
        cursor.executemany(sql, rows)

    with store, store.transaction() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {effects} "
            "(record_id TEXT NOT NULL, part INTEGER NOT NULL, record_offset BIGINT NOT NULL)"
        )
    sink = _KillingSink(
        [args.topic],
        group=args.group,
        store=store,
        effect=effect,
        connection=_settings(args.bootstrap),
        batch=BatchSettings(max_records=args.batch, poll_timeout_s=0.5),
        overrides=_consumer_overrides(args),
        kill_after_db_commit=args.kill_after_db_commit,
    )
    with sink:
        sink.run(stop=stop.is_set)
    print(f"stats {json.dumps(asdict(sink.stats))}", flush=True)


def run_naive_sink(args: argparse.Namespace, stop: threading.Event) -> None:
    from confluent_kafka import Consumer, TopicPartition

    from streamplane.kafka import client_config

    effects = f"effects_{args.tables}"
    db = sqlite3.connect(args.sqlite, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {effects} "
        "(record_id TEXT NOT NULL, part INTEGER NOT NULL, record_offset BIGINT NOT NULL)"
    )
    config = client_config(
        "zero_loss",
        "consumer",
        connection=_settings(args.bootstrap).librdkafka(),
        overrides={**_consumer_overrides(args), "group.id": args.group},
    )
    consumer = Consumer(config)
    consumer.subscribe([args.topic])
    commits = 0
    while not stop.is_set():
        batch = [m for m in consumer.consume(args.batch, 0.5) if m.error() is None]
        if not batch:
            continue
        rows = [(m.value().decode(), m.partition(), m.offset()) for m in batch]
        db.execute("BEGIN IMMEDIATE")
        db.executemany(f"INSERT INTO {effects} VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")
        commits += 1
        if commits == args.kill_after_db_commit:
            _die()
        nexts: dict[int, int] = {}
        for m in batch:
            nexts[m.partition()] = max(nexts.get(m.partition(), 0), m.offset() + 1)
        offsets = [TopicPartition(args.topic, p, o) for p, o in nexts.items()]
        consumer.commit(offsets=offsets, asynchronous=False)
    consumer.close()


def run_transform(args: argparse.Namespace, stop: threading.Event) -> None:
    def copy(batch: list[Message]) -> list[Output]:
        return [Output(topic=args.output, key=m.key(), value=m.value()) for m in batch]

    processor = _KillingProcessor(
        [args.topic],
        group=args.group,
        transactional_id=args.transactional_id,
        transform=copy,
        connection=_settings(args.bootstrap),
        settings=TransactionSettings(
            max_records=args.batch,
            commit_interval_s=0.3,
            poll_timeout_s=0.3,
            operation_timeout_s=60,
        ),
        consumer_overrides=_consumer_overrides(args),
        producer_overrides={"client.id": "zero-loss-transform"},
        kill_mid_transaction=args.kill_mid_transaction,
    )
    with processor:
        processor.run(stop=stop.is_set)
    print(f"stats {json.dumps(asdict(processor.stats))}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["sink", "transform", "naive-sink"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sqlite")
    parser.add_argument("--tables", default="proof")
    parser.add_argument("--output")
    parser.add_argument("--transactional-id")
    parser.add_argument("--kill-mid-batch", type=int, default=0)
    parser.add_argument("--kill-after-db-commit", type=int, default=0)
    parser.add_argument("--kill-mid-transaction", type=int, default=0)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.kind == "sink":
        run_sink(args, stop)
    elif args.kind == "naive-sink":
        run_naive_sink(args, stop)
    else:
        run_transform(args, stop)


if __name__ == "__main__":
    main()
