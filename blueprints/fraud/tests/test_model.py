"""The baseline rules and the trees: the trees trained on one seed's stream beat the rules
on another seed's, and a model survives its trip through the model-update-v1 record."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import pytest

from blueprints.fraud.features import FEATURES, CardState, advance, features, named
from blueprints.fraud.generator import Generator
from blueprints.fraud.model import BoosterModel, ModelUpdate, RuleModel, fit, judge, quality

SCHEMA = Path(__file__).parents[1] / "spec" / "schemas" / "model-update-v1.avsc"


def labelled(seed: int, customers: int, days: float) -> tuple[list[list[float]], list[bool]]:
    states: dict[str, CardState] = {}
    rows, labels = [], []
    for t in Generator(seed, customers=customers, days=days, fraud_rate=0.03).transactions():
        state = states.get(t.card_id, CardState())
        rows.append(features(state, t.as_record()))
        labels.append(bool(t.is_fraud))
        states[t.card_id] = advance(state, t.as_record())
    return rows, labels


Data = tuple[list[list[float]], list[bool], list[list[float]], list[bool]]


@pytest.fixture(scope="module")
def data() -> Data:
    train, train_labels = labelled(1, 1_500, 2)
    test, test_labels = labelled(2, 1_000, 2)
    return train, train_labels, test, test_labels


def test_quality_counts() -> None:
    q = quality([True, True, False, False], [True, False, True, False])
    assert (q.precision, q.recall) == (0.5, 0.5)
    assert quality([False], [False]).f1 == 0.0


def test_each_rule_names_itself_when_it_fires() -> None:
    row = [0.0] * len(FEATURES)
    assert RuleModel().reasons(row) == []
    row[FEATURES.index("count_1m")] = 6
    row[FEATURES.index("amount")] = 2_000
    assert RuleModel().reasons(row) == ["burst: 5+ purchases in a minute", "large amount"]
    assert RuleModel().scores([row]) == [1.0]


def test_trees_beat_the_rules_on_a_stream_they_never_saw(data: Data) -> None:
    train, train_labels, test, test_labels = data
    model = fit(train, train_labels, version=1, rounds=100)
    trees, rules = judge(model, test, test_labels), judge(RuleModel(), test, test_labels)
    assert trees.f1 > rules.f1 + 0.3, (trees.metrics(), rules.metrics())
    assert trees.precision > rules.precision and trees.recall > rules.recall


def test_a_model_survives_its_update_record(data: Data) -> None:
    train, train_labels, test, _ = data
    model = fit(train[:4_000], train_labels[:4_000], version=3, rounds=20)
    update = ModelUpdate(3, "lightgbm", model.text.encode(), model.threshold, {"f1": 0.5})
    record = update.record()
    schema = fastavro.parse_schema(json.loads(SCHEMA.read_text()))
    assert fastavro.validation.validate(record, schema, raise_errors=True)
    loaded = ModelUpdate.from_record(record).load()
    assert isinstance(loaded, BoosterModel) and loaded.version == 3
    assert loaded.scores(test[:50]) == model.scores(test[:50])
    rules = ModelUpdate(4, "rules", b"", 0.5).load()
    assert isinstance(rules, RuleModel) and rules.version == 4


def test_a_model_of_other_features_or_kind_is_refused(data: Data) -> None:
    import lightgbm
    import numpy as np

    train, train_labels, _, _ = data
    narrow = lightgbm.train(
        {"objective": "binary", "verbose": -1},
        lightgbm.Dataset(
            np.asarray(train)[:, :3], label=train_labels, feature_name=list(FEATURES[:3])
        ),
        num_boost_round=2,
    )
    with pytest.raises(ValueError, match="trained on features"):
        ModelUpdate(5, "lightgbm", narrow.model_to_string().encode(), 0.5).load()
    with pytest.raises(ValueError, match="unknown kind"):
        ModelUpdate(6, "pickle", b"...", 0.5).load()


def test_named_gives_every_feature() -> None:
    assert list(named([1.0] * len(FEATURES))) == list(FEATURES)
