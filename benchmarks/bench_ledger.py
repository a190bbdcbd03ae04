"""The ledger blueprint's figures: replay into a fresh projection, command throughput and
latency, read-your-writes.

One node (tiered storage on) with the blueprint's spec applied (``LocalLedger``, as the
tests use it); two writers, the live SQLite projection and the API as processes.

1. **Backlog of commands**: ``--accounts`` accounts opened and ``--commands`` deposits
   produced straight to the commands topic (as ``ledger-api``); the figure is the rate at
   which the two writers turn them into events (first to last event written). Baseline:
   a bare consumer reading the same commands without decoding them.
2. **Replay**: a new projection (``ledger-rebuilder``, a fresh SQLite database, in this
   process) from offset 0 until it holds every event; events/s against a bare consumer
   reading the same events topic. Then the same into PostgreSQL (``--postgres``).
3. **Commands over HTTP**: ``--clients`` concurrent clients deposit and withdraw for
   ``--seconds``; commands/s and latency p50/p99 (request to answer: the command written,
   decided and its outcome read back).
4. **Read-your-writes**: after each of ``--probes`` deposits, a query with the returned
   version as ``min_version``; the figure is from the command's answer to the query's
   answer (how far the projection trails the writer), p50/p99.

Run: .venv/bin/python benchmarks/bench_ledger.py [--commands 100000] [--clients 16]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from _harness import PORT_OFFSET, report
from confluent_kafka import Consumer, KafkaError, TopicPartition

from blueprints.ledger.local import LocalLedger
from blueprints.ledger.projection import Projector, ReadModel, postgres_store, sqlite_store
from streamplane.client import BatchSettings, Producer, application_connection
from streamplane.local import LocalPostgres

COMMANDS = "bank.ledger.commands"
EVENTS = "bank.ledger.events.v1"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def read_to_end(local: LocalLedger, topic: str) -> tuple[int, float]:
    """(records, seconds) of a bare ``read_committed`` consumer reading ``topic`` from its
    start to its end, without decoding: the floor any reader of it pays."""
    app = "ledger-rebuilder" if topic == EVENTS else "ledger-writer"
    conn = application_connection(local.spec, app, data_dir=local.data_dir).connection
    consumer = Consumer(conn.librdkafka(**{
        "group.id": local.spec.applications[app].consumer_group, "enable.auto.commit": False,
        "isolation.level": "read_committed", "enable.partition.eof": True, "log_level": 3,
    }))  # fmt: skip
    consumer.assign([TopicPartition(topic, p, -2) for p in range(6)])
    read, behind = 0, set(range(6))
    first = last = 0.0
    while behind:
        for m in consumer.consume(10_000, 0.2):
            error = m.error()
            if error is None:
                read += 1
                last = time.monotonic()
                first = first or last
            elif error.code() == KafkaError._PARTITION_EOF:
                behind.discard(m.partition() or 0)
    consumer.close()
    # From the first record to the last, as the replay is timed (not the wait for the end).
    return read, max(last - first, 1e-9)


def writers_caught_up(local: LocalLedger) -> bool:
    """Whether the writers' group has committed every command (cheap: offsets only)."""
    app = "ledger-writer"
    conn = application_connection(local.spec, app, data_dir=local.data_dir).connection
    consumer = Consumer(conn.librdkafka(**{
        "group.id": local.spec.applications[app].consumer_group, "log_level": 3,
    }))  # fmt: skip
    try:
        partitions = [TopicPartition(COMMANDS, p) for p in range(6)]
        committed = consumer.committed(partitions, timeout=30)
        ends = [consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in partitions]
        return all(c.offset >= end for c, end in zip(committed, ends, strict=True))
    finally:
        consumer.close()


