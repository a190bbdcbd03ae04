"""Replication on MirrorMaker 2: lag under steady load, RPO when the source dies, RTO.

Two 1-node regions (east, west) started by ``streamplane up --spec --all``, applied, and
replicated both ways by ``streamplane replicate apply`` (the integration tests' spec:
checkpoints every 2 s).

* Lag: ``--rate`` records/s for ``--seconds`` into east. Each record carries its send
  time; a reader of the copy on west gives replication's end-to-end latency, a reader of
  the original on east the same cluster's end-to-end latency, and the producer's delivery
  reports the bare produce latency (acks=all): the baselines of the same run.
* RPO: while writing at ``--rate``, east's node is killed with -9; the records east
  acknowledged that never reached west (and how many seconds of writes that is).
* RTO: ``--groups`` groups committed on east and checkpointed by MM2; east dead; the time
  ``failover`` takes to move all of them to west, against the baseline of committing the
  same offsets to the same groups on west directly (no reads, no translation).

Run: .venv/bin/python benchmarks/bench_replication.py [--rate 1000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
from _harness import PORT_OFFSET, report
from confluent_kafka import Consumer, Producer, TopicPartition
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.kafka import ConnectionSettings
from streamplane.kafka._admin import ClusterAdmin
from streamplane.model import find_flow, load_spec
from streamplane.replication.failover import failover_groups
from streamplane.replication.observe import latest_checkpoints, watermarks

SPEC = Path(__file__).resolve().parent.parent / "tests/integration/replication/spec"
TOPIC = "shop.orders.placed.v1"
COPY = f"east.{TOPIC}"
runner = CliRunner()


def _cli(root: Path, *args: str) -> None:
    result = runner.invoke(app, [*args, "--data-dir", str(root)])
    if result.exit_code != 0:
        lines = [ln.strip() for ln in result.output.splitlines() if ln.strip()]
        raise SystemExit(f"streamplane {' '.join(args)} failed:\n" + "\n".join(lines[-5:]))


def _settings(root: Path, cluster: str) -> ConnectionSettings:
    return ConnectionSettings.from_properties_file(root / cluster / "admin.properties")


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


class Writer(threading.Thread):
    """Writes ``rate`` records/s carrying their send time; remembers what was acknowledged."""

    def __init__(self, settings: ConnectionSettings, rate: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.producer = Producer(
            settings.librdkafka(**{"enable.idempotence": True, "linger.ms": 1})
        )
        self.rate, self.seconds = rate, seconds
        self.acked: dict[str, float] = {}
        self.ack_ms: list[float] = []
        self.stop = threading.Event()

    def _done(self, err: object, msg: object) -> None:
        if err is None:
            key = msg.key().decode()  # type: ignore[attr-defined]
            sent = float(msg.value().decode())  # type: ignore[attr-defined]
            now = time.time()
            self.acked[key] = now
            self.ack_ms.append((now - sent) * 1000)

    def run(self) -> None:
        start = time.monotonic()
        i = 0
        while not self.stop.is_set() and time.monotonic() - start < self.seconds:
            due = start + i / self.rate
            if (pause := due - time.monotonic()) > 0:
                time.sleep(pause)
            key = f"w-{i}"
            self.producer.produce(TOPIC, key=key.encode(), value=repr(time.time()).encode(),
                                  on_delivery=self._done)  # fmt: skip
            self.producer.poll(0)
            i += 1
        self.producer.flush(5)


class Reader(threading.Thread):
    """Reads ``topic`` from its end now, recording (arrival - send) per record."""

    def __init__(self, settings: ConnectionSettings, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            settings.librdkafka(**{"group.id": f"lag-{uuid.uuid4()}", "enable.auto.commit": False})
        )
        marks = watermarks(settings, [topic])
        self.consumer.assign([TopicPartition(t, p, high) for (t, p), (_l, high) in marks.items()])
        self.latency_ms: list[float] = []
        self.keys: set[str] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            self.latency_ms.append((time.time() - float(msg.value().decode())) * 1000)
            self.keys.add(msg.key().decode())
        self.consumer.close()


def warm_up(root: Path) -> None:
    """One record through the flow, so MM2 has made the copy and is copying."""
    east, west = _settings(root, "east"), _settings(root, "west")
    producer = Producer(east.librdkafka())
    producer.produce(TOPIC, key=b"warm-up", value=repr(time.time()).encode())
    producer.flush(10)
    deadline = time.monotonic() + 120
    while not any(high > low for (low, high) in watermarks(west, [COPY]).values()):
        if time.monotonic() > deadline:
            raise SystemExit("MM2 copied nothing to west in 120 s")
        time.sleep(0.5)


def lag_phase(root: Path, rate: int, seconds: float) -> list[tuple[str, str, str]]:
    warm_up(root)
    east, west = _settings(root, "east"), _settings(root, "west")
    local, remote = Reader(east, TOPIC), Reader(west, COPY)
    local.start()
    remote.start()
    writer = Writer(east, rate, seconds)
    writer.run()
    time.sleep(5)
    local.stop.set()
    remote.stop.set()
    local.join()
    remote.join()
    rows = []
    for q in (50, 99):
        rows.append((
            f"replication latency p{q} (east -> west copy), {rate} rec/s",
            f"{_pct(remote.latency_ms, q):.0f} ms",
            f"{_pct(writer.ack_ms, q):.0f} ms produce ack",
        ))  # fmt: skip
        rows.append((
            f"  same-cluster end-to-end p{q} (east -> east reader)", "",
            f"{_pct(local.latency_ms, q):.0f} ms",
        ))  # fmt: skip
    print(f"copied {len(remote.keys)} of {len(writer.acked)} acknowledged records")
    return rows


def prepare_groups(root: Path, groups: list[str]) -> dict[tuple[str, int], int]:
    """Commit every group at the middle of each partition on east; wait for checkpoints."""
    east = _settings(root, "east")
    marks = watermarks(east, [TOPIC])
    offsets = {tp: (low + high) // 2 for tp, (low, high) in marks.items()}
    at = [(t, p, o) for (t, p), o in offsets.items()]
    ClusterAdmin(east).alter_group_offsets(dict.fromkeys(groups, at))
    spec = load_spec(SPEC)
    flow = find_flow(spec, "east", "west")
    deadline = time.monotonic() + 120
    while True:
        seen = {cp.group for cp in latest_checkpoints(_settings(root, "west"), flow).values()}
        if set(groups) <= seen:
            return offsets
        if time.monotonic() > deadline:
            raise SystemExit(f"MM2 checkpointed {len(set(groups) & seen)} of {len(groups)} groups")
        time.sleep(1)


def rpo_rto_phase(root: Path, rate: int, groups: list[str]) -> list[tuple[str, str, str]]:
    offsets = prepare_groups(root, groups)
    west = _settings(root, "west")
    remote = Reader(west, COPY)
    remote.start()
    writer = Writer(_settings(root, "east"), rate, 60)
    writer.start()
    time.sleep(5)
    tag = f"-Dstreamplane.node={(root / 'east').resolve()}"
    for proc in psutil.process_iter(["cmdline"]):
        if any(a.startswith(tag) for a in proc.info["cmdline"] or []):
            proc.kill()
    died = time.time()
    writer.stop.set()
    time.sleep(10)  # whatever MM2 had fetched is written to west by now
    remote.stop.set()
    remote.join()
    writer.join(10)
    acked = {k: t for k, t in writer.acked.items() if t <= died}
    lost = [k for k in acked if k not in remote.keys]
    window = (max(acked[k] for k in lost) - min(acked[k] for k in lost)) if lost else 0.0
    spec = load_spec(SPEC)
    flow = find_flow(spec, "east", "west")
    started = time.monotonic()
    failover_groups(spec, flow, groups, root)
    rto = time.monotonic() - started
    started = time.monotonic()
    at = [(f"east.{t}", p, o) for (t, p), o in offsets.items()]
    ClusterAdmin(west).alter_group_offsets(dict.fromkeys(groups, at))
    direct = time.monotonic() - started
    return [
        ("RPO: acknowledged on east, not on west, at kill -9", f"{len(lost)} records",
         f"{len(acked)} acknowledged"),
        ("RPO as time (first to last lost acknowledgement)", f"{window:.2f} s", ""),
        (f"RTO: failover of {len(groups)} groups (east dead)", f"{rto:.1f} s",
         f"{direct:.1f} s commit only"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--groups", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sp-bench-replication-"))
    try:
        _cli(root, "up", "--spec", str(SPEC), "--all", "--port-offset", str(PORT_OFFSET),
             "--no-registry", "--no-audit")  # fmt: skip
        for cluster in ("east", "west"):
            _cli(root, "apply", str(SPEC), "--cluster", cluster, "--auto-approve")
        _cli(root, "replicate", "apply", str(SPEC))
        rows = lag_phase(root, args.rate, args.seconds)
        groups = [f"shop.bench-{i}" for i in range(args.groups)]
        rows += rpo_rto_phase(root, args.rate, groups)
        report(rows, title="Replication (MirrorMaker 2 4.3.1, two 1-node regions)")
    finally:
        runner.invoke(app, ["down", "--spec", str(SPEC), "--all", "--data-dir", str(root)])
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
