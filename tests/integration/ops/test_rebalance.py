"""Rebalancing a real cluster: a 3 -> 4 node expansion under load, a crash, a cancel.

One cluster for the module (three nodes, then a broker-only fourth added by
``streamplane local add-broker``); the tests run in file order and each leaves the
cluster with no reassignment in flight and no throttle set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster, open_cluster
from streamplane.ops.rebalance.executor import StateDir
from streamplane.ops.rebalance.live import in_flight, read_cluster
from streamplane.ops.rebalance.plan_file import read_plan
from tests.conftest import TEST_ROOT
from tests.integration.conftest import PORT_SHIFT

OFFSET = 22600 + PORT_SHIFT
TOPIC = "load.events"
#: 6 partitions x 8 MiB, RF 3 on nodes 1-3: 144 MiB on disk before the fourth node.
RECORDS = 4800
VALUE = os.urandom(10_000)
runner = CliRunner()


@dataclass
class Estate:
    cluster: LocalCluster
    settings: ConnectionSettings
    root: Path

    def cli(self, *args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--data-dir", str(self.cluster.dir.root)])
        text = result.stdout + result.stderr + (str(result.exception) if result.exception else "")
        assert result.exit_code == code, text
        return text

    def throttles(self) -> dict[str, str]:
        """Every replication-throttle config set on the topic or on any broker."""
        admin = AdminClient(self.settings.librdkafka())
        found = {}
        resources = [ConfigResource("topic", TOPIC)] + [
            ConfigResource("broker", str(b)) for b in self.cluster.require_state().node_ids()
        ]
        for resource in resources:
            (future,) = admin.describe_configs([resource]).values()
            for key, entry in future.result().items():
                unset = entry.value in (None, "", "none") or entry.is_default
                if "throttled" in key and not unset:
                    found[f"{resource.name}:{key}"] = entry.value
        return found

    def placement(self) -> dict[tuple[str, int], list[int]]:
        return {p.key: p.replicas for p in read_cluster(self.settings).model.partitions}


@pytest.fixture(scope="module")
def estate() -> Iterator[Estate]:
    root = TEST_ROOT / "rebalance"
    cluster = open_cluster(root / "data")
    cluster.up(nodes=3, port_offset=OFFSET)
    try:
        settings = cluster.admin_settings()
        admin = AdminClient(settings.librdkafka())
        rotations = [[1, 2, 3], [2, 3, 1], [3, 1, 2]] * 2
        (future,) = admin.create_topics(
            [NewTopic(TOPIC, num_partitions=6, replica_assignment=rotations)]
        ).values()
        future.result(timeout=60)
        producer = Producer(settings.librdkafka(**{"linger.ms": 20, "acks": "all"}))
        for i in range(RECORDS):
            producer.produce(TOPIC, VALUE, partition=i % 6)
            producer.poll(0)
        assert producer.flush(60) == 0
        yield Estate(cluster, settings, root)
    finally:
        cluster.down(timeout_s=20)


@dataclass
class Load:
    """acks=all writes at a steady rate while data moves; latencies and failures kept."""

    settings: ConnectionSettings
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    offline_seen: set[tuple[str, int]] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        producer = Producer(self.settings.librdkafka(**{"acks": "all", "linger.ms": 0}))

        def done(err: object, _msg: object, sent: float) -> None:
            if err is not None:
                self.failures.append(str(err))
            else:
                self.latencies_ms.append((time.perf_counter() - sent) * 1000)

        while not self.stop.is_set():
            sent = time.perf_counter()
            producer.produce(TOPIC, b"x" * 100, on_delivery=lambda e, m, s=sent: done(e, m, s))
            producer.poll(0.005)
        producer.flush(30)

    def watch_leaders(self) -> None:
        admin = AdminClient(self.settings.librdkafka())
        while not self.stop.is_set():
            for part in admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions.values():
                if part.leader < 0:
                    self.offline_seen.add((TOPIC, part.id))
            time.sleep(0.2)


def test_adding_a_broker_moves_replicas_onto_it_only_under_load_with_no_write_lost(
    estate: Estate,
) -> None:
    node = estate.cluster.add_broker()
    assert node == 4
    plan_path = estate.root / "expand.json"
    out = estate.cli("rebalance", "plan", "--add-broker", "4", "--out", str(plan_path))
    assert "add-broker" in out and "written to" in out
    plan, _ = read_plan(plan_path)
    topic_moves = [m for m in plan.moves if m.topic == TOPIC]
    assert topic_moves, out
    assert all(set(m.after) - set(m.before) == {4} for m in plan.moves)
    # 144 MiB over four nodes is 36 MiB each: the new node is filled to its band, and the
    # plan moves no more than that band asks (whole 8 MiB replicas).
    assert plan.figures["lower_bound_bytes"] - 8 * 2**20 <= plan.total_bytes
    assert plan.total_bytes <= plan.figures["lower_bound_bytes"] + 8 * 2**20
    load = Load(estate.settings)
    threads = [threading.Thread(target=load.run), threading.Thread(target=load.watch_leaders)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        out = estate.cli(
            "rebalance", "execute", str(plan_path), "--auto-approve", "--throttle", "20MiB",
            "--batch", "2",
        )  # fmt: skip
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(60)
    assert "done" in out and "throttles removed" in out, out
    placement = estate.placement()
    for move in plan.all_moves:
        assert sorted(placement[(move.topic, move.partition)]) == sorted(move.after)
    assert any(4 in replicas for key, replicas in placement.items() if key[0] == TOPIC)
    assert estate.throttles() == {}
    assert load.failures == [] and load.offline_seen == set()
    assert len(load.latencies_ms) > 100


def _execute_in_background(estate: Estate, plan_path: Path, throttle: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "streamplane", "rebalance", "execute", str(plan_path),
         "--auto-approve", "--throttle", throttle, "--batch", "1",
         "--data-dir", str(estate.cluster.dir.root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait_for(condition, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_killed_executor_leaves_no_throttle_behind_and_execute_resumes(estate: Estate) -> None:
    plan_path = estate.root / "drain.json"
    estate.cli("rebalance", "plan", "--drain", "4", "--out", str(plan_path))
    plan, _ = read_plan(plan_path)
    assert plan.moves and all(4 not in m.after for m in plan.moves)
    state = StateDir(estate.cluster.dir.root / "rebalance")
    proc = _execute_in_background(estate, plan_path, "4MiB")
    # Killed while data moves: throttles are set and a partition is in flight.
    _wait_for(lambda: bool(estate.throttles()) and bool(in_flight(estate.settings)))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    # The janitor lets the batch in flight land, removes the throttles, marks the run.
    _wait_for(lambda: (state.read() or None) is not None and state.read().status == "interrupted")
    assert estate.throttles() == {} and in_flight(estate.settings) == {}
    assert "interrupted" in estate.cli("rebalance", "status")
    out = estate.cli(
        "rebalance", "execute", str(plan_path), "--auto-approve", "--throttle", "50MiB"
    )
    assert "done" in out and "throttles removed" in out, out
    placement = estate.placement()
    assert all(4 not in replicas for replicas in placement.values())
    assert estate.throttles() == {}


def test_cancel_stops_the_batch_in_flight_and_removes_the_throttles(estate: Estate) -> None:
    plan_path = estate.root / "again.json"
    estate.cli("rebalance", "plan", "--add-broker", "4", "--out", str(plan_path))
    before = estate.placement()
    proc = _execute_in_background(estate, plan_path, "1MiB")
    try:
        # A partition of the loaded topic in flight (8 MiB at 1 MiB/s), not one of the
        # small internal ones that land in a blink: there is a batch to cancel.
        _wait_for(lambda: any(k[0] == TOPIC for k in in_flight(estate.settings)))
        out = estate.cli("rebalance", "cancel")
        assert "cancelled" in out, out
        assert proc.wait(30) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    _wait_for(lambda: in_flight(estate.settings) == {}, timeout_s=30)
    assert estate.throttles() == {}
    after = estate.placement()
    # What landed stays; nothing is half-moved (every partition has 3 replicas).
    assert all(len(replicas) == 3 for replicas in after.values())
    assert sum(1 for k in after if after[k] != before[k]) < len(read_plan(plan_path)[0].moves)
    # A cancelled run is over: cancelling again says so.
    assert "no rebalance to cancel" in estate.cli("rebalance", "cancel", code=1)


SPEC = """\
clusters:
  - {{name: local, local: true, environment: dev, brokers: 4}}
