"""The zero-loss proofs, shared by the CI tests and ``benchmarks/bench_zero_loss.py``.

Three experiments on a 3-node cluster (topics RF 3, min.insync.replicas 2):

- :func:`prove_producer`: a zero_loss producer writes numbered, keyed records while
  the leader of the topic's partitions is killed -9 and restarted, again and again;
  every record is accounted for as acknowledged or reported failed, and the log holds
  each acknowledged record exactly once, in order per key;
- :func:`prove_sink`: an idempotent sink in a separate process is killed -9 at random
  points, mid-batch and between its database commit and its Kafka commit; the
  database ends up with each record's effect exactly once;
- :func:`prove_transform`: the transactional consume-transform-produce process is
  killed the same way; a read_committed reader of its output sees each input once.

Nothing here waits by sleeping: each wait polls a condition with a deadline. The only
sleeps are the random delays that choose *when* to kill.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.kafka import ConnectionSettings, client_config
from streamplane.local import LocalCluster

REPO_ROOT = Path(__file__).resolve().parents[3]
WORKER = "tests.integration.client._zero_loss_worker"


# ----------------------------------------------------------------- figures
@dataclass
class Figures:
    """What a proof measured; the must-be-zero ones are asserted by the callers."""

    name: str
    produced: int = 0
    acknowledged: int = 0
    reported_failed: int = 0
    unaccounted: int = 0  # neither acknowledged nor reported: must be 0
    lost: int = 0  # acknowledged but not in the log (or not in the sink): must be 0
    duplicated_in_log: int = 0
    duplicated_in_sink: int = 0
    out_of_order_keys: int = 0
    kills: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        rows = [
            ("produced", self.produced),
            ("acknowledged", self.acknowledged),
            ("reported failed", self.reported_failed),
            ("unaccounted (must be 0)", self.unaccounted),
            ("lost (must be 0)", self.lost),
            ("duplicated in the log (must be 0)", self.duplicated_in_log),
            ("duplicated in the sink (must be 0)", self.duplicated_in_sink),
            ("keys out of order (must be 0)", self.out_of_order_keys),
            ("kills survived", self.kills),
            *self.extra.items(),
        ]
        return [f"  {label:<40} {value:>10,}" for label, value in rows]

    def render(self) -> str:
        return "\n".join([f"{self.name}:", *self.lines()])

    def assert_exact(self) -> None:
        assert self.unaccounted == 0, self.render()
        assert self.lost == 0, self.render()
        assert self.duplicated_in_log == 0, self.render()
        assert self.duplicated_in_sink == 0, self.render()
        assert self.out_of_order_keys == 0, self.render()


def wait_for(
    what: str, condition: Callable[[], bool], *, timeout_s: float, every_s: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


# ------------------------------------------------------------------ topics
def create_topic(settings: ConnectionSettings, name: str, *, partitions: int) -> None:
    admin = AdminClient(settings.librdkafka())
    futures = admin.create_topics(
        [NewTopic(name, partitions, 3, config={"min.insync.replicas": "2"})], operation_timeout=60
    )
    futures[name].result(timeout=90)
    wait_for(
        f"{name} to have leaders",
        lambda: all(leader >= 0 for leader in leaders(settings, name).values()),
        timeout_s=60,
    )


def _metadata(settings: ConnectionSettings, topic: str) -> Any:
    admin = AdminClient(settings.librdkafka(**{"log_level": 3}))
    return admin.list_topics(topic, timeout=20).topics[topic]


def leaders(settings: ConnectionSettings, topic: str) -> dict[int, int]:
    return {p.id: p.leader for p in _metadata(settings, topic).partitions.values()}


def isr_full(settings: ConnectionSettings, topic: str, replicas: int = 3) -> bool:
    try:
        parts = _metadata(settings, topic).partitions.values()
    except Exception:  # noqa: BLE001 - a node restarting may refuse metadata for a moment
        return False
    return bool(parts) and all(len(p.isrs) == replicas and p.leader >= 0 for p in parts)


def end_offsets(settings: ConnectionSettings, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer(settings.librdkafka(**{"group.id": f"eo-{uuid.uuid4().hex}"}))
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def committed_offsets(
    settings: ConnectionSettings, group: str, topic: str, partitions: int
) -> dict[int, int]:
    # A consumer that never subscribes does not join the group: it only reads its offsets.
    # read_uncommitted: do not wait for offsets pending in a transaction a killed process
    # left open (its successor aborts it); report the last stable ones.
    consumer = Consumer(
        settings.librdkafka(**{"group.id": group, "isolation.level": "read_uncommitted"})
    )
    try:
        found = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=30
        )
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


@dataclass(frozen=True)
class LogRecord:
    partition: int
    offset: int
    key: str
    value: str


def read_all(
    settings: ConnectionSettings,
    topic: str,
    *,
    partitions: int,
    committed_only: bool = True,
    timeout_s: float = 120,
) -> list[LogRecord]:
    """Every record of ``topic``, read to the end of each partition."""
    consumer = Consumer(
        settings.librdkafka(
            **{
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.partition.eof": True,
                "enable.auto.commit": False,
                "isolation.level": "read_committed" if committed_only else "read_uncommitted",
            }
        )
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    done: set[int] = set()
    records: list[LogRecord] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(done) < partitions:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"reading {topic} did not reach the end of partitions {set(range(partitions)) - done}"
                )
            for m in consumer.consume(10_000, timeout=1.0):
                error = m.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        done.add(m.partition())
                    continue
                done.discard(m.partition())
                records.append(
                    LogRecord(m.partition(), m.offset(), m.key().decode(), m.value().decode())
                )
    finally:
        consumer.close()
    return records


# ----------------------------------------------------------------- producer
def record_value(record_id: int, key: str, seq: int) -> str:
    return f"{record_id}:{key}:{seq}"


class NumberedProducer:
    """Writes ``id:key:seq`` records with the zero_loss profile and accounts for each one."""

    #: The baseline: what a producer without the profile commonly runs with.
    ACKS_1: ClassVar[dict[str, Any]] = {"acks": 1, "enable.idempotence": False, "linger.ms": 5}

    def __init__(
        self,
        settings: ConnectionSettings,
        topic: str,
        *,
        rate: float,
        keys: int = 24,
        raw_config: dict[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self.rate = rate
        self.keys = keys
        config = (
            settings.librdkafka(**raw_config)
            if raw_config is not None
            else client_config("zero_loss", "producer", connection=settings.librdkafka())
        )
        self.producer = Producer({**config, "client.id": "zero-loss-producer"})
        self.produced = 0
        self.acked: set[int] = set()
        self.failed: dict[int, str] = {}
        self.unreported = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="numbered-producer", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> NumberedProducer:
        self._thread.start()
        return self

    def _report(self, record_id: int) -> Callable[[KafkaError | None, Any], None]:
        def report(err: KafkaError | None, _msg: Any) -> None:
            if err is None:
                self.acked.add(record_id)
            else:
                self.failed[record_id] = err.str()

        return report

    def _run(self) -> None:
        try:
            seqs: Counter[str] = Counter()
            started = time.monotonic()
            while not self._stop.is_set():
                due = int((time.monotonic() - started) * self.rate) - self.produced
                for _ in range(max(due, 0)):
                    record_id = self.produced
                    key = f"k{record_id % self.keys}"
                    seq = seqs[key]
                    value = record_value(record_id, key, seq)
                    while True:
                        try:
                            self.producer.produce(
                                self.topic,
                                value.encode(),
                                key.encode(),
                                on_delivery=self._report(record_id),
                            )
                            break
                        except BufferError:
                            self.producer.poll(0.05)
                    seqs[key] += 1
                    self.produced += 1
                self.producer.poll(0.01)
            self.unreported = self.producer.flush(180)
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self._error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(240)
        if self._error is not None:
            raise self._error
        assert not self._thread.is_alive(), "the producer did not finish flushing"


# ------------------------------------------------------- broker kill proof
def _busiest_leader(settings: ConnectionSettings, topic: str) -> int:
    counts = Counter(leader for leader in leaders(settings, topic).values() if leader >= 0)
    return counts.most_common(1)[0][0]


def prove_producer(
    cluster: LocalCluster,
    *,
    kills: int,
    partitions: int = 6,
    rate: float = 1000,
    log: Callable[[str], None] = print,
    baseline: bool = False,
) -> Figures:
    """Kill -9 the busiest partition leader ``kills`` times under a zero_loss producer
    (``baseline``: an acks=1 producer without idempotence instead)."""
    settings = cluster.admin_settings()
    topic = f"zero-loss-producer-{uuid.uuid4().hex[:8]}"
    create_topic(settings, topic, partitions=partitions)
    raw = NumberedProducer.ACKS_1 if baseline else None
    producer = NumberedProducer(settings, topic, rate=rate, raw_config=raw).start()
    figures = Figures(
        "baseline: acks=1 producer, partition leaders killed -9"
        if baseline
        else "zero_loss producer, partition leaders killed -9"
    )
    acked_while_down = 0
    try:
        wait_for("first acknowledgements", lambda: len(producer.acked) > rate, timeout_s=60)
        for n in range(kills):
            victim = _busiest_leader(settings, topic)
            before = len(producer.acked)
            cluster.kill_node(victim)
            # Writes must go on with one node of three down (RF 3, min ISR 2).
            wait_for(
                "acknowledgements with a node down",
                lambda b=before: len(producer.acked) > b + rate,
                timeout_s=120,
            )
            acked_while_down += len(producer.acked) - before
            cluster.start_node(victim, timeout_s=180)
            wait_for(
                "the ISR to be full again",
                lambda: isr_full(settings, topic),
                timeout_s=180,
                every_s=0.5,
            )
            figures.kills += 1
            log(
                f"  kill {n + 1}/{kills}: node {victim} killed and back; {len(producer.acked):,} acknowledged"
            )
    finally:
        producer.stop()
        for node_id in (1, 2, 3):
            if node_id not in cluster.running_nodes():
                cluster.start_node(node_id, timeout_s=180)
    records = read_all(settings, topic, partitions=partitions)
    figures.produced = producer.produced
    figures.acknowledged = len(producer.acked)
    figures.reported_failed = len(producer.failed)
    figures.unaccounted = producer.produced - len(producer.acked) - len(producer.failed)
    ids = Counter(int(r.value.split(":")[0]) for r in records)
    figures.lost = sum(1 for i in producer.acked if ids[i] == 0)
    figures.duplicated_in_log = sum(n - 1 for n in ids.values() if n > 1)
    figures.out_of_order_keys = _keys_out_of_order(records)
    figures.extra["acknowledged with a node down"] = acked_while_down
    return figures


def _keys_out_of_order(records: list[LogRecord]) -> int:
    last: dict[str, int] = {}
    bad: set[str] = set()
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        seq = int(r.value.split(":")[2])
        if seq <= last.get(r.key, -1):
            bad.add(r.key)
        last[r.key] = seq
    return len(bad)


# --------------------------------------------------------- consumer proofs
class Worker:
    """One run of the worker process, its output in a log file."""

    def __init__(self, args: list[str], *, env: dict[str, str], log_file: Path) -> None:
        self.log_file = log_file
        with log_file.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", WORKER, *args],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(120)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self) -> str:
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-30:])


@dataclass(frozen=True)
class KillPlan:
    """How each run of the worker ends: killed from outside after a random delay, or by itself."""

    modes: tuple[str, ...]

    @classmethod
    def mixed(cls, kills: int, self_kills: tuple[str, ...]) -> KillPlan:
        cycle = ("random", *self_kills)
        return cls(tuple(cycle[i % len(cycle)] for i in range(kills)))


class _Database:
    """Read access to the sink's database, SQLite or PostgreSQL."""

    def __init__(
        self, *, sqlite_path: Path | None = None, conninfo: str | None = None, tables: str
    ) -> None:
        self.sqlite_path = sqlite_path
        self.conninfo = conninfo
        self.tables = tables

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.sqlite_path is not None:
            if not self.sqlite_path.exists():
                return []
            with sqlite3.connect(self.sqlite_path, timeout=30) as db:
                try:
                    return db.execute(sql).fetchall()
                except sqlite3.OperationalError as exc:
                    if "no such table" in str(exc):
                        return []
                    raise
        import psycopg

        with psycopg.connect(self.conninfo or "", autocommit=True) as db:
            try:
                return db.execute(sql).fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    def effects(self) -> int:
        rows = self.query(f"SELECT count(*) FROM effects_{self.tables}")
        return int(rows[0][0]) if rows else 0

    def stored_offsets(self) -> dict[int, int]:
        rows = self.query(f"SELECT partition, next_offset FROM offsets_{self.tables}")
        return {int(p): int(o) for p, o in rows}

    def applied_offsets(self) -> dict[int, int]:
        """Per partition, the offset after the last record whose effect is in the database."""
        rows = self.query(
            f"SELECT part, max(record_offset) + 1 FROM effects_{self.tables} GROUP BY part"
        )
        return {int(p): int(o) for p, o in rows}

    def effect_counts(self) -> Counter[int]:
        rows = self.query(
            f"SELECT record_id, count(*) FROM effects_{self.tables} GROUP BY record_id"
        )
        return Counter({int(str(i).split(":")[0]): int(n) for i, n in rows})


