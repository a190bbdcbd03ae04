"""The zero-loss proof at length: brokers and consumers killed -9, dozens of times.

On a dedicated 3-node cluster (topics RF 3, min.insync.replicas 2, unclean leader
election off):

- a zero_loss producer writes numbered, keyed records while the leader of the topic's
  partitions is killed -9 and restarted ``--broker-kills`` times (the ISR full again
  before each kill); every record must be acknowledged or reported failed, and every
  acknowledged one in the log exactly once, in order per key;
- an idempotent sink (SQLite, then PostgreSQL) in its own process is killed -9
  ``--consumer-kills`` times: at random, mid-batch, and between its database commit and
  its Kafka commit; each record's effect must be in the database exactly once;
- the transactional consume-transform-produce process is killed the same way; a
  read_committed reader of its output must see each input exactly once.

Baselines, same run and same kills, to show the proof can fail: an acks=1 producer
without idempotence (``--baseline-broker-kills`` kills), and a plain consumer that
commits its database and then its Kafka offsets and resumes from Kafka's
(``--baseline-consumer-kills`` kills).

Ports: the cluster takes ``--port-offset`` (default 5400: clients on 14492-14496),
PostgreSQL ``--pg-port``; both stay clear of the test runs' ports.

Run: .venv/bin/python benchmarks/bench_zero_loss.py [--broker-kills 30] [--consumer-kills 30]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _harness import scratch_cluster

from streamplane.local._postgres import LocalPostgres
from tests.integration.client._zero_loss import (
    Figures,
    prove_producer,
    prove_sink,
    prove_transform,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker-kills", type=int, default=30)
    parser.add_argument("--consumer-kills", type=int, default=30)
    parser.add_argument("--baseline-broker-kills", type=int, default=5)
    parser.add_argument("--baseline-consumer-kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1000, help="records/s of the producer proof")
    parser.add_argument(
        "--baseline-rate",
        type=float,
        default=5_000,
        help="records/s of the acks=1 baseline: more records in flight at each kill",
    )
    parser.add_argument("--port-offset", type=int, default=5400)
    parser.add_argument("--pg-port", type=int, default=23450)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sp-bench-zero-loss-"))
    results: list[tuple[Figures, float]] = []

    def timed(run: object) -> None:
        started = time.perf_counter()
        figures = run()  # type: ignore[operator]
        elapsed = time.perf_counter() - started
        results.append((figures, elapsed))
        print(figures.render(), f"\n  ({elapsed:.0f} s)", flush=True)

    def progress(line: str) -> None:
        print(line, flush=True)

    try:
        with (
            scratch_cluster("zero-loss", nodes=3, port_offset=args.port_offset) as cluster,
            LocalPostgres(port=args.pg_port) as postgres,
        ):
            timed(
                lambda: prove_producer(
                    cluster, kills=args.broker_kills, rate=args.rate, log=progress
                )
            )
            for store, conninfo in (("sqlite", None), ("postgres", postgres.conninfo)):
                timed(
                    lambda s=store, c=conninfo: prove_sink(
                        cluster,
                        store=s,
                        conninfo=c,
                        workdir=work,
                        kills=args.consumer_kills,
                        log=progress,
                        seed=args.seed,
                    )
                )
            timed(
                lambda: prove_transform(
                    cluster,
                    workdir=work,
                    kills=args.consumer_kills,
                    log=progress,
                    seed=args.seed,
                )
            )
            if args.baseline_broker_kills:
                timed(
                    lambda: prove_producer(
                        cluster,
                        kills=args.baseline_broker_kills,
                        rate=args.baseline_rate,
                        log=progress,
                        baseline=True,
                    )
                )
            if args.baseline_consumer_kills:
                timed(
                    lambda: prove_sink(
                        cluster,
                        store="sqlite",
                        workdir=work,
                        kills=args.baseline_consumer_kills,
                        log=progress,
                        seed=args.seed,
                        naive=True,
                    )
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("\nzero-loss proof (must be 0: lost, duplicated, unaccounted; baselines for contrast)")
    width = max((len(f.name) for f, _ in results), default=3)
    print(
        f"{'run':<{width}} {'acknowledged':>12} {'lost':>6} {'dup log':>8} {'dup sink':>9} "
        f"{'kills':>6} {'time':>7}"
    )
    for figures, elapsed in results:
        print(
            f"{figures.name:<{width}} {figures.acknowledged:>12,} {figures.lost:>6,} "
            f"{figures.duplicated_in_log:>8,} {figures.duplicated_in_sink:>9,} "
            f"{figures.kills:>6} {elapsed:>6.0f}s"
        )
    broken = [
        f.name
        for f, _ in results
        if not f.name.startswith("baseline")
        and (f.lost or f.duplicated_in_log or f.duplicated_in_sink or f.unaccounted)
    ]
    if broken:
        print(f"FAILED: {', '.join(broken)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