tenants:
  - name: ops
    owners: [ops@example.com]
    clusters: [local]
    domains:
      - name: rf
        owner: ops@example.com
        topics:
          - name: changing
            partitions: 4
            replication_factor: {rf}
            classification: internal
"""


def test_apply_changes_a_replication_factor_by_a_throttled_reassignment(
    estate: Estate, tmp_path: Path
) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    topic = "ops.rf.changing"
    for rf in (2, 4, 3):
        (spec / "platform.yaml").write_text(SPEC.format(rf=rf))
        out = estate.cli("apply", str(spec), "--auto-approve")
        replicas = {k: v for k, v in estate.placement().items() if k[0] == topic}
        assert len(replicas) == 4 and all(len(r) == rf for r in replicas.values()), (rf, out)
        assert all(len(set(r)) == rf for r in replicas.values())
    assert estate.throttles() == {} and in_flight(estate.settings) == {}
    # The plan says what it will do before it does it.
    (spec / "platform.yaml").write_text(SPEC.format(rf=2))
    planned = estate.cli("plan", str(spec))
    assert "replication.factor" in planned and "3 -> 2" in planned.replace("→", "->"), planned


def test_cost_report_prices_measured_traffic_and_measures_the_codecs(
    estate: Estate, tmp_path: Path
) -> None:
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "platform.yaml").write_text(SPEC.format(rf=3))
    estate.cli("apply", str(spec), "--auto-approve")
    stop = threading.Event()

    def write() -> None:
        producer = Producer(estate.settings.librdkafka(**{"linger.ms": 5}))
        i = 0
        while not stop.is_set():
            value = b'{"order": %d, "status": "placed", "currency": "EUR"}' % i
            producer.produce("ops.rf.changing", value, key=str(i).encode())
            producer.poll(0)
            i += 1
            if i % 200 == 0:
                time.sleep(0.01)
        producer.flush(10)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        out = estate.cli("cost", "report", str(spec), "--window", "3", "--json")
    finally:
        stop.set()
        writer.join(30)
    body = json.loads(out[out.index("{") :])
    [row] = [t for t in body["topics"] if t["topic"] == "ops.rf.changing"]
    assert row["bytes_in_s"] > 1000 and row["replication_factor"] == 3
    # One replica per rack: each byte goes to two followers in other zones.
    repl = row["cross_zone_bytes_s"]["replication"]
    assert repl == pytest.approx(2 * row["bytes_in_s"], rel=0.01)
    codecs = {c["codec"]: c for c in row["compression"]["measured"]}
    assert set(codecs) == {"gzip", "snappy", "lz4", "zstd"}
    assert all(c["ratio"] < 0.5 for c in codecs.values())
    assert row["total_month"] > 0 and body["totals"]["total_month"] >= row["total_month"]
    assert any(s["change"].startswith("compression") for s in body["savings"])