def worker_env(settings: ConnectionSettings, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "STREAMPLANE_WORKER_USERNAME": settings.username or "",
        "STREAMPLANE_WORKER_PASSWORD": settings.password or "",
        "PYTHONPATH": str(REPO_ROOT),
        **(extra or {}),
    }


def _run_with_kills(
    *,
    plan: KillPlan,
    start: Callable[[dict[str, int]], Worker],
    progress: Callable[[], int],
    after_kill: Callable[[str], None],
    log: Callable[[str], None],
    rng: random.Random,
) -> int:
    """Run the worker once per planned kill; returns the kills done."""
    kills = 0
    for n, mode in enumerate(plan.modes):
        flags = {}
        if mode != "random":
            flags[mode] = rng.randint(2, 4)
        before = progress()
        worker = start(flags)
        if mode == "random":
            try:
                wait_for(
                    "the worker to make progress",
                    lambda b=before, w=worker: progress() > b or not w.alive(),
                    timeout_s=120,
                )
            except AssertionError:
                worker.kill()
                raise AssertionError(f"no progress; worker log:\n{worker.tail()}") from None
            assert worker.alive(), f"worker exited on its own:\n{worker.tail()}"
            time.sleep(rng.uniform(0.0, 1.5))  # chaos: when to kill, not a wait for anything
            worker.kill()
        else:
            try:
                code = worker.proc.wait(180)
            except subprocess.TimeoutExpired:
                worker.kill()
                raise AssertionError(
                    f"worker never reached its kill point ({mode}):\n{worker.tail()}"
                ) from None
            assert code == -signal.SIGKILL, (
                f"worker exited with {code}, not killed at {mode}:\n{worker.tail()}"
            )
        kills += 1
        after_kill(mode)
        log(
            f"  kill {n + 1}/{len(plan.modes)} ({mode}{' ' + str(flags[mode]) if flags else ''}): progress {progress():,}"
        )
    return kills


