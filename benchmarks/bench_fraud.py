"""The fraud blueprint's figures: decision latency at 2,000 tx/s, the most transactions per
second one scorer sustains, precision and recall before and after a retrain, the model
swap's pause, and recovery after a scorer is killed -9 under load.

One node, the blueprint's spec applied (``LocalFraud``, as the tests use it), one scorer
instance and the slow path (profiler) running as processes, the decisions read by a
``read_committed`` consumer connected as the ``card-authorizer`` application.

1. **Backlog** (training data and the maximum rate): ``--backlog`` transactions of one
   seed's stream are produced as fast as the producer takes them; the figure is the rate
   at which their decisions become readable (first to last). Baseline, same run: a bare
   consumer reading the same records from the same topic, no decoding.
2. **Retrain**: the trees are fitted on the scorer's own features (not yet published).
3. **Live at ``--rate`` tx/s** for ``--seconds``: a held-back stream of customers never
   seen (other seed, other ids). Five seconds in, the new model is published; the scorer
   swaps it in between two batches. Figures: decision latency p50/p99 (transaction
   produced -> its decision readable, the first two seconds dropped as warm-up), against
   the baseline of the same transactions' transport latency (produced -> readable by a
   plain consumer); the latency p99 in the second after the swap; the time the feed
   spent loading the model (off the scoring thread). Precision and recall of the
   decisions the new model made, against the baseline rules on the very features the
   scorer computed for the same transactions.
4. **Kill -9**: a second scorer joins; at ``--rate`` tx/s, a few seconds in, it is killed
   -9 and started again at once. Figures: the longest any transaction waited for its
   decision (what the failover cost a card), the seconds until latency was back under
   the live p99, and what the restores read.

Run: .venv/bin/python benchmarks/bench_fraud.py [--rate 2000] [--seconds 20]
     [--backlog 40000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

# The blueprint is run from the repository, as its README shows, not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from _harness import PORT_OFFSET, report
from confluent_kafka import Consumer, TopicPartition

from blueprints.fraud.features import millis
from blueprints.fraud.generator import DAY_MS, Generator
from blueprints.fraud.local import Decided, LocalFraud
from blueprints.fraud.retrain import Trainer
from streamplane.client import application_connection
from streamplane.local import open_cluster

START = 1_767_225_600_000
TRANSACTIONS = "risk.fraud.transactions"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


class TransportReader:
    """A plain consumer of the transactions: when each became readable (the baseline)."""

    def __init__(self, fraud: LocalFraud) -> None:
        conn = application_connection(fraud.spec, "fraud-profiler", data_dir=fraud.data_dir)
        self.consumer = Consumer(
            conn.connection.librdkafka(
                **{
                    "group.id": fraud.spec.applications["fraud-profiler"].consumer_group,
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 5,
                    "log_level": 3,
                }
            )
        )
        self.latencies: list[float] = []
        self.read = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, offset: int) -> TransportReader:
        self.consumer.assign([TopicPartition(TRANSACTIONS, p, offset) for p in range(6)])
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            messages = self.consumer.consume(1, 0.05)
            now = time.time() * 1000
            for message in messages + self.consumer.consume(1000, 0):
                if message.error() is None:
                    self.latencies.append(now - message.timestamp()[1])
                    self.read += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


class CpuShares:
    """Cores each part of the run used between construction and :meth:`shares`."""

    def __init__(self, fraud: LocalFraud) -> None:
        nodes = open_cluster(fraud.data_dir).running_nodes()
        self.parts: dict[str, psutil.Process] = {
            "broker": next(iter(nodes.values())),
            "scorer": psutil.Process(fraud.processes["scorer-0"].pid),
            "load+readers": psutil.Process(),
        }
        if "profiler" in fraud.processes:
            self.parts["profiler"] = psutil.Process(fraud.processes["profiler"].pid)
        self.began = time.monotonic()
        self.start = {name: _cpu(p) for name, p in self.parts.items()}

    def shares(self) -> str:
        wall = time.monotonic() - self.began
        used = {name: (_cpu(p) - self.start[name]) / wall for name, p in self.parts.items()}
        return ", ".join(f"{name} {share:.2f}" for name, share in used.items())


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def bare_rate(fraud: LocalFraud, records: int) -> float:
    """Records/s of a bare consumer reading ``records`` from the topic's start."""
    reader = TransportReader(fraud)
    began = time.monotonic()
    reader.start(-2)
    while reader.read < records:
        time.sleep(0.01)
    seconds = time.monotonic() - began
    reader.close()
    return records / seconds


