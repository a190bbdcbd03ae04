"""The fraud pipeline on a real cluster, registry and processes: every transaction gets
exactly one decision; a retrain beats the rules and is swapped into the running scorer;
a scorer killed -9 under load loses and duplicates nothing, and the state the survivors
restore from the changelog gives the same features as an uninterrupted history."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from blueprints.fraud.features import FEATURES, CardState, advance, features
from blueprints.fraud.generator import DAY_MS, HOUR_MS, Generator, Transaction
from blueprints.fraud.local import LocalFraud
from blueprints.fraud.retrain import FEATURES_TOPIC, Trainer
from streamplane.client import (
    ApplicationCodec,
    ApplicationScope,
    GlobalTable,
    application_connection,
)
from tests.conftest import TEST_ROOT
from tests.integration.conftest import PORT_SHIFT

OFFSET = 23200 + PORT_SHIFT
START = 1_767_225_600_000
#: Features the slow path feeds in (they depend on when its profiles were published).
TIMING = {"merchant_tx_24h", "merchant_cards_24h"}
EXACT = [i for i, name in enumerate(FEATURES) if name not in TIMING]


class Run:
    """The estate, and every transaction published so far (in publish order)."""

    def __init__(self, fraud: LocalFraud) -> None:
        self.fraud = fraud
        self.published: list[Transaction] = []

    def publish(self, stream: list[Transaction], rate: float | None = None) -> None:
        self.published.extend(stream)
        assert self.fraud.publish(stream, rate=rate) == len(stream)

    def decisions(self) -> list[dict[str, Any]]:
        reader = self.fraud.reader()
        try:
            return [d.record for d in reader.wait_for(len(self.published), timeout_s=120)]
        finally:
            reader.close()


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    fraud = LocalFraud(TEST_ROOT / "fraud", port_offset=OFFSET)
    try:
        fraud.up()
        fraud.start_scorer(0)
        fraud.start_profiler()
        yield Run(fraud)
    finally:
        fraud.down()


def test_decisions_retrain_and_a_hot_swap(run: Run) -> None:
    fraud = run.fraud
    scorer = fraud.processes["scorer-0"]
    training = Generator(1, customers=1_500, days=2, fraud_rate=0.03).transactions()
    run.publish(training)
    decided = run.decisions()
    assert Counter(d["transaction_id"] for d in decided) == Counter(
        t.transaction_id for t in training
    )
    # Before any model is published, the baseline rules decide, and say why.
    assert {d["model_version"] for d in decided} == {0}
    assert all(bool(d["reasons"]) == (d["decision"] == "DECLINE") for d in decided)

    # The slow path publishes each merchant's last 24 hours (event time).
    trainer = Trainer(fraud.spec, data_dir=fraud.data_dir)
    scorer_app = application_connection(fraud.spec, "fraud-scorer", data_dir=fraud.data_dir)
    codec = ApplicationCodec.for_application(
        fraud.spec, ApplicationScope.of(fraud.spec, "fraud-scorer"), scorer_app.registry
    )
    end = max(t.occurred_at for t in training)
    first = ((end - DAY_MS) // HOUR_MS + 1) * HOUR_MS
    expected = Counter(t.merchant_id for t in training if t.occurred_at >= first)
    merchant = expected.most_common(1)[0][0]

    def published() -> bool:
        with GlobalTable(
            ["risk.fraud.profiles"],
            connection=scorer_app.connection,
            path=fraud.data_dir / "profiles-check",
            decode=lambda data: codec.decode("risk.fraud.profiles", data),
        ) as table:
            table.start(follow=False)
            profile = table.get(f"merchant:{merchant}")
        return profile is not None and profile["transactions"] == expected[merchant]

    fraud.wait(published, "the merchant's 24-hour profile", timeout_s=60)

    # A retrain on the scorer's own features beats the rules, and reaches the scorer
    # without a restart.
    result = trainer.retrain()
    assert result.update.version == 1 and result.published
    assert result.candidate.f1 > result.rules.f1, (result.candidate, result.rules)
    fraud.wait(lambda: fraud.status(0).get("model_version") == 1, "the swap to v1")
    assert scorer.poll() is None and fraud.processes["scorer-0"] is scorer

    held_back = Generator(2, customers=1_000, days=2, fraud_rate=0.03,
                          start_ms=START + 9 * DAY_MS, prefix="b-").transactions()  # fmt: skip
    run.publish(held_back)
    mine = {t.transaction_id: t for t in held_back}
    verdicts = [d for d in run.decisions() if d["transaction_id"] in mine]
    assert len(verdicts) == len(held_back)
    assert {d["model_version"] for d in verdicts} == {1}
    # The rules on the very features the scorer computed for the same transactions.
    truth = {t: bool(tx.is_fraud) for t, tx in mine.items()}
    model, rules = trainer.versus_rules(verdicts, truth)
    assert model.f1 > rules.f1 + 0.2, (model.metrics(), rules.metrics())
    assert model.recall > rules.recall and model.precision > rules.precision


def test_a_scorer_killed_under_load_loses_and_duplicates_no_decision(run: Run) -> None:
    fraud = run.fraud
    fraud.start_scorer(1)
    fraud.wait(lambda: len(fraud.status(0).get("owned", [])) < 6, "a rebalance onto two")
    stream = Generator(
        3, customers=3_000, days=1, fraud_rate=0.03, start_ms=START + 18 * DAY_MS, prefix="c-"
    ).transactions()[:12_000]
    sending = threading.Thread(target=run.publish, args=(stream,), kwargs={"rate": 1_500})
    sending.start()
    time.sleep(3)
    fraud.kill("scorer-1")
    fraud.start_scorer(1, wait=False)
    sending.join()
    decided = run.decisions()
    counts = Counter(d["transaction_id"] for d in decided)
    assert len(counts) == len(run.published)
    assert max(counts.values()) == 1, [t for t, n in counts.items() if n > 1][:5]

    # The features of each decision equal those of an uninterrupted history of its card:
    # no state change lost or applied twice across the kill and the restores.
    states: dict[str, CardState] = {}
    expected: dict[str, list[float]] = {}
    for t in run.published:
        state = states.get(t.card_id, CardState())
        expected[t.transaction_id] = features(state, t.as_record())
        states[t.card_id] = advance(state, t.as_record())
    rows = Trainer(fraud.spec, data_dir=fraud.data_dir).read_topic(FEATURES_TOPIC)
    assert len(rows) == len(run.published)
    wrong = [
        r["transaction_id"] for r in rows
        if [float(r[FEATURES[i]]) for i in EXACT]
        != [expected[r["transaction_id"]][i] for i in EXACT]
    ]  # fmt: skip
    assert not wrong, wrong[:5]
    restored = sum(r["records"] for i in (0, 1) for r in fraud.status(i).get("restores", []))
    assert restored > 0