def covers(offsets: dict[int, int], ends: dict[int, int]) -> bool:
    """Every partition's next offset has reached its end (a partition without records: 0)."""
    return all(max(offsets.get(p, 0), 0) >= end for p, end in ends.items())


def prove_sink(
    cluster: LocalCluster,
    *,
    store: str,
    workdir: Path,
    kills: int,
    conninfo: str | None = None,
    partitions: int = 6,
    rate: float = 400,
    log: Callable[[str], None] = print,
    seed: int | None = None,
    naive: bool = False,
) -> Figures:
    """Kill -9 an IdempotentSink process ``kills`` times while records keep arriving
    (``naive``: the baseline sink resuming from Kafka's offsets, SQLite only)."""
    rng = random.Random(seed)
    settings = cluster.admin_settings()
    topic = f"zero-loss-sink-{uuid.uuid4().hex[:8]}"
    group = f"sink-{uuid.uuid4().hex[:8]}"
    tables = uuid.uuid4().hex[:8]
    create_topic(settings, topic, partitions=partitions)
    sqlite_path = workdir / f"sink-{tables}.db" if store == "sqlite" else None
    db = _Database(sqlite_path=sqlite_path, conninfo=conninfo, tables=tables)
    env = worker_env(settings, {"STREAMPLANE_WORKER_PG": conninfo} if conninfo else None)
    base = [
        "naive-sink" if naive else "sink", "--bootstrap", settings.bootstrap_servers, "--topic", topic, "--group", group,
        "--instance", "sink-0", "--store", store, "--tables", tables, "--batch", "200",
        *(["--sqlite", str(sqlite_path)] if sqlite_path else []),
    ]  # fmt: skip
    figures = Figures(
        f"baseline: consumer committing to Kafka after the database ({store}), killed -9"
        if naive
        else f"idempotent sink ({store}), consumer killed -9"
    )
    window = {"hits": 0}

    def start(flags: dict[str, int]) -> Worker:
        extra = [a for mode, n in flags.items() for a in (f"--{mode}", str(n))]
        return Worker([*base, *extra], env=env, log_file=workdir / f"sink-{tables}.log")

    def after_kill(mode: str) -> None:
        if mode == "kill-after-db-commit":
            applied = db.applied_offsets()
            committed = committed_offsets(settings, group, topic, partitions)
            # The window was really hit: the database is ahead of Kafka's committed offsets.
            if any(committed.get(p, -1) < o for p, o in applied.items()):
                window["hits"] += 1

    producer = NumberedProducer(settings, topic, rate=rate).start()
    try:
        self_kills = (
            ("kill-after-db-commit",) if naive else ("kill-mid-batch", "kill-after-db-commit")
        )
        plan = KillPlan.mixed(kills, self_kills)
        figures.kills = _run_with_kills(
            plan=plan, start=start, progress=db.effects, after_kill=after_kill, log=log, rng=rng
        )
    finally:
        producer.stop()
    final = start({})
    try:
        ends = end_offsets(settings, topic, partitions)
        # The naive sink keeps no offsets of its own: Kafka's say how far it got.
        wait_for(
            "the sink to store every record",
            lambda: covers(
                committed_offsets(settings, group, topic, partitions)
                if naive
                else db.stored_offsets(),
                ends,
            ),
            timeout_s=180,
            every_s=0.5,
        )
    finally:
        final.stop()
    counts = db.effect_counts()
    figures.produced = producer.produced
    figures.acknowledged = len(producer.acked)
    figures.reported_failed = len(producer.failed)
    figures.unaccounted = producer.produced - len(producer.acked) - len(producer.failed)
    figures.lost = sum(1 for i in producer.acked if counts[i] == 0)
    figures.duplicated_in_sink = sum(n - 1 for n in counts.values() if n > 1)
    figures.extra["effects stored"] = sum(counts.values())
    figures.extra["kills between DB and Kafka commit"] = window["hits"]
    return figures


