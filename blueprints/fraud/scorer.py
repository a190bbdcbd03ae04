"""The fast path: a decision on every card transaction within milliseconds, exactly once.

``FraudScorer`` is the ``fraud-scorer`` application of the spec, a consumer-group member:
start more instances (each with its own ``instance`` number) and the transactions'
partitions, with the cards on them, are shared among them. For each batch it

1. decodes the transactions (Avro, through the registry),
2. computes each one's features from the card's state (the SDK's ``ChangelogStore``:
   RocksDB with a changelog topic) and the merchant's 24-hour profile (the slow path's
   compacted topic, held whole on every instance in a ``GlobalTable``),
3. scores the batch with the current model (:mod:`models_feed`: swapped between batches
   when a newer one is published),
4. produces a decision per transaction to ``risk.fraud.decision.v1``, its features to
   ``risk.fraud.features`` and each changed card's state to the changelog, together with
   the consumed offsets, in one Kafka transaction (the SDK's ``TransactionalProcessor``).

Transactions are committed after every poll (``commit_interval_s=0``): a decision is
visible to ``read_committed`` readers as soon as the poll that read it has been
processed, and under load the batches simply grow.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Message, TopicPartition

from blueprints.fraud.features import (
    CardState,
    MerchantProfile,
    advance,
    features,
    millis,
    named,
)
from blueprints.fraud.models_feed import ModelFeed
from streamplane.client import (
    APP_HEADER,
    ChangelogStore,
    GlobalTable,
    Output,
    TransactionalProcessor,
    TransactionListener,
    TransactionSettings,
)

if TYPE_CHECKING:
    from streamplane.model import Spec

log = logging.getLogger(__name__)

APP = "fraud-scorer"
TRANSACTIONS = "risk.fraud.transactions"
DECISIONS = "risk.fraud.decision.v1"
FEATURES_TOPIC = "risk.fraud.features"
PROFILES = "risk.fraud.profiles"
MODELS = "risk.fraud.model-updates"
STATE = "risk.fraud.scorer-state"

#: A transaction per poll, polls that return after at most 2 ms without records: the
#: decision latency is one poll, one batch and one commit.
LOW_LATENCY = TransactionSettings(max_records=1000, commit_interval_s=0.0, poll_timeout_s=0.002)
#: A failed instance's partitions move after 6 s (the brokers' minimum), not the default
#: 45 s: a card without a scorer waits for its decisions that long.
FAST_FAILOVER = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1500}
#: Every commit first waits for the transaction's outputs to be delivered: lingering to
#: fill batches would only add to each decision's latency (the batch is already whole).
NO_LINGER = {"linger.ms": 0}


@dataclass
class ScorerStats:
    transactions: int = 0
    declined: int = 0
    batches: int = 0
    #: Versions of the models that decided, with the count of decisions of each.
    by_version: dict[int, int] = field(default_factory=dict)
    #: The latest batches: (records, ms deciding them, ms from their last output to the
    #: commit that made them visible), to tell the two costs of a decision apart.
    recent: deque[tuple[int, float, float]] = field(default_factory=lambda: deque(maxlen=5000))


class FraudScorer(TransactionListener):
    """One instance of the fast path; see the module docstring."""

    def __init__(
        self,
        spec: Spec,
        *,
        instance: int = 0,
        state_dir: Path | str,
        data_dir: Path | str = Path(".streamplane"),
        settings: TransactionSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.instance = instance
        self._clock = clock
        self.processor = TransactionalProcessor.for_application(
            spec, APP, topics=[TRANSACTIONS], transform=self._transform, instance=instance,
            listener=self, settings=settings or LOW_LATENCY, consumer_overrides=FAST_FAILOVER,
            producer_overrides=NO_LINGER,
            data_dir=data_dir,
        )  # fmt: skip
        codec = self.processor.codec
        assert codec is not None  # for_application gives the processor the app's codec
        self.codec = codec
        connection = self.processor.connection
        state = Path(state_dir)
        self.store: ChangelogStore[CardState] = ChangelogStore.for_processor(
            self.processor, state / "cards", changelog=STATE,
            to_record=CardState.record, from_record=CardState.from_record,
        )  # fmt: skip
        self.models = ModelFeed(
            MODELS,
            connection=connection,
            group=self.processor.group,
            decode=lambda data: codec.decode(MODELS, data),
        )
        self.profiles = GlobalTable(
            [PROFILES],
            connection=connection,
            path=state / "profiles",
            decode=lambda data: codec.decode(PROFILES, data),
        )
        self.stats = ScorerStats()
        #: (records, started, finished) of the batch in the open transaction.
        self._decided: tuple[int, float, float] | None = None
        self._headers = [(APP_HEADER, APP.encode())]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Load the newest model and the merchants' profiles before the first record."""
        model = self.models.start()
        self.profiles.start()
        log.info("fraud scorer %d starts with model v%d", self.instance, model.version)

    def run(self, stop: Callable[[], bool] | None = None) -> None:
        self.start()
        self.processor.run(stop=stop)

    def close(self) -> None:
        try:
            self.processor.close()
        finally:
            self.models.close()
            self.profiles.close()
            self.store.close()

    # ------------------------------------------------------------------ listener
    def on_assigned(self, partitions: list[TopicPartition]) -> None:
        self.store.on_assigned(partitions)

    def on_committed(self) -> None:
        self.store.on_committed()
        if self._decided is not None:
            records, began, ended = self._decided
            self.stats.recent.append(
                (records, (ended - began) * 1000, (time.perf_counter() - ended) * 1000)
            )
            self._decided = None

    def on_aborted(self, *, certain: bool) -> None:
        self.store.on_aborted(certain=certain)

    def on_revoked(self, partitions: list[TopicPartition]) -> None:
        self.store.on_revoked(partitions)

    # ------------------------------------------------------------------ transform
    def _transform(self, messages: list[Message]) -> Iterator[Output]:
        began = time.perf_counter()
        model = self.models.current  # read once: the whole batch is decided by one model
        decode = self.codec.decode
        rows: list[list[float]] = []
        seen: list[tuple[Message, dict[str, Any]]] = []
        for message in messages:
            tx = decode(TRANSACTIONS, message.value())
            card = tx["card_id"]
            state = self.store.get(card) or CardState()
            rows.append(features(state, tx, self._merchant(tx["merchant_id"])))
            self.store.put(card, message.partition() or 0, advance(state, tx))
            seen.append((message, tx))
        scores = model.scores(rows)
        decided_at = int(self._clock() * 1000)
        encode = self.codec.encode
        declined = 0
        for (message, tx), row, score in zip(seen, rows, scores, strict=True):
            decline = score >= model.threshold
            declined += decline
            key = tx["card_id"].encode()
            yield Output(
                DECISIONS,
                encode(DECISIONS, {
                    "transaction_id": tx["transaction_id"],
                    "card_id": tx["card_id"],
                    "decision": "DECLINE" if decline else "APPROVE",
                    "score": float(score),
                    "model_version": model.version,
                    "reasons": model.reasons(row) if decline else [],
                    "transaction_timestamp": message.timestamp()[1],
                    "decided_at": decided_at,
                }),
                key=key,
                headers=self._headers,
            )  # fmt: skip
            yield Output(
                FEATURES_TOPIC,
                encode(FEATURES_TOPIC, {
                    "transaction_id": tx["transaction_id"],
                    "card_id": tx["card_id"],
                    "occurred_at": millis(tx["occurred_at"]),
                    **named(row),
                    "score": float(score),
                    "model_version": model.version,
                    "is_fraud": tx.get("is_fraud"),
                }),
                key=key,
                headers=self._headers,
            )  # fmt: skip
        yield from self.store.changelog_outputs()
        self._decided = (len(seen), began, time.perf_counter())
        self.stats.transactions += len(seen)
        self.stats.declined += declined
        self.stats.batches += 1
        self.stats.by_version[model.version] = self.stats.by_version.get(model.version, 0) + len(
            seen
        )

    def _merchant(self, merchant_id: str) -> MerchantProfile | None:
        profile = self.profiles.get(f"merchant:{merchant_id}")
        if profile is None:
            return None
        return MerchantProfile(transactions=profile["transactions"], cards=profile["distinct"])

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        """What the instance has done, for its status file (tests and the benchmark)."""
        return {
            "instance": self.instance,
            "model_version": self.models.current.version,
            "transactions": self.stats.transactions,
            "declined": self.stats.declined,
            "by_version": {str(k): v for k, v in self.stats.by_version.items()},
            "owned": sorted(self.store.owned),
            "restores": [
                {
                    "partitions": list(r.partitions),
                    "records": r.records,
                    "seconds": r.seconds,
                    "at": r.at,
                }
                for r in self.store.restores
            ],
            "swaps": [
                {"version": s.version, "at_ms": s.at_ms, "load_seconds": s.load_seconds}
                for s in self.models.swaps
            ],
            "batches": _percentiles(self.stats.recent),
            "committed": self.processor.stats.records_committed,
            "aborted": self.processor.stats.transactions_aborted,
        }


def _percentiles(recent: deque[tuple[int, float, float]]) -> dict[str, float]:
    """p50/p99 of the latest batches' size, deciding time and commit time."""
    if not recent:
        return {}
    found = {}
    for i, name in enumerate(("records", "decide_ms", "commit_ms")):
        values = sorted(r[i] for r in recent)
        found[f"{name}_p50"] = values[len(values) // 2]
        found[f"{name}_p99"] = values[int(len(values) * 0.99)]
    return found


def write_status(scorer: FraudScorer, path: Path, stop: threading.Event) -> None:
    """Rewrite ``path`` with the scorer's status every half second until ``stop``."""
    while not stop.wait(0.5):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(scorer.status()))
        tmp.replace(path)
