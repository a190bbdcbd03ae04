"""A real 3 -> 4 node expansion under load: bytes moved, time, availability, producers' p99.

A 3-node local cluster holds ``--partitions`` partitions (RF 3) of ``--mib`` MiB each. A
producer writes acks=all at ``--rate`` records/s throughout; a watcher reads the
partitions' leaders every 200 ms. Phases of the same run:

* before: ``--seconds`` of load on three nodes, after 5 s of warm-up (the producers'
  p99 baseline);
* expansion: ``streamplane local add-broker``, ``rebalance plan --add-broker 4`` and
  ``rebalance execute --throttle``: bytes moved against the plan's lower bound and
  against what ``kafka-reassign-partitions --generate`` would move on the same input,
  the time the move took, the producers' p99 while data moved, partitions seen without
  a leader (goal: none) and failed writes (goal: none).

Run: .venv/bin/python benchmarks/bench_rebalance.py [--partitions 12] [--mib 16]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from _harness import report, scratch_cluster
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.kafka import ConnectionSettings
from streamplane.ops.rebalance.live import read_cluster
from streamplane.ops.rebalance.plan_file import read_plan
from streamplane.ops.rebalance.synthetic import bytes_to_move, generate_placement

TOPIC = "bench.expansion"
runner = CliRunner()


class Load:
    def __init__(self, settings: ConnectionSettings, rate: int) -> None:
        self.settings = settings
        self.rate = rate
        self.phase = "warm-up"
        self.latencies: dict[str, list[float]] = {
            "warm-up": [], "before": [], "during": [], "after": []
        }  # fmt: skip
        self.failures = 0
        self.offline: set[int] = set()
        self.stop = threading.Event()

    def produce(self) -> None:
        # linger.ms 5: at linger 0 this 2-core machine spends its time on one request per
        # record, and the queue, not the cluster, sets the latency.
        producer = Producer(self.settings.librdkafka(**{"acks": "all", "linger.ms": 5}))
        gap = 1.0 / self.rate
        next_at = time.perf_counter()
        while not self.stop.is_set():
            sent = time.perf_counter()
            phase = self.phase

            def done(err: object, _msg: object, sent: float = sent, phase: str = phase) -> None:
                if err is not None:
                    self.failures += 1
                else:
                    self.latencies[phase].append((time.perf_counter() - sent) * 1000)

            producer.produce(TOPIC, b"x" * 200, on_delivery=done)
            producer.poll(0)
            next_at += gap
            time.sleep(max(0.0, next_at - time.perf_counter()))
        producer.flush(30)

    def watch(self) -> None:
        admin = AdminClient(self.settings.librdkafka())
        while not self.stop.is_set():
            for part in admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions.values():
                if part.leader < 0:
                    self.offline.add(part.id)
            time.sleep(0.2)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _cli(data_dir: Path, *args: str) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    if result.exit_code != 0:
        raise SystemExit(f"streamplane {' '.join(args)} failed:\n{result.output}")
    return result.output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--mib", type=int, default=16, help="MiB per partition")
    parser.add_argument("--rate", type=int, default=500, help="records/s of the load")
    parser.add_argument("--seconds", type=float, default=10.0, help="load before the move")
    parser.add_argument("--throttle", default="40MiB")
    args = parser.parse_args()
    with scratch_cluster("rebalance", nodes=3) as cluster:
        settings = cluster.admin_settings()
        admin = AdminClient(settings.librdkafka())
        rotations = [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
        (future,) = admin.create_topics(
            [NewTopic(TOPIC, num_partitions=args.partitions,
                      replica_assignment=[rotations[i % 3] for i in range(args.partitions)])]
        ).values()  # fmt: skip
        future.result(60)
        filler = Producer(settings.librdkafka(**{"linger.ms": 50, "acks": "all"}))
        value = os.urandom(16_000)
        per_partition = args.mib * (1 << 20) // len(value)
        for i in range(per_partition * args.partitions):
            filler.produce(TOPIC, value, partition=i % args.partitions)
            filler.poll(0)
        filler.flush(120)
        load = Load(settings, args.rate)
        threads = [threading.Thread(target=load.produce), threading.Thread(target=load.watch)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(5)  # JIT and connections warm up; not counted
            load.phase = "before"
            time.sleep(args.seconds)
            cluster.add_broker()
            plan_path = cluster.dir.root / "expand.json"
            _cli(
                cluster.dir.root, "rebalance", "plan", "--add-broker", "4", "--out", str(plan_path)
            )
            plan, _ = read_plan(plan_path)
            model = read_cluster(settings).model
            generate = bytes_to_move(model, generate_placement(model, seed=1))
            load.phase = "during"
            started = time.monotonic()
            _cli(cluster.dir.root, "rebalance", "execute", str(plan_path), "--auto-approve",
                 "--throttle", args.throttle)  # fmt: skip
            took = time.monotonic() - started
            load.phase = "after"
            time.sleep(2)
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(60)
    mib = 1 << 20
    report(
        [
            (
                "bytes moved (MiB) vs lower bound",
                f"{plan.total_bytes / mib:,.0f}",
                f"{plan.figures['lower_bound_bytes'] / mib:,.0f}",
            ),
            (
                "bytes moved (MiB) vs --generate",
                f"{plan.total_bytes / mib:,.0f}",
                f"{generate / mib:,.0f}",
            ),
            (f"move time (s) at {args.throttle}/s throttle", f"{took:.1f}", "-"),
            (
                "producer p99 ms: during move vs before",
                f"{_p(load.latencies['during'], 0.99):.1f}",
                f"{_p(load.latencies['before'], 0.99):.1f}",
            ),
            (
                "producer p50 ms: during move vs before",
                f"{_p(load.latencies['during'], 0.5):.1f}",
                f"{_p(load.latencies['before'], 0.5):.1f}",
            ),
            (
                "partitions without a leader / failed writes",
                f"{len(load.offline)} / {load.failures}",
                "0 / 0",
            ),
        ],
        title=f"3 -> 4 nodes, {args.partitions} x {args.mib} MiB RF 3, {args.rate} acks=all "
        "writes/s throughout",
    )


if __name__ == "__main__":
    main()