def decision_rate(decided: list[Decided]) -> float:
    times = [d.read_at for d in decided]
    return len(times) / (max(times) - min(times))


def _split(decided: list[Decided], warm: float, part: str) -> str:
    """p50/p99 of one part of the decision latency: up to the scorer's decision, or
    from the decision to the reader (the commit, its markers, the fetch)."""
    values = []
    for d in decided:
        if d.read_at <= warm:
            continue
        at = millis(d.record["decided_at"])
        produced = millis(d.record["transaction_timestamp"])
        values.append(at - produced if part == "decided" else d.read_at * 1000 - at)
    return f"{pct(values, 50):.0f} / {pct(values, 99):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backlog", type=int, default=40_000)
    parser.add_argument(
        "--no-slow-path", action="store_true", help="run without the profiler (its CPU)"
    )
    args = parser.parse_args()
    # Readers and the producer share this process: hand the GIL over every millisecond
    # rather than every five, or a reader's wake-up waits for the producer's turn.
    sys.setswitchinterval(0.001)
    root = Path(tempfile.mkdtemp(prefix="sp-bench-fraud-"))
    fraud = LocalFraud(root / "data", port_offset=PORT_OFFSET)
    try:
        fraud.up()
        fraud.start_scorer(0)
        if not args.no_slow_path:
            fraud.start_profiler()
        run(fraud, args)
    finally:
        fraud.down()
        shutil.rmtree(root, ignore_errors=True)


