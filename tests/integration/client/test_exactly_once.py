"""Exactly-once consumers killed -9: the idempotent sink (SQLite, PostgreSQL) and the
transactional consume-transform-produce path, on the 3-node cluster (RF 3, min ISR 2).

Each proof runs the consumer as a separate process and kills it at random points and
at the points that matter (mid-batch, between the database commit and the Kafka commit,
inside an open transaction) while input keeps arriving; at the end every acknowledged
input has exactly one effect.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from streamplane.local._postgres import LocalPostgres
from tests.integration.client._zero_loss import (
    Figures,
    NumberedProducer,
    Worker,
    committed_offsets,
    covers,
    create_topic,
    end_offsets,
    prove_sink,
    prove_transform,
    read_all,
    wait_for,
    worker_env,
)

#: Consumer kills per proof in CI; benchmarks/bench_zero_loss.py runs 30 and more.
KILLS = 6


def _show(figures: Figures, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print("\n" + figures.render())


@pytest.mark.slow
def test_sqlite_sink_applies_each_record_once_across_kills(
    cluster3: LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = prove_sink(
        cluster3, store="sqlite", workdir=tmp_path, kills=KILLS, log=lambda _l: None
    )
    _show(figures, capsys)
    assert figures.kills == KILLS
    figures.assert_exact()
    assert figures.extra["kills between DB and Kafka commit"] >= 1, "the window was never hit"


@pytest.mark.slow
def test_postgres_sink_applies_each_record_once_across_kills(
    cluster3: LocalCluster,
    postgres: LocalPostgres,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = prove_sink(
        cluster3,
        store="postgres",
        conninfo=postgres.conninfo,
        workdir=tmp_path,
        kills=KILLS,
        log=lambda _l: None,
    )
    _show(figures, capsys)
    assert figures.kills == KILLS
    figures.assert_exact()
    assert figures.extra["kills between DB and Kafka commit"] >= 1, "the window was never hit"


@pytest.mark.slow
def test_transactional_transform_outputs_each_input_once_across_kills(
    cluster3: LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = prove_transform(cluster3, workdir=tmp_path, kills=KILLS, log=lambda _l: None)
    _show(figures, capsys)
    assert figures.kills == KILLS
    figures.assert_exact()
    assert figures.extra["outputs of aborted transactions (hidden)"] > 0, (
        "no kill ever left a transaction open: the proof proved nothing about aborts"
    )


def _stats(worker: Worker) -> dict[str, int]:
    """The counters a worker prints when it stops cleanly."""
    lines = [line for line in worker.log_file.read_text().splitlines() if line.startswith("stats ")]
    assert lines, worker.tail()
    return dict(json.loads(lines[-1].removeprefix("stats ")))


def _members(settings: ConnectionSettings, group: str) -> int:
    admin = AdminClient(settings.librdkafka(**{"log_level": 3}))
    described = admin.describe_consumer_groups([group], request_timeout=20)[group].result()
    return sum(1 for m in described.members if m.assignment.topic_partitions)


@pytest.mark.slow
def test_paused_zombie_processor_is_fenced_and_outputs_stay_exactly_once(
    cluster3: LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A processor frozen past its session timeout loses its partitions to another one;
    when it wakes up, its transaction is refused and aborted (KIP-447 fencing by group
    generation), and nothing is output twice."""
    settings = cluster3.admin_settings()
    suffix = uuid.uuid4().hex[:8]
    source, output, group = f"zombie-in-{suffix}", f"zombie-out-{suffix}", f"zombie-{suffix}"
    partitions = 6
    create_topic(settings, source, partitions=partitions)
    create_topic(settings, output, partitions=partitions)
    env = worker_env(settings)

    def start(name: str) -> Worker:
        args = [
            "transform", "--bootstrap", settings.bootstrap_servers, "--topic", source,
            "--output", output, "--group", group, "--instance", f"zombie-{name}",
            "--transactional-id", f"zombie-{suffix}-{name}", "--batch", "100",
        ]  # fmt: skip
        return Worker(args, env=env, log_file=tmp_path / f"{name}.log")

    producer = NumberedProducer(settings, source, rate=300).start()
    a = start("a")
    b: Worker | None = None
    try:
        wait_for(
            "processor a to commit",
            lambda: (
                sum(
                    max(o, 0)
                    for o in committed_offsets(settings, group, source, partitions).values()
                )
                > 0
            ),
            timeout_s=120,
        )
        b = start("b")  # a rebalance: a revokes partitions, committing its open transaction first
        wait_for(
            "both processors to own partitions",
            lambda: _members(settings, group) == 2,
            timeout_s=120,
        )
        a.proc.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        wait_for(
            "b to take over a's partitions", lambda: _members(settings, group) == 1, timeout_s=120
        )
        frozen_s = time.monotonic() - frozen_at
        a.proc.send_signal(signal.SIGCONT)
        wait_for("a to rejoin", lambda: _members(settings, group) == 2, timeout_s=120)
    finally:
        a.proc.send_signal(signal.SIGCONT)
        producer.stop()
    try:
        ends = end_offsets(settings, source, partitions)
        wait_for(
            "every input to be committed",
            lambda: covers(committed_offsets(settings, group, source, partitions), ends),
            timeout_s=180,
            every_s=0.5,
        )
    finally:
        assert a.stop() == 0, a.tail()
        if b is not None:
            assert b.stop() == 0, b.tail()
    visible = read_all(settings, output, partitions=partitions)
    seen: dict[int, int] = {}
    for record in visible:
        record_id = int(record.value.split(":")[0])
        seen[record_id] = seen.get(record_id, 0) + 1
    figures = Figures("transactional processor frozen past its session timeout (zombie)")
    figures.produced = producer.produced
    figures.acknowledged = len(producer.acked)
    figures.reported_failed = len(producer.failed)
    figures.unaccounted = producer.produced - len(producer.acked) - len(producer.failed)
    figures.lost = sum(1 for i in producer.acked if i not in seen)
    figures.duplicated_in_log = sum(n - 1 for n in seen.values() if n > 1)
    figures.extra["seconds frozen until b took over"] = round(frozen_s)
    figures.extra["transactions the zombie had to abort"] = _stats(a)["transactions_aborted"]
    _show(figures, capsys)
    figures.assert_exact()