def replay(local: LocalLedger, store: object, events: int) -> float:
    projector = Projector(local.spec, store, app="ledger-rebuilder",  # type: ignore[arg-type]
                          data_dir=local.data_dir,
                          batch=BatchSettings(max_records=20_000, poll_timeout_s=0.2))  # fmt: skip
    began = None
    try:
        while projector.projected < events:
            done = projector.step()
            if done and began is None:
                began = time.monotonic()
        assert began is not None
        return projector.projected / (time.monotonic() - began)
    finally:
        projector.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--commands", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sp-bench-ledger-"))
    local = LocalLedger(root / "data", port_offset=PORT_OFFSET)
    postgres = LocalPostgres(port=PORT_OFFSET + 6432)  # a temporary directory of its own
    rows: list[tuple[str, str, str]] = []
    try:
        postgres.start()
        local.up_with_everything()

        # 1. A backlog of commands straight onto the topic.
        accounts = [f"acct-{i}" for i in range(args.accounts)]
        now = int(time.time() * 1000)
        base, _ = read_to_end(local, EVENTS)
        with Producer.for_application(local.spec, "ledger-api", data_dir=local.data_dir) as p:
            for a in accounts:
                p.produce(COMMANDS, {"command_id": f"open-{a}", "kind": "OPEN", "account_id": a,
                                     "amount_minor": 0, "expected_version": None,
                                     "counterparty": None, "transfer_id": None,
                                     "issued_at": now}, key=a)  # fmt: skip
            p.flush(60)
            began = time.monotonic()
            for i in range(args.commands):
                a = accounts[i % len(accounts)]
                p.produce(COMMANDS, {"command_id": uuid.uuid4().hex, "kind": "DEPOSIT",
                                     "account_id": a, "amount_minor": 100,
                                     "expected_version": None, "counterparty": None,
                                     "transfer_id": None, "issued_at": now}, key=a)  # fmt: skip
            p.flush(60)
        local.wait(lambda: writers_caught_up(local), "the writers through the backlog",
                   timeout_s=600)  # fmt: skip
        rate = args.commands / (time.monotonic() - began)
        written, _ = read_to_end(local, EVENTS)
        assert written == base + args.accounts + args.commands, (written, base)
        commands, seconds = read_to_end(local, COMMANDS)
        rows.append(("commands/s, backlog, two writers", f"{rate:,.0f}",
                     f"{commands / seconds:,.0f} bare read"))  # fmt: skip

        # 2. Replay into fresh projections.
        events, seconds = read_to_end(local, EVENTS)
        bare = events / seconds
        sqlite = replay(local, sqlite_store(root / "rebuilt.db"), events)
        rows.append((f"replay into SQLite, events/s ({events:,})", f"{sqlite:,.0f}",
                     f"{bare:,.0f} bare read"))  # fmt: skip
        pg = replay(local, postgres_store(postgres.conninfo), events)
        rows.append(("replay into PostgreSQL, events/s", f"{pg:,.0f}", f"{bare:,.0f} bare read"))

        # 3. Commands over HTTP.
        latencies: list[float] = []
        stop = threading.Event()

        def client(n: int) -> None:
            http = httpx.Client(base_url=local.url, timeout=30)
            i = 0
            while not stop.is_set():
                a = accounts[(n * 7919 + i) % len(accounts)]
                kind = "deposits" if i % 3 else "withdrawals"
                t = time.perf_counter()
                http.post(f"/accounts/{a}/{kind}", json={"amount_minor": 50})
                latencies.append((time.perf_counter() - t) * 1000)
                i += 1

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        began = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join(60)
        wall = time.monotonic() - began
        throughput = len(latencies) / wall
        rows.append((f"commands over HTTP, {args.clients} clients", f"{throughput:,.0f}/s", ""))
        rows.append(("command latency p50 / p99", f"{pct(latencies, 50):.1f} / "
                     f"{pct(latencies, 99):.1f} ms", ""))  # fmt: skip

        # 4. Read-your-writes.
        http = httpx.Client(base_url=local.url, timeout=30)
        waits: list[float] = []
        for i in range(args.probes):
            a = accounts[i % len(accounts)]
            done = http.post(f"/accounts/{a}/deposits", json={"amount_minor": 1}).json()
            t = time.perf_counter()
            got = http.get(f"/accounts/{a}", params={"min_version": done["version"]}).json()
            waits.append((time.perf_counter() - t) * 1000)
            assert got["version"] >= done["version"]
        read = ReadModel(local.projection())
        rows.append(("read-your-writes wait p50 / p99", f"{pct(waits, 50):.1f} / "
                     f"{pct(waits, 99):.1f} ms", "0 ms: a read that needs no wait"))  # fmt: skip
        rows.append(("accounts / sum of balances (live projection)",
                     f"{read.totals()[1]:,} / {read.totals()[0]:,}", ""))  # fmt: skip
        report(rows, title="Ledger blueprint (1 node; two writers, one projection, the API)")
    finally:
        local.down()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