def prove_transform(
    cluster: LocalCluster,
    *,
    workdir: Path,
    kills: int,
    partitions: int = 6,
    rate: float = 400,
    log: Callable[[str], None] = print,
    seed: int | None = None,
) -> Figures:
    """Kill -9 a TransactionalProcessor process ``kills`` times; read its output read_committed."""
    rng = random.Random(seed)
    settings = cluster.admin_settings()
    suffix = uuid.uuid4().hex[:8]
    source, output, group = f"zero-loss-in-{suffix}", f"zero-loss-out-{suffix}", f"eos-{suffix}"
    create_topic(settings, source, partitions=partitions)
    create_topic(settings, output, partitions=partitions)
    env = worker_env(settings)
    base = [
        "transform", "--bootstrap", settings.bootstrap_servers, "--topic", source, "--output", output,
        "--group", group, "--instance", "eos-0", "--transactional-id", f"eos-{suffix}-0", "--batch", "200",
    ]  # fmt: skip
    figures = Figures("transactional consume-transform-produce, process killed -9")

    def start(flags: dict[str, int]) -> Worker:
        extra = [a for mode, n in flags.items() for a in (f"--{mode}", str(n))]
        return Worker([*base, *extra], env=env, log_file=workdir / f"transform-{suffix}.log")

    def progress() -> int:
        return sum(
            max(o, 0) for o in committed_offsets(settings, group, source, partitions).values()
        )

    producer = NumberedProducer(settings, source, rate=rate).start()
    try:
        plan = KillPlan.mixed(kills, ("kill-mid-transaction",))
        figures.kills = _run_with_kills(
            plan=plan, start=start, progress=progress, after_kill=lambda _m: None, log=log, rng=rng
        )
    finally:
        producer.stop()
    final = start({})
    try:
        ends = end_offsets(settings, source, partitions)
        wait_for(
            "the processor to commit every input",
            lambda: covers(committed_offsets(settings, group, source, partitions), ends),
            timeout_s=180,
            every_s=0.5,
        )
    finally:
        final.stop()
    visible = read_all(settings, output, partitions=partitions)
    everything = read_all(settings, output, partitions=partitions, committed_only=False)
    ids = Counter(int(r.value.split(":")[0]) for r in visible)
    figures.produced = producer.produced
    figures.acknowledged = len(producer.acked)
    figures.reported_failed = len(producer.failed)
    figures.unaccounted = producer.produced - len(producer.acked) - len(producer.failed)
    figures.lost = sum(1 for i in producer.acked if ids[i] == 0)
    figures.duplicated_in_log = sum(n - 1 for n in ids.values() if n > 1)
    figures.out_of_order_keys = _keys_out_of_order(visible)
    figures.extra["outputs visible (read_committed)"] = len(visible)
    figures.extra["outputs of aborted transactions (hidden)"] = len(everything) - len(visible)
    return figures
