"""The models that score a transaction: a baseline rule set, and gradient-boosted trees
trained on the fast path's own features.

A model travels through the ``model-updates`` topic as a record of the model-update-v1
schema: its version, its kind, the model itself as bytes, its feature names, its
decision threshold and the metrics it reached on held-back data. The trees travel in
LightGBM's text format, which a consumer parses without running anything the producer
wrote (a pickle would execute code on load: never take one from a topic).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from blueprints.fraud.features import FEATURES, millis

#: Share of positive decisions above which a transaction is declined.
DEFAULT_THRESHOLD = 0.5


class Model(Protocol):
    version: int
    threshold: float

    def scores(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """The probability of fraud of each feature vector."""
        ...

    def reasons(self, row: Sequence[float]) -> list[str]:
        """Why a vector scores high, for the decision record (may be empty)."""
        ...


_COL = {name: i for i, name in enumerate(FEATURES)}


@dataclass
class RuleModel:
    """The rule set a fraud team starts with, before it has a model: single thresholds on
    single signals. Each rule that fires names itself; any rule declines."""

    version: int = 0
    threshold: float = DEFAULT_THRESHOLD
    #: (name, feature, lower bound): the rule fires when the feature reaches the bound.
    rules: tuple[tuple[str, str, float], ...] = (
        ("burst: 5+ purchases in a minute", "count_1m", 5.0),
        ("travel faster than a plane", "speed_kmh", 1_000.0),
        ("large amount", "amount", 1_500.0),
        ("10+ purchases in an hour", "count_1h", 10.0),
    )

    def reasons(self, row: Sequence[float]) -> list[str]:
        return [name for name, feature, bound in self.rules if row[_COL[feature]] >= bound]

    def scores(self, rows: Sequence[Sequence[float]]) -> list[float]:
        return [1.0 if self.reasons(row) else 0.0 for row in rows]


class BoosterModel:
    """Gradient-boosted trees (LightGBM) over :data:`FEATURES`."""

    def __init__(self, text: str, *, version: int, threshold: float) -> None:
        import lightgbm

        self.version = version
        self.threshold = threshold
        self.text = text
        self.booster = lightgbm.Booster(model_str=text)
        names = list(self.booster.feature_name())
        if names != list(FEATURES):
            raise ValueError(
                f"model v{version} was trained on features {names}, this scorer computes "
                f"{list(FEATURES)}: retrain it with this blueprint's features"
            )
        self._rules = RuleModel()

    def scores(self, rows: Sequence[Sequence[float]]) -> list[float]:
        if not rows:
            return []
        matrix = np.asarray(rows, dtype=np.float64)
        return [float(p) for p in self.booster.predict(matrix, num_threads=1)]

    def reasons(self, row: Sequence[float]) -> list[str]:
        # Trees give no short reason; the rules that would have fired are a useful hint.
        return self._rules.reasons(row)


@dataclass(frozen=True)
class ModelUpdate:
    """A model-update-v1 record."""

    version: int
    kind: str  # "rules" or "lightgbm"
    model: bytes
    threshold: float
    metrics: dict[str, float] = field(default_factory=dict)
    trained_on: str = ""
    created_at: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "kind": self.kind,
            "model": self.model,
            "features": list(FEATURES),
            "threshold": self.threshold,
            "metrics": dict(self.metrics),
            "trained_on": self.trained_on,
            "created_at": self.created_at or int(time.time() * 1000),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ModelUpdate:
        return cls(
            version=int(record["version"]),
            kind=str(record["kind"]),
            model=bytes(record["model"]),
            threshold=float(record["threshold"]),
            metrics={str(k): float(v) for k, v in dict(record.get("metrics") or {}).items()},
            trained_on=str(record.get("trained_on") or ""),
            created_at=millis(record.get("created_at") or 0),
        )

    def load(self) -> Model:
        """The model this update carries, ready to score."""
        if self.kind == "rules":
            return RuleModel(version=self.version, threshold=self.threshold)
        if self.kind == "lightgbm":
            return BoosterModel(self.model.decode(), version=self.version, threshold=self.threshold)
        raise ValueError(f"model v{self.version} is of unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Quality:
    """Precision and recall of the declines against the labels."""

    true_positives: int
    false_positives: int
    false_negatives: int
    negatives: int

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        fraud = self.true_positives + self.false_negatives
        return self.true_positives / fraud if fraud else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def metrics(self, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}precision": round(self.precision, 4),
            f"{prefix}recall": round(self.recall, 4),
            f"{prefix}f1": round(self.f1, 4),
        }


def quality(declined: Sequence[bool], labels: Sequence[bool]) -> Quality:
    tp = sum(1 for d, y in zip(declined, labels, strict=True) if d and y)
    fp = sum(1 for d, y in zip(declined, labels, strict=True) if d and not y)
    fn = sum(1 for d, y in zip(declined, labels, strict=True) if not d and y)
    return Quality(tp, fp, fn, sum(1 for y in labels if not y))


def judge(model: Model, rows: Sequence[Sequence[float]], labels: Sequence[bool]) -> Quality:
    return quality([s >= model.threshold for s in model.scores(rows)], labels)


def fit(
    rows: Sequence[Sequence[float]],
    labels: Sequence[bool],
    *,
    version: int,
    rounds: int = 200,
    seed: int = 7,
) -> BoosterModel:
    """Trees fitted to ``rows``; the threshold is the one with the best F1 on them.

    Fraud is rare (about 1 % of purchases here, far less in a real feed), so positives are
    weighted up to balance the classes, and the threshold is chosen rather than assumed.
    """
    import lightgbm

    y = np.asarray(labels, dtype=np.float64)
    positives = max(1.0, float(y.sum()))
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 10,
        "feature_fraction": 0.9,
        "scale_pos_weight": max(1.0, (len(y) - positives) / positives),
        "num_threads": 1,
        "deterministic": True,
        "seed": seed,
        "verbose": -1,
    }
    data = lightgbm.Dataset(
        np.asarray(rows, dtype=np.float64), label=y, feature_name=list(FEATURES)
    )
    booster = lightgbm.train(params, data, num_boost_round=rounds)
    model = BoosterModel(booster.model_to_string(), version=version, threshold=0.5)
    scores = model.scores(rows)
    best, best_f1 = DEFAULT_THRESHOLD, -1.0
    for candidate in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        f1 = quality([s >= candidate for s in scores], labels).f1
        if f1 > best_f1:
            best, best_f1 = candidate, f1
    model.threshold = best
    return model
