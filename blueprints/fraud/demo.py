"""``make fraud``: the whole pipeline once, on a cluster of its own, narrated.

Brings up a local cluster with the blueprint's spec (``LocalFraud``), starts a scorer and
the profiler, streams two days of transactions decided by the baseline rules, retrains,
watches the running scorer swap the new model in, streams a held-back day of customers
never seen, and prints how the model did against the rules. The scorer and profiler are
stopped at the end; the cluster stays up for a look around.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from blueprints.fraud.generator import DAY_MS, Generator
from blueprints.fraud.local import LocalFraud
from blueprints.fraud.retrain import Trainer

START = 1_767_225_600_000


def run_demo(data_dir: Path, *, port_offset: int, spec_dir: Path) -> int:
    fraud = LocalFraud(data_dir, port_offset=port_offset, spec_dir=spec_dir)
    print(f"bringing up {data_dir} (ports +{port_offset}) with {spec_dir} applied…")
    fraud.up()
    try:
        fraud.start_scorer(0)
        fraud.start_profiler()
        training = Generator(1, customers=2_000, days=2, fraud_rate=0.03).transactions()
        print(f"streaming {len(training):,} transactions, decided by the baseline rules…")
        reader = fraud.reader()
        fraud.publish(training)
        decided = reader.wait_for(len(training), timeout_s=300)
        reader.close()
        verdicts = Counter(d.record["decision"] for d in decided)
        print(f"  {verdicts['APPROVE']:,} approved, {verdicts['DECLINE']:,} declined (model v0)")

        result = Trainer(fraud.spec, data_dir=fraud.data_dir).retrain()
        metrics = result.update.metrics
        print(
            f"retrained: model v{result.update.version} F1 {metrics['model_f1']:.3f} vs rules "
            f"{metrics['rules_f1']:.3f} on {int(metrics['held_back']):,} held-back rows; "
            "published to risk.fraud.model-updates"
        )
        fraud.wait(lambda: fraud.status(0).get("model_version") == result.update.version,
                   "the scorer's swap")  # fmt: skip
        print(f"  the running scorer swapped to v{result.update.version} (no restart)")

        held = Generator(2, customers=1_000, days=1, fraud_rate=0.03, prefix="b-",
                         start_ms=START + 9 * DAY_MS).transactions()  # fmt: skip
        truth = {t.transaction_id: bool(t.is_fraud) for t in held}
        print(f"streaming {len(held):,} transactions of customers never seen…")
        reader = fraud.reader(from_end=True)
        fraud.publish(held)
        decided = reader.wait_for(len(held), timeout_s=300)
        reader.close()
        records = [d.record for d in decided if d.record["transaction_id"] in truth]
        trainer = Trainer(fraud.spec, data_dir=fraud.data_dir)
        model, rules = trainer.versus_rules(records, truth)
        fraud_count = sum(truth[r["transaction_id"]] for r in records)
        latencies = sorted(d.latency_ms for d in decided)
        print(
            f"  model: precision {model.precision:.3f} recall {model.recall:.3f}; rules: "
            f"precision {rules.precision:.3f} recall {rules.recall:.3f} "
            f"({fraud_count} fraud in {len(records):,})"
        )
        print(f"  decision latency p50 {latencies[len(latencies) // 2]:.0f} ms (a burst)")
    finally:
        for name in list(fraud.processes):
            fraud.stop(name)
    print(
        f"\nThe cluster is still up: streamplane topics list --data-dir {data_dir}; "
        f"stop it with streamplane down --data-dir {data_dir}"
    )
    return 0
