"""The retrain job: features in, a better model out to ``risk.fraud.model-updates``.

Application ``fraud-trainer``. It reads the labelled rows of ``risk.fraud.features`` (the
features the fast path computed for each decision, with the label once known), holds the
newest fifth of them back by event time, fits gradient-boosted trees on the rest and
judges the candidate, the baseline rules and the model now in use on the held-back
rows. The candidate is published only if it beats the model in use on F1 (``force``
publishes anyway): a retrain never makes the scorers worse. The record carries the
model in LightGBM's text format, its version (the newest published plus one), its
threshold, and the precision, recall and F1 of the candidate and of the rules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from blueprints.fraud.features import vector
from blueprints.fraud.model import (
    Model,
    ModelUpdate,
    Quality,
    RuleModel,
    fit,
    judge,
    quality,
)
from streamplane.client import (
    ApplicationCodec,
    ApplicationScope,
    Producer,
    application_connection,
)

if TYPE_CHECKING:
    from streamplane.model import Spec

log = logging.getLogger(__name__)

APP = "fraud-trainer"
FEATURES_TOPIC = "risk.fraud.features"
MODELS = "risk.fraud.model-updates"
#: The newest share of the rows, by event time, held back to judge the models on.
HELD_BACK = 0.2


class RetrainRefused(Exception):
    """The candidate would not improve on the model in use (or there is nothing to learn)."""


@dataclass(frozen=True)
class Retrain:
    update: ModelUpdate
    candidate: Quality
    rules: Quality
    current: Quality | None
    published: bool
    rows: int
    seconds: float


class Trainer:
    def __init__(self, spec: Spec, *, data_dir: Path | str = Path(".streamplane")) -> None:
        self.spec = spec
        self.data_dir = data_dir
        resolved = application_connection(spec, APP, data_dir=data_dir)
        self.connection = resolved.connection
        self.codec = ApplicationCodec.for_application(
            spec, ApplicationScope.of(spec, APP), resolved.registry
        )

    def read_topic(self, topic: str) -> list[dict[str, Any]]:
        """Every record of ``topic`` now, decoded (assignment only, no group)."""
        consumer = Consumer(
            self.connection.librdkafka(
                **{
                    "group.id": self.spec.applications[APP].consumer_group,  # assigned only
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "isolation.level": "read_committed",
                    "log_level": 3,
                }
            )
        )
        try:
            metadata = consumer.list_topics(topic, timeout=30)
            partitions = sorted(metadata.topics[topic].partitions)
            consumer.assign([TopicPartition(topic, p, -2) for p in partitions])
            behind = set(partitions)
            found: list[dict[str, Any]] = []
            while behind:
                for message in consumer.consume(10_000, 1.0):
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            behind.discard(message.partition() or 0)
                        continue
                    found.append(self.codec.decode(topic, message.value()))
            return found
        finally:
            consumer.close()

    def current(self) -> tuple[Model | None, int]:
        """The newest published model (None before any) and the newest version."""
        newest: ModelUpdate | None = None
        for record in self.read_topic(MODELS):
            update = ModelUpdate.from_record(record)
            if newest is None or update.version > newest.version:
                newest = update
        if newest is None:
            return None, 0
        return newest.load(), newest.version

    def retrain(self, *, force: bool = False, rounds: int = 200, publish: bool = True) -> Retrain:
        """Fit, judge and (if better, or ``force``) publish; ``publish=False`` fits and
        judges only (the caller publishes ``result.update`` when it chooses)."""
        began = time.monotonic()
        rows = [r for r in self.read_topic(FEATURES_TOPIC) if r.get("is_fraud") is not None]
        rows.sort(key=lambda r: (r["occurred_at"], r["transaction_id"]))
        frauds = sum(1 for r in rows if r["is_fraud"])
        if frauds < 10 or len(rows) - frauds < 10:
            raise RetrainRefused(
                f"{len(rows)} labelled rows of which {frauds} fraud: too few of each class to "
                "learn from; let the scorer decide more transactions first"
            )
        split = int(len(rows) * (1 - HELD_BACK))
        vectors = [vector(r) for r in rows]
        labels = [bool(r["is_fraud"]) for r in rows]
        current, newest = self.current()
        version = newest + 1
        candidate = fit(vectors[:split], labels[:split], version=version, rounds=rounds)
        held, held_labels = vectors[split:], labels[split:]
        judged = judge(candidate, held, held_labels)
        rules = judge(RuleModel(), held, held_labels)
        in_use = judge(current, held, held_labels) if current is not None else None
        baseline = in_use if in_use is not None else rules
        metrics = {
            **judged.metrics("model_"), **rules.metrics("rules_"),
            **(in_use.metrics("current_") if in_use is not None else {}),
            "rows": float(len(rows)), "held_back": float(len(held)), "frauds": float(frauds),
        }  # fmt: skip
        update = ModelUpdate(
            version=version,
            kind="lightgbm",
            model=candidate.text.encode(),
            threshold=candidate.threshold,
            metrics=metrics,
            trained_on=f"{FEATURES_TOPIC}: {split} rows, {len(held)} held back",
        )
        better = judged.f1 > baseline.f1
        if (better or force) and publish:
            self.publish(update)
        result = Retrain(update, judged, rules, in_use, better or force, len(rows),
                         time.monotonic() - began)  # fmt: skip
        if not (better or force):
            raise RetrainRefused(
                f"candidate v{version} F1 {judged.f1:.3f} does not beat the model in use "
                f"(F1 {baseline.f1:.3f}) on {len(held)} held-back rows: not published"
            )
        return result

    def versus_rules(
        self, decisions: Sequence[Mapping[str, Any]], truth: Mapping[str, bool]
    ) -> tuple[Quality, Quality]:
        """How ``decisions`` (decision.v1 records) did against ``truth`` (transaction id ->
        fraud), and how the baseline rules did on the very features the scorer computed
        for the same transactions."""
        wanted = {d["transaction_id"] for d in decisions}
        rows = {
            r["transaction_id"]: vector(r)
            for r in self.read_topic(FEATURES_TOPIC)
            if r["transaction_id"] in wanted
        }
        labels = [truth[d["transaction_id"]] for d in decisions]
        made = quality([d["decision"] == "DECLINE" for d in decisions], labels)
        rules = judge(RuleModel(), [rows[d["transaction_id"]] for d in decisions], labels)
        return made, rules

    def publish(self, update: ModelUpdate) -> None:
        with Producer.for_application(self.spec, APP, data_dir=self.data_dir) as producer:
            producer.produce(MODELS, update.record(), key=f"v{update.version:06d}")
            producer.flush(30)
        log.info("published model v%d (%s)", update.version, update.metrics)