def run(fraud: LocalFraud, args: argparse.Namespace) -> None:
    rows: list[tuple[str, str, str]] = []
    # 1. Backlog: as fast as the producer goes; the scorer's rate is its maximum.
    training = Generator(1, customers=12_000, days=2, fraud_rate=0.03).transactions()
    training = training[: args.backlog]
    reader = fraud.reader()
    fraud.publish(training)
    backlog = reader.wait_for(len(training), timeout_s=300)
    reader.close()
    most = decision_rate(backlog)
    rows.append(("max sustained decisions/s (backlog)", f"{most:,.0f}/s",
                 f"{bare_rate(fraud, len(training)):,.0f}/s bare read"))  # fmt: skip

    # 2. Retrain on the scorer's own features, published later, under load.
    trainer = Trainer(fraud.spec, data_dir=fraud.data_dir)
    result = trainer.retrain(publish=False)

    # 3. Live: the held-back stream at the target rate; the swap five seconds in.
    # A whole day of customers enough for the run (about 3.4 purchases each a day), so
    # the injected frauds (30 to 90 % into the day) are all in it.
    count = int(args.rate * args.seconds)
    customers = int(count / 3.4)
    live = Generator(2, customers=customers, days=1, fraud_rate=0.03, prefix="b-",
                     start_ms=START + 9 * DAY_MS).transactions()[:count]  # fmt: skip
    reader = fraud.reader(from_end=True)
    transport = TransportReader(fraud).start(-1)
    time.sleep(2)
    swap = threading.Timer(5.0, trainer.publish, args=(result.update,))
    cpu = CpuShares(fraud)
    began = time.time()
    swap.start()
    fraud.publish(live, rate=args.rate)
    decided = reader.wait_for(count, timeout_s=120)
    shares = cpu.shares()
    time.sleep(0.5)
    reader.close()
    transport.close()
    warm = began + 2
    steady = [d.latency_ms for d in decided if d.read_at > warm]
    base = transport.latencies[int(args.rate * 2) :]
    status = fraud.status(0)
    swapped = next(s for s in status["swaps"] if s["version"] == result.update.version)
    swap_at = swapped["at_ms"] / 1000
    around = [
        d.latency_ms for d in decided if swap_at <= d.read_at - d.latency_ms / 1000 <= swap_at + 1
    ]
    rows.append((f"decision latency p50 at {args.rate:,.0f} tx/s", f"{pct(steady, 50):.1f} ms",
                 f"{pct(base, 50):.1f} ms transport"))  # fmt: skip
    rows.append((f"decision latency p99 at {args.rate:,.0f} tx/s", f"{pct(steady, 99):.1f} ms",
                 f"{pct(base, 99):.1f} ms transport"))  # fmt: skip
    rows.append(("  of which produced -> decided (p50/p99)", _split(decided, warm, "decided"), ""))
    rows.append(("  of which decided -> readable (p50/p99)", _split(decided, warm, "read"), ""))
    batches = status.get("batches", {})
    rows.append(("  scorer batches: records, decide ms, commit ms (p50/p99)",
                 " ".join(f"{batches.get(k + '_p50', 0):.0f}/{batches.get(k + '_p99', 0):.0f}"
                          for k in ("records", "decide_ms", "commit_ms")), ""))  # fmt: skip
    rows.append(("  cores used during the run (of 2)", shares, ""))
    rows.append(("latency p99 in the second after the swap",
                 f"{pct(around, 99):.1f} ms" if around else "n/a",
                 f"{pct(steady, 99):.1f} ms overall"))  # fmt: skip
    rows.append(("model load (off the scoring thread)", f"{swapped['load_seconds'] * 1000:.0f} ms",
                 "0 ms on the scoring thread"))  # fmt: skip

    # Precision and recall of the new model's decisions vs the rules, same transactions.
    truth = {t.transaction_id: bool(t.is_fraud) for t in live}
    by_model = [d.record for d in decided if d.record["model_version"] == result.update.version]
    model, rules = trainer.versus_rules(by_model, truth)
    labels = [truth[d["transaction_id"]] for d in by_model]
    rows.append((f"precision (held back, {len(by_model):,} tx, {sum(labels)} fraud)",
                 f"{model.precision:.3f} model v{result.update.version}",
                 f"{rules.precision:.3f} rules"))  # fmt: skip
    rows.append(("recall (same transactions)", f"{model.recall:.3f} model",
                 f"{rules.recall:.3f} rules"))  # fmt: skip

    # 4. Kill -9 of one of two scorers under load.
    fraud.start_scorer(1)
    fraud.wait(lambda: len(fraud.status(0).get("owned", [])) < 6, "a rebalance onto two")
    chaos = Generator(3, customers=customers, days=1, fraud_rate=0.03, prefix="c-",
                      start_ms=START + 18 * DAY_MS).transactions()[:count]  # fmt: skip
    reader = fraud.reader(from_end=True)
    time.sleep(2)
    killer = threading.Timer(6.0, lambda: (fraud.kill("scorer-1"),
                                           fraud.start_scorer(1, wait=False)))  # fmt: skip
    began = time.time()
    killer.start()
    fraud.publish(chaos, rate=args.rate)
    killer.join()
    decided = reader.wait_for(count, timeout_s=180)
    reader.close()
    killed_at = began + 6
    worst = max(d.latency_ms for d in decided)
    normal = pct(steady, 99)
    late = [d.read_at for d in decided if d.read_at > killed_at and d.latency_ms > normal]
    back = (max(late) - killed_at) if late else 0.0
    restores = [
        r for i in (0, 1) for r in fraud.status(i).get("restores", []) if r["at"] > killed_at
    ]
    restored = ", ".join(f"{r['records']} records in {r['seconds']:.2f}s" for r in restores)
    rows.append(("longest wait for a decision after kill -9", f"{worst / 1000:.1f} s",
                 "6 s session timeout"))  # fmt: skip
    rows.append(("latency back under the live p99 after", f"{back:.1f} s", f"{normal:.1f} ms p99"))
    rows.append(("restores after the kill", restored or "none", ""))
    report(rows, title="Fraud blueprint (1 node; one scorer, then two)")
    print(f"retrain on held-back features: {result.update.metrics}")


if __name__ == "__main__":
    main()
